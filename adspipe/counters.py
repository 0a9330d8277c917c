"""The counters a sync keeps: a run's totals (`SyncStats`, written to sync_runs) and each local
date's own cost (`DayStats`, that date partition's metadata). Plain data, shared by the platform
clients, the engine, the warehouse's sync_runs and the Dagster layer (none of them owns it).

A run's totals (every day, every account) stay on the run; a partition shows its own day's rows,
calls and waits. Each platform's sync charges a day where it reads and commits it: a Meta day is
its own calls; a Shopify page counts for the earliest order date it holds (a `sync_days` day is
its own pages). Calls that belong to no day (reading the account or shop, Meta's one account-level
range call for all the run's days) stay in the run's totals only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any


@dataclass
class DayStats:
    rows: int = 0
    pages: int = 0
    api_calls: int = 0
    throttled: int = 0
    retries: int = 0
    throttle_wait_s: float = 0.0
    pace_wait_s: float = 0.0
    backoff_wait_s: float = 0.0

    def add(self, other: DayStats) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def minus(self, before: DayStats) -> DayStats:
        return DayStats(**{f.name: getattr(self, f.name) - getattr(before, f.name) for f in fields(self)})

    def metadata(self) -> dict[str, Any]:
        return {
            f.name: round(value, 3) if isinstance(value := getattr(self, f.name), float) else value
            for f in fields(self)
        }


def total(days: list[DayStats]) -> DayStats:
    out = DayStats()
    for day in days:
        out.add(day)
    return out


@dataclass
class SyncStats:
    """What a sync accumulates while it runs; written to `sync_runs` and to Dagster metadata."""

    rows: int = 0
    api_calls: int = 0
    throttled: int = 0
    throttle_wait_s: float = 0.0
    dates: set[date] = field(default_factory=set)
    api_version: str | None = None  # the API version asked for
    api_version_served: str | None = None  # the version the platform's response headers named

    def merge(self, other: SyncStats) -> None:
        self.api_version = self.api_version or other.api_version
        self.api_version_served = self.api_version_served or other.api_version_served
        self.rows += other.rows
        self.api_calls += other.api_calls
        self.throttled += other.throttled
        self.throttle_wait_s += other.throttle_wait_s
        self.dates |= other.dates
        self.api_version = self.api_version or other.api_version
        self.api_version_served = self.api_version_served or other.api_version_served
