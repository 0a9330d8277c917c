"""The Dagster layer for Google Ads: the partitioned asset chain and the jobs google_ads_7d_fill /
google_ads_fresh. Thin on purpose: the logic is in `sync.py`.

No pool: Google Ads quotas are per developer token and day, and quota errors carry a retryDelay
the client waits. The jobs' windows are per customer time zone, so the ops record runtime
materializations for exactly the date partitions they committed.
"""
# No `from __future__ import annotations` here: Dagster compares the `context` annotation itself.

from datetime import date
from typing import Any

from sqlalchemy.engine import Engine

from adspipe.google_ads import report, sync
from adspipe.google_ads.platform import SPEC
from adspipe.google_ads.settings import GROUP
from adspipe.platform.assets import OnDay, SeedJob, Step, ad_asset_chain, chain_specs, job_finish, seed_jobs

RAW, FACT, METRICS, SUMMARY = (
    "google_ads_raw",
    "fact_google_ads_daily",
    "daily_google_ads_metrics",
    "daily_summary",
)


def _day_metadata(engine: Engine, day: date, runs: list[sync.CustomerRun]) -> dict[str, dict[str, Any]]:
    calls = [r.day_stats[day] for r in runs if day in r.day_stats]
    return {
        RAW: {"customers": len(runs), "api_calls": sum(c.api_calls for c in calls)},
        FACT: report.day_figures(runs, day),
        METRICS: report.metrics_on(engine, day, [r.connection.account_id for r in runs]),
    }


def _run_dates(step: Step, dates: list[date], on_day: OnDay | None) -> sync.GoogleAdsResult:
    return sync.run_dates(step.engine, step.resources.google_ads, dates, on_day=on_day, **step.sync_options())


google_ads_7d_fill, google_ads_fresh = seed_jobs(
    SPEC, job_finish(_day_metadata, report.run_metadata, (RAW, FACT, METRICS)), (RAW, FACT, METRICS, SUMMARY),
    SeedJob(
        lambda step: sync.run_fill(step.engine, step.resources.google_ads, **step.sync_options()),
        "For each Google Ads customer: the last 7 days [today-7 … yesterday] in its time zone, one day at a time.",
        "Initial Google Ads data: the last 7 days of every active customer (or one: connection_id).",
    ),
    SeedJob(
        lambda step: sync.run_fresh(step.engine, step.resources.google_ads, **step.sync_options()),
        "For each Google Ads customer: re-pull its conversion-lag window (default 30 days) ending yesterday, "
        "so late conversions land on their click's day.",
        "Conversion-lag refresh: each customer's window of N days (attribution_window_days, default 30).",
    ),
)  # fmt: skip


google_ads_ads = ad_asset_chain(
    SPEC,
    chain_specs(
        (
            RAW,
            "Grain: one row per Google Ads customer, ad and date (customer time zone): the "
            "searchStream result row as the API typed it.",
        ),
        (
            FACT,
            "Grain: one row per Google Ads customer, ad and date (customer time zone): spend (exact "
            "from cost micros), impressions, clicks, fractional conversions, conversions value, status, currency.",
        ),
        (
            METRICS,
            "Grain: one row per store, Google Ads customer and date (customer time zone): the rows of "
            "daily_ad_metrics with platform 'google_ads' (ad-level sums; purchases = conversions rounded).",
        ),
    ),
    _run_dates,
    _day_metadata,
    report.run_metadata,
    group_name=GROUP,
    description="Google Ads ad metrics for the partition dates (each customer's own time zone), one day per "
    "unit: its own query and its own commit, oldest first; also rebuilds daily_summary for those dates.",
)
