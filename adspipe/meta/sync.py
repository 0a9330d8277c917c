"""The Meta jobs in plain Python (no Dagster): windows, the days each account pulls, cursors.

A day of one ad account is the unit (`unit.py`); the engine (adspipe.platform.engine) runs the
days oldest first, one ahead, and keeps sync_runs. A failure before a day's commit leaves the day
as it was; days already committed stay committed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.engine import Engine

from adspipe.clock import days_between, local_today
from adspipe.counters import DayStats, SyncStats
from adspipe.marts import connections as store_changes
from adspipe.meta.client import AccountInfo, MetaClient, MetaSession, UsageMeter
from adspipe.meta.options import VersionWatch
from adspipe.meta.platform import SPEC
from adspipe.meta.settings import FILL_DAYS, JOB_FILL, JOB_FRESH
from adspipe.meta.unit import DayResult, PreparedDay, account_rows_by_day, fetch_day, prepare_day, write_day
from adspipe.platform.account_lock import account_turn
from adspipe.platform.engine import ConnectionRun, SyncResult, commit_days, run_connections
from adspipe.warehouse.connections import DEFAULT_ATTRIBUTION_WINDOW_DAYS, Connection
from adspipe.warehouse.cursors import META_WINDOW_END, advance_cursor, set_cursor_if_empty

JOB_ASSETS = SPEC.range_job  # sync_runs.job of the partitioned asset chain (backfills, materialize)

Log = Callable[[str], None]


@dataclass
class AccountRun(ConnectionRun):
    """What one ad account's run did (also when it stopped early)."""

    meter: UsageMeter = field(default_factory=UsageMeter)
    info: AccountInfo | None = None
    days: list[DayResult] = field(default_factory=list)

    @property
    def dates(self) -> list[date]:
        return [d.day for d in self.days]

    def committed(self) -> set[date]:
        return set(self.dates)


MetaResult = SyncResult[AccountRun]


def total_meter(result: MetaResult) -> UsageMeter:
    """Every account's usage counters, summed."""
    total = UsageMeter()
    for account in result.runs:
        total.merge(account.meter)
    return total


def fill_window(timezone: str, now: datetime) -> tuple[date, date]:
    """meta_7d_fill: [today−7 … yesterday] in the account's time zone."""
    today = local_today(timezone, now)
    return today - timedelta(days=FILL_DAYS), today - timedelta(days=1)


def fresh_window(
    timezone: str, now: datetime, window_days: int | None, *, include_today: bool = False
) -> tuple[date, date]:
    """meta_fresh: [today−N+1 … yesterday] (… today with include_today); may be empty (N = 1)."""
    n = window_days or DEFAULT_ATTRIBUTION_WINDOW_DAYS
    today = local_today(timezone, now)
    return today - timedelta(days=n - 1), today if include_today else today - timedelta(days=1)


def open_account(
    engine: Engine, client: MetaClient, connection: Connection, stats: SyncStats, meter: UsageMeter,
    versions: VersionWatch | None = None,
) -> tuple[MetaSession, AccountInfo]:  # fmt: skip
    """A session for the account (with the connection's own windows, status filter and app
    secret), and its time zone and currency read from Meta and stored."""
    session = client.session(
        connection.account_id, connection.token(), stats, meter,
        statuses=connection.ad_statuses, attribution_windows=connection.attribution_windows,
        app_secret=connection.app_secret(), versions=versions,
    )  # fmt: skip
    info = session.account_info()
    with engine.begin() as db:
        store_changes.set_account_info(
            db, connection.connection_id, timezone=info.timezone, currency=info.currency
        )
    return session, info


def _call_counters(stats: SyncStats, meter: UsageMeter) -> DayStats:
    return DayStats(
        pages=meter.pages, api_calls=stats.api_calls, throttled=stats.throttled,
        retries=meter.transient_errors, throttle_wait_s=stats.throttle_wait_s,
        pace_wait_s=meter.pace_wait_s, backoff_wait_s=meter.backoff_wait_s,
    )  # fmt: skip


Plan = Callable[[Connection, str], list[date]]  # (connection, time zone) → days to pull
After = Callable[[Engine, AccountRun], None]  # runs once every planned day is committed
OnDay = Callable[[MetaResult, AccountRun, date], None]  # right after each day's commit


def run_accounts(
    engine: Engine,
    client: MetaClient,
    job: str,
    plan: Plan,
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

    Agency mode (`client.account_concurrency` K > 1): up to K accounts at once, each on its own
    thread with its own session (so its calls stay serial and its days oldest first), and each
    account's turn held across runs (`account_turn`: one holder per account, K slots in all).
    """
    versions = VersionWatch(client.api_version, warn)
    encode = engine.dialect.name == "postgresql"  # days are then shipped with COPY
    result: MetaResult = SyncResult(job, versions=versions)
    workers = client.account_concurrency
    callbacks = threading.Lock()  # on_day / after see one account's commit at a time
    client.http()  # one HTTP client for every account's session, made before any thread starts

    def work(run: AccountRun, stats: SyncStats) -> None:
        turn = (
            account_turn(engine, SPEC.name, run.connection.account_id, workers)
            if workers > 1
            else nullcontext()
        )
        with turn:
            work_alone(run, stats)

    def work_alone(run: AccountRun, stats: SyncStats) -> None:
        connection = run.connection
        session, info = open_account(engine, client, connection, stats, run.meter, versions)
        run.info = info
        days = plan(connection, info.timezone)
        run.window = (days[0], days[-1]) if days else None
        account_days = account_rows_by_day(session, days, log)

        def fetch(day: date) -> PreparedDay:
            # The fetching thread is the only one calling Meta: the counters' change across this
            # day's fetch is the day's own cost.
            before = _call_counters(stats, run.meter)
            try:
                fetched = fetch_day(session, day, None if account_days is None else account_days[day])
            finally:
                run.day_stats[day] = _call_counters(stats, run.meter).minus(before)
            return prepare_day(session, connection, info, day, fetched, now=now, encode=encode)

        def write(day: date, prepared: PreparedDay) -> None:
            outcome = write_day(engine, connection, info, day, prepared, stats=stats)
            run.days.append(outcome)
            if on_day:
                with callbacks:
                    on_day(result, run, day)
            if log:
                log(
                    f"{job}: {connection.account_id} {day}: {outcome.ad_rows} ads, spend {outcome.spend}, "
                    f"account spend {outcome.account_spend}, {outcome.pages} page(s)"
                )

        # The next day's calls (and its checks and transforms) run while this day is written:
        # still one Meta call at a time (one fetching thread), but the database work leaves the
        # serial critical path. The window end moves only once all of it committed.
        commit_days(
            run, days, fetch, write, read_ahead=True, log=log, job=job,
            after=(lambda: after(engine, run)) if after else None,
        )  # fmt: skip

    def opening_window(target: Connection) -> tuple[date, date] | None:
        # From the stored time zone (none yet for a new account); the run re-reads the zone from
        # Meta (`run.window`) but its sync_runs row keeps this window.
        known = plan(target, target.timezone) if target.timezone else []
        return (known[0], known[-1]) if known else None

    return run_connections(
        engine, SPEC.name, job, AccountRun, work, connection_id=connection_id, window=opening_window,
        dagster_run_id=dagster_run_id, log=log, result=result, workers=workers,
    )  # fmt: skip


def run_fill(
    engine: Engine,
    client: MetaClient,
    *,
    now: datetime,
    connection_id: int | None = None,
    dagster_run_id: str | None = None,
    log: Log | None = None,
    warn: Log | None = None,
) -> MetaResult:
    """meta_7d_fill: [today−7 … yesterday] per account; sets meta_last_window_end if empty."""

    def plan(connection: Connection, timezone: str) -> list[date]:
        return days_between(*fill_window(timezone, now))

    def after(engine: Engine, run: AccountRun) -> None:
        with engine.begin() as db:
            set_cursor_if_empty(db, run.connection.connection_id, META_WINDOW_END, run.dates[-1])

    return run_accounts(
        engine, client, JOB_FILL, plan, now=now, connection_id=connection_id, after=after,
        dagster_run_id=dagster_run_id, log=log, warn=warn,
    )  # fmt: skip


def run_fresh(
    engine: Engine,
    client: MetaClient,
    *,
    now: datetime,
    include_today: bool = False,
    connection_id: int | None = None,
    dagster_run_id: str | None = None,
    log: Log | None = None,
    warn: Log | None = None,
) -> MetaResult:
    """meta_fresh: the account's attribution window [today−N+1 … yesterday]; advances the cursor."""

    def plan(connection: Connection, timezone: str) -> list[date]:
        window = fresh_window(timezone, now, connection.attribution_window_days, include_today=include_today)
        return days_between(*window)

    def after(engine: Engine, run: AccountRun) -> None:
        with engine.begin() as db:
            advance_cursor(db, run.connection.connection_id, META_WINDOW_END, run.dates[-1])

    return run_accounts(
        engine, client, JOB_FRESH, plan, now=now, connection_id=connection_id, after=after,
        dagster_run_id=dagster_run_id, log=log, warn=warn,
    )  # fmt: skip


def run_dates(
    engine: Engine,
    client: MetaClient,
    dates: Sequence[date],
    *,
    now: datetime,
    connection_id: int | None = None,
    on_day: OnDay | None = None,
    dagster_run_id: str | None = None,
    log: Log | None = None,
    warn: Log | None = None,
) -> MetaResult:
    """The asset chain's partitions: these local dates for each account, oldest first.

    Dates after the account's local today have no data yet and are skipped.
    """
    wanted = sorted(set(dates))

    def plan(connection: Connection, timezone: str) -> list[date]:
        today = local_today(timezone, now)
        return [d for d in wanted if d <= today]

    return run_accounts(
        engine, client, JOB_ASSETS, plan, now=now, connection_id=connection_id, on_day=on_day,
        dagster_run_id=dagster_run_id, log=log, warn=warn,
    )  # fmt: skip
