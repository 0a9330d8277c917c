"""The Google Ads jobs in plain Python (no Dagster): windows, the days each customer pulls.

A day of one customer is the unit (`unit.py`); the ad-platform loop (adspipe.platform.ad_days, on
the engine) runs the days oldest first, one ahead, keeps sync_runs, and marks a connection
`needs_reauth` on an AuthError (a revoked refresh token, a rejected developer token).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

from sqlalchemy.engine import Engine

from adspipe.clock import days_between, local_today
from adspipe.google_ads import settings, unit
from adspipe.google_ads.client import GoogleAdsClient
from adspipe.google_ads.platform import SPEC
from adspipe.google_ads.unit import CustomerRun, DayResult
from adspipe.platform import ad_days
from adspipe.platform.engine import SyncResult
from adspipe.warehouse.connections import Connection

__all__ = ["CustomerRun", "DayResult", "GoogleAdsResult", "run_dates", "run_fill", "run_fresh"]

Log = Callable[[str], None]
GoogleAdsResult = SyncResult[CustomerRun]
OnDay = Callable[[GoogleAdsResult, CustomerRun, date], None]


def fill_window(timezone: str, now: datetime) -> tuple[date, date]:
    """google_ads_7d_fill: [today−7 … yesterday] in the customer's time zone."""
    return ad_days.fill_window(timezone, now, settings.FILL_DAYS)


def fresh_window(timezone: str, now: datetime, lag_days: int | None) -> tuple[date, date]:
    """google_ads_fresh: the conversion-lag window [yesterday−N+1 … yesterday], customer time zone:
    conversions are credited to the click's day and keep arriving for N days."""
    n = lag_days or settings.CONVERSION_LAG_DAYS
    yesterday = local_today(timezone, now) - timedelta(days=1)
    return yesterday - timedelta(days=n - 1), yesterday


def run_customers(
    engine: Engine, client: GoogleAdsClient, job: str, plan: ad_days.Plan, *, now: datetime,
    connection_id: int | None = None, on_day: OnDay | None = None, dagster_run_id: str | None = None,
    log: Log | None = None,
) -> GoogleAdsResult:  # fmt: skip
    """For each active Google Ads connection (or the one named): read the customer, pull its days."""
    return ad_days.run_ad_days(
        engine, SPEC.name, job, CustomerRun, plan,
        lambda run, stats: unit.open_days(engine, client, run, stats, now=now),
        counters=unit.day_counters, result=SyncResult(job), connection_id=connection_id, on_day=on_day,
        settle=unit.settle, dagster_run_id=dagster_run_id, log=log,
    )  # fmt: skip


def run_fill(
    engine: Engine, client: GoogleAdsClient, *, now: datetime, connection_id: int | None = None,
    dagster_run_id: str | None = None, log: Log | None = None,
) -> GoogleAdsResult:  # fmt: skip
    """google_ads_7d_fill: [today−7 … yesterday] per customer, oldest first."""
    return run_customers(
        engine, client, settings.JOB_FILL, ad_days.fill_plan(now, settings.FILL_DAYS), now=now,
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
    return run_customers(
        engine, client, settings.JOB_ASSETS, ad_days.dates_plan(dates, now), now=now,
        connection_id=connection_id, on_day=on_day, dagster_run_id=dagster_run_id, log=log,
    )  # fmt: skip
