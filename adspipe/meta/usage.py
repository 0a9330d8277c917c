"""Meta's rate-limit headers: the usage percentage to pace on, and the run's Meta counters.

Meta reports usage in four headers (shapes below). Peers pace on the highest
percentage among them; when Meta says access is blocked (`estimated_time_to_regain_access` in
minutes, or an ad account at 100 % with `reset_time_duration` in seconds) that time is waited out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adspipe.platform.http import CallStats


@dataclass(frozen=True)
class Usage:
    pct: float  # the highest usage percentage in any header
    regain_s: float  # seconds until access comes back, when Meta says it is blocked (else 0)


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


def parse_usage(headers: Mapping[str, str]) -> Usage:
    """The highest percentage and any regain time in Meta's usage headers (bad JSON is ignored)."""
    pcts: list[float] = [0.0]
    regain_s = 0.0

    def load(name: str) -> Any:
        raw = headers.get(name)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None

    app = load("x-app-usage")
    if isinstance(app, dict):
        for key in ("call_count", "total_time", "total_cputime"):
            pcts += _numbers(app.get(key))
    acct = load("x-ad-account-usage")
    if isinstance(acct, dict):
        acc_pct = _numbers(acct.get("acc_id_util_pct"))
        pcts += acc_pct
        reset = _numbers(acct.get("reset_time_duration"))
        if acc_pct and acc_pct[0] >= 100 and reset:
            regain_s = max(regain_s, reset[0])
    buc = load("x-business-use-case-usage")
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
    insights = load("x-fb-ads-insights-throttle")
    if isinstance(insights, dict):
        for key in ("app_id_util_pct", "acc_id_util_pct"):
            pcts += _numbers(insights.get(key))
    return Usage(pct=max(pcts), regain_s=regain_s)


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
