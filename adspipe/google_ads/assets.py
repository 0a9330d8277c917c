"""The Dagster layer for Google Ads: the partitioned asset chain and the jobs google_ads_7d_fill /
google_ads_fresh. Thin on purpose: the logic is in `sync.py`.

No pool: Google Ads quotas are per developer token and day, and quota errors carry a retryDelay
the client waits. The jobs' windows are per customer time zone, so the ops record runtime
materializations for exactly the date partitions they committed.
"""
# No `from __future__ import annotations` here: Dagster compares the `context` annotation itself.

from collections.abc import Iterator
from datetime import date
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext, OpExecutionContext
from sqlalchemy.engine import Engine

from adspipe.google_ads import report, sync
from adspipe.google_ads.client import GoogleAdsClient
from adspipe.google_ads.settings import GROUP, JOB_FILL, JOB_FRESH
from adspipe.marts.metadata import summary_materializations
from adspipe.orchestration.job_assets import seed_job
from adspipe.orchestration.outcome import partition_range_outcome, raise_if_failed
from adspipe.orchestration.partitions import daily_partitions, partition_dates, partitions_start
from adspipe.orchestration.scope import ScopeConfig
from adspipe.resources import ClockResource, WarehouseResource
from adspipe.settings import backfill_days_per_run

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


def day_materializations(engine: Engine, result: sync.GoogleAdsResult) -> Iterator[dg.AssetMaterialization]:
    """One runtime materialization per asset and committed date partition, then daily_summary's."""
    first = partitions_start()
    touched = result.touched()
    for day, runs in touched.items():
        if day < first:
            continue
        per_asset = _day_metadata(engine, day, runs)
        for key in (RAW, FACT, METRICS):
            yield dg.AssetMaterialization(asset_key=key, partition=day.isoformat(), metadata=per_asset[key])
    yield from summary_materializations(engine, list(touched))


def _finish_job(
    context: OpExecutionContext, engine: Engine, result: sync.GoogleAdsResult
) -> Iterator[dg.AssetMaterialization | dg.Output[None]]:
    yield from day_materializations(engine, result)
    metadata = report.run_metadata(result)
    context.log.info(f"{result.job}: {metadata}")
    raise_if_failed(result.report, result.job)
    yield dg.Output(None, metadata=metadata)


@dg.op(
    name="google_ads_7d_fill_op",
    out=dg.Out(dg.Nothing),
    description="For each Google Ads customer: the last 7 days [today-7 … yesterday] in its time zone, "
    "one day at a time.",
)
def google_ads_7d_fill_op(
    context: OpExecutionContext,
    config: ScopeConfig,
    warehouse: WarehouseResource,
    google_ads: GoogleAdsClient,
    clock: ClockResource,
) -> Iterator[dg.AssetMaterialization | dg.Output[None]]:
    engine = warehouse.engine()
    result = sync.run_fill(
        engine, google_ads, now=clock.now(), connection_id=config.connection_id,
        dagster_run_id=context.run.run_id, log=context.log.info,
    )  # fmt: skip
    yield from _finish_job(context, engine, result)


@dg.op(
    name="google_ads_fresh_op",
    out=dg.Out(dg.Nothing),
    description="For each Google Ads customer: re-pull its conversion-lag window (default 30 days) ending "
    "yesterday, so late conversions land on their click's day.",
)
def google_ads_fresh_op(
    context: OpExecutionContext,
    config: ScopeConfig,
    warehouse: WarehouseResource,
    google_ads: GoogleAdsClient,
    clock: ClockResource,
) -> Iterator[dg.AssetMaterialization | dg.Output[None]]:
    engine = warehouse.engine()
    result = sync.run_fresh(
        engine, google_ads, now=clock.now(), connection_id=config.connection_id,
        dagster_run_id=context.run.run_id, log=context.log.info,
    )  # fmt: skip
    yield from _finish_job(context, engine, result)


google_ads_7d_fill = seed_job(
    JOB_FILL, google_ads_7d_fill_op,
    "Initial Google Ads data: the last 7 days of every active customer (or one: connection_id).",
    (RAW, FACT, METRICS, SUMMARY),
)  # fmt: skip
google_ads_fresh = seed_job(
    JOB_FRESH, google_ads_fresh_op,
    "Conversion-lag refresh: each customer's window of N days (attribution_window_days, default 30).",
    (RAW, FACT, METRICS, SUMMARY),
)  # fmt: skip


@dg.multi_asset(
    name="google_ads_ads",
    specs=[
        dg.AssetSpec(
            RAW,
            description="Grain: one row per Google Ads customer, ad and date (customer time zone): the "
            "searchStream result row as the API typed it.",
        ),
        dg.AssetSpec(
            FACT,
            deps=[RAW],
            description="Grain: one row per Google Ads customer, ad and date (customer time zone): spend (exact "
            "from cost micros), impressions, clicks, fractional conversions, conversions value, status, currency.",
        ),
        dg.AssetSpec(
            METRICS,
            deps=[FACT],
            description="Grain: one row per store, Google Ads customer and date (customer time zone): the rows of "
            "daily_ad_metrics with platform 'google_ads' (ad-level sums; purchases = conversions rounded).",
        ),
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=backfill_days_per_run()),
    group_name=GROUP,
    description="Google Ads ad metrics for the partition dates (each customer's own time zone), one day per "
    "unit: its own query and its own commit, oldest first; also rebuilds daily_summary for those dates.",
)
def google_ads_ads(
    context: AssetExecutionContext,
    config: ScopeConfig,
    warehouse: WarehouseResource,
    google_ads: GoogleAdsClient,
    clock: ClockResource,
) -> Any:
    engine = warehouse.engine()
    dates = partition_dates(context)
    per_day: dict[date, dict[str, dict[str, Any]]] = {}

    def on_day(result: sync.GoogleAdsResult, run: sync.CustomerRun, day: date) -> None:
        per_day[day] = _day_metadata(engine, day, result.touched().get(day, []))

    result = sync.run_dates(
        engine, google_ads, dates, now=clock.now(), connection_id=config.connection_id, on_day=on_day,
        dagster_run_id=context.run.run_id, log=context.log.info,
    )  # fmt: skip
    context.log.info(f"google_ads_ads: {report.run_metadata(result)}")

    def day_metadata(day: date) -> dict[str, dict[str, Any]]:
        return per_day[day] if day in per_day else _day_metadata(engine, day, [])

    yield from partition_range_outcome(context, engine, result, dates, (RAW, FACT, METRICS), day_metadata)
