"""One Meta unit of work: a day of one ad account, read, checked and written in one transaction.

A day is the unit: its ad-level call (status-filtered, all pages) and its account-level rows (the
spend cross-check, read with the run's other days in one call when it can), then ONE transaction
that replaces the day's raw rows and facts and rebuilds `daily_meta_metrics` and `daily_summary`
for it. A failure before the commit leaves the day as it was. The ad-platform loop runs the days
(`open_days` is what it opens per account: adspipe.platform.ad_days); `sync.py` plans them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine

from adspipe.counters import DayStats, SyncStats
from adspipe.errors import TransientApiError
from adspipe.marts import connections as store_changes
from adspipe.marts.daily_summary import rebuild_daily_summary
from adspipe.meta import load, transforms
from adspipe.meta.client import AccountInfo, InsightsDay, MetaClient, MetaSession, UsageMeter
from adspipe.meta.options import VersionWatch
from adspipe.meta.report_runs import AdDayReader, known_ads
from adspipe.platform.ad_days import AccountDays, AdAccountRun, AdDayResult
from adspipe.warehouse import copydata
from adspipe.warehouse.connections import Connection
from adspipe.warehouse.schema import fact_meta_daily, meta_insights_raw

Log = Callable[[str], None]


@dataclass(frozen=True)
class DayResult(AdDayResult):
    account_rows: int
    pages: int
    purchase_value: Decimal
    account_spend: Decimal | None


@dataclass(frozen=True)
class FetchedDay:
    """One day's answers from Meta, not yet written."""

    ad: InsightsDay
    account_rows: list[dict[str, Any]]
    account_pages: int


def fetch_day(
    session: MetaSession, day: date, account_day: list[dict[str, Any]] | None = None,
    reader: AdDayReader | None = None,
) -> FetchedDay:  # fmt: skip
    """The day's ad-level rows (all pages), and its account-level rows unless already read.

    `account_day`: the day's account-level rows when they were read with the run's other days in
    one call (see `account_rows_by_day`). `reader`: the account's ad-level reader, which reads a
    large account's days as asynchronous report runs (adspipe.meta.report_runs).
    """
    ad = reader.read(day) if reader is not None else session.insights(day, level="ad")
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


@dataclass
class AccountRun(AdAccountRun[AccountInfo, DayResult]):
    """What one ad account's run did (also when it stopped early)."""

    meter: UsageMeter = field(default_factory=UsageMeter)


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


def day_counters(run: AccountRun, stats: SyncStats) -> DayStats:
    meter = run.meter
    return DayStats(
        pages=meter.pages, api_calls=stats.api_calls, throttled=stats.throttled,
        retries=meter.transient_errors, throttle_wait_s=stats.throttle_wait_s,
        pace_wait_s=meter.pace_wait_s, backoff_wait_s=meter.backoff_wait_s,
    )  # fmt: skip


def open_days(
    engine: Engine, client: MetaClient, run: AccountRun, stats: SyncStats, *, now: datetime,
    versions: VersionWatch | None, days: Callable[[Connection, str], list[date]], log: Log | None,
) -> AccountDays[PreparedDay, DayResult]:  # fmt: skip
    """The account read, and how to fetch and write each of its days (`days`: the run's plan, for
    the one account-level range call of them all)."""
    connection = run.connection
    session, info = open_account(engine, client, connection, stats, run.meter, versions)
    run.info = info
    planned = days(connection, info.timezone)
    account_days = account_rows_by_day(session, planned, log)
    # A large account's days are read as report runs (adspipe.meta.report_runs).
    reader = AdDayReader(session, known_ads(engine, connection.account_id, planned[0]) if planned else 0, log)
    encode = engine.dialect.name == "postgresql"  # days are then shipped with COPY

    def fetch(day: date) -> PreparedDay:
        fetched = fetch_day(session, day, None if account_days is None else account_days[day], reader)
        return prepare_day(session, connection, info, day, fetched, now=now, encode=encode)

    def write(day: date, prepared: PreparedDay) -> DayResult:
        return write_day(engine, connection, info, day, prepared, stats=stats)

    def describe(outcome: DayResult) -> str:
        return (
            f"{outcome.ad_rows} ads, spend {outcome.spend}, account spend {outcome.account_spend}, "
            f"{outcome.pages} page(s)"
        )

    return AccountDays(info.timezone, fetch, write, describe)
