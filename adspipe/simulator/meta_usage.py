"""Meta's rate-limit usage on the scopes Meta documents for Marketing API insights calls.

Per ad account (only that account's calls raise them, and only that account is throttled):
- `X-Ad-Account-Usage` `acc_id_util_pct`, `reset_time_duration` (seconds), also sent as
  `X-FB-Ads-Insights-Throttle` `acc_id_util_pct`;
- the `ads_insights` business use case: `X-Business-Use-Case-Usage`, keyed by the ad account's id,
  with `estimated_time_to_regain_access` (minutes).

Per app (every account's calls with the app's token raise it; a full meter throttles them all):
- the app's insights capacity, `X-FB-Ads-Insights-Throttle` `app_id_util_pct` (error 4, subcode
  1504022 when spent). It grows `meta_app_usage_share` of an account's step per call: the app's
  capacity is far larger than one account's.

`X-App-Usage` (the Graph API platform limit) is not sent: Marketing API calls are not counted
against it (docs/simulator.md, "Rate-limit scopes", has the sources).

A call adds `meta_usage_per_call × meta_throttle_intensity` percent to its ad account (0.8 × to
the account's business use case). Every meter falls linearly from 100 % to 0 over
`meta_usage_window_s` seconds of (monotonic) time, so a paced client measurably recovers. A call
that finds one of its account's meters at or above 100 % is throttled (and adds nothing): HTTP 400
with the configured code (4 / 17 / 613 / 80000 / 80004 / 32), or a plain HTTP 429 when
`meta_plain_429`; a full app meter throttles with code 4 / 1504022.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from adspipe.simulator.faults import Faults

THROTTLE_ERRORS: dict[int, tuple[int | None, str]] = {
    4: (None, "(#4) Application request limit reached"),
    1504022: (1504022, "(#4) There have been too many calls from this app. Wait a bit and try again."),
    17: (2446079, "(#17) User request limit reached"),
    32: (None, "(#32) Page request limit reached"),
    613: (1487742, "(#613) Calls to this api have exceeded the rate limit."),
    80000: (2446079, "(#80000) There have been too many calls from this ad-account. Wait a bit and try again. "
                     "For more info, please refer to "
                     "https://developers.facebook.com/docs/graph-api/overview/rate-limiting#ads-insights."),
    80004: (2446079, "(#80004) There have been too many calls to this ad-account. Wait a bit and try again. "
                     "For more info, please refer to "
                     "https://developers.facebook.com/docs/graph-api/overview/rate-limiting#ads-management."),
}  # fmt: skip


APP_THROTTLE_CODE = 1504022  # key in THROTTLE_ERRORS: code 4, subcode 1504022 (the app's insights capacity)


@dataclass
class Meter:
    level: float = 0.0
    at: float = 0.0

    def decay(self, now: float, per_second: float) -> float:
        self.level = max(0.0, self.level - max(0.0, now - self.at) * per_second)
        self.at = now
        return self.level


class MetaUsage:
    def __init__(self, faults: Faults, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.faults = faults
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._meters: dict[tuple[str, str], Meter] = {}

    def _meter(self, kind: str, key: str, now: float) -> Meter:
        meter = self._meters.get((kind, key))
        if meter is None:
            meter = self._meters[(kind, key)] = Meter(0.0, now)
        meter.decay(now, self._rate())
        return meter

    def _rate(self) -> float:
        return 100.0 / max(0.001, self.faults.meta_usage_window_s)

    def call(self, app: str, account: str, account_key: str) -> tuple[int | None, dict[str, str]]:
        """Count one call; (the throttle error code if throttled else None, usage headers after it).

        `app`: the app (its token's hash); `account`: the ad account's node id; `account_key`: the
        id the business use case header is keyed by (the ad account's number)."""
        f = self.faults
        step = f.meta_usage_per_call * f.meta_throttle_intensity
        with self._lock:
            now = self.monotonic()
            app_meter = self._meter("app", app, now)
            acct, buc = self._meter("acct", account, now), self._meter("buc", account, now)
            throttled: int | None = None
            if step > 0 and (acct.level >= 100.0 or buc.level >= 100.0):
                throttled = f.meta_throttle_code
            elif step > 0 and app_meter.level >= 100.0:
                throttled = APP_THROTTLE_CODE
            if throttled is None:
                acct.level += step
                buc.level += step * 0.8
                app_meter.level += step * f.meta_app_usage_share
            app_pct, acct_pct, buc_pct = app_meter.level, acct.level, buc.level
        rate = self._rate()
        worst = max(acct_pct, buc_pct)
        regain_s = (worst - 100.0) / rate if worst >= 100.0 else 0.0
        regain_min = math.ceil(regain_s / 60.0) if regain_s > 0 else 0
        headers = {
            "x-ad-account-usage": _json({"acc_id_util_pct": round(acct_pct, 2),
                                         "reset_time_duration": math.ceil(acct_pct / rate),
                                         "ads_api_access_tier": "standard_access"}),
            "x-business-use-case-usage": _json({account_key: [{
                "type": "ads_insights", "call_count": _pct(buc_pct), "total_cputime": _pct(buc_pct * 0.6),
                "total_time": _pct(buc_pct * 0.8), "estimated_time_to_regain_access": regain_min}]}),
            "x-fb-ads-insights-throttle": _json({"app_id_util_pct": round(app_pct, 2),
                                                 "acc_id_util_pct": round(acct_pct, 2)}),
        }  # fmt: skip
        return throttled, headers

    def state(self) -> dict[str, float]:
        """Current levels (admin/stats), keyed `kind:id` (app keys are token hashes)."""
        with self._lock:
            now = self.monotonic()
            return {
                f"{k}:{key}": round(m.decay(now, self._rate()), 2)
                for (k, key), m in sorted(self._meters.items())
            }

    def reset(self) -> None:
        with self._lock:
            self._meters.clear()


def throttle_error(code: int, fbtrace_id: str) -> dict[str, object]:
    subcode, message = THROTTLE_ERRORS.get(code, THROTTLE_ERRORS[80000])
    error: dict[str, object] = {
        "message": message,
        "type": "OAuthException",
        "code": 4 if code == 1504022 else code,
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    error["is_transient"] = True
    error["fbtrace_id"] = fbtrace_id
    return {"error": error}


def _pct(value: float) -> int:
    return int(round(value))


def _json(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))
