"""The Shopify Admin GraphQL client: an `HttpClientBase` paced on `throttleStatus`.

Pacing is proactive (the session's `pace` hook): the last response's `throttleStatus` says how
full the bucket was; before the next request the client waits until (by the restore rate) the
bucket again holds that query's requested cost, learned from the previous response of the same
shape. `_classify` maps each answer to an `Outcome` for `HttpSession.request`: a THROTTLED answer
(HTTP 200) waits `(requested − available) / restoreRate`; 5xx, INTERNAL_SERVER_ERROR, timeouts,
dropped connections and malformed bodies are transient (full-jitter backoff, then
`TransientApiError`); a 401 is `AuthError`; 404 and ACCESS_DENIED are permanent; MAX_COST_EXCEEDED
goes back to the caller, which halves the page. Every response's `X-Shopify-API-Version` (the
version that served it: Shopify silently serves an unsupported version's requests with its oldest
supported one) and `X-Shopify-API-Deprecated-Reason` are kept in `stats`; a version mismatch is
warned once. The token is read by the caller just before the session starts and is masked in
every message.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Generator
from typing import Any

import httpx
from pydantic import Field, PrivateAttr

from adspipe import jsonio
from adspipe import settings as app_settings
from adspipe.errors import PermanentApiError
from adspipe.platform.http import (
    CallerOutcome,
    DeadlineReached,
    HttpClientBase,
    HttpSession,
    Outcome,
)
from adspipe.shopify import queries, settings
from adspipe.shopify.calls import OrdersPage, ShopCallStats, ShopInfo, _Bucket

__all__ = ["OrdersPage", "ShopCallStats", "ShopInfo", "ShopSession", "ShopifyClient", "TimeBudgetExceeded"]

logger = logging.getLogger(__name__)

# A wait would run past the caller's deadline: stop cleanly; what was committed stays.
TimeBudgetExceeded = DeadlineReached


_SCOPE_RE = re.compile(r"\b(read_[a-z_]+)\b")
_HTTP_REASONS = {402: "the shop is frozen (payment required)", 403: "forbidden", 423: "the shop is locked"}


class ShopifyClient(HttpClientBase):
    """Shopify Admin GraphQL API (resource key "shopify")."""

    api_version: str = Field(default=settings.API_VERSION, description="Admin API version, e.g. 2026-10.")
    endpoint_template: str | None = Field(
        default=None,
        description="URL with {shop} and {version}; empty: ADSPIPE_SHOPIFY_ENDPOINT or the real API.",
    )
    connect_timeout_s: float = Field(default=settings.CONNECT_TIMEOUT_S, gt=0)
    read_timeout_s: float = Field(default=settings.READ_TIMEOUT_S, gt=0)
    write_timeout_s: float = Field(default=settings.WRITE_TIMEOUT_S, gt=0)
    pool_timeout_s: float = Field(default=settings.POOL_TIMEOUT_S, gt=0)
    page_size: int = Field(default=settings.DEFAULT_PAGE_SIZE, ge=1, le=settings.MAX_PAGE_SIZE)
    line_items_per_order: int = Field(
        default=settings.LINE_ITEMS_PER_ORDER,
        ge=1,
        le=settings.MAX_PAGE_SIZE,
        description="Line items read inline with each order; the rest come through a follow-up query.",
    )
    max_transient_retries: int = Field(default=settings.MAX_TRANSIENT_RETRIES, ge=0)
    backoff_base_s: float = Field(default=settings.BACKOFF_BASE_S, ge=0)
    backoff_cap_s: float = Field(default=settings.BACKOFF_CAP_S, ge=0)
    max_throttle_retries: int = Field(default=settings.MAX_THROTTLE_RETRIES, ge=0)
    wait_budget_s: float = Field(default=settings.WAIT_BUDGET_S, ge=0)

    # The bucket is per app and shop: estimates carry over between sessions of one client.
    _buckets: dict[str, _Bucket] = PrivateAttr(default_factory=dict)
    _expected_cost: dict[tuple[str, str, int], float] = PrivateAttr(default_factory=dict)
    # (asked, served) pairs already warned about: once per client, i.e. once per Dagster run.
    _warned_versions: set[tuple[str, str]] = PrivateAttr(default_factory=set)

    def endpoint(self, shop_domain: str) -> str:
        template = self.endpoint_template or app_settings.shopify_endpoint()
        return template.replace("{shop}", shop_domain).replace("{version}", self.api_version)

    def session(self, shop_domain: str, token: str, *, deadline: float | None = None) -> ShopSession:
        """A session for one shop. `deadline` (a `monotonic()` value) bounds every wait."""
        return ShopSession(self, shop_domain, token, deadline)

    def describe(self, session: HttpSession, outcome: Outcome[Any], tries: int = 0) -> str:
        """Shopify's messages: auth and permanent outcomes carry their whole message."""
        stats = session.stats
        if outcome.kind == "throttle":
            waited = stats.throttled_wait_s if isinstance(stats, ShopCallStats) else stats.wait_s
            return (
                f"{session.label}: still throttled after {tries} attempts "
                f"({waited:.1f} s waited); the next run continues"
            )
        if outcome.kind == "transient":
            return f"{session.label}: {outcome.description} (gave up after {tries} attempts)"
        return outcome.description


class ShopSession:
    """Requests for one shop with one token; counts what it spends in `stats`."""

    def __init__(self, client: ShopifyClient, shop_domain: str, token: str, deadline: float | None) -> None:
        self.client = client
        self.shop_domain = shop_domain
        self.page_size = client.page_size
        self.stats = ShopCallStats(api_version=client.api_version)
        self.line_items_page_size = settings.MAX_PAGE_SIZE
        self.__token = token  # name-mangled and never in a repr or message
        self._url = client.endpoint(shop_domain)
        self._http = client.http_session(shop_domain, secrets=(token,), stats=self.stats, deadline=deadline)

    def __repr__(self) -> str:
        return f"ShopSession({self.shop_domain!r})"

    @property
    def deadline(self) -> float | None:
        return self._http.deadline

    # -- the bucket ------------------------------------------------------------------------------

    def _pace_s(self, cost_key: tuple[str, str, int]) -> float:
        """Seconds until the bucket again holds the expected cost of this query (0: go now)."""
        bucket = self.client._buckets.get(self.shop_domain)
        expected = self.client._expected_cost.get(cost_key)
        if bucket is None or expected is None or bucket.restore_rate <= 0:
            return 0.0
        short = min(expected, bucket.maximum) - bucket.estimate(self.client.monotonic())
        return (short + settings.PACING_MARGIN_POINTS) / bucket.restore_rate if short > 0 else 0.0

    def _observe(self, cost: dict[str, Any]) -> None:
        status = cost.get("throttleStatus") or {}
        # No usable status: keep the previous estimate.
        with contextlib.suppress(KeyError, TypeError, ValueError):
            self.client._buckets[self.shop_domain] = _Bucket(
                available=float(status["currentlyAvailable"]),
                maximum=float(status["maximumAvailable"]),
                restore_rate=float(status["restoreRate"]),
                observed_at=self.client.monotonic(),
            )

    # -- one request -----------------------------------------------------------------------------

    def execute(
        self, query: str, variables: dict[str, Any], *, cost_key: tuple[str, str, int]
    ) -> dict[str, Any]:
        """POST one GraphQL document; returns `data`. Retries what is retryable.

        MAX_COST_EXCEEDED raises `CallerOutcome` (its detail says why): the caller halves its page."""
        return self._http.request(
            "POST",
            self._url,
            json={"query": query, "variables": variables},
            headers={settings.TOKEN_HEADER: self.__token, "Accept": "application/json"},
            classify=lambda response: self._classify(response, cost_key),
            pace=lambda: self._pace_s(cost_key),
        )

    def _classify(self, response: httpx.Response, cost_key: tuple[str, str, int]) -> Outcome[dict[str, Any]]:
        self._read_version_headers(response)
        status = response.status_code
        if status != 200:
            return self._status_outcome(response)
        try:
            body = jsonio.loads(response.content)
        except ValueError:
            return Outcome.transient(f"malformed JSON body (HTTP {status})")
        if not isinstance(body, dict):
            return Outcome.transient("malformed body: not a JSON object")
        cost = (body.get("extensions") or {}).get("cost") or {}
        if cost:
            self._observe(cost)
        if body.get("errors"):
            return self._graphql_errors(body["errors"], cost)
        data = body.get("data")
        if not isinstance(data, dict):
            return Outcome.transient("malformed body: no data")
        requested = float(cost.get("requestedQueryCost") or 0)
        self.stats.requested_cost += requested
        self.stats.actual_cost += float(cost.get("actualQueryCost") or 0)
        if requested:
            self.client._expected_cost[cost_key] = requested
        return Outcome.ok(data)

    def _read_version_headers(self, response: httpx.Response) -> None:
        """Which version served the request, and which deprecated fields it used (every response)."""
        served = response.headers.get(settings.VERSION_HEADER, "").strip()
        if served:
            self.stats.api_version_served = served
            asked = self.client.api_version
            if served != asked and (asked, served) not in self.client._warned_versions:
                self.client._warned_versions.add((asked, served))
                logger.warning(version_mismatch_message(asked, served))
        reason = response.headers.get(settings.DEPRECATED_REASON_HEADER, "").strip()
        if reason:
            self.stats.deprecated_reasons.add(reason[:500])

    def _status_outcome(self, response: httpx.Response) -> Outcome[dict[str, Any]]:
        status, shop = response.status_code, self.shop_domain
        if status == 401:
            return Outcome.auth(
                f"Shopify rejected the access token for {shop} (HTTP 401): the app must be re-authorized for this shop"
            )
        if status == 404:
            return Outcome.permanent(
                f"shop not found: {shop} (HTTP 404); check the shop domain of the connection"
            )
        if status == 429:
            try:
                wait = max(0.0, float(response.headers.get("Retry-After", "")))
            except ValueError:
                wait = 1.0
            return Outcome.throttle("HTTP 429", wait_s=wait)
        if status >= 500:
            return Outcome.transient(f"HTTP {status}")
        return Outcome.permanent(f"{shop}: HTTP {status}: {_HTTP_REASONS.get(status, 'unexpected answer')}")

    def _graphql_errors(self, errors: Any, cost: dict[str, Any]) -> Outcome[dict[str, Any]]:
        items: list[Any] = errors if isinstance(errors, list) else [{"message": str(errors)}]
        codes = {str((e.get("extensions") or {}).get("code", "")) for e in items if isinstance(e, dict)}
        messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in items)[:500]
        if "THROTTLED" in codes:
            status = cost.get("throttleStatus") or {}
            requested = float(cost.get("requestedQueryCost") or 0)
            available = float(status.get("currentlyAvailable") or 0)
            maximum = float(status.get("maximumAvailable") or 0)
            rate = float(status.get("restoreRate") or 0)
            if maximum and requested > maximum:
                why = f"requested cost {requested:g} exceeds the bucket ({maximum:g})"
                return Outcome.caller(why, detail=why)
            if rate <= 0:
                return Outcome.throttle("THROTTLED", wait_s=self.client.backoff_cap_s)
            short = max(0.0, requested - available + settings.PACING_MARGIN_POINTS)
            return Outcome.throttle("THROTTLED", wait_s=short / rate)
        if "MAX_COST_EXCEEDED" in codes:
            return Outcome.caller(messages, detail=messages)
        if "ACCESS_DENIED" in codes:
            found = _SCOPE_RE.search(messages)
            scope = found.group(1) if found else settings.ORDERS_SCOPE
            return Outcome.permanent(
                f"{self.shop_domain}: access denied: the app is missing the {scope} scope; "
                f"re-install or re-authorize it with {scope} ({messages})"
            )
        if "INTERNAL_SERVER_ERROR" in codes:
            return Outcome.transient(f"INTERNAL_SERVER_ERROR: {messages}")
        return Outcome.permanent(f"{self.shop_domain}: GraphQL error: {messages}")

    # -- documents -------------------------------------------------------------------------------

    def shop_info(self) -> ShopInfo:
        data = self.execute(queries.SHOP_QUERY, {}, cost_key=("shop", "", 0))
        return _shop(data, self.shop_domain)

    def orders(
        self, search: str, sort_key: str, *, reverse: bool = False
    ) -> Generator[OrdersPage, None, None]:
        """Every page of `orders(query: search, sortKey: sort_key)`, one request per page."""
        after: str | None = None
        while True:
            first = self.page_size
            variables = {
                "first": first,
                "after": after,
                "query": search,
                "sortKey": sort_key,
                "reverse": reverse,
            }
            if self.client.line_items_per_order != settings.LINE_ITEMS_PER_ORDER:
                variables["lineItems"] = self.client.line_items_per_order  # else the query's default
            before = (self.stats.requested_cost, self.stats.actual_cost)
            try:
                data = self.execute(queries.ORDERS_QUERY, variables, cost_key=("orders", sort_key, first))
            except CallerOutcome as exc:
                if first == 1:
                    raise PermanentApiError(
                        f"{self.shop_domain}: a single order costs too much: {exc.outcome.detail}"
                    ) from None
                self.page_size = max(1, first // 2)
                continue
            try:
                connection = data["orders"]
                nodes = [dict(n) for n in connection["nodes"]]
                info = connection["pageInfo"]
                has_next, end_cursor = bool(info["hasNextPage"]), info.get("endCursor")
            except (KeyError, TypeError) as exc:
                raise PermanentApiError(
                    f"{self.shop_domain}: unexpected orders answer (missing {exc})"
                ) from None
            for node in nodes:
                self._complete_line_items(node)
            self.stats.pages += 1
            yield OrdersPage(
                shop=_shop(data, self.shop_domain),
                orders=tuple(nodes),
                has_next_page=has_next,
                end_cursor=end_cursor,
                page_size=first,
                requested_cost=self.stats.requested_cost - before[0],
                actual_cost=self.stats.actual_cost - before[1],
            )
            if not has_next or not end_cursor:
                return
            after = end_cursor

    def access_scopes(self) -> frozenset[str]:
        """The scopes the app was granted on this shop (handles such as `read_orders`)."""
        data = self.execute(queries.ACCESS_SCOPES_QUERY, {}, cost_key=("scopes", "", 0))
        try:
            scopes = data["currentAppInstallation"]["accessScopes"]
            return frozenset(str(s["handle"]) for s in scopes)
        except (KeyError, TypeError) as exc:
            raise PermanentApiError(
                f"{self.shop_domain}: unexpected access scopes answer (missing {exc})"
            ) from None

    def _complete_line_items(self, node: dict[str, Any]) -> None:
        """Fetch the line items that did not fit inline, so the payload holds all of them.

        A page of line items can exceed the single-query cost maximum (MAX_COST_EXCEEDED): the
        page size is halved, down to `settings.MIN_LINE_ITEMS_PAGE_SIZE`, and kept for the session.
        """
        items = node.get("lineItems")
        info: dict[str, Any] = (items.get("pageInfo") or {}) if isinstance(items, dict) else {}
        if not isinstance(items, dict) or not info.get("hasNextPage"):
            if isinstance(items, dict) and "pageInfo" in items:  # a closed page: no cursor to keep
                items["pageInfo"] = {"hasNextPage": False, "endCursor": None}  # (bulk results agree)
            return
        collected = list(items.get("nodes") or [])
        after = info.get("endCursor")
        while after:
            first = self.line_items_page_size
            try:
                data = self.execute(
                    queries.ORDER_LINE_ITEMS_QUERY,
                    {"id": node["id"], "first": first, "after": after},
                    cost_key=("line_items", "", first),
                )
            except CallerOutcome as exc:
                if first <= settings.MIN_LINE_ITEMS_PAGE_SIZE:
                    raise PermanentApiError(
                        f"{self.shop_domain}: a page of {first} line items of order {node['id']} still "
                        f"exceeds Shopify's single-query cost maximum ({exc.outcome.detail}); the floor is "
                        f"MIN_LINE_ITEMS_PAGE_SIZE = {settings.MIN_LINE_ITEMS_PAGE_SIZE}"
                    ) from None
                self.line_items_page_size = max(settings.MIN_LINE_ITEMS_PAGE_SIZE, first // 2)
                continue
            more = ((data.get("order") or {}).get("lineItems")) or {}
            collected.extend(more.get("nodes") or [])
            info = more.get("pageInfo") or {}
            after = info.get("endCursor") if info.get("hasNextPage") else None
        node["lineItems"] = {"pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": collected}


def version_mismatch_message(asked: str, served: str) -> str:
    return (
        f"Shopify served Admin API {served} to requests for {asked}: {asked} is no longer supported "
        f"and Shopify answers with its oldest supported version instead; pin a supported version "
        f"(adspipe/shopify/settings.py or ADSPIPE_SHOPIFY_API_VERSION)"
    )


def _shop(data: dict[str, Any], shop_domain: str) -> ShopInfo:
    shop = data.get("shop") or {}
    timezone, currency = shop.get("ianaTimezone"), shop.get("currencyCode")
    if not timezone or not currency:
        raise PermanentApiError(f"{shop_domain}: the shop did not report its time zone and currency")
    return ShopInfo(shop_domain=shop_domain, timezone=str(timezone), currency=str(currency))
