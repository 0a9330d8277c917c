"""The Google Ads API client (REST `googleAds:searchStream`, GAQL) on the shared HTTP base.

Credentials are environment variable NAMES: the app's developer token, OAuth client id and client
secret (fields of `GoogleAdsClient`), and each connection's refresh token (given to `session`).
Their values are read from the environment when a call needs them and never stored; the access
token from the refresh-token exchange is kept in memory only, until `token_refresh_margin_s`
before it expires. Every message passes through the session's mask with all of them.

Errors: HTTP 401 / `authenticationError` → `AuthError` (the caller marks the connection
needs_reauth); 403 / `authorizationError`, 400 INVALID_ARGUMENT, 404, other quota reasons →
`PermanentApiError` naming the reason; 429 / `quotaError` RESOURCE_EXHAUSTED or
RESOURCE_TEMPORARILY_EXHAUSTED → wait `quotaErrorDetails.retryDelay`, retry (past the wait budget:
`RateLimitExhausted`); 5xx / 504, timeouts, malformed bodies → backoff, then `TransientApiError`.
An error may come alone or wrapped in the stream's array (also after some batches).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
from pydantic import Field, PrivateAttr, field_validator

from adspipe import jsonio
from adspipe import settings as app_settings
from adspipe.errors import AuthError, PermanentApiError, TransientApiError
from adspipe.google_ads import settings
from adspipe.google_ads.transforms import AdRow, ad_row, normalize_customer_id
from adspipe.platform.http import CallStats, HttpClientBase, HttpSession, Outcome

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


@dataclass(frozen=True)
class CustomerInfo:
    customer_id: str  # 10 digits
    name: str | None
    time_zone: str
    currency_code: str


@dataclass(frozen=True)
class AdDays:
    """Every ad-level row of one customer for since..until (one searchStream query)."""

    customer_id: str
    since: date
    until: date
    rows: tuple[AdRow, ...]
    batches: int
    request_ids: tuple[str, ...]


def parse_duration(value: Any) -> float | None:
    """A protobuf Duration in JSON (`"30s"`, `"1.5s"`) as seconds; None when absent or malformed."""
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return float(match.group(1))
    return None


def _error_of(body: Any) -> dict[str, Any] | None:
    """The `error` object of a body, alone or inside the stream's array (any element)."""
    items = body if isinstance(body, list) else [body]
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("error"), dict):
            return item["error"]
    return None


def _failures(error: dict[str, Any]) -> tuple[list[tuple[str, str]], float | None, str | None]:
    """(category, reason) pairs of the GoogleAdsFailure details, the retry delay, the served version."""
    codes: list[tuple[str, str]] = []
    delay: float | None = None
    version: str | None = None
    for detail in error.get("details") or []:
        if not isinstance(detail, dict):
            continue
        found = settings.FAILURE_TYPE_RE.search(str(detail.get("@type", "")))
        if found:
            version = found.group(1)
        for item in detail.get("errors") or []:
            if not isinstance(item, dict):
                continue
            for category, reason in (item.get("errorCode") or {}).items():
                codes.append((str(category), str(reason)))
            quota = (item.get("details") or {}).get("quotaErrorDetails") or {}
            seconds = parse_duration(quota.get("retryDelay"))
            if seconds is not None:
                delay = max(delay or 0.0, seconds)
    return codes, delay, version


def classify_search(response: httpx.Response) -> Outcome[list[dict[str, Any]]]:
    """searchStream: the batches of a good answer, or what kind of failure this is."""
    status = response.status_code
    try:
        body = jsonio.loads(response.content)
    except ValueError:
        body = None
    error = _error_of(body)
    if status == 200 and error is None:
        if isinstance(body, list) and all(isinstance(b, dict) for b in body):
            return Outcome.ok(body)
        return Outcome.transient("malformed searchStream answer (not a JSON array of batches)")
    if error is None:
        kind = "transient" if status >= 500 or status == 200 else "permanent"
        if status == 401:
            return Outcome.auth("Google Ads HTTP 401: the credentials were rejected")
        if status == 429:
            return Outcome.throttle("Google Ads HTTP 429")
        return Outcome(kind, f"Google Ads HTTP {status}")  # type: ignore[arg-type]
    codes, delay, _ = _failures(error)
    code = error.get("code", status)
    rpc = str(error.get("status", ""))
    reasons = ", ".join(f"{c}: {r}" for c, r in codes) or rpc or "no reason given"
    text = f"Google Ads HTTP {code} {rpc} ({reasons}): {str(error.get('message', ''))[:300]}"
    categories = {c for c, _ in codes}
    quota = [r for c, r in codes if c == settings.QUOTA_ERROR]
    if settings.AUTHENTICATION_ERROR in categories or rpc in settings.AUTH_STATUSES or code == 401:
        return Outcome.auth(text)
    if settings.AUTHORIZATION_ERROR in categories or code == 403:
        return Outcome.permanent(text)
    if quota:
        if any(r in settings.RETRYABLE_QUOTA_REASONS for r in quota):
            return Outcome.throttle(text, wait_s=delay)
        return Outcome.permanent(text)
    if rpc in settings.THROTTLE_STATUSES or code == 429:
        return Outcome.throttle(text, wait_s=delay)
    if rpc in settings.TRANSIENT_STATUSES or (isinstance(code, int) and code >= 500) or status >= 500:
        return Outcome.transient(text)
    return Outcome.permanent(text)


def classify_oauth(response: httpx.Response) -> Outcome[dict[str, Any]]:
    """The token endpoint: `{access_token, expires_in}`, or an OAuth error."""
    status = response.status_code
    try:
        body = jsonio.loads(response.content)
    except ValueError:
        body = None
    if status == 200 and isinstance(body, dict) and isinstance(body.get("access_token"), str):
        return Outcome.ok(body)
    error = str(body.get("error", "")) if isinstance(body, dict) else ""
    description = str(body.get("error_description", ""))[:200] if isinstance(body, dict) else ""
    text = f"Google OAuth HTTP {status} {error}: {description}".rstrip(": ")
    if error in settings.OAUTH_AUTH_ERRORS or status == 401:
        return Outcome.auth(f"{text} — the refresh token or OAuth client was rejected; re-authorize")
    if status == 429:
        return Outcome.throttle(text)
    if status >= 500 or status == 200:
        return Outcome.transient(text if status != 200 else "Google OAuth: malformed token answer")
    return Outcome.permanent(text)


class CredentialUnavailable(PermanentApiError):
    """A credential's environment variable is not set where the job runs (the client imports no
    warehouse, so not `warehouse.connections.TokenUnavailable`)."""


def _env(name: str, what: str) -> str:
    value = app_settings.env_value(name)
    if not value:
        raise CredentialUnavailable(
            f"environment variable {name} ({what}) is not set; export it where the job runs"
        )
    return value


class GoogleAdsClient(HttpClientBase):
    """Google Ads API settings and the HTTP client (resource key "google_ads")."""

    api_version: str = Field(default=settings.API_VERSION, description="Google Ads API version, e.g. v26.")
    api_url: str | None = Field(
        default=None, description="Base URL; empty: ADSPIPE_GOOGLE_ADS_URL or the real API."
    )
    oauth_url: str | None = Field(
        default=None, description="Token endpoint; empty: ADSPIPE_GOOGLE_OAUTH_URL or Google's."
    )
    developer_token_env: str = Field(default=settings.DEVELOPER_TOKEN_ENV, description="Variable NAME.")
    client_id_env: str = Field(
        default=settings.CLIENT_ID_ENV, description="Variable NAME of the OAuth client id."
    )
    client_secret_env: str = Field(default=settings.CLIENT_SECRET_ENV, description="Variable NAME.")
    token_refresh_margin_s: float = Field(default=settings.TOKEN_REFRESH_MARGIN_S, ge=0)
    connect_timeout_s: float = Field(default=settings.CONNECT_TIMEOUT_S, gt=0)
    read_timeout_s: float = Field(default=settings.READ_TIMEOUT_S, gt=0)
    max_transient_retries: int = Field(default=settings.MAX_TRANSIENT_RETRIES, ge=0)
    max_throttle_retries: int = Field(default=settings.MAX_THROTTLE_RETRIES, ge=0)
    backoff_base_s: float = Field(default=settings.BACKOFF_BASE_S, ge=0)
    backoff_cap_s: float = Field(default=settings.BACKOFF_CAP_S, ge=0)
    wait_budget_s: float = Field(default=settings.WAIT_BUDGET_S, ge=0)
    conversion_lag_days: int = Field(
        default=settings.CONVERSION_LAG_DAYS,
        ge=settings.MIN_CONVERSION_LAG_DAYS,
        le=settings.MAX_CONVERSION_LAG_DAYS,
        description="Past days re-read every sync: conversions keep arriving for the click-through window.",
    )

    # Access tokens by a digest of (client id, refresh token): (token, monotonic expiry).
    _tokens: dict[str, tuple[str, float]] = PrivateAttr(default_factory=dict)

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not re.fullmatch(r"v[0-9]{2,3}", value):
            raise ValueError(f"api_version must look like vNN, got {value!r}")
        return value

    def base_url(self) -> str:
        return (self.api_url or settings.api_url()).rstrip("/")

    def token_url(self) -> str:
        return self.oauth_url or settings.oauth_url()

    def session(
        self,
        *,
        refresh_token_env: str,
        login_customer_id: str | None = None,
        stats: CallStats | None = None,
        deadline: float | None = None,
    ) -> GoogleAdsSession:
        """Calls with one connection's credentials; `login_customer_id`: the manager, when reached through one."""
        manager = normalize_customer_id(login_customer_id) if login_customer_id else None
        return GoogleAdsSession(self, refresh_token_env, manager, stats or CallStats(), deadline)


class GoogleAdsSession:
    """One connection's calls within a run; `stats` counts them, `http` owns the waits."""

    def __init__(
        self,
        client: GoogleAdsClient,
        refresh_token_env: str,
        login_customer_id: str | None,
        stats: CallStats,
        deadline: float | None,
    ) -> None:
        self.client = client
        self.refresh_token_env = refresh_token_env
        self.login_customer_id = login_customer_id
        self.stats = stats
        # The cache key of the access token the last request carried when it came from the cache,
        # and how many tokens this session has minted (a call that minted one does not retry).
        self._cached_token_key: str | None = None
        self._mints = 0
        stats.api_version = stats.api_version or client.api_version
        self.http: HttpSession = client.http_session(
            "Google Ads", secrets=self._secrets, stats=stats, deadline=deadline
        )

    def __repr__(self) -> str:
        return f"GoogleAdsSession(login_customer_id={self.login_customer_id!r})"

    def _secrets(self) -> Iterable[str]:
        """Every credential value that could be echoed, read now (never kept)."""
        c = self.client
        names = (c.developer_token_env, c.client_id_env, c.client_secret_env, self.refresh_token_env)
        values = [app_settings.env_value(n) for n in names]
        return [*values, *(token for token, _ in c._tokens.values())]

    # -- OAuth ---------------------------------------------------------------------------------

    def access_token(self) -> str:
        """A cached access token, or a new one from the refresh-token exchange."""
        c = self.client
        client_id = _env(c.client_id_env, "the Google OAuth client id")
        refresh = _env(self.refresh_token_env, "the Google Ads refresh token")
        key = hashlib.sha256(f"{client_id}\x1f{refresh}".encode()).hexdigest()
        cached = c._tokens.get(key)
        if cached is not None and c.monotonic() < cached[1]:
            self._cached_token_key = key
            return cached[0]
        self._cached_token_key = None
        self._mints += 1
        form = {
            "client_id": client_id,
            "client_secret": _env(c.client_secret_env, "the Google OAuth client secret"),
            "refresh_token": refresh,
            "grant_type": "refresh_token",
        }
        started = c.monotonic()
        body = self.http.request("POST", c.token_url(), classify=classify_oauth, data=form)
        try:
            lifetime = float(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        token = str(body["access_token"])
        c._tokens[key] = (token, started + lifetime - c.token_refresh_margin_s)
        return token

    def _headers(self) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.access_token()}",
            settings.DEVELOPER_TOKEN_HEADER: _env(
                self.client.developer_token_env, "the Google Ads developer token"
            ),
            "Accept": "application/json",
        }
        if self.login_customer_id:
            headers[settings.LOGIN_CUSTOMER_ID_HEADER] = self.login_customer_id
        return headers

    # -- searchStream --------------------------------------------------------------------------

    def search_stream(self, customer_id: str, query: str) -> list[dict[str, Any]]:
        """The batches of one GAQL query (`[{results, fieldMask, requestId}, …]`)."""
        customer = normalize_customer_id(customer_id)
        url = (
            f"{self.client.base_url()}/{self.client.api_version}/customers/{customer}/googleAds:searchStream"
        )

        def classify(response: httpx.Response) -> Outcome[list[dict[str, Any]]]:
            outcome = classify_search(response)
            if outcome.kind != "ok":
                error = _error_of(_loads_or_none(response.content))
                served = _failures(error)[2] if error else None
                if served:
                    self.stats.api_version_served = served
            return outcome

        mints = self._mints
        try:
            return self.http.request(
                "POST", url, classify=classify, json={"query": query}, headers=self._headers
            )
        except AuthError:
            # A cached access token Google no longer takes (it expired while this machine slept and
            # its monotonic clock stood still, or it was revoked): one new token, one more try. A
            # token minted during this call that is refused is the credentials' fault: needs_reauth.
            stale = self._cached_token_key
            if stale is None or self._mints != mints:
                raise
            self.client._tokens.pop(stale, None)
            return self.http.request(
                "POST", url, classify=classify, json={"query": query}, headers=self._headers
            )

    def customer_info(self, customer_id: str) -> CustomerInfo:
        batches = self.search_stream(customer_id, settings.customer_query())
        results = [r for b in batches for r in (b.get("results") or [])]
        if len(results) != 1 or not isinstance(results[0].get("customer"), dict):
            raise PermanentApiError(
                f"Google Ads customer {customer_id}: expected one customer row, got {len(results)}"
            )
        customer = results[0]["customer"]
        time_zone, currency = customer.get("timeZone"), customer.get("currencyCode")
        if not isinstance(time_zone, str) or not isinstance(currency, str) or not time_zone or not currency:
            raise PermanentApiError(
                f"Google Ads customer {customer_id}: no time zone or currency in the answer"
            )
        name = customer.get("descriptiveName")
        return CustomerInfo(
            normalize_customer_id(customer_id), name if isinstance(name, str) else None, time_zone, currency
        )

    def ad_days(self, customer_id: str, since: date, until: date) -> AdDays:
        """Ad-level rows for since..until (every status: removed ads keep their spend)."""
        if until < since:
            raise ValueError(f"until {until} is before since {since}")
        customer = normalize_customer_id(customer_id)
        batches = self.search_stream(customer, settings.ad_query(since, until))
        rows: list[AdRow] = []
        for batch in batches:
            results = batch.get("results") or []
            if not isinstance(results, list):
                raise TransientApiError(f"Google Ads customer {customer}: 'results' is not a list")
            rows.extend(ad_row(r) for r in results)
        outside = [r.day for r in rows if not since <= r.day <= until]
        if outside:
            raise TransientApiError(
                f"Google Ads customer {customer}: rows dated outside {since}..{until}: {outside[0]}"
            )
        request_ids = tuple(str(b["requestId"]) for b in batches if b.get("requestId"))
        return AdDays(customer, since, until, tuple(rows), len(batches), request_ids)

    def ad_day(self, customer_id: str, day: date) -> AdDays:
        return self.ad_days(customer_id, day, day)


def _loads_or_none(content: bytes) -> Any:
    try:
        return jsonio.loads(content)
    except ValueError:
        return None
