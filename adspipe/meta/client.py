"""The Meta Marketing API client: account info and one day of insights, paged, paced and retried.

`MetaClient` is the Dagster resource (key "meta") holding the settings and one `httpx.Client`;
`MetaClient.session(...)` gives a `MetaSession` for one ad account and one run, which owns that
run's wait budget and counters. The token travels in the `Authorization: Bearer` header, never
in a URL, so it cannot land in a logged URL; `next` links have any `access_token` stripped and are
re-based onto the configured graph host, so the token is only ever sent there.

What happens on each kind of answer:
- usage headers (`X-Business-Use-Case-Usage`, `X-Ad-Account-Usage`, `X-App-Usage`,
  `X-FB-Ads-Insights-Throttle`): pace on the highest percentage before the limit bites, wait out
  `estimated_time_to_regain_access` / `reset_time_duration` when Meta says access is blocked;
- throttle (HTTP 400 codes 4/17/32/613/80000/80004, or HTTP 429): exponential backoff with full
  jitter and a cap, then `RateLimitExhausted` when the retries or the wait budget run out;
- code 190 / HTTP 401: `AuthError`, no retry;
- code 1 ("reduce the amount of data"): the same page again with half the `limit`; at the smallest
  page, `DataTooLarge` when the caller reads the day another way (an asynchronous report run,
  adspipe.meta.report_runs), else transient;
- code 2, 5xx, timeouts, dropped connections, malformed JSON: backoff, then `TransientApiError`;
- anything else (code 100, permissions, ...): `PermanentApiError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import Field, field_validator

from adspipe import settings as app_settings
from adspipe.counters import SyncStats
from adspipe.errors import PermanentApiError, TransientApiError
from adspipe.meta import settings
from adspipe.meta.answers import classify
from adspipe.meta.options import (
    VersionWatch,
    appsecret_proof,
    deprecated_version_message,
    validate_attribution_windows,
    validate_statuses,
)
from adspipe.meta.usage import Usage, UsageMeter, pace_wait, parse_usage
from adspipe.platform.http import CallerOutcome, HttpClientBase, HttpSession, Outcome, WaitKind

MAX_PAGES = 10_000  # a `next` chain longer than this is a loop, not data
# Parameters Meta's `next` links may carry that the client sets itself on every call.
_OWN_PARAMS = frozenset({"access_token", settings.APPSECRET_PROOF_PARAM})

__all__ = [
    "AccountInfo", "DataTooLarge", "InsightsDay", "MetaClient", "MetaSession", "Usage",
    "validate_attribution_windows",
]  # fmt: skip


class DataTooLarge(TransientApiError):
    """Code 1 at the smallest page size: the day is too large for a synchronous read."""


@dataclass(frozen=True)
class AccountInfo:
    account_id: str
    timezone: str
    currency: str
    name: str | None


@dataclass(frozen=True)
class InsightsDay:
    """Every row Meta returned for one account, day and level (all pages)."""

    account_id: str
    day: date
    level: str
    rows: tuple[dict[str, Any], ...]
    pages: int
    limit: int  # the page size that finally worked
    report_run_id: str | None = None  # the asynchronous report run the rows were read from


class MetaClient(HttpClientBase):
    """Meta Marketing API settings and the HTTP client (resource key "meta")."""

    api_version: str = Field(
        default=settings.API_VERSION, description="Graph API version, e.g. v26.0 (ADSPIPE_META_API_VERSION)."
    )
    graph_url: str | None = Field(
        default=None,
        description="Base URL of the Graph API; empty means ADSPIPE_META_GRAPH_URL or graph.facebook.com.",
    )
    page_limit: int = Field(default=settings.DEFAULT_PAGE_LIMIT, ge=settings.MIN_PAGE_LIMIT, le=5000)
    statuses: list[str] = Field(
        default_factory=lambda: list(settings.DEFAULT_STATUSES),
        description="ad.effective_status values kept by the ad-level insights filter (default: every "
        "Ad.EffectiveStatus, so no past spend is lost); a connection's ad_statuses overrides it.",
    )
    purchase_action_type: str = Field(default=settings.PURCHASE_ACTION_TYPE)
    purchase_fallbacks: list[str] = Field(
        default_factory=lambda: list(settings.PURCHASE_FALLBACKS),
        description="Used in this order when a row has no purchase_action_type.",
    )
    attribution_windows: list[str] | None = Field(
        default=None,
        description="action_attribution_windows, e.g. [7d_click, 1d_view]; empty means the account's own "
        "setting. A connection's attribution_windows overrides it.",
    )
    max_throttle_retries: int = Field(default=6, ge=0)
    max_transient_retries: int = Field(default=4, ge=0)
    backoff_base_s: float = Field(default=2.0, ge=0)
    backoff_cap_s: float = Field(default=60.0, ge=0)
    wait_budget_s: float = Field(
        default=180.0, ge=0, description="Most seconds one account's run may spend waiting on Meta."
    )
    pace_start_pct: float = Field(default=settings.PACE_START_PCT, ge=0, le=100)
    pace_max_s: float = Field(default=settings.PACE_MAX_S, ge=0)
    # Asynchronous report runs (adspipe.meta.report_runs): when a day is read through one.
    report_run_min_ads: int = Field(
        default=settings.REPORT_RUN_MIN_ADS,
        ge=0,
        description="Ads per day from which an account's days are read as asynchronous report runs "
        "(ADSPIPE_META_REPORT_RUN_MIN_ADS; 0: only after Meta answers code 1).",
    )
    report_run_attempts: int = Field(
        default=settings.REPORT_RUN_ATTEMPTS, ge=1, description="Report runs per day before the day fails."
    )
    report_poll_first_s: float = Field(default=settings.REPORT_POLL_FIRST_S, gt=0)
    report_poll_min_s: float = Field(default=settings.REPORT_POLL_MIN_S, gt=0)
    report_poll_max_s: float = Field(default=settings.REPORT_POLL_MAX_S, gt=0)
    report_run_timeout_s: float = Field(
        default=settings.REPORT_RUN_TIMEOUT_S, gt=0, description="Most seconds one report run is polled."
    )

    @field_validator("attribution_windows")
    @classmethod
    def _windows(cls, value: list[str] | None) -> list[str] | None:
        return validate_attribution_windows(value)

    @field_validator("statuses")
    @classmethod
    def _statuses(cls, value: list[str]) -> list[str]:
        return validate_statuses(value)

    @field_validator("purchase_action_type")
    @classmethod
    def _purchase_type(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("purchase_action_type must not be empty")
        return value.strip()

    def base_url(self) -> str:
        return (self.graph_url or app_settings.meta_graph_url()).rstrip("/")

    def describe(self, session: HttpSession, outcome: Outcome[Any], tries: int = 0) -> str:
        """Every message names the account and Meta (timeouts come from the base without "Meta")."""
        if outcome.kind in ("throttle", "transient"):
            return self.over_budget(
                session,
                0.0,
                "backoff" if outcome.kind == "transient" else "throttle",
                outcome.description,
                tries,
            )
        return f"{session.label}: Meta {outcome.description}"

    def over_budget(self, session: HttpSession, seconds: float, kind: WaitKind, why: str, tries: int) -> str:
        """Meta's words for a wait past the run's wait budget (or, for a throttle, past the retries)."""
        label, budget = session.label, session.wait_budget_s
        if kind == "pace":
            high = session.stats.high_water_pct if isinstance(session.stats, UsageMeter) else 0.0
            return (
                f"{label}: Meta usage at {high:.0f} % asks for a {seconds:.0f} s pause, "
                f"beyond the {budget:.0f} s wait budget; the next run continues"
            )
        if kind == "throttle":
            return (
                f"{label}: Meta {why}; still throttled after {tries - 1} retries and {session.waited_s:.0f} s "
                f"of waiting (budget {budget:.0f} s); the next run continues"
            )
        return f"{label}: Meta {why}; gave up after {tries} attempts"

    def session(
        self,
        account_id: str,
        token: str,
        stats: SyncStats,
        meter: UsageMeter | None = None,
        *,
        statuses: tuple[str, ...] | None = None,
        attribution_windows: tuple[str, ...] | None = None,
        app_secret: str | None = None,
        versions: VersionWatch | None = None,
    ) -> MetaSession:
        """Calls for one account; `statuses` / `attribution_windows` (the connection's own) override
        the resource's; `app_secret` adds `appsecret_proof` to every call."""
        windows = validate_attribution_windows(attribution_windows or self.attribution_windows)
        return MetaSession(
            self, account_id, token, stats, meter or UsageMeter(),
            statuses=tuple(validate_statuses(statuses or self.statuses)),
            windows=tuple(windows) if windows else None,
            proof=appsecret_proof(token, app_secret) if app_secret else None,
            versions=versions or VersionWatch(self.api_version),
        )  # fmt: skip


@dataclass
class MetaSession:
    """Calls for one ad account within one run; owns that run's wait budget."""

    client: MetaClient
    account_id: str
    token: str = field(repr=False)
    stats: SyncStats
    meter: UsageMeter
    statuses: tuple[str, ...] = settings.DEFAULT_STATUSES
    windows: tuple[str, ...] | None = None  # None: the account's default window (`value`)
    proof: str | None = field(default=None, repr=False)  # appsecret_proof, when the app requires it
    versions: VersionWatch | None = None
    _http: HttpSession = field(init=False, repr=False)
    _pace_due: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        if self.versions is None:
            self.versions = VersionWatch(self.client.api_version)
        self.stats.api_version = self.meter.api_version = self.client.api_version
        secrets = (self.token, self.proof) if self.proof else (self.token,)
        self._http = self.client.http_session(self.account_id, secrets=secrets, stats=self.meter)

    @property
    def budget_left_s(self) -> float:
        return self._http.budget_left_s

    def account_info(self) -> AccountInfo:
        fields = ",".join(settings.ACCOUNT_INFO_FIELDS)
        url = f"{self.client.base_url()}/{self.client.api_version}/{self.account_id}"
        body = self._request(url, {"fields": fields})
        timezone, currency = body.get("timezone_name"), body.get("currency")
        if not isinstance(timezone, str) or not isinstance(currency, str) or not currency:
            raise PermanentApiError(
                f"{self.account_id}: Meta returned no timezone_name/currency for the account"
            )
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise PermanentApiError(f"{self.account_id}: unknown time zone {timezone!r} from Meta") from None
        name = body.get("name")
        return AccountInfo(
            self.account_id, timezone, currency.upper(), name if isinstance(name, str) else None
        )

    def insights_params(self, day: date, level: str, until: date | None = None) -> dict[str, str]:
        client = self.client
        params = {
            "level": level,
            "fields": ",".join(settings.AD_FIELDS if level == "ad" else settings.ACCOUNT_LEVEL_FIELDS),
            "time_range": json.dumps({"since": day.isoformat(), "until": (until or day).isoformat()}),
            "time_increment": "1",
            "limit": str(client.page_limit),
        }
        if level == "ad":
            rule = {"field": settings.STATUS_FILTER_FIELD, "operator": settings.STATUS_FILTER_OPERATOR}
            params["filtering"] = json.dumps([{**rule, "value": list(self.statuses)}])
        if self.windows:
            params["action_attribution_windows"] = json.dumps(list(self.windows))
        return params

    def insights(
        self, day: date, *, level: str = "ad", until: date | None = None, too_large: bool = False
    ) -> InsightsDay:
        """Every row of one day at one level: `ad` (status-filtered) or `account` (unfiltered).

        `until`: the days day..until in one call, one row per day (`time_increment=1`) — only for
        the account level, whose one row per day makes a range small (the spend cross-check).
        `too_large`: code 1 at the smallest page raises `DataTooLarge` (the caller reads the day
        as a report run) instead of being retried as transient.
        """
        if level not in ("ad", "account"):
            raise ValueError(f"unsupported insights level {level!r}")
        if until is not None and level != "account":
            raise ValueError("only account-level insights are read for a range of days")
        url = f"{self.client.base_url()}/{self.client.api_version}/{self.account_id}/insights"
        return self.read_pages(url, self.insights_params(day, level, until), day, level, too_large=too_large)

    def read_pages(
        self, url: str, params: dict[str, str], day: date, level: str, *, too_large: bool = False,
        report_run_id: str | None = None,
    ) -> InsightsDay:  # fmt: skip
        """Every page of an insights answer (the edge of the account, or of a report run)."""
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        pages = 0
        while True:
            body = self._request(url, params, too_large=too_large)
            data = body.get("data")
            if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                raise TransientApiError(
                    f"{self.account_id} {day}: insights answer has no list of rows in 'data'"
                )
            rows.extend(data)
            pages += 1
            self.meter.pages += 1
            paging = body.get("paging")
            next_url = paging.get("next") if isinstance(paging, dict) else None
            if not next_url:
                break
            if next_url in seen or pages >= MAX_PAGES:
                raise PermanentApiError(f"{self.account_id} {day}: paging does not end (page {pages})")
            seen.add(next_url)
            url, params = self._follow(next_url, limit=params["limit"])
        return InsightsDay(
            self.account_id, day, level, tuple(rows), pages, int(params["limit"]), report_run_id
        )

    def call(self, path: str, params: dict[str, str], *, method: str = "GET") -> dict[str, Any]:
        """One call to `{graph}/{version}/{path}` (paced, retried, counted like every other)."""
        url = f"{self.client.base_url()}/{self.client.api_version}/{path}"
        return self._request(url, params, method=method)

    def _follow(self, next_url: str, *, limit: str) -> tuple[str, dict[str, str]]:
        """A `next` link as (url, params) on the configured host, without any access_token (nor
        appsecret_proof: every call adds its own)."""
        parts = urlsplit(next_url)
        base = urlsplit(self.client.base_url())
        params = {k: v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in _OWN_PARAMS}
        params["limit"] = limit  # keep a page size that code 1 made smaller
        return urlunsplit((base.scheme, base.netloc, parts.path, "", "")), params

    # -- one request, with pacing and retries -------------------------------------------------

    def _observe_version(self, served: str | None) -> None:
        if served:
            self.stats.api_version_served = self.meter.api_version_served = served
            assert self.versions is not None
            self.versions.observe(served)

    def _take_pace(self) -> float:
        due, self._pace_due = self._pace_due, 0.0
        return due

    def _request(
        self, url: str, params: dict[str, str], *, method: str = "GET", too_large: bool = False
    ) -> dict[str, Any]:
        """One call through the base's retry loop; the base counters also feed the run's `SyncStats`.

        Only a GET pages: code 1 on another method (starting a report run) is transient."""
        paged = params if method == "GET" else {}
        meter = self.meter
        before = (meter.api_calls, meter.throttled, meter.throttle_wait_s)
        try:
            while True:
                query = (
                    params if self.proof is None else {**params, settings.APPSECRET_PROOF_PARAM: self.proof}
                )
                try:
                    return self._http.request(
                        method,
                        url,
                        params=query,
                        headers={"Authorization": f"Bearer {self.token}"},
                        classify=lambda response: self._classify(response, paged, too_large),
                        pace=self._take_pace,
                    )
                except CallerOutcome as exc:  # code 1: the same page again with half the limit
                    if int(params["limit"]) <= settings.MIN_PAGE_LIMIT:
                        raise DataTooLarge(str(exc)) from None
                    params["limit"] = str(max(settings.MIN_PAGE_LIMIT, int(params["limit"]) // 2))
                    meter.limit_reductions += 1
        finally:
            self.stats.api_calls += meter.api_calls - before[0]
            self.stats.throttled += meter.throttled - before[1]
            self.stats.throttle_wait_s += meter.throttle_wait_s - before[2]

    def _classify(
        self, response: httpx.Response, params: dict[str, str], too_large: bool = False
    ) -> Outcome[dict[str, Any]]:
        answer = classify(response)
        self._observe_version(response.headers.get(settings.VERSION_HEADER))
        usage = parse_usage(response.headers)
        self.meter.high_water_pct = max(self.meter.high_water_pct, usage.pct)
        self._pace_due = pace_wait(usage, start_pct=self.client.pace_start_pct, max_s=self.client.pace_max_s)
        if isinstance(answer, dict):
            return Outcome.ok(answer)
        what = answer.description
        if answer.kind == "auth":
            return Outcome.auth(f"{what}: the access token was rejected")
        if answer.kind == "permanent":
            return Outcome.permanent(what)
        if answer.kind == "deprecated":
            message = deprecated_version_message(self.account_id, self.client.api_version, answer.description)
            return Outcome.permanent(message.removeprefix(f"{self.account_id}: Meta "))
        if answer.kind == "reduce" and (too_large or int(params.get("limit", "0")) > settings.MIN_PAGE_LIMIT):
            return Outcome.caller(what)
        if answer.kind == "throttle":
            self._pace_due = 0.0  # the throttle wait covers the pacing too
            return Outcome.throttle(what, wait_s=usage.regain_s, backoff_too=True)
        return Outcome.transient(what)  # transient, or code 1 at the smallest page size
