"""The cross-platform mart asset."""
# No `from __future__ import annotations` here: Dagster compares the `context` annotation itself.

from collections.abc import Iterator
from datetime import date

import dagster as dg
import sqlalchemy as sa
from dagster import AssetExecutionContext

from adspipe.marts.daily_summary import rebuild_daily_summary
from adspipe.marts.metadata import read_day
from adspipe.orchestration.partitions import daily_partitions
from adspipe.resources import WarehouseResource
from adspipe.warehouse.schema import stores


@dg.asset(
    name="daily_summary",
    group_name="marts",
    partitions_def=daily_partitions,
    deps=["daily_shopify_metrics", "daily_meta_metrics"],
    description=(
        "Grain: one row per store and local date. Orders, revenue and refunds from "
        "daily_shopify_metrics beside spend, clicks and Meta purchases from daily_meta_metrics; "
        "ROAS and MER, NULL where currencies or time zones differ (see docs/metrics.md). "
        "Each partition's metadata is that day's figures per currency and a preview of its rows."
    ),
)
def daily_summary(
    context: AssetExecutionContext, warehouse: WarehouseResource
) -> Iterator[dg.AssetMaterialization | dg.MaterializeResult]:
    dates = [
        date.fromisoformat(k)
        for k in daily_partitions.get_partition_keys_in_range(context.partition_key_range)
    ]
    engine = warehouse.engine()
    with engine.begin() as conn:
        store_ids = list(conn.execute(sa.select(stores.c.store_id)).scalars())
        rebuild_daily_summary(conn, store_ids, dates)
        days = [read_day(conn, day) for day in dates]
    # A day without any upstream row is not a success with 0 rows: it fails, saying what is missing
    # (its platforms' assets were not materialized for it, or their runs failed).
    empty = [d for d in days if d.empty]
    if empty:
        for day in days:
            if not day.empty:  # recorded before the step fails, like the platform steps' good days
                yield dg.AssetMaterialization(
                    asset_key=context.asset_key, partition=day.day.isoformat(), metadata=day.metadata()
                )
        raise dg.Failure(
            description="\n".join(d.missing() for d in empty),
            metadata={"missing_dates": ", ".join(d.day.isoformat() for d in empty)},
            allow_retries=False,
        )
    for day in days:
        context.add_asset_metadata(day.metadata(), partition_key=day.day.isoformat())
    yield dg.MaterializeResult()
