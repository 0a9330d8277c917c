"""The Shopify Admin GraphQL client: one HTTP session, paced on `throttleStatus`, retried with care.

Pacing is proactive: the last response's `throttleStatus` says how full the bucket was; before
the next request the client waits until (by the restore rate) the bucket again holds that
query's requested cost, learned from the previous response of the same shape. A THROTTLED answer
(HTTP 200) is the exception: wait `(requested − available) / restoreRate`, retry, count it.
5xx, INTERNAL_SERVER_ERROR, timeouts, dropped connections and malformed bodies back off
exponentially with full jitter (capped), then raise `TransientApiError`. A 401 raises
`AuthError` at once; 404 and ACCESS_DENIED are permanent; MAX_COST_EXCEEDED halves the page.
Every response's `X-Shopify-API-Version` (the version that served it: Shopify silently serves
an unsupported version's requests with its oldest supported one) and
`X-Shopify-API-Deprecated-Reason` are kept in `stats`; a version mismatch is warned once.
The token is read by the caller just before the session starts and never appears in a message.
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import httpx
from pydantic import Field, PrivateAttr

from adspipe import jsonio
from adspipe import settings as app_settings
from adspipe.errors import AuthError, PermanentApiError, RateLimitExhausted, TransientApiError
from adspipe.shopify import queries, settings

logger = logging.getLogger(__name__)


class TimeBudgetExceeded(Exception):
    """A wait would run past the caller's deadline: stop cleanly; what was committed stays."""


class _MaxCostExceeded(Exception):
    """The query asked for more than a single query may cost (or than the bucket can ever hold)."""


class _Transient(Exception):
    """One retryable failure; the message says what happened (never the token)."""


@dataclass(frozen=True)
class ShopInfo:
    shop_domain: str
    timezone: str
    currency: str


@dataclass(frozen=True)
class OrdersPage:
    shop: ShopInfo
    orders: tuple[dict[str, Any], ...]
    has_next_page: bool
    end_cursor: str | None
    page_size: int
    requested_cost: float
    actual_cost: float


@dataclass
class CallStats:
    """What a session spent: written to `sync_runs` and to Dagster metadata."""

    api_calls: int = 0
    pages: int = 0
    throttled: int = 0
    throttle_wait_s: float = 0.0  # waits after THROTTLED / 429 answers
    pace_wait_s: float = 0.0  # proactive waits before a request
    retries: int = 0  # transient failures retried
    requested_cost: float = 0.0
    actual_cost: float = 0.0
    api_version: str = ""  # the version asked for (in the URL)
    # The version Shopify says served the request (X-Shopify-API-Version of the last response);
    # it differs from `api_version` once the pinned version left support.
    api_version_served: str | None = None
    # Deprecated fields the requests used (X-Shopify-API-Deprecated-Reason), as Shopify words them.
    deprecated_reasons: set[str] = field(default_factory=set)

    @property
    def version_mismatch(self) -> bool:
        return self.api_version_served is not None and self.api_version_served != self.api_version

    @property
    def rate_limit_wait_s(self) -> float:
        return self.throttle_wait_s + self.pace_wait_s


@dataclass
class _Bucket:
    available: float
    maximum: float
    restore_rate: float
    observed_at: float

    def estimate(self, now: float) -> float:
        return min(self.maximum, self.available + self.restore_rate * max(0.0, now - self.observed_at))


_SCOPE_RE = re.compile(r"\b(read_[a-z_]+)\b")


class ShopifyClient(dg.ConfigurableResource):
    """Shopify Admin GraphQL API (resource key "shopify")."""

    api_version: str = Field(default=settings.API_VERSION, description="Admin API version, e.g. 2026-10.")
    endpoint_template: str | None = Field(
        default=None,
        description="URL with {shop} and {version}; empty: ADSPIPE_SHOPIFY_ENDPOINT or the real API.",
    )
    connect_timeout_s: float = settings.CONNECT_TIMEOUT_S
    read_timeout_s: float = settings.READ_TIMEOUT_S
    page_size: int = Field(default=settings.DEFAULT_PAGE_SIZE, ge=1, le=settings.MAX_PAGE_SIZE)
    line_items_per_order: int = Field(
        default=settings.LINE_ITEMS_PER_ORDER,
        ge=1,
        le=settings.MAX_PAGE_SIZE,
        description="Line items read inline with each order; the rest come through a follow-up query.",
    )
    max_attempts: int = Field(default=settings.MAX_ATTEMPTS, ge=1)
    backoff_base_s: float = settings.BACKOFF_BASE_S
    backoff_cap_s: float = settings.BACKOFF_CAP_S
    max_throttle_retries: int = Field(default=settings.MAX_THROTTLE_RETRIES, ge=0)

    _http: httpx.Client | None = PrivateAttr(default=None)
    _transport: httpx.BaseTransport | None = PrivateAttr(default=None)
    _sleep: Callable[[float], None] = PrivateAttr(default=time.sleep)
    _monotonic: Callable[[], float] = PrivateAttr(default=time.monotonic)
    _rng: random.Random = PrivateAttr(default_factory=random.Random)
    # The bucket is per app and shop: estimates carry over between sessions of one client.
    _buckets: dict[str, _Bucket] = PrivateAttr(default_factory=dict)
    _expected_cost: dict[tuple[str, str, int], float] = PrivateAttr(default_factory=dict)
    # (asked, served) pairs already warned about: once per client, i.e. once per Dagster run.
    _warned_versions: set[tuple[str, str]] = PrivateAttr(default_factory=set)

    def monotonic(self) -> float:
        """The clock that deadlines are measured on (injectable in tests)."""
        return self._monotonic()

    def use_transport(self, transport: httpx.BaseTransport) -> None:
        """Tests: route requests through `transport` (e.g. `httpx.MockTransport`)."""
        self.close()
        self._transport = transport

    def http(self) -> httpx.Client:
        if self._http is None:
            timeout = httpx.Timeout(
                connect=self.connect_timeout_s,
                read=self.read_timeout_s,
                write=settings.WRITE_TIMEOUT_S,
                pool=settings.POOL_TIMEOUT_S,
            )
            self._http = httpx.Client(timeout=timeout, transport=self._transport)
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()

    def endpoint(self, shop_domain: str) -> str:
        template = self.endpoint_template or app_settings.shopify_endpoint()
        return template.replace("{shop}", shop_domain).replace("{version}", self.api_version)

    def session(self, shop_domain: str, token: str, *, deadline: float | None = None) -> ShopSession:
        """A session for one shop. `deadline` (a `time.monotonic()` value) bounds every wait."""
        return ShopSession(self, shop_domain, token, deadline)


class ShopSession:
    """Requests for one shop with one token; counts what it spends in `stats`."""

    def __init__(self, client: ShopifyClient, shop_domain: str, token: str, deadline: float | None) -> None:
        self.client = client
        self.shop_domain = shop_domain
        self.deadline = deadline
        self.page_size = client.page_size
        self.stats = CallStats(api_version=client.api_version)
        self.line_items_page_size = settings.MAX_PAGE_SIZE
        self.__token = token  # name-mangled and never in a repr or message
        self._url = client.endpoint(shop_domain)

    def __repr__(self) -> str:
        return f"ShopSession({self.shop_domain!r})"

    # -- waiting ---------------------------------------------------------------------------------

    def _wait(self, seconds: float, why: str) -> None:
        if seconds <= 0:
            return
        if self.deadline is not None and self.client._monotonic() + seconds > self.deadline:
            raise TimeBudgetExceeded(
                f"{self.shop_domain}: time budget reached while waiting {seconds:.1f} s ({why})"
            )
        self.client._sleep(seconds)

    def _pace(self, cost_key: tuple[str, str, int]) -> None:
        bucket = self.client._buckets.get(self.shop_domain)
        expected = self.client._expected_cost.get(cost_key)
        if bucket is None or expected is None or bucket.restore_rate <= 0:
            return
        short = min(expected, bucket.maximum) - bucket.estimate(self.client._monotonic())
        if short > 0:
            wait = (short + settings.PACING_MARGIN_POINTS) / bucket.restore_rate
            self.stats.pace_wait_s += wait
            self._wait(wait, "pacing on throttleStatus")

    def _observe(self, cost: dict[str, Any]) -> None:
        status = cost.get("throttleStatus") or {}
        # No usable status: keep the previous estimate.
        with contextlib.suppress(KeyError, TypeError, ValueError):
            self.client._buckets[self.shop_domain] = _Bucket(
                available=float(status["currentlyAvailable"]),
                maximum=float(status["maximumAvailable"]),
                restore_rate=float(status["restoreRate"]),
                observed_at=self.client._monotonic(),
            )

    # -- one request -----------------------------------------------------------------------------

    def execute(
        self, query: str, variables: dict[str, Any], *, cost_key: tuple[str, str, int]
    ) -> dict[str, Any]:
        """POST one GraphQL document; returns `data`. Retries what is retryable."""
        attempt, throttles = 0, 0
        while True:
            self._pace(cost_key)
            try:
                return self._request(query, variables, cost_key)
            except _Throttled as throttled:
                throttles += 1
                self.stats.throttled += 1
                if throttles > self.client.max_throttle_retries:
                    raise RateLimitExhausted(
                        f"{self.shop_domain}: still throttled after {throttles} attempts "
                        f"({self.stats.throttle_wait_s:.1f} s waited); the next run continues"
                    ) from None
                self.stats.throttle_wait_s += throttled.wait_s
                self._wait(throttled.wait_s, "THROTTLED")
            except _Transient as exc:
                attempt += 1
                if attempt >= self.client.max_attempts:
                    raise TransientApiError(
                        f"{self.shop_domain}: {exc} (gave up after {attempt} attempts)"
                    ) from None
                self.stats.retries += 1
                ceiling = min(self.client.backoff_cap_s, self.client.backoff_base_s * 2 ** (attempt - 1))
                self._wait(self.client._rng.uniform(0, ceiling), f"backoff after: {exc}")

    def _request(
        self, query: str, variables: dict[str, Any], cost_key: tuple[str, str, int]
    ) -> dict[str, Any]:
        try:
            response = self.client.http().post(
                self._url,
                json={"query": query, "variables": variables},
                headers={settings.TOKEN_HEADER: self.__token, "Accept": "application/json"},
            )
        except httpx.TimeoutException as exc:
            self.stats.api_calls += 1
            raise _Transient(f"timeout ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            self.stats.api_calls += 1
            raise _Transient(f"connection error ({type(exc).__name__})") from None
        self.stats.api_calls += 1
        self._read_version_headers(response)
        self._check_status(response)
        try:
            body = jsonio.loads(response.content)
        except ValueError:
            raise _Transient(f"malformed JSON body (HTTP {response.status_code})") from None
        if not isinstance(body, dict):
            raise _Transient("malformed body: not a JSON object")
        cost = (body.get("extensions") or {}).get("cost") or {}
        if cost:
            self._observe(cost)
        if body.get("errors"):
            self._raise_graphql_errors(body["errors"], cost)
        data = body.get("data")
        if not isinstance(data, dict):
            raise _Transient("malformed body: no data")
        requested = float(cost.get("requestedQueryCost") or 0)
        self.stats.requested_cost += requested
        self.stats.actual_cost += float(cost.get("actualQueryCost") or 0)
        if requested:
            self.client._expected_cost[cost_key] = requested
        return data

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

    def _check_status(self, response: httpx.Response) -> None:
        status, shop = response.status_code, self.shop_domain
        if status == 200:
            return
        if status == 401:
            raise AuthError(
                f"Shopify rejected the access token for {shop} (HTTP 401): the app must be re-authorized for this shop"
            )
        if status == 404:
            raise PermanentApiError(
                f"shop not found: {shop} (HTTP 404); check the shop domain of the connection"
            )
        if status == 429:
            retry_after = response.headers.get("Retry-After", "")
            try:
                wait = max(0.0, float(retry_after))
            except ValueError:
                wait = 1.0
            raise _Throttled(wait)
        if status >= 500:
            raise _Transient(f"HTTP {status}")
        reasons = {402: "the shop is frozen (payment required)", 403: "forbidden", 423: "the shop is locked"}
        raise PermanentApiError(f"{shop}: HTTP {status}: {reasons.get(status, 'unexpected answer')}")

    def _raise_graphql_errors(self, errors: Any, cost: dict[str, Any]) -> None:
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
                raise _MaxCostExceeded(f"requested cost {requested:g} exceeds the bucket ({maximum:g})")
            if rate <= 0:
                raise _Throttled(self.client.backoff_cap_s)
            raise _Throttled(max(0.0, requested - available + settings.PACING_MARGIN_POINTS) / rate)
        if "MAX_COST_EXCEEDED" in codes:
            raise _MaxCostExceeded(messages)
        if "ACCESS_DENIED" in codes:
            found = _SCOPE_RE.search(messages)
            scope = found.group(1) if found else settings.ORDERS_SCOPE
            raise PermanentApiError(
                f"{self.shop_domain}: access denied: the app is missing the {scope} scope; "
                f"re-install or re-authorize it with {scope} ({messages})"
            )
        if "INTERNAL_SERVER_ERROR" in codes:
            raise _Transient(f"INTERNAL_SERVER_ERROR: {messages}")
        raise PermanentApiError(f"{self.shop_domain}: GraphQL error: {messages}")

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
            except _MaxCostExceeded as exc:
                if first == 1:
                    raise PermanentApiError(
                        f"{self.shop_domain}: a single order costs too much: {exc}"
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
            except _MaxCostExceeded as exc:
                if first <= settings.MIN_LINE_ITEMS_PAGE_SIZE:
                    raise PermanentApiError(
                        f"{self.shop_domain}: a page of {first} line items of order {node['id']} still "
                        f"exceeds Shopify's single-query cost maximum ({exc}); the floor is "
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


class _Throttled(Exception):
    def __init__(self, wait_s: float) -> None:
        super().__init__(f"throttled: wait {wait_s:.2f} s")
        self.wait_s = wait_s


def _shop(data: dict[str, Any], shop_domain: str) -> ShopInfo:
    shop = data.get("shop") or {}
    timezone, currency = shop.get("ianaTimezone"), shop.get("currencyCode")
    if not timezone or not currency:
        raise PermanentApiError(f"{shop_domain}: the shop did not report its time zone and currency")
    return ShopInfo(shop_domain=shop_domain, timezone=str(timezone), currency=str(currency))
