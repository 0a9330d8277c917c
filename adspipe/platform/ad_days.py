"""The per-account, per-day loop every ad platform runs, on top of the engine.

An ad platform's jobs all do the same thing per connection: open the account (a session; its time
zone and currency read and stored), plan the days to pull in that time zone, then commit each day
as its own unit (`engine.commit_days`, one day read ahead), recording each day's own calls and
reporting each committed day. What differs is in the `AccountDays` the platform opens: how to
fetch and write one day, and how to describe it in the log. The windows every ad platform uses
(the 7-day fill, a partition range) are here too; a fresh window is the platform's own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Engine

from adspipe.clock import days_between, local_today
from adspipe.counters import DayStats, SyncStats
from adspipe.platform.engine import ConnectionRun, SyncResult, commit_days, run_connections
from adspipe.warehouse.connections import Connection

Log = Callable[[str], None]
Plan = Callable[[Connection, str], list[date]]  # (connection, account time zone) → days to pull
P = TypeVar("P")  # one day as fetched and prepared
D = TypeVar("D", bound="AdDayResult")
A = TypeVar("A")  # the account as read from the API (time zone, currency)


@dataclass(frozen=True)
class AdDayResult:
    """What one committed day of one ad account wrote (platforms add their own figures)."""

    day: date
    ad_rows: int
    spend: Decimal


@dataclass
class AdAccountRun(ConnectionRun, Generic[A, D]):
    """What one ad account's run did (also when it stopped early): the account as read, the days."""

    info: A | None = None
    days: list[D] = field(default_factory=list)

    @property
    def dates(self) -> list[date]:
        return [d.day for d in self.days]

    def committed(self) -> set[date]:
        return set(self.dates)


R = TypeVar("R", bound=AdAccountRun[Any, Any])


@dataclass(frozen=True)
class AccountDays(Generic[P, D]):
    """One opened account: its time zone, how to fetch (API calls, checks, transforms) and write
    (one transaction) one day, and the log line's figures of a committed day."""

    timezone: str
    fetch: Callable[[date], P]
    write: Callable[[date, P], D]
    describe: Callable[[D], str]


def fill_window(timezone: str, now: datetime, days: int) -> tuple[date, date]:
    """A 7-day fill: [today−days … yesterday] in the account's time zone."""
    today = local_today(timezone, now)
    return today - timedelta(days=days), today - timedelta(days=1)


def fill_plan(now: datetime, days: int) -> Plan:
    return lambda connection, timezone: days_between(*fill_window(timezone, now, days))


def dates_plan(dates: Sequence[date], now: datetime) -> Plan:
    """A partition range: these local dates, oldest first; dates after the account's local today
    have no data yet and are skipped."""
    wanted = sorted(set(dates))

    def plan(connection: Connection, timezone: str) -> list[date]:
        today = local_today(timezone, now)
        return [d for d in wanted if d <= today]

    return plan


def run_ad_days(
    engine: Engine, platform: str, job: str, new_run: Callable[[Connection], R], plan: Plan,
    open_account: Callable[[R, SyncStats], AccountDays[P, D]], *,
    counters: Callable[[R, SyncStats], DayStats], result: SyncResult[R], connection_id: int | None = None,
    on_day: Callable[[SyncResult[R], R, date], None] | None = None, after: Callable[[R], None] | None = None,
    settle: Callable[[R, SyncStats], None] | None = None, dagster_run_id: str | None = None,
    log: Log | None = None,
) -> SyncResult[R]:  # fmt: skip
    """For each active connection of `platform` (or the one named): open the account, plan its
    days, commit them a day at a time (one day read ahead: still one API call at a time, but the
    database work leaves the serial path).

    `counters(run, stats)`: the call counters now (a day's change across its fetch is that day's own
    cost: the fetching thread is the only one calling the API). `on_day` runs right after each
    commit, while the next day's call is in flight; `after` once every planned day committed (a
    cursor); `settle` when the connection's work ends, however it ends (counters into sync_runs).
    """

    def work(run: R, stats: SyncStats) -> None:
        connection = run.connection
        try:
            account = open_account(run, stats)
            days = plan(connection, account.timezone)
            run.window = (days[0], days[-1]) if days else None

            def fetch(day: date) -> P:
                before = counters(run, stats)
                try:
                    return account.fetch(day)
                finally:
                    run.day_stats[day] = counters(run, stats).minus(before)

            def write(day: date, prepared: P) -> None:
                outcome = account.write(day, prepared)
                run.days.append(outcome)
                if on_day:
                    on_day(result, run, day)
                if log:
                    log(f"{job}: {connection.account_id} {day}: {account.describe(outcome)}")

            commit_days(
                run, days, fetch, write, read_ahead=True, log=log, job=job,
                after=(lambda: after(run)) if after else None,
            )  # fmt: skip
        finally:
            if settle:
                settle(run, stats)

    def opening_window(target: Connection) -> tuple[date, date] | None:
        # From the stored time zone (none yet for a new account); the run re-reads the zone from
        # the API (`run.window`) but its sync_runs row keeps this window.
        known = plan(target, target.timezone) if target.timezone else []
        return (known[0], known[-1]) if known else None

    return run_connections(
        engine, platform, job, new_run, work, connection_id=connection_id, window=opening_window,
        dagster_run_id=dagster_run_id, log=log, result=result,
    )  # fmt: skip
