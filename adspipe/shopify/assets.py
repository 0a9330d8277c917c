"""The Dagster layer for Shopify: the partitioned asset chain and the two seed jobs.

Thin on purpose: the work is in `sync.py`. The jobs report runtime materializations for exactly
the local-date partitions they touched (per shop time zone; for `shopify_fresh` driven by the
cursor, so not one partition range).
"""
# No `from __future__ import annotations` here: Dagster compares the `context` annotation itself.

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import dagster as dg
from dagster import OpExecutionContext
from pydantic import Field
from sqlalchemy.engine import Engine

from adspipe.marts.metadata import summary_materializations
from adspipe.orchestration.outcome import raise_if_failed
from adspipe.orchestration.scope import ScopeConfig
from adspipe.platform.assets import OnDay, SeedJob, Step, chain_specs, daily_asset_chain, seed_jobs
from adspipe.shopify import settings, sync
from adspipe.shopify.platform import SPEC
from adspipe.shopify.report import day_metadata, mart_metadata, run_metadata

PLATFORM = SPEC.name

RAW, FACT, METRICS, SUMMARY = "shopify_orders_raw", "fact_orders", "daily_shopify_metrics", "daily_summary"


class ShopifySyncConfig(ScopeConfig):
    """Run config of the Shopify jobs and assets."""

    time_budget_s: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Stop after the page that ends past this many seconds (shopify_fresh: 45 by default; the "
            "cursor stays at the last committed page and the next run continues)."
        ),
    )


def day_materializations(
    engine: Engine, result: sync.ShopifyResult, days: list[date], *, summary: bool
) -> Iterator[dg.AssetMaterialization]:
    """One materialization per asset per committed date, each with that date's own figures; then
    daily_summary's (when `summary`), once the run's every shop committed the date."""
    for day in days:
        key = day.isoformat()
        for asset in (RAW, FACT):
            yield dg.AssetMaterialization(asset_key=asset, partition=key, metadata=day_metadata(result, day))
        yield dg.AssetMaterialization(asset_key=METRICS, partition=key, metadata=mart_metadata(result, day))
    if summary:
        yield from summary_materializations(engine, days)


def log_touched_partitions(context: OpExecutionContext, engine: Engine, result: sync.ShopifyResult) -> int:
    """One runtime materialization per asset per touched date (raw, fact, mart, daily_summary)."""
    dates = sorted({d for s in result.runs for d in s.dates})
    for event in day_materializations(engine, result, dates, summary=True):
        context.log_event(event)
    shared = run_metadata(result)
    context.log.info(
        f"{result.job}: {shared['rows']} orders written over {len(dates)} date(s), "
        f"{shared['api_calls']} API calls, {shared['throttled']} throttled"
    )
    return len(dates)


_OP_TAGS = {"adspipe/platform": "shopify"}


def _finish(
    context: OpExecutionContext, engine: Engine, result: sync.ShopifyResult
) -> Iterator[dg.Output[None]]:
    log_touched_partitions(context, engine, result)
    raise_if_failed(result.report, result.job)
    yield dg.Output(None, metadata=run_metadata(result))  # the run's totals, on the step


def _seed(job: Callable[..., sync.ShopifyResult], op_description: str, job_description: str) -> SeedJob:
    def run(step: Step) -> sync.ShopifyResult:
        return job(
            step.engine, step.resources.shopify, step.resources.clock.now(), connection_id=step.config.connection_id,
            time_budget_s=step.config.time_budget_s, dagster_run_id=step.run_id, log=step.log.warning,
        )  # fmt: skip

    return SeedJob(run, op_description, job_description, ShopifySyncConfig)


# The asset pages list the jobs' sensor and schedule (see adspipe.orchestration.job_assets).
shopify_7d_fill, shopify_fresh = seed_jobs(
    SPEC, _finish, (RAW, FACT, METRICS, SUMMARY),
    _seed(
        sync.shopify_7d_fill, "Orders of the last 7 days of each shop.",
        "shopify_7d_fill: orders created in the last 7 days (from the local midnight of now − 7 days), "
        "sorted by CREATED_AT; raw, facts, daily_shopify_metrics and daily_summary of the dates touched; "
        "sets the cursor when it is empty. One connection (config) or every active one.",
    ),
    _seed(
        sync.shopify_fresh, "Orders updated since the cursor of each shop.",
        "shopify_fresh: orders with updated_at >= cursor sorted by UPDATED_AT; marts rebuilt for the "
        "order dates touched; the cursor advances after each committed page; stops at its time budget.",
    ),
    tags=_OP_TAGS,
)  # fmt: skip


def _run_days(step: Step, dates: list[date], on_day: OnDay | None) -> sync.ShopifyResult:
    return sync.sync_days(
        step.engine, step.resources.shopify, dates, connection_id=step.config.connection_id,
        dagster_run_id=step.run_id, log=step.log.warning,
    )  # fmt: skip


def _day_metadata(engine: Engine, result: sync.ShopifyResult, day: date) -> dict[str, dict[str, Any]]:
    per_day = day_metadata(result, day)
    return {RAW: per_day, FACT: per_day, METRICS: mart_metadata(result, day)}


shopify_orders_assets = daily_asset_chain(
    "shopify_orders_assets",
    chain_specs(
        (
            RAW,
            "Grain: one row per Shopify order (shop domain + order id), its latest payload as JSON. "
            "Partition: the local date of the order's createdAt in the shop's time zone.",
        ),
        (
            FACT,
            "Grain: one row per Shopify order, typed (times, local order date, status, money "
            "from shopMoney, refunds, net revenue, customer, line items, test flag).",
        ),
        (
            METRICS,
            "Grain: one row per store and local date (shop time zone): orders, gross revenue, "
            "refunds, net revenue, AOV, new and returning customers over counted orders (docs/metrics.md).",
        ),
        group_name="shopify",
    ),
    PLATFORM,
    _run_days,
    _day_metadata,
    run_metadata,
    log_name=settings.JOB_PARTITIONS,
    per_day_metadata=False,
    clock=False,
)
