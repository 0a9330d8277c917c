"""The Meta jobs in plain Python (no Dagster): windows, the days each account pulls, cursors.

A day of one ad account is the unit (`unit.py`); the ad-platform loop (adspipe.platform.ad_days,
on the engine) runs the days oldest first, one ahead, and keeps sync_runs. A failure before a
day's commit leaves the day as it was; days already committed stay committed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

from sqlalchemy.engine import Engine

from adspipe.clock import days_between, local_today
from adspipe.meta import unit
from adspipe.meta.client import MetaClient, UsageMeter
from adspipe.meta.options import VersionWatch
from adspipe.meta.platform import SPEC
from adspipe.meta.settings import FILL_DAYS, JOB_FILL, JOB_FRESH
from adspipe.meta.unit import AccountRun
from adspipe.platform import ad_days
from adspipe.platform.engine import SyncResult
from adspipe.warehouse.connections import DEFAULT_ATTRIBUTION_WINDOW_DAYS, Connection
from adspipe.warehouse.cursors import META_WINDOW_END, advance_cursor, set_cursor_if_empty

__all__ = ["AccountRun", "MetaResult", "run_dates", "run_fill", "run_fresh", "total_meter"]

JOB_ASSETS = SPEC.range_job  # sync_runs.job of the partitioned asset chain (backfills, materialize)

Log = Callable[[str], None]
MetaResult = SyncResult[AccountRun]


def total_meter(result: MetaResult) -> UsageMeter:
    """Every account's usage counters, summed."""
    total = UsageMeter()
    for account in result.runs:
        total.merge(account.meter)
    return total


def fill_window(timezone: str, now: datetime) -> tuple[date, date]:
    """meta_7d_fill: [today−7 … yesterday] in the account's time zone."""
    return ad_days.fill_window(timezone, now, FILL_DAYS)


def fresh_window(
    timezone: str, now: datetime, window_days: int | None, *, include_today: bool = False
) -> tuple[date, date]:
    """meta_fresh: [today−N+1 … yesterday] (… today with include_today); may be empty (N = 1)."""
    n = window_days or DEFAULT_ATTRIBUTION_WINDOW_DAYS
    today = local_today(timezone, now)
    return today - timedelta(days=n - 1), today if include_today else today - timedelta(days=1)


After = Callable[[Engine, AccountRun], None]  # runs once every planned day is committed
OnDay = Callable[[MetaResult, AccountRun, date], None]  # right after each day's commit


def run_accounts(
    engine: Engine,
    client: MetaClient,
    job: str,
    plan: ad_days.Plan,
    *,
    now: datetime,
    connection_id: int | None = None,
    after: After | None = None,
    on_day: OnDay | None = None,
    dagster_run_id: str | None = None,
    log: Log | None = None,
    warn: Log | None = None,
) -> MetaResult:
    """For each active Meta connection (or the one named): read the account, pull its days.

    `on_day` runs after each committed day, while the next day's call is in flight (the assets
    record the day's materializations there, off the serial path of Meta calls). `warn`: where a
    served API version other than the pinned one is reported (once per run).
    """
    versions = VersionWatch(client.api_version, warn)
    return ad_days.run_ad_days(
        engine, SPEC.name, job, AccountRun, plan,
        lambda run, stats: unit.open_days(
            engine, client, run, stats, now=now, versions=versions, days=plan, log=log
        ),
        counters=unit.day_counters, result=SyncResult(job, versions=versions), connection_id=connection_id,
        on_day=on_day, after=(lambda run: after(engine, run)) if after else None, dagster_run_id=dagster_run_id,
        log=log,
    )  # fmt: skip


def _cursor_after(move: Callable[..., object]) -> After:
    """Once every planned day committed: move the window-end cursor to the last one."""

    def after(engine: Engine, run: AccountRun) -> None:
        with engine.begin() as db:
            move(db, run.connection.connection_id, META_WINDOW_END, run.dates[-1])

    return after


def run_fill(
    engine: Engine, client: MetaClient, *, now: datetime, connection_id: int | None = None,
    dagster_run_id: str | None = None, log: Log | None = None, warn: Log | None = None,
) -> MetaResult:  # fmt: skip
    """meta_7d_fill: [today−7 … yesterday] per account; sets meta_last_window_end if empty."""
    return run_accounts(
        engine, client, JOB_FILL, ad_days.fill_plan(now, FILL_DAYS), now=now, connection_id=connection_id,
        after=_cursor_after(set_cursor_if_empty), dagster_run_id=dagster_run_id, log=log, warn=warn,
    )  # fmt: skip


def run_fresh(
    engine: Engine, client: MetaClient, *, now: datetime, include_today: bool = False,
    connection_id: int | None = None, dagster_run_id: str | None = None, log: Log | None = None,
    warn: Log | None = None,
) -> MetaResult:  # fmt: skip
    """meta_fresh: the account's attribution window [today−N+1 … yesterday]; advances the cursor."""

    def plan(connection: Connection, timezone: str) -> list[date]:
        window = fresh_window(timezone, now, connection.attribution_window_days, include_today=include_today)
        return days_between(*window)

    return run_accounts(
        engine, client, JOB_FRESH, plan, now=now, connection_id=connection_id,
        after=_cursor_after(advance_cursor), dagster_run_id=dagster_run_id, log=log, warn=warn,
    )  # fmt: skip


def run_dates(
    engine: Engine, client: MetaClient, dates: Sequence[date], *, now: datetime,
    connection_id: int | None = None, on_day: OnDay | None = None, dagster_run_id: str | None = None,
    log: Log | None = None, warn: Log | None = None,
) -> MetaResult:  # fmt: skip
    """The asset chain's partitions: these local dates for each account, oldest first.

    Dates after the account's local today have no data yet and are skipped.
    """
    return run_accounts(
        engine, client, JOB_ASSETS, ad_days.dates_plan(dates, now), now=now, connection_id=connection_id,
        on_day=on_day, dagster_run_id=dagster_run_id, log=log, warn=warn,
    )  # fmt: skip
