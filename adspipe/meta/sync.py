"""The Meta jobs in plain Python (no Dagster): windows, the per-day unit, cursors, sync_runs.

A day of one ad account is the unit: its ad-level call (status-filtered, all pages), its
account-level call (the spend cross-check), then ONE transaction that replaces the day's raw
rows and facts and rebuilds `daily_meta_metrics` and `daily_summary` for it. A failure before the
commit leaves the day as it was; days already committed stay committed. Days run oldest first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine

from adspipe.clock import days_between, local_today
from adspipe.errors import TransientApiError
from adspipe.marts.daily_summary import rebuild_daily_summary
from adspipe.meta import load, transforms
from adspipe.meta.client import AccountInfo, InsightsDay, MetaClient, MetaSession, UsageMeter
from adspipe.meta.options import VersionWatch
from adspipe.meta.platform import SPEC
from adspipe.meta.settings import FILL_DAYS, JOB_FILL, JOB_FRESH
from adspipe.orchestration.daystats import DayStats
from adspipe.platform.engine import ConnectionRun, SyncResult, commit_days, run_connections
from adspipe.warehouse import connections as conns
from adspipe.warehouse import copydata
from adspipe.warehouse.connections import DEFAULT_ATTRIBUTION_WINDOW_DAYS, Connection
from adspipe.warehouse.cursors import META_WINDOW_END, advance_cursor, set_cursor_if_empty
from adspipe.warehouse.schema import fact_meta_daily, meta_insights_raw
from adspipe.warehouse.sync_runs import SyncStats

JOB_ASSETS = SPEC.range_job  # sync_runs.job of the partitioned asset chain (backfills, materialize)

Log = Callable[[str], None]


@dataclass(frozen=True)
class DayResult:
    day: date
    ad_rows: int
    account_rows: int
    pages: int
    spend: Decimal
    purchase_value: Decimal
    account_spend: Decimal | None


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
        conns.set_account_info(db, connection.connection_id, timezone=info.timezone, currency=info.currency)
    return session, info


@dataclass(frozen=True)
class FetchedDay:
    """One day's answers from Meta, not yet written."""

    ad: InsightsDay
    account_rows: list[dict[str, Any]]
    account_pages: int


def fetch_day(session: MetaSession, day: date, account_day: list[dict[str, Any]] | None = None) -> FetchedDay:
    """The day's ad-level rows (all pages), and its account-level rows unless already read.

    `account_day`: the day's account-level rows when they were read with the run's other days in
    one call (see `account_rows_by_day`).
    """
    ad = session.insights(day, level="ad")
    if account_day is not None:
        return FetchedDay(ad, account_day, 0)
    account = session.insights(day, level="account")
    return FetchedDay(ad, list(account.rows), account.pages)


@dataclass(frozen=True)
class PreparedDay:
    """One day checked and transformed, ready to be written."""

    ad_rows: list[dict[str, Any]]
    account_rows: list[dict[str, Any]]
    raw: list[dict[str, Any]]
    facts: list[dict[str, Any]]
    pages: int
    # The same raw and fact rows in COPY format (Postgres), encoded where the day was prepared.
    raw_copy: copydata.CopyData | None = None
    facts_copy: copydata.CopyData | None = None


def prepare_day(
    session: MetaSession, connection: Connection, info: AccountInfo, day: date, fetched: FetchedDay,
    *, now: datetime, encode: bool = False,
) -> PreparedDay:  # fmt: skip
    """Check one fetched day's rows and build its raw and fact rows (pure, no I/O); `encode`: in
    COPY format too (see adspipe.warehouse.copydata)."""
    client = session.client
    ad_rows = transforms.check_rows(fetched.ad.rows, day, level="ad")
    facts = [
        transforms.fact_row(
            row,
            ad_account_id=connection.account_id,
            store_id=connection.store_id,
            connection_id=connection.connection_id,
            currency=info.currency,
            purchase_type=client.purchase_action_type,
            fallbacks=client.purchase_fallbacks,
            windows=session.windows,
        )
        for row in ad_rows
    ]
    account_rows = transforms.check_rows(fetched.account_rows, day, level="account")
    raw = load.raw_rows(
        ad_account_id=connection.account_id, connection_id=connection.connection_id, day=day,
        ad_rows=ad_rows, account_rows=account_rows, fetched_at=now,
    )  # fmt: skip
    pages = fetched.ad.pages + fetched.account_pages
    if not encode:
        return PreparedDay(ad_rows, account_rows, raw, facts, pages)
    raw_copy, facts_copy = copydata.encode(meta_insights_raw, raw), copydata.encode(fact_meta_daily, facts)
    return PreparedDay(ad_rows, account_rows, raw, facts, pages, raw_copy, facts_copy)


def write_day(
    engine: Engine,
    connection: Connection,
    info: AccountInfo,
    day: date,
    prepared: PreparedDay,
    *,
    stats: SyncStats,
) -> DayResult:
    """Replace one prepared day (raw, facts, marts) in one transaction."""
    ad_rows, account_rows, facts = prepared.ad_rows, prepared.account_rows, prepared.facts
    with engine.begin() as db:
        load.write_raw_day(
            db, ad_account_id=connection.account_id, day=day, rows=prepared.raw, encoded=prepared.raw_copy
        )
        load.replace_facts_day(
            db, ad_account_id=connection.account_id, day=day, facts=facts, encoded=prepared.facts_copy
        )
        load.rebuild_meta_metrics(
            db, store_id=connection.store_id, ad_account_id=connection.account_id, dates=[day],
            timezone=info.timezone, currency=info.currency,
        )  # fmt: skip
        rebuild_daily_summary(db, [connection.store_id], [day])
    stats.rows += len(ad_rows) + len(account_rows)
    stats.dates.add(day)
    return DayResult(
        day=day,
        ad_rows=len(ad_rows),
        account_rows=len(account_rows),
        pages=prepared.pages,
        spend=sum((f["spend"] for f in facts), Decimal(0)),
        purchase_value=sum((f["purchase_value"] for f in facts), Decimal(0)),
        account_spend=transforms.account_spend(account_rows) if account_rows else None,
    )


def sync_day(
    engine: Engine,
    session: MetaSession,
    connection: Connection,
    info: AccountInfo,
    day: date,
    *,
    now: datetime,
    stats: SyncStats,
    account_day: list[dict[str, Any]] | None = None,
) -> DayResult:
    """Pull one day (ad level + account level), then replace it in one transaction."""
    prepared = prepare_day(session, connection, info, day, fetch_day(session, day, account_day), now=now)
    return write_day(engine, connection, info, day, prepared, stats=stats)


def account_rows_by_day(
    session: MetaSession, days: Sequence[date], log: Log | None = None
) -> dict[date, list[dict[str, Any]]] | None:
    """The account-level rows (the spend cross-check) of several days in one call, by day.

    A multi-day run then makes one ad-level call per day plus one account-level call in all,
    instead of two calls per day: Meta calls are serial, so this halves a backfill's floor.
    None (each day then reads its own) when there is one day or the range call failed.
    """
    if len(days) < 2:
        return None
    try:
        span = session.insights(days[0], level="account", until=days[-1])
        by_day: dict[date, list[dict[str, Any]]] = {d: [] for d in days}
        for row in span.rows:
            got = transforms.row_date(row)
            if got in by_day:
                by_day[got].append(dict(row))
        return by_day
    except (TransientApiError, transforms.InsightsFormatError) as exc:
        if log:
            log(f"{session.account_id}: account-level range call failed, reading it day by day: {exc}")
        return None


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
    """
    versions = VersionWatch(client.api_version, warn)
    encode = engine.dialect.name == "postgresql"  # days are then shipped with COPY
    result: MetaResult = SyncResult(job, versions=versions)

    def work(run: AccountRun, stats: SyncStats) -> None:
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
        dagster_run_id=dagster_run_id, log=log, result=result,
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
