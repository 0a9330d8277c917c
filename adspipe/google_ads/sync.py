"""The Google Ads jobs in plain Python (no Dagster): windows, the days each customer pulls.

A day of one customer is the unit: one searchStream query for that day (every ad, every status),
then ONE transaction replacing its raw rows and facts and rebuilding its `daily_ad_metrics` rows
and `daily_summary`. The engine (adspipe.platform.engine) runs the days oldest first, one ahead,
keeps sync_runs, and marks a connection `needs_reauth` on an AuthError (a revoked refresh token,
a rejected developer token).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.engine import Engine

from adspipe.clock import days_between, local_today
from adspipe.counters import DayStats, SyncStats
from adspipe.google_ads import load, settings, transforms
from adspipe.google_ads.client import CustomerInfo, GoogleAdsClient, GoogleAdsSession
from adspipe.google_ads.platform import SPEC
from adspipe.marts import connections as store_changes
from adspipe.marts.daily_summary import rebuild_daily_summary
from adspipe.platform.engine import ConnectionRun, SyncResult, commit_days, run_connections
from adspipe.platform.http import CallStats
from adspipe.warehouse.connections import Connection
from adspipe.warehouse.schema import fact_google_ads_daily, google_ads_raw

Log = Callable[[str], None]


@dataclass(frozen=True)
class DayResult:
    day: date
    ad_rows: int
    spend: Decimal
    conversions: Decimal
    conversions_value: Decimal


@dataclass(frozen=True)
class PreparedDay:
    raw: list[dict[str, object]]
    facts: list[dict[str, object]]
    spend: Decimal
    conversions: Decimal
    conversions_value: Decimal


@dataclass
class CustomerRun(ConnectionRun):
    """What one customer's run did (also when it stopped early)."""

    calls: CallStats = field(default_factory=CallStats)
    info: CustomerInfo | None = None
    days: list[DayResult] = field(default_factory=list)

    @property
    def dates(self) -> list[date]:
        return [d.day for d in self.days]

    def committed(self) -> set[date]:
        return set(self.dates)


GoogleAdsResult = SyncResult[CustomerRun]
Plan = Callable[[Connection, str], list[date]]  # (connection, customer time zone) → days to pull
OnDay = Callable[[GoogleAdsResult, CustomerRun, date], None]


def fill_window(timezone: str, now: datetime) -> tuple[date, date]:
    """google_ads_7d_fill: [today−7 … yesterday] in the customer's time zone."""
    today = local_today(timezone, now)
    return today - timedelta(days=settings.FILL_DAYS), today - timedelta(days=1)


def fresh_window(timezone: str, now: datetime, lag_days: int | None) -> tuple[date, date]:
    """google_ads_fresh: the conversion-lag window [yesterday−N+1 … yesterday], customer time zone:
    conversions are credited to the click's day and keep arriving for N days."""
    n = lag_days or settings.CONVERSION_LAG_DAYS
    yesterday = local_today(timezone, now) - timedelta(days=1)
    return yesterday - timedelta(days=n - 1), yesterday


def open_customer(
    engine: Engine, client: GoogleAdsClient, connection: Connection, calls: CallStats
) -> tuple[GoogleAdsSession, CustomerInfo]:
    """A session with the connection's refresh token (and manager), the customer's time zone and
    currency read and stored."""
    session = client.session(
        refresh_token_env=connection.token_env, login_customer_id=connection.login_customer_id, stats=calls
    )
    info = session.customer_info(connection.account_id)
    with engine.begin() as db:
        store_changes.set_account_info(
            db, connection.connection_id, timezone=info.time_zone, currency=info.currency_code
        )
    return session, info


def _day_stats(calls: CallStats) -> DayStats:
    return DayStats(
        pages=0, api_calls=calls.api_calls, throttled=calls.throttled, retries=calls.retries,
        throttle_wait_s=calls.throttle_wait_s, pace_wait_s=0.0,
        backoff_wait_s=calls.waits_s.get("backoff", 0.0),
    )  # fmt: skip


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
        spend=sum((f.spend for f in facts), Decimal(0)),
        conversions=sum((f.conversions for f in facts), Decimal(0)),
        conversions_value=sum((f.conversions_value for f in facts), Decimal(0)),
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
    return DayResult(
        day, len(prepared.facts), prepared.spend, prepared.conversions, prepared.conversions_value
    )


def run_customers(
    engine: Engine,
    client: GoogleAdsClient,
    job: str,
    plan: Plan,
    *,
    now: datetime,
    connection_id: int | None = None,
    on_day: OnDay | None = None,
    dagster_run_id: str | None = None,
    log: Log | None = None,
) -> GoogleAdsResult:
    """For each active Google Ads connection (or the one named): read the customer, pull its days."""
    result: GoogleAdsResult = SyncResult(job)

    def work(run: CustomerRun, stats: SyncStats) -> None:
        connection = run.connection
        try:
            session, info = open_customer(engine, client, connection, run.calls)
            run.info = info
            days = plan(connection, info.time_zone)
            run.window = (days[0], days[-1]) if days else None

            def fetch(day: date) -> PreparedDay:
                before = _day_stats(run.calls)
                try:
                    rows = session.ad_day(connection.account_id, day).rows
                finally:
                    run.day_stats[day] = _day_stats(run.calls).minus(before)
                return prepare_day(connection, day, rows, now=now)

            def write(day: date, prepared: PreparedDay) -> None:
                outcome = write_day(engine, connection, info, day, prepared)
                run.days.append(outcome)
                stats.rows += outcome.ad_rows
                stats.dates.add(day)
                if on_day:
                    on_day(result, run, day)
                if log:
                    log(
                        f"{job}: {connection.account_id} {day}: {outcome.ad_rows} ads, spend {outcome.spend}, "
                        f"conversions {outcome.conversions}"
                    )

            commit_days(run, days, fetch, write, read_ahead=True, log=log, job=job)
        finally:
            _count(stats, run.calls)

    def opening_window(target: Connection) -> tuple[date, date] | None:
        known = plan(target, target.timezone) if target.timezone else []
        return (known[0], known[-1]) if known else None

    return run_connections(
        engine, SPEC.name, job, CustomerRun, work, connection_id=connection_id, window=opening_window,
        dagster_run_id=dagster_run_id, log=log, result=result,
    )  # fmt: skip


def _count(stats: SyncStats, calls: CallStats) -> None:
    """The session's call counters into the run's sync_runs figures."""
    stats.api_calls += calls.api_calls
    stats.throttled += calls.throttled
    stats.throttle_wait_s += calls.throttle_wait_s
    stats.api_version = calls.api_version
    stats.api_version_served = calls.api_version_served


def run_fill(
    engine: Engine, client: GoogleAdsClient, *, now: datetime, connection_id: int | None = None,
    dagster_run_id: str | None = None, log: Log | None = None,
) -> GoogleAdsResult:  # fmt: skip
    """google_ads_7d_fill: [today−7 … yesterday] per customer, oldest first."""
    return run_customers(
        engine, client, settings.JOB_FILL, lambda c, tz: days_between(*fill_window(tz, now)), now=now,
        connection_id=connection_id, dagster_run_id=dagster_run_id, log=log,
    )  # fmt: skip


def run_fresh(
    engine: Engine, client: GoogleAdsClient, *, now: datetime, connection_id: int | None = None,
    dagster_run_id: str | None = None, log: Log | None = None,
) -> GoogleAdsResult:  # fmt: skip
    """google_ads_fresh: each customer's conversion-lag window (attribution_window_days, default
    30) ending yesterday, so late conversions land on the click's day."""

    def plan(connection: Connection, timezone: str) -> list[date]:
        return days_between(*fresh_window(timezone, now, connection.attribution_window_days))

    return run_customers(
        engine, client, settings.JOB_FRESH, plan, now=now, connection_id=connection_id,
        dagster_run_id=dagster_run_id, log=log,
    )  # fmt: skip


def run_dates(
    engine: Engine, client: GoogleAdsClient, dates: Sequence[date], *, now: datetime,
    connection_id: int | None = None, on_day: OnDay | None = None, dagster_run_id: str | None = None,
    log: Log | None = None,
) -> GoogleAdsResult:  # fmt: skip
    """The asset chain's partitions: these local dates per customer (future dates skipped)."""
    wanted = sorted(set(dates))

    def plan(connection: Connection, timezone: str) -> list[date]:
        today = local_today(timezone, now)
        return [d for d in wanted if d <= today]

    return run_customers(
        engine, client, settings.JOB_ASSETS, plan, now=now, connection_id=connection_id, on_day=on_day,
        dagster_run_id=dagster_run_id, log=log,
    )  # fmt: skip
