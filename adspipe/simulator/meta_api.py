"""`GET {base}/meta/{version}/act_{id}/insights` and `GET {base}/meta/{version}/act_{id}`.

Insights are as of the simulated "now": today is partial, conversions of past days keep arriving
for up to 7 days, and `filtering` on `ad.effective_status` uses each ad's *current* status (an ad
archived after it spent drops out of `IN ['ACTIVE','PAUSED']`). Every number is a string; the
same purchase is reported under several action types (`omni_purchase`, `purchase`,
`offsite_conversion.fb_pixel_purchase`, `onsite_web_purchase`). Rows without `omni_purchase`
(about 12 %) carry only the pixel types, so a reader must follow metrics.md's fallback order.

The token is accepted as `access_token` or `Authorization: Bearer`. Errors are Graph API error
bodies: 104 (no token), 190 (bad or revoked token), 100 (bad parameter or unknown object, or a
missing / wrong `appsecret_proof` when `meta_app_secret` is set), 2635 (a version past its
expiration in `adspipe.meta.settings.SUPPORT_ENDS` on the simulated date), 1 (HTTP 500, `limit`
above `meta_max_rows_per_page`, or a synchronous answer of more than `meta_sync_max_rows` rows),
throttles from `meta_usage`. `POST act_X/insights`, `GET /{report_run_id}` and
`GET /{report_run_id}/insights` are Meta's asynchronous report runs (`meta_reports.py`). Every answer names the version
that served it in `facebook-api-version`.

With `action_attribution_windows`, each `actions` / `action_values` element also carries one key
per requested window, consistent with the ad's conversions (see `ads.py`); `value` stays the
account's default window (7-day click or 1-day view).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from adspipe.meta.settings import DEFAULT_API_VERSION, SUPPORT_ENDS
from adspipe.simulator.ads import AdDayView, ad_day_as_of
from adspipe.simulator.faults import Faults
from adspipe.simulator.meta_reports import NODE_FIELDS, ReportRuns
from adspipe.simulator.meta_rows import group_key, insights_row
from adspipe.simulator.meta_usage import MetaUsage, throttle_error
from adspipe.simulator.scripted import encoded, meta_keys, next_answer
from adspipe.simulator.shopify_api import ApiResponse, dumps
from adspipe.simulator.util import local_ordinal, stable_int, zone
from adspipe.simulator.world import AccountSpec, World

LEVELS = ("ad", "adset", "campaign", "account")
ROW_FIELDS = (
    "account_id", "account_name", "account_currency", "campaign_id", "campaign_name", "adset_id", "adset_name",
    "ad_id", "ad_name", "objective", "spend", "impressions", "clicks", "reach", "frequency", "cpm", "cpc", "ctr",
    "inline_link_clicks", "actions", "action_values", "date_start", "date_stop",
)  # fmt: skip
ACCOUNT_FIELDS = (
    "id", "account_id", "name", "currency", "timezone_name", "timezone_offset_hours_utc", "account_status",
    "business", "attribution_spec",
)  # fmt: skip
STATUSES = ("ACTIVE", "PAUSED", "ADSET_PAUSED", "CAMPAIGN_PAUSED", "ARCHIVED", "DELETED", "DISAPPROVED",
            "IN_PROCESS", "PENDING_REVIEW", "WITH_ISSUES", "PREAPPROVED", "PENDING_BILLING_INFO")  # fmt: skip
WINDOWS = ("1d_click", "7d_click", "28d_click", "1d_view", "1d_ev", "dda", "default")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
REDUCE = "Please reduce the amount of data you're asking for, then retry your request"


class GraphError(Exception):
    def __init__(self, code: int, message: str, status: int = 400, subcode: int | None = None) -> None:
        super().__init__(message)
        self.code, self.status, self.subcode = code, status, subcode


def encode_cursor(index: int) -> str:
    # Graph API cursors are base64 with '=' written as 'ZD' (e.g. "MAZDZD" for 0).
    return base64.b64encode(str(index).encode()).decode().replace("=", "ZD")


def decode_cursor(cursor: str) -> int:
    try:
        return int(base64.b64decode(cursor.replace("ZD", "=").encode(), validate=True).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise GraphError(100, "(#100) The after cursor is not valid") from None


class MetaApi:
    def __init__(
        self,
        world: World,
        faults: Faults,
        now: Callable[[], float],
        *,
        tokens: Iterable[str] | None = ("sim-token",),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.world, self.faults, self.now = world, faults, now
        self.tokens = None if tokens is None else set(tokens)
        self.usage = MetaUsage(faults, monotonic)
        self.reports = ReportRuns(world.seed, faults, monotonic)
        self._seq = 0

    def _trace(self) -> str:
        self._seq += 1
        return base64.b64encode(stable_int(self.world.seed, "fbtrace", self._seq).to_bytes(8, "big")).decode()

    def handle(
        self, version: str, node: str, edge: str | None, params: Mapping[str, str], headers: Mapping[str, str],
        base_url: str, method: str = "GET",
    ) -> ApiResponse:  # fmt: skip
        trace = self._trace()
        served = self.faults.meta_served_version or version
        out_headers = {"x-fb-trace-id": trace, "x-fb-rev": "1000001", "facebook-api-version": served}
        token = params.get("access_token", "")
        auth = headers.get("authorization", "")
        if not token and auth.lower().startswith(("bearer ", "oauth ")):
            token = auth.split(" ", 1)[1].strip()
        run = self.reports.get(node) if node.isdigit() else None
        account = (
            self.world.account_by_id(run.account if run else node) if run or node.startswith("act_") else None
        )
        try:
            if not re.fullmatch(r"v\d+\.\d+", version):
                raise GraphError(2500, f"Unknown path components: /{version}/{node}")
            self._check_token(token)
            self._check_proof(token, params.get("appsecret_proof"))
            self._check_version(version)
            if account is None:
                raise GraphError(100, f"Unsupported get request. Object with ID '{node}' does not exist, cannot be "
                                 "loaded due to missing permissions, or does not support this operation.", subcode=33)  # fmt: skip
            scripted = next_answer(self.faults.meta_scripted, *meta_keys(account.id, edge, params))
            if scripted is not None:
                return ApiResponse(*encoded(scripted, out_headers), account.id)
            throttled, usage = self.usage.call(
                f"{stable_int('token', token) % 10**9}", account.id, account.account_id
            )
            out_headers.update(usage)
            if throttled is not None:
                if self.faults.meta_plain_429:
                    return ApiResponse(429, b"Too Many Requests", {**out_headers, "content-type": "text/plain"},
                                       "throttled", account.id)  # fmt: skip
                body = throttle_error(throttled, trace)
                return ApiResponse(400, dumps(body), out_headers, "throttled", account.id)
            if method == "POST":
                if edge != "insights" or run is not None:
                    raise GraphError(100, f"(#100) Unsupported post request to {node}/{edge or ''}")
                since, until, rows = self._rows(account, params)
                payload = {"report_run_id": self.reports.start(account.id, since, until, rows, dict(params))}
            elif run is not None and edge is None:
                payload = self._report_run(run, params)
            elif run is not None and edge == "insights":
                status, _ = self.reports.state(run)
                if status != "Job Completed":
                    raise GraphError(100, f"(#100) Report run {run.id} is not complete ({status})")
                payload = _page(run.rows, params, f"{base_url}/meta/{version}/{run.id}/insights", token)
            elif edge is None:
                payload = self._account(account, params)
            elif edge == "insights":
                payload = self._insights(account, version, params, token, base_url)
            else:
                raise GraphError(100, f"(#100) Unknown edge '{edge}' in the simulator")
        except GraphError as exc:
            error: dict[str, Any] = {"message": str(exc), "type": "OAuthException", "code": exc.code}
            if exc.subcode is not None:
                error["error_subcode"] = exc.subcode
            if exc.code in (1, 2):
                error["is_transient"] = True
            error["fbtrace_id"] = trace
            outcome = "auth" if exc.code in (104, 190) else "error"
            return ApiResponse(exc.status, dumps({"error": error}), out_headers, outcome, node)
        return ApiResponse(200, dumps(payload), out_headers, "ok", account.id)

    def _check_token(self, token: str) -> None:
        if not token:
            raise GraphError(104, "An access token is required to request this resource.")
        if token in self.faults.revoked_tokens:
            raise GraphError(190, "Error validating access token: The session has been invalidated because the user "
                             "changed their password or Facebook has changed the session for security reasons.",
                             subcode=460)  # fmt: skip
        if self.tokens is not None and token not in self.tokens:
            raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")

    def _check_proof(self, token: str, proof: str | None) -> None:
        secret = self.faults.meta_app_secret
        if not secret:
            return
        if not proof:
            raise GraphError(100, "API calls from the server require an appsecret_proof argument")
        want = hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(proof, want):
            raise GraphError(100, "Invalid appsecret_proof provided in the API argument")

    def _check_version(self, version: str) -> None:
        """A version past its published expiration (on the simulated UTC date) is refused."""
        ends = SUPPORT_ENDS.get(version)
        today = datetime.fromtimestamp(self.now(), UTC).date()
        if ends is not None and today >= ends:
            latest = max(SUPPORT_ENDS, key=lambda v: float(v[1:]), default=DEFAULT_API_VERSION)
            raise GraphError(2635, "(#2635) You are calling a deprecated version of the Ads API. "
                             f"Please update to the latest version: {latest}.")  # fmt: skip

    # ---- the ad account node --------------------------------------------------------------------

    def _account(self, acct: AccountSpec, params: Mapping[str, str]) -> dict[str, Any]:
        fields = _list(params.get("fields")) or ["id"]
        offset = zone(acct.timezone).utcoffset(datetime.fromtimestamp(self.now(), UTC))
        values: dict[str, Any] = {
            "id": acct.id, "account_id": acct.account_id, "name": acct.name, "currency": acct.currency,
            "timezone_name": acct.timezone, "account_status": acct.account_status,
            "timezone_offset_hours_utc": (offset.total_seconds() / 3600) if offset else 0.0,
            "business": {"id": acct.business_id, "name": f"{acct.name.rsplit(' Ads', 1)[0]} Business"},
            "attribution_spec": [{"event_type": "CLICK_THROUGH", "window_days": acct.attribution_window_days},
                                 {"event_type": "VIEW_THROUGH", "window_days": 1}],
        }  # fmt: skip
        out: dict[str, Any] = {}
        for name in fields:
            if name not in values:
                raise GraphError(
                    100, f"(#100) Tried accessing nonexisting field ({name}) on node type (AdAccount)"
                )
            out[name] = values[name]
        out.setdefault("id", acct.id)
        return out

    # ---- insights ---------------------------------------------------------------------------------

    def _report_run(self, run: Any, params: Mapping[str, str]) -> dict[str, Any]:
        fields = _list(params.get("fields"))
        for name in fields:
            if name not in NODE_FIELDS:
                raise GraphError(
                    100, f"(#100) Tried accessing nonexisting field ({name}) on node type (AdReportRun)"
                )
        return self.reports.node(run, fields)

    def _insights(
        self, acct: AccountSpec, version: str, params: Mapping[str, str], token: str, base_url: str
    ) -> dict[str, Any]:
        _, _, rows = self._rows(acct, params)
        limit = self.faults.meta_sync_max_rows
        if limit and len(rows) > limit:  # too much for a synchronous answer, whatever the page size
            raise GraphError(1, REDUCE, status=500)
        return _page(rows, params, f"{base_url}/meta/{version}/{acct.id}/insights", token)

    def _rows(self, acct: AccountSpec, params: Mapping[str, str]) -> tuple[str, str, list[dict[str, Any]]]:
        """(since, until, every row) of an insights request, its parameters checked."""
        level = params.get("level", "account")
        if level not in LEVELS:
            raise GraphError(100, f"(#100) level must be one of the following values: {', '.join(LEVELS)}")
        fields = _list(params.get("fields")) or ["spend", "impressions"]
        for name in fields:
            if name not in ROW_FIELDS:
                raise GraphError(100, f"(#100) {name} is not valid for fields param. please check "
                                 "https://developers.facebook.com/docs/marketing-api/reference/ads-insights/ "
                                 "for all valid values")  # fmt: skip
        windows = _windows(params.get("action_attribution_windows"))
        limit = _int(params.get("limit", "25"), "limit")
        if limit <= 0:
            raise GraphError(100, "(#100) Param limit must be a positive integer")
        if limit > self.faults.meta_max_rows_per_page:
            raise GraphError(1, REDUCE, status=500)
        if params.get("breakdowns"):
            raise GraphError(100, "(#100) breakdowns are not supported by the simulator")
        now = self.now()
        since, until = self._range(acct, params, now)
        step = params.get("time_increment", "all_days")
        days = (until - since).days + 1
        increment = days if step in ("all_days", "") else _int(step, "time_increment")
        if increment < 1 or increment > 90:
            raise GraphError(
                100, "(#100) time_increment must be all_days, monthly or an integer between 1 and 90"
            )
        keep = _status_filter(params.get("filtering"))
        today = local_ordinal(acct.timezone, now)
        rows: list[dict[str, Any]] = []
        for b in range(0, days, increment):
            lo = since + timedelta(days=b)
            hi = min(until, lo + timedelta(days=increment - 1))
            groups: dict[str, list[AdDayView]] = {}
            for d in range(lo.toordinal(), hi.toordinal() + 1):
                for ad_day in self.world.ad_days_on(acct, d):
                    status = ad_day.ad.status_on(today) or "PENDING_REVIEW"
                    if keep is not None and status not in keep:
                        continue
                    view = ad_day_as_of(ad_day, acct.timezone, now)
                    if view is not None:
                        groups.setdefault(group_key(acct, view, level), []).append(view)
            for key in sorted(groups, key=lambda k: (len(k), k)):
                rows.append(insights_row(acct, groups[key], level, fields, windows, lo, hi))
        return since.isoformat(), until.isoformat(), rows

    def _range(self, acct: AccountSpec, params: Mapping[str, str], now: float) -> tuple[date, date]:
        today = date.fromordinal(local_ordinal(acct.timezone, now))
        raw = params.get("time_range")
        if raw:
            try:
                spec = json.loads(raw)
                since, until = spec["since"], spec["until"]
                if not (DATE.match(since) and DATE.match(until)):
                    raise ValueError
                lo, hi = date.fromisoformat(since), date.fromisoformat(until)
            except (ValueError, KeyError, TypeError):
                raise GraphError(100, "(#100) param time_range must be an object with since and until "
                                 "dates as YYYY-MM-DD") from None  # fmt: skip
            if lo > hi:
                raise GraphError(100, "(#100) time_range: since must be on or before until")
            return lo, hi
        preset = params.get("date_preset", "last_30d")
        spans = {"today": (0, 0), "yesterday": (1, 1), "last_3d": (3, 1), "last_7d": (7, 1), "last_14d": (14, 1),
                 "last_28d": (28, 1), "last_30d": (30, 1), "last_90d": (90, 1)}  # fmt: skip
        if preset not in spans:
            raise GraphError(100, f"(#100) date_preset must be one of {', '.join(spans)}")
        back, end = spans[preset]
        return today - timedelta(days=back), today - timedelta(days=end)


def _list(raw: str | None) -> list[str]:
    if not raw:
        return []
    raw = raw.strip()
    if raw.startswith("["):
        try:
            items = json.loads(raw)
        except ValueError:
            raise GraphError(100, "(#100) fields must be a list") from None
        return [str(i).strip() for i in items]
    return [p.strip() for p in raw.split(",") if p.strip()]


def _int(raw: str, name: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise GraphError(100, f"(#100) Param {name} must be an integer") from None


def _windows(raw: str | None) -> list[str]:
    windows = _list(raw)
    for i, w in enumerate(windows):
        if w not in WINDOWS:
            # Since 12 Jan 2026 `7d_view` and `28d_view` are refused like any unknown window.
            raise GraphError(100, f"(#100) action_attribution_windows[{i}] must be one of the following values: "
                             f"{', '.join(WINDOWS)}")  # fmt: skip
    return [w for w in windows if w not in ("default", "dda")]


def _status_filter(raw: str | None) -> set[str] | None:
    if not raw:
        return None
    try:
        rules = json.loads(raw)
        if not isinstance(rules, list):
            raise ValueError
    except ValueError:
        raise GraphError(100, "(#100) param filtering must be an array of filter objects") from None
    keep: set[str] | None = None
    for rule in rules:
        if not isinstance(rule, dict) or {"field", "operator", "value"} - rule.keys():
            raise GraphError(100, "(#100) each filter needs field, operator and value")
        if rule["field"] != "ad.effective_status":
            raise GraphError(100, f"(#100) Filtering field {rule['field']} is not supported by the simulator")
        op, value = str(rule["operator"]), rule["value"]
        values = set(value) if isinstance(value, list) else {value}
        bad = sorted(str(v) for v in values - set(STATUSES))
        if bad:
            raise GraphError(100, f"(#100) Filtering value {bad[0]} is invalid for ad.effective_status")
        if op in ("IN", "EQUAL"):
            chosen = values
        elif op in ("NOT_IN", "NOT_EQUAL"):
            chosen = set(STATUSES) - values
        else:
            raise GraphError(100, f"(#100) Filtering operator {op} is invalid for ad.effective_status")
        keep = chosen if keep is None else keep & chosen
    return keep


def _page(rows: list[dict[str, Any]], params: Mapping[str, str], url: str, token: str) -> dict[str, Any]:
    """One page of `rows` (`limit`, `after`) with Graph API cursors and a `next` link to `url`."""
    limit = _int(params.get("limit", "25"), "limit")
    start = decode_cursor(params["after"]) + 1 if params.get("after") else 0
    page = rows[start : start + limit]
    body: dict[str, Any] = {"data": page}
    if page:
        paging: dict[str, Any] = {
            "cursors": {"before": encode_cursor(start), "after": encode_cursor(start + len(page) - 1)}
        }
        if start + len(page) < len(rows):
            query = {k: v for k, v in params.items() if k not in ("after", "before")}
            query["access_token"] = token  # Graph API `next` links carry the token
            query["after"] = encode_cursor(start + len(page) - 1)
            paging["next"] = f"{url}?{urlencode(query)}"
        if start > 0:
            paging["previous"] = f"{url}?before={encode_cursor(start)}"
        body["paging"] = paging
    return body
