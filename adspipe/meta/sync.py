"""The Meta jobs in plain Python (no Dagster): windows, the per-day unit, cursors, sync_runs.

A day of one ad account is the unit: its ad-level call (status-filtered, all pages), its
account-level call (the spend cross-check), then ONE transaction that replaces the day's raw
rows and facts and rebuilds `daily_meta_metrics` and `daily_summary` for it. A failure before the
commit leaves the day as it was; days already committed stay committed. Days run oldest first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
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
from adspipe.meta.settings import FILL_DAYS, JOB_FILL, JOB_FRESH
from adspipe.orchestration.daystats import DayStats
from adspipe.orchestration.runner import RunReport, days_failed_error, run_per_connection
from adspipe.warehouse import connections as conns
from adspipe.warehouse import copydata
from adspipe.warehouse.connections import DEFAULT_ATTRIBUTION_WINDOW_DAYS, Connection
from adspipe.warehouse.cursors import META_WINDOW_END, advance_cursor, set_cursor_if_empty
from adspipe.warehouse.schema import fact_meta_daily, meta_insights_raw
from adspipe.warehouse.sync_runs import SyncStats

JOB_ASSETS = "meta_assets"  # sync_runs.job of the partitioned asset chain (backfills, materialize)

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
class AccountRun:
    """What one connection's run did (also when it stopped early)."""

    connection: Connection
    meter: UsageMeter = field(default_factory=UsageMeter)
    info: AccountInfo | None = None
    window: tuple[date, date] | None = None
    days: list[DayResult] = field(default_factory=list)
    planned: list[date] = field(default_factory=list)
    failed_days: dict[date, str] = field(default_factory=dict)
    # Each day's own calls and waits (its ad-level pages; see adspipe.orchestration.daystats).
    day_stats: dict[date, DayStats] = field(default_factory=dict)

    @property
    def dates(self) -> list[date]:
        return [d.day for d in self.days]


@dataclass
class MetaRunResult:
    job: str
    report: RunReport = field(default_factory=RunReport)
    accounts: list[AccountRun] = field(default_factory=list)
    versions: VersionWatch | None = None  # the API version asked for / served in this run

    @property
    def meter(self) -> UsageMeter:
        total = UsageMeter()
        for account in self.accounts:
            total.merge(account.meter)
        return total

    def failed_dates(self, requested: Sequence[date]) -> list[date]:
        """Requested dates that some account did not commit: a day failed, or the account stopped
        (bad token, rate limit) before it. Dates no account had to pull (its local today is
        earlier) are not failures."""
        failed: set[date] = set()
        failed_accounts = {o.connection.connection_id for o in self.report.failed}
        for account in self.accounts:
            failed.update(account.failed_days)
            if account.connection.connection_id in failed_accounts:
                expected = account.planned or list(requested)
                failed.update(set(expected) - set(account.dates))
        return sorted(failed & set(requested))

    def touched(self) -> dict[date, list[AccountRun]]:
        """Committed dates → the accounts that committed them."""
        out: dict[date, list[AccountRun]] = {}
        for account in self.accounts:
            for day in account.dates:
                out.setdefault(day, []).append(account)
        return dict(sorted(out.items()))


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
OnDay = Callable[["MetaRunResult", AccountRun, date], None]  # right after each day's commit


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
) -> MetaRunResult:
    """For each active Meta connection (or the one named): read the account, pull its days.

    `on_day` runs after each committed day, while the next day's call is in flight (the assets
    record the day's materializations there, off the serial path of Meta calls). `warn`: where a
    served API version other than the pinned one is reported (once per run).
    """
    with engine.connect() as db:
        targets = conns.active_connections(db, "meta", connection_id)
    result = MetaRunResult(job, versions=VersionWatch(client.api_version, warn))
    encode = engine.dialect.name == "postgresql"  # days are then shipped with COPY
    for target in targets:
        run = AccountRun(target)
        result.accounts.append(run)

        def work(connection: Connection, stats: SyncStats, run: AccountRun = run) -> None:
            session, info = open_account(engine, client, connection, stats, run.meter, result.versions)
            run.info = info
            days = plan(connection, info.timezone)
            run.window = (days[0], days[-1]) if days else None
            run.planned = list(days)
            account_days = account_rows_by_day(session, days, log)

            def fetch(day: date) -> PreparedDay:
                # The fetching thread is the only one calling Meta: the counters' change across
                # this day's fetch is the day's own cost.
                before = _call_counters(stats, run.meter)
                try:
                    fetched = fetch_day(session, day, None if account_days is None else account_days[day])
                finally:
                    run.day_stats[day] = _call_counters(stats, run.meter).minus(before)
                return prepare_day(session, connection, info, day, fetched, now=now, encode=encode)

            # The next day's calls (and its checks and transforms) run while this day is written:
            # still one Meta call at a time (one fetching thread), but the database work leaves
            # the serial critical path.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="meta-prefetch") as prefetch:
                pending = prefetch.submit(fetch, days[0]) if days else None
                for i, day in enumerate(days):
                    assert pending is not None
                    current, pending = pending, None
                    fetched: PreparedDay | None = None
                    try:
                        fetched = current.result()
                    except TransientApiError as exc:
                        # Like one job per day: a day that failed after its retries does not stop
                        # the next days; it stays visible as failed and re-runnable alone. A bad
                        # token, a spent rate-limit budget or a rejected request stop the account.
                        run.failed_days[day] = str(exc)
                        if log:
                            log(f"{job}: {connection.account_id} {day}: failed: {exc}")
                    pending = prefetch.submit(fetch, days[i + 1]) if i + 1 < len(days) else None
                    if fetched is None:
                        continue
                    outcome = write_day(engine, connection, info, day, fetched, stats=stats)
                    run.days.append(outcome)
                    if on_day:
                        on_day(result, run, day)
                    if log:
                        log(
                            f"{job}: {connection.account_id} {day}: {outcome.ad_rows} ads, spend {outcome.spend}, "
                            f"account spend {outcome.account_spend}, {outcome.pages} page(s)"
                        )
            if after and days and not run.failed_days:  # the window end only once all of it committed
                after(engine, run)
            if run.failed_days:
                raise days_failed_error(run.failed_days, len(days))

        # The sync_runs window from the stored time zone; the run re-reads it from Meta.
        known = plan(target, target.timezone) if target.timezone else []
        one = run_per_connection(
            engine, job, [target], work,
            window=(known[0], known[-1]) if known else None, dagster_run_id=dagster_run_id, log=log,
        )  # fmt: skip
        result.report.outcomes.extend(one.outcomes)
    return result


def run_fill(
    engine: Engine,
    client: MetaClient,
    *,
    now: datetime,
    connection_id: int | None = None,
    dagster_run_id: str | None = None,
    log: Log | None = None,
    warn: Log | None = None,
) -> MetaRunResult:
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
) -> MetaRunResult:
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
) -> MetaRunResult:
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
