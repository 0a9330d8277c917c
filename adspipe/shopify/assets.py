"""The Dagster layer for Shopify: the partitioned asset chain and the two seed jobs.

Thin on purpose: the work is in `sync.py`. The jobs report runtime materializations for exactly
the local-date partitions they touched (per shop time zone; for `shopify_fresh` driven by the
cursor, so not one partition range).
"""
# No `from __future__ import annotations` here: Dagster compares the `context` annotation itself.

from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext, OpExecutionContext
from pydantic import Field
from sqlalchemy.engine import Engine

from adspipe.counters import total
from adspipe.marts.metadata import UNKNOWN_CURRENCY, summary_materializations
from adspipe.orchestration.job_assets import seed_job
from adspipe.orchestration.outcome import partition_range_outcome, raise_if_failed
from adspipe.orchestration.partitions import daily_partitions, partition_dates
from adspipe.orchestration.scope import ScopeConfig
from adspipe.resources import ClockResource, WarehouseResource
from adspipe.settings import backfill_days_per_run
from adspipe.shopify import settings, sync
from adspipe.shopify.client import ShopifyClient

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


def version_metadata(result: sync.ShopifyResult) -> dict[str, Any]:
    """The Admin API version asked for and the one(s) Shopify's headers said served the run."""
    served = sorted({s.calls.api_version_served for s in result.runs if s.calls.api_version_served})
    deprecated = sorted({r for s in result.runs for r in s.calls.deprecated_reasons})
    metadata: dict[str, Any] = {
        "api_version": next((s.calls.api_version for s in result.runs if s.calls.api_version), ""),
        "api_version_served": ", ".join(served),
    }
    if deprecated:
        metadata["api_deprecated_reasons"] = dg.MetadataValue.json(deprecated)
    return metadata


def run_metadata(result: sync.ShopifyResult) -> dict[str, Any]:
    """Run-level numbers: rows, pages, API calls, cost, throttling, dates touched, API versions."""
    shops = result.runs
    dates = sorted({d for s in shops for d in s.dates})
    return version_metadata(result) | {
        "rows": sum(s.orders_written for s in shops),
        "orders_read": sum(s.orders_read for s in shops),
        "pages": sum(s.calls.pages for s in shops),
        "api_calls": sum(s.calls.api_calls for s in shops),
        "requested_cost": float(sum(s.calls.requested_cost for s in shops)),
        "actual_cost": float(sum(s.calls.actual_cost for s in shops)),
        "throttled": sum(s.calls.throttled for s in shops),
        "throttle_wait_s": round(sum(s.calls.throttled_wait_s for s in shops), 3),
        "pace_wait_s": round(sum(s.calls.pace_wait_s for s in shops), 3),
        "retries": sum(s.calls.retries for s in shops),
        "dates_touched": len(dates),
        "dates": dg.MetadataValue.json([d.isoformat() for d in dates]),
        "connections": len(shops),
        "failed_connections": len(result.report.failed),
        "stopped_at_budget": any(s.stopped_at_budget for s in shops),
    }


def day_metadata(result: sync.ShopifyResult, day: date) -> dict[str, Any]:
    """One date's own rows, calls and waits (every shop of the run that touched it)."""
    stats = total([shop.day_stats[day] for shop in result.runs if day in shop.day_stats])
    return {**stats.metadata(), "shops": sum(1 for shop in result.runs if day in shop.day_stats)}


def mart_metadata(result: sync.ShopifyResult, day: date) -> dict[str, Any]:
    """Numeric metadata for one date of the mart, per currency (Dagster plots it across partitions)."""
    by_currency: dict[str, tuple[int, Decimal]] = defaultdict(lambda: (0, Decimal(0)))
    for shop in result.runs:
        totals = shop.totals.get(day)
        if totals is None:
            continue
        code = (shop.shop.currency if shop.shop else None) or UNKNOWN_CURRENCY
        orders, net = by_currency[code]
        by_currency[code] = (orders + totals.orders, net + totals.net_revenue)
    metadata: dict[str, Any] = {"orders": sum(orders for orders, _ in by_currency.values())}
    for code, (orders, net) in sorted(by_currency.items()):
        metadata[f"orders_{code}"] = orders
        metadata[f"net_revenue_{code}"] = float(net)
    return metadata


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


@dg.op(
    name="shopify_7d_fill_op",
    tags=_OP_TAGS,
    out=dg.Out(dg.Nothing),
    description="Orders of the last 7 days of each shop.",
)
def shopify_7d_fill_op(
    context: OpExecutionContext,
    config: ShopifySyncConfig,
    warehouse: WarehouseResource,
    shopify: ShopifyClient,
    clock: ClockResource,
) -> Iterator[dg.Output[None]]:
    result = sync.shopify_7d_fill(
        warehouse.engine(), shopify, clock.now(), connection_id=config.connection_id,
        time_budget_s=config.time_budget_s, dagster_run_id=context.run.run_id, log=context.log.warning,
    )  # fmt: skip
    log_touched_partitions(context, warehouse.engine(), result)
    raise_if_failed(result.report, settings.JOB_FILL)
    yield dg.Output(None, metadata=run_metadata(result))  # the run's totals, on the step


@dg.op(
    name="shopify_fresh_op",
    tags=_OP_TAGS,
    out=dg.Out(dg.Nothing),
    description="Orders updated since the cursor of each shop.",
)
def shopify_fresh_op(
    context: OpExecutionContext,
    config: ShopifySyncConfig,
    warehouse: WarehouseResource,
    shopify: ShopifyClient,
    clock: ClockResource,
) -> Iterator[dg.Output[None]]:
    result = sync.shopify_fresh(
        warehouse.engine(), shopify, clock.now(), connection_id=config.connection_id,
        time_budget_s=config.time_budget_s, dagster_run_id=context.run.run_id, log=context.log.warning,
    )  # fmt: skip
    log_touched_partitions(context, warehouse.engine(), result)
    raise_if_failed(result.report, settings.JOB_FRESH)
    yield dg.Output(None, metadata=run_metadata(result))  # the run's totals, on the step


# The asset pages list the jobs' sensor and schedule (see adspipe.orchestration.job_assets).
shopify_7d_fill = seed_job(
    settings.JOB_FILL, shopify_7d_fill_op,
    "shopify_7d_fill: orders created in the last 7 days (from the local midnight of now − 7 days), "
    "sorted by CREATED_AT; raw, facts, daily_shopify_metrics and daily_summary of the dates touched; "
    "sets the cursor when it is empty. One connection (config) or every active one.",
    (RAW, FACT, METRICS, SUMMARY), tags=_OP_TAGS,
)  # fmt: skip
shopify_fresh = seed_job(
    settings.JOB_FRESH, shopify_fresh_op,
    "shopify_fresh: orders with updated_at >= cursor sorted by UPDATED_AT; marts rebuilt for the "
    "order dates touched; the cursor advances after each committed page; stops at its time budget.",
    (RAW, FACT, METRICS, SUMMARY), tags=_OP_TAGS,
)  # fmt: skip


@dg.multi_asset(
    name="shopify_orders_assets",
    specs=[
        dg.AssetSpec(
            RAW,
            group_name="shopify",
            description="Grain: one row per Shopify order (shop domain + order id), its latest payload as JSON. "
            "Partition: the local date of the order's createdAt in the shop's time zone.",
        ),
        dg.AssetSpec(
            FACT,
            group_name="shopify",
            deps=[RAW],
            description="Grain: one row per Shopify order, typed (times, local order date, status, money "
            "from shopMoney, refunds, net revenue, customer, line items, test flag).",
        ),
        dg.AssetSpec(
            METRICS,
            group_name="shopify",
            deps=[FACT],
            description="Grain: one row per store and local date (shop time zone): orders, gross revenue, "
            "refunds, net revenue, AOV, new and returning customers over counted orders (docs/metrics.md).",
        ),
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=backfill_days_per_run()),
)
def shopify_orders_assets(
    context: AssetExecutionContext,
    config: ScopeConfig,
    warehouse: WarehouseResource,
    shopify: ShopifyClient,
) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
    days = partition_dates(context)
    engine = warehouse.engine()
    result = sync.sync_days(
        engine, shopify, days, connection_id=config.connection_id,
        dagster_run_id=context.run.run_id, log=context.log.warning,
    )  # fmt: skip
    context.log.info(f"{settings.JOB_PARTITIONS}: {run_metadata(result)}")  # the run's totals

    def metadata(day: date) -> dict[str, dict[str, Any]]:
        per_day = day_metadata(result, day)
        return {RAW: per_day, FACT: per_day, METRICS: mart_metadata(result, day)}

    yield from partition_range_outcome(context, engine, result, days, (RAW, FACT, METRICS), metadata)
