"""Meta's rate-limit usage: three meters that rise per call and fall with real time.

- the app (per token): `X-App-Usage` `call_count` / `total_time` / `total_cputime`;
- the ad account: `X-Ad-Account-Usage` `acc_id_util_pct`, `reset_time_duration` (seconds), and
  `X-FB-Ads-Insights-Throttle`;
- the business use case (per business, type `ads_insights`): `X-Business-Use-Case-Usage` with
  `estimated_time_to_regain_access` (minutes).

A call adds `meta_usage_per_call × meta_throttle_intensity` percent to the ad account (0.8 × to
the business, 0.5 × to the app). Every meter falls linearly from 100 % to 0 over
`meta_usage_window_s` seconds of real (monotonic) time, so a paced client measurably recovers.
A call that finds any meter at or above 100 % is throttled (and adds nothing): HTTP 400 with the
configured code (4 / 17 / 613 / 80000 / 80004 / 32), or a plain HTTP 429 when `meta_plain_429`.
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

    def call(self, app: str, account: str, business: str) -> tuple[bool, dict[str, str]]:
        """Count one call; (throttled, usage headers as of after the call)."""
        f = self.faults
        step = f.meta_usage_per_call * f.meta_throttle_intensity
        with self._lock:
            now = self.monotonic()
            meters = (
                self._meter("app", app, now),
                self._meter("acct", account, now),
                self._meter("buc", business, now),
            )
            throttled = step > 0 and any(m.level >= 100.0 for m in meters)
            if not throttled:
                for meter, weight in zip(meters, (0.5, 1.0, 0.8), strict=True):
                    meter.level += step * weight
            app_pct, acct_pct, buc_pct = (m.level for m in meters)
        rate = self._rate()
        worst = max(app_pct, acct_pct, buc_pct)
        regain_s = (worst - 100.0) / rate if worst >= 100.0 else 0.0
        regain_min = math.ceil(regain_s / 60.0) if regain_s > 0 else 0
        headers = {
            "x-app-usage": _json({"call_count": _pct(app_pct), "total_time": _pct(app_pct * 0.8),
                                  "total_cputime": _pct(app_pct * 0.6)}),
            "x-ad-account-usage": _json({"acc_id_util_pct": round(acct_pct, 2),
                                         "reset_time_duration": math.ceil(acct_pct / rate),
                                         "ads_api_access_tier": "standard_access"}),
            "x-business-use-case-usage": _json({business: [{
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
    error: dict[str, object] = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["is_transient"] = True
    error["fbtrace_id"] = fbtrace_id
    return {"error": error}


def _pct(value: float) -> int:
    return int(round(value))


def _json(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))
