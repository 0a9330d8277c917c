"""The Google Ads API in the simulator: OAuth token endpoint, `googleAds:searchStream`, GAQL subset.

Routes (mounted by `server.build_app`):
- `POST {base}/google-oauth/token` — form `client_id`, `client_secret`, `refresh_token`,
  `grant_type=refresh_token` → `{access_token, expires_in, token_type, scope}`; a revoked or
  unknown refresh token → 400 `invalid_grant`, a wrong client → 401 `invalid_client`.
- `POST {base}/google-ads/{version}/customers/{id}/googleAds:searchStream` — body `{"query"}`;
  needs `Authorization: Bearer` (an issued, unexpired access token, by the simulator clock) and
  `developer-token`; customers of odd-numbered stores are reached only through the manager
  (`login-customer-id`). Answers a JSON array of batches (`results`, `fieldMask`, `requestId`,
  `queryResourceConsumption` in the last), lowerCamelCase keys, int64 as strings, doubles as
  numbers, zero metrics omitted (proto3 JSON). Errors are Google RPC bodies with a
  GoogleAdsFailure, wrapped in an array like searchStream may send them.
- `GET {base}/google-ads/admin/truth?customer=&day=`, `GET/POST {base}/google-ads/admin/faults`.

GAQL: `SELECT <fields> FROM ad_group_ad|customer [WHERE segments.date BETWEEN 'a' AND 'b' |
segments.date = 'a']`; an unknown field → UNRECOGNIZED_FIELD, an unknown resource →
BAD_RESOURCE_TYPE_IN_FROM_CLAUSE, `segments.date` selected without a date range →
EXPECTED_FILTERS_ON_DATE_RANGE (all 400 INVALID_ARGUMENT).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adspipe.simulator import scripted as scripted_answers
from adspipe.simulator.google_ads_faults import GoogleAdsFaults
from adspipe.simulator.google_ads_world import GadsCustomer, GadsRow, GadsWorld
from adspipe.simulator.shopify_api import ApiResponse, dumps
from adspipe.simulator.util import local_ordinal, stable_int
from adspipe.simulator.world import World

if TYPE_CHECKING:
    from adspipe.simulator.server import Simulator

VERSIONS = ("v23", "v24", "v25", "v26")
FAILURE_TYPE = "type.googleapis.com/google.ads.googleads.{version}.errors.GoogleAdsFailure"
STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                429: "RESOURCE_EXHAUSTED"}  # fmt: skip
OUTCOMES = {400: "bad_request", 401: "auth", 403: "denied", 404: "not_found", 429: "throttled"}
# GAQL field → (value of a row; None for customer-only queries reading the customer).
AD_FIELDS: dict[str, Callable[[GadsRow], Any]] = {
    "customer.id": lambda r: r.customer.customer_id,
    "customer.descriptive_name": lambda r: r.customer.name,
    "customer.time_zone": lambda r: r.customer.time_zone,
    "customer.currency_code": lambda r: r.customer.currency,
    "campaign.id": lambda r: r.campaign_id,
    "ad_group.id": lambda r: r.ad_group_id,
    "ad_group_ad.ad.id": lambda r: r.ad_id,
    "ad_group_ad.status": lambda r: r.status,
    "segments.date": lambda r: r.day.isoformat(),
    "metrics.impressions": lambda r: str(r.impressions) if r.impressions else None,
    "metrics.clicks": lambda r: str(r.clicks) if r.clicks else None,
    "metrics.cost_micros": lambda r: str(r.cost_micros) if r.cost_micros else None,
    "metrics.conversions": lambda r: r.conversions_milli / 1000 if r.conversions_milli else None,
    "metrics.conversions_value": lambda r: (
        r.conversions_value_cents / 100 if r.conversions_value_cents else None
    ),
}
CUSTOMER_FIELDS = ("customer.id", "customer.descriptive_name", "customer.time_zone", "customer.currency_code")
RESOURCES = {"ad_group_ad": tuple(AD_FIELDS), "customer": CUSTOMER_FIELDS}
QUERY = re.compile(r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<resource>\S+)(?:\s+WHERE\s+(?P<where>.+?))?\s*$",
                   re.I | re.S)  # fmt: skip
BETWEEN = re.compile(r"^segments\.date\s+BETWEEN\s+'([^']*)'\s+AND\s+'([^']*)'$", re.I)
EQUALS = re.compile(r"^segments\.date\s*=\s*'([^']*)'$", re.I)
MAX_DAYS_BACK = 37 * 31  # day-level segments older than 37 months return no rows


class GadsError(Exception):
    def __init__(self, status: int, message: str, category: str | None = None, reason: str | None = None,
                 details: dict[str, Any] | None = None) -> None:  # fmt: skip
        super().__init__(message)
        self.status, self.category, self.reason, self.details = status, category, reason, details


class GoogleAdsApi:
    def __init__(
        self,
        world: World,
        now: Callable[[], float],
        *,
        refresh_tokens: Iterable[str] | None = ("sim-refresh-token",),
        client_id: str = "sim-client-id",
        client_secret: str = "sim-client-secret",
        developer_tokens: Iterable[str] = ("sim-developer-token",),
    ) -> None:
        self.world = GadsWorld(world)
        self.now = now
        self.faults = GoogleAdsFaults()
        self.refresh_tokens = None if refresh_tokens is None else set(refresh_tokens)
        self.client_id, self.client_secret = client_id, client_secret
        self.developer_tokens = set(developer_tokens)
        self._issued: dict[str, float] = {}  # access token → expiry (simulator epoch seconds)
        self._lock = threading.Lock()
        self._seq = 0
        self.token_requests = 0

    def _next(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    # ---- OAuth --------------------------------------------------------------------------------

    def token(self, form: Mapping[str, str]) -> ApiResponse:
        self.token_requests += 1
        if form.get("grant_type") != "refresh_token":
            return _oauth_error(400, "unsupported_grant_type", "Invalid grant_type.")
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        refresh = form.get("refresh_token", "")
        known = self.refresh_tokens is None or refresh in self.refresh_tokens
        if not refresh or not known or refresh in self.faults.revoked_refresh_tokens:
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        n = self._next()
        token = f"ya29.sim-{stable_int(self.world.world.seed, 'gads-token', n) % 10**16:016d}"
        lifetime = self.faults.token_lifetime_s
        with self._lock:
            self._issued[token] = self.now() + lifetime
        body = {"access_token": token, "expires_in": lifetime, "token_type": "Bearer",
                "scope": "https://www.googleapis.com/auth/adwords"}  # fmt: skip
        return ApiResponse(200, dumps(body), {}, "ok")

    # ---- searchStream -------------------------------------------------------------------------

    def search_stream(
        self, version: str, customer_id: str, headers: Mapping[str, str], body: bytes
    ) -> ApiResponse:
        n = self._next()
        request_id = f"sim{stable_int(self.world.world.seed, 'gads-req', n) % 10**12:012d}"
        try:
            if version not in VERSIONS:
                raise GadsError(404, "Requested entity was not found.")
            customer = self._authorize(customer_id, headers)
            if self.faults.quota_drawn(self.world.world.seed, n):
                delay = f"{self.faults.retry_delay_s:g}s"
                raise GadsError(429, "Resource has been exhausted (e.g. check quota).", "quotaError",
                                self.faults.quota_reason, {"quotaErrorDetails": {"rateScope": "ACCOUNT",
                                "rateName": "Requests per account", "retryDelay": delay}})  # fmt: skip
            scripted = self.faults.next_scripted(customer.customer_id)
            if scripted is not None:
                return ApiResponse(*scripted_answers.encoded(scripted, {"request-id": request_id}),
                                   customer.customer_id)  # fmt: skip
            try:
                query = json.loads(body or b"{}").get("query", "")
            except (ValueError, AttributeError):
                raise GadsError(400, "Invalid JSON payload received.") from None
            fields, resource, since, until = self._parse(str(query))
            payload = self._answer(customer, fields, resource, since, until, request_id)
        except GadsError as exc:
            return self._error(version, exc, request_id, customer_id)
        return ApiResponse(200, dumps(payload), {"request-id": request_id}, "ok", customer.customer_id)

    def _authorize(self, customer_id: str, headers: Mapping[str, str]) -> GadsCustomer:
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        with self._lock:
            expiry = self._issued.get(token)
        if expiry is None:
            raise GadsError(401, "Request had invalid authentication credentials. Expected OAuth 2 access token.",
                            "authenticationError", "OAUTH_TOKEN_INVALID")  # fmt: skip
        if self.now() >= expiry:
            raise GadsError(
                401, "The OAuth access token has expired.", "authenticationError", "OAUTH_TOKEN_EXPIRED"
            )
        if headers.get("developer-token", "") not in self.developer_tokens:
            raise GadsError(
                401, "The developer token is not valid.", "authenticationError", "DEVELOPER_TOKEN_INVALID"
            )
        login = headers.get("login-customer-id")
        if login is not None and login != self.world.manager_id:
            raise GadsError(403, "User doesn't have permission to access customer. The login-customer-id must be "
                            "a manager of the customer.", "authorizationError", "USER_PERMISSION_DENIED")  # fmt: skip
        customer = self.world.customer(customer_id)
        if customer is None or (customer.managed and login is None):
            raise GadsError(403, "User doesn't have permission to access customer. Note: If you're accessing a "
                            "client customer, the manager's customer id must be set in the 'login-customer-id' "
                            "header.", "authorizationError", "USER_PERMISSION_DENIED")  # fmt: skip
        return customer

    def _parse(self, query: str) -> tuple[list[str], str, date | None, date | None]:
        match = QUERY.match(query)
        if match is None:
            raise GadsError(
                400, f"Error in query: unexpected input {query[:40]!r}.", "queryError", "UNEXPECTED_INPUT"
            )
        resource = match["resource"]
        if resource not in RESOURCES:
            raise GadsError(400, f"Error in query: invalid resource type in FROM clause: '{resource}'.",
                            "queryError", "BAD_RESOURCE_TYPE_IN_FROM_CLAUSE")  # fmt: skip
        fields = [f.strip() for f in match["fields"].split(",")]
        for name in fields:
            if name not in AD_FIELDS:
                raise GadsError(
                    400, f"Unrecognized field in the query: '{name}'.", "queryError", "UNRECOGNIZED_FIELD"
                )
            if name not in RESOURCES[resource]:
                raise GadsError(400, f"Error in SELECT clause: field '{name}' cannot be selected with resource '{resource}'.",
                                "queryError", "PROHIBITED_FIELD_IN_SELECT_CLAUSE")  # fmt: skip
        since = until = None
        where = (match["where"] or "").strip()
        if where:
            between, equals = BETWEEN.match(where), EQUALS.match(where)
            if between is None and equals is None:
                raise GadsError(400, "Error in WHERE clause: the simulator reads segments.date BETWEEN / = only.",
                                "queryError", "UNEXPECTED_INPUT")  # fmt: skip
            try:
                since = date.fromisoformat(between[1] if between else equals[1])  # type: ignore[index]
                until = date.fromisoformat(between[2] if between else equals[1])  # type: ignore[index]
            except ValueError:
                raise GadsError(
                    400, "Error in query: invalid date format.", "queryError", "INVALID_DATE_FORMAT"
                ) from None
        if resource == "ad_group_ad" and since is None:
            raise GadsError(400, "Error in query: a finite date range must be given when segments.date is "
                            "selected.", "queryError", "EXPECTED_FILTERS_ON_DATE_RANGE")  # fmt: skip
        return fields, resource, since, until

    def _answer(
        self, customer: GadsCustomer, fields: list[str], resource: str, since: date | None, until: date | None,
        request_id: str,
    ) -> list[dict[str, Any]]:  # fmt: skip
        now = self.now()
        if resource == "customer":
            results = [_nest(fields, lambda name: AD_FIELDS[name](_CustomerOnly(customer)), customer)]  # type: ignore[arg-type]
        else:
            assert since is not None and until is not None
            oldest = date.fromordinal(local_ordinal(customer.time_zone, now) - MAX_DAYS_BACK)
            day, results = max(since, oldest), []
            while day <= until:
                for row in self.world.rows(customer, day, now):
                    results.append(_nest(fields, lambda name, r=row: AD_FIELDS[name](r), customer, row))  # type: ignore[misc]
                day += timedelta(days=1)
        mask = ",".join(_camel_path(f) for f in fields)
        size = max(1, self.faults.batch_rows)
        batches: list[dict[str, Any]] = [
            {"results": results[i : i + size], "fieldMask": mask, "requestId": request_id}
            for i in range(0, len(results), size)
        ] or [{"fieldMask": mask, "requestId": request_id}]
        batches[-1]["queryResourceConsumption"] = str(10 + len(results))
        return batches

    def _error(self, version: str, exc: GadsError, request_id: str, customer_id: str) -> ApiResponse:
        error: dict[str, Any] = {
            "code": exc.status,
            "message": str(exc),
            "status": STATUS_NAMES.get(exc.status, "UNKNOWN"),
        }
        if exc.category is not None:
            item: dict[str, Any] = {"errorCode": {exc.category: exc.reason}, "message": str(exc)}
            if exc.details:
                item["details"] = exc.details
            failure = {"@type": FAILURE_TYPE.format(version=version if version in VERSIONS else VERSIONS[-1]),
                       "errors": [item], "requestId": request_id}  # fmt: skip
            error["message"] = "Request contains an invalid argument." if exc.status == 400 else str(exc)
            error["details"] = [failure]
        body: Any = [{"error": error}] if self.faults.errors_in_array else {"error": error}
        return ApiResponse(exc.status, dumps(body), {"request-id": request_id}, OUTCOMES.get(exc.status, "error"),
                           customer_id)  # fmt: skip

    def truth(self, customer_id: str, day: date) -> dict[str, GadsRow]:
        """Ground truth as of the simulator clock: every ad's row of a local date, by ad id."""
        return self.world.truth(customer_id, day, self.now())


@dataclass(frozen=True)
class _CustomerOnly:
    customer: GadsCustomer


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _camel_path(name: str) -> str:
    return ".".join(_camel(p) for p in name.split("."))


def _nest(
    fields: list[str], value: Callable[[str], Any], customer: GadsCustomer, row: GadsRow | None = None
) -> dict[str, Any]:
    """One result: nested lowerCamelCase objects with resource names; absent values left out."""
    cid = customer.customer_id
    out: dict[str, Any] = {"customer": {"resourceName": f"customers/{cid}"}}
    names: dict[str, str] = {}
    if row is not None:
        names = {"campaign": f"customers/{cid}/campaigns/{row.campaign_id}",
                 "adGroup": f"customers/{cid}/adGroups/{row.ad_group_id}",
                 "adGroupAd": f"customers/{cid}/adGroupAds/{row.ad_group_id}~{row.ad_id}"}  # fmt: skip
    for name in fields:
        v = value(name)
        if v is None:
            continue
        parts = [_camel(p) for p in name.split(".")]
        node = out
        for part in parts[:-1]:
            if part not in node:
                node[part] = {"resourceName": names[part]} if row is not None and part in names else {}
                if part == "ad" and row is not None:
                    node[part]["resourceName"] = f"customers/{cid}/ads/{row.ad_id}"
            node = node[part]
        node[parts[-1]] = v
    return out


def _oauth_error(status: int, error: str, description: str) -> ApiResponse:
    return ApiResponse(status, dumps({"error": error, "error_description": description}), {}, "auth")


def routes(sim: Simulator) -> list[Route]:
    api = sim.google_ads

    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        return await sim.call("google_ads", "token", "", lambda: api.token(form))

    async def search_stream(request: Request) -> Response:
        version, customer = request.path_params["version"], request.path_params["customer"]
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        return await sim.call("google_ads", "searchStream", customer,
                              lambda: api.search_stream(version, customer, headers, body))  # fmt: skip

    async def truth(request: Request) -> Response:
        try:
            rows = api.truth(
                request.query_params["customer"], date.fromisoformat(request.query_params["day"])
            )
        except (KeyError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse({ad: {"status": r.status, "cost_micros": r.cost_micros, "impressions": r.impressions,
                                  "clicks": r.clicks, "conversions": str(r.conversions),
                                  "conversions_value": str(r.conversions_value)} for ad, r in rows.items()})  # fmt: skip

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                api.faults.update(**(await request.json()))
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, 400)
        knobs = api.faults.to_dict()
        return JSONResponse({**knobs, "customers": api.world.describe(), "manager_id": api.world.manager_id})

    return [
        Route("/google-oauth/token", token, methods=["POST"]),
        Route(
            "/google-ads/{version}/customers/{customer}/googleAds:searchStream",
            search_stream,
            methods=["POST"],
        ),
        Route("/google-ads/admin/truth", truth, methods=["GET"]),
        Route("/google-ads/admin/faults", faults, methods=["GET", "POST"]),
    ]
