"""One Google Ads unit of work: a day of one customer, read and written in one transaction.

A day is the unit: one searchStream query for that day (every ad, every status: a removed ad keeps
the spend it had), then ONE transaction replacing its raw rows and facts and rebuilding its
`daily_ad_metrics` rows and `daily_summary`. The engine runs the days (adspipe.platform.ad_days);
`sync.py` plans them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.engine import Engine

from adspipe.counters import DayStats, SyncStats
from adspipe.google_ads import load, transforms
from adspipe.google_ads.client import CustomerInfo, GoogleAdsClient, GoogleAdsSession
from adspipe.google_ads.tables import fact_google_ads_daily, google_ads_raw
from adspipe.marts import connections as store_changes
from adspipe.marts.daily_summary import rebuild_daily_summary
from adspipe.platform.ad_days import AccountDays, AdAccountRun, AdDayResult
from adspipe.platform.http import CallStats
from adspipe.warehouse.connections import Connection


@dataclass(frozen=True)
class DayResult(AdDayResult):
    conversions: Decimal
    conversions_value: Decimal


@dataclass(frozen=True)
class PreparedDay:
    raw: list[dict[str, object]]
    facts: list[dict[str, object]]
    totals: DayResult


@dataclass
class CustomerRun(AdAccountRun[CustomerInfo, DayResult]):
    """What one customer's run did (also when it stopped early)."""

    calls: CallStats = field(default_factory=CallStats)


def open_customer(
    engine: Engine, client: GoogleAdsClient, connection: Connection, calls: CallStats
) -> tuple[GoogleAdsSession, CustomerInfo]:
    """A session with the connection's refresh token (and manager), the customer's time zone and
    currency read and stored."""
    session = client.session(
        refresh_token_env=connection.token_env,
        login_customer_id=connection.options.get("login_customer_id"),
        stats=calls,
    )
    info = session.customer_info(connection.account_id)
    with engine.begin() as db:
        store_changes.set_account_info(
            db, connection.connection_id, timezone=info.time_zone, currency=info.currency_code
        )
    return session, info


def day_counters(run: CustomerRun, stats: SyncStats) -> DayStats:
    return run.calls.day_stats()


def prepare_day(
    connection: Connection, day: date, rows: Sequence[transforms.AdRow], *, now: datetime
) -> PreparedDay:
    """Raw and fact rows of one day (pure): spend exact from micros, conversions exact decimals."""
    facts = [transforms.ad_fact(row) for row in rows]
    customer = connection.account_id
    return PreparedDay(
        raw=load.raw_rows(
            customer_id=customer, connection_id=connection.connection_id, day=day, rows=rows, fetched_at=now
        ),
        facts=load.fact_rows(facts, store_id=connection.store_id, connection_id=connection.connection_id),
        totals=DayResult(
            day,
            len(facts),
            sum((f.spend for f in facts), Decimal(0)),
            sum((f.conversions for f in facts), Decimal(0)),
            sum((f.conversions_value for f in facts), Decimal(0)),
        ),  # fmt: skip
    )


def write_day(
    engine: Engine, connection: Connection, info: CustomerInfo, day: date, prepared: PreparedDay
) -> DayResult:
    """Replace one day (raw, facts, its daily_ad_metrics rows, daily_summary) in one transaction."""
    customer = connection.account_id
    with engine.begin() as db:
        load.replace_day(db, google_ads_raw, customer, day, prepared.raw)
        load.replace_day(db, fact_google_ads_daily, customer, day, prepared.facts)
        load.rebuild_google_ads_metrics(
            db, store_id=connection.store_id, customer_id=customer, dates=[day],
            timezone=info.time_zone, currency=info.currency_code,
        )  # fmt: skip
        rebuild_daily_summary(db, [connection.store_id], [day])
    return prepared.totals


def open_days(
    engine: Engine, client: GoogleAdsClient, run: CustomerRun, stats: SyncStats, *, now: datetime
) -> AccountDays[PreparedDay, DayResult]:
    """The customer read, and how to fetch and write each of its days."""
    connection = run.connection
    session, info = open_customer(engine, client, connection, run.calls)
    run.info = info

    def fetch(day: date) -> PreparedDay:
        return prepare_day(connection, day, session.ad_day(connection.account_id, day).rows, now=now)

    def write(day: date, prepared: PreparedDay) -> DayResult:
        outcome = write_day(engine, connection, info, day, prepared)
        stats.rows += outcome.ad_rows
        stats.dates.add(day)
        return outcome

    def describe(outcome: DayResult) -> str:
        return f"{outcome.ad_rows} ads, spend {outcome.spend}, conversions {outcome.conversions}"

    return AccountDays(info.time_zone, fetch, write, describe)


def settle(run: CustomerRun, stats: SyncStats) -> None:
    """The session's call counters into the run's sync_runs figures."""
    calls = run.calls
    stats.api_calls += calls.api_calls
    stats.throttled += calls.throttled
    stats.throttle_wait_s += calls.throttle_wait_s
    stats.api_version = calls.api_version
    stats.api_version_served = calls.api_version_served
