"""Meta's rate-limit headers, each on the scope Meta counts it for, and the run's Meta counters.

Which meters apply to a Marketing API insights call, and to whom (docs/simulator.md, "Rate-limit
scopes", has the sources):

- the ad account's: `X-Business-Use-Case-Usage` (the `ads_insights` business use case, counted
  per ad account), `X-Ad-Account-Usage` (`acc_id_util_pct`, `reset_time_duration` in seconds) and
  `X-FB-Ads-Insights-Throttle` `acc_id_util_pct`. They slow that account's calls only;
- the app's: `X-FB-Ads-Insights-Throttle` `app_id_util_pct`, the insights capacity of the app
  (error 4, subcodes 1504022 / 1504039). It slows every account's calls (`AppPace`);
- not at all: `X-App-Usage`, the Graph API *platform* rate limit. Meta says Marketing API calls
  have their own (business use case) limits and are not counted against the platform limits, so
  it is ignored: pacing on it would slow every account for a meter these calls do not fill.

Under 75 % (the default start) nothing waits; above, the wait grows with the square of the excess;
when Meta says access is blocked (`estimated_time_to_regain_access` in minutes, or an account at
100 % with `reset_time_duration`) that time is waited out.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from adspipe.platform.http import CallStats


@dataclass(frozen=True)
class Usage:
    pct: float  # the highest percentage of the ad account's own meters
    regain_s: float  # seconds until the account's access comes back, when Meta says it is blocked
    app_pct: float = 0.0  # the app's insights capacity used (every account shares it)


@dataclass
class UsageMeter(CallStats):
    """The base's counters of one connection's run plus Meta's own; Meta calls its throttle waits
    "backoff" (`backoff_wait_s`) and its transient backoff `transient_wait_s`."""

    high_water_pct: float = 0.0
    limit_reductions: int = 0

    @property
    def backoff_wait_s(self) -> float:
        return self.waits_s.get("throttle", 0.0)

    @property
    def transient_wait_s(self) -> float:
        return self.waits_s.get("backoff", 0.0)

    @property
    def transient_errors(self) -> int:
        """Transient failures retried."""
        return self.retries

    def merge(self, other: CallStats) -> None:
        super().merge(other)
        if isinstance(other, UsageMeter):
            self.high_water_pct = max(self.high_water_pct, other.high_water_pct)
            self.limit_reductions += other.limit_reductions


def _numbers(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, str):
        try:
            return [float(value)]
        except ValueError:
            return []
    return []


def _load(headers: Mapping[str, str], name: str) -> Any:
    raw = headers.get(name)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def parse_usage(headers: Mapping[str, str]) -> Usage:
    """The account's and the app's highest percentages and the account's regain time (bad JSON
    is ignored; `X-App-Usage` does not count, see the module's docstring)."""
    pcts: list[float] = [0.0]
    app_pcts: list[float] = [0.0]
    regain_s = 0.0
    acct = _load(headers, "x-ad-account-usage")
    if isinstance(acct, dict):
        acc_pct = _numbers(acct.get("acc_id_util_pct"))
        pcts += acc_pct
        reset = _numbers(acct.get("reset_time_duration"))
        if acc_pct and acc_pct[0] >= 100 and reset:
            regain_s = max(regain_s, reset[0])
    buc = _load(headers, "x-business-use-case-usage")
    if isinstance(buc, dict):
        for entries in buc.values():
            for entry in entries if isinstance(entries, list) else []:
                if not isinstance(entry, dict):
                    continue
                for key in ("call_count", "total_time", "total_cputime"):
                    pcts += _numbers(entry.get(key))
                regain = _numbers(entry.get("estimated_time_to_regain_access"))  # minutes
                if regain:
                    regain_s = max(regain_s, regain[0] * 60)
    insights = _load(headers, "x-fb-ads-insights-throttle")
    if isinstance(insights, dict):
        pcts += _numbers(insights.get("acc_id_util_pct"))
        app_pcts += _numbers(insights.get("app_id_util_pct"))
    return Usage(pct=max(pcts), regain_s=regain_s, app_pct=max(app_pcts))


def pace_wait(usage: Usage, *, start_pct: float, max_s: float) -> float:
    """Seconds to wait before the next call: none below start_pct, growing to max_s at 100 %."""
    if usage.regain_s > 0:
        return usage.regain_s
    if usage.pct < start_pct:
        return 0.0
    if usage.pct >= 100:
        return max_s
    excess = (usage.pct - start_pct) / (100 - start_pct)
    return max_s * excess * excess


@dataclass
class AppPace:
    """The app-scoped pause every account's session honours (one per `MetaClient`, thread-safe).

    A session that reads a high app percentage pushes `until` forward; every session then waits
    for what is left of it before its next call. Account meters never touch it."""

    monotonic: Callable[[], float]
    until: float = 0.0
    high_water_pct: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def observe(self, app_pct: float, *, start_pct: float, max_s: float) -> None:
        wait = pace_wait(Usage(pct=app_pct, regain_s=0.0), start_pct=start_pct, max_s=max_s)
        with self._lock:
            self.high_water_pct = max(self.high_water_pct, app_pct)
            if wait > 0:
                self.until = max(self.until, self.monotonic() + wait)

    def left_s(self) -> float:
        with self._lock:
            return max(0.0, self.until - self.monotonic())
