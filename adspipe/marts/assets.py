"""The cross-platform mart asset."""
# No `from __future__ import annotations` here: Dagster compares the `context` annotation itself.

from datetime import date

import dagster as dg
import sqlalchemy as sa
from dagster import AssetExecutionContext

from adspipe.marts.daily_summary import rebuild_daily_summary
from adspipe.orchestration.partitions import daily_partitions
from adspipe.resources import WarehouseResource
from adspipe.warehouse.schema import daily_summary as daily_summary_table
from adspipe.warehouse.schema import stores


@dg.asset(
    name="daily_summary",
    group_name="marts",
    partitions_def=daily_partitions,
    deps=["daily_shopify_metrics", "daily_meta_metrics"],
    description=(
        "Grain: one row per store and local date. Orders, revenue and refunds from "
        "daily_shopify_metrics beside spend, clicks and Meta purchases from daily_meta_metrics; "
        "ROAS and MER, NULL where currencies or time zones differ (see docs/metrics.md)."
    ),
)
def daily_summary(context: AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    start, end = context.partition_key_range.start, context.partition_key_range.end
    dates = [
        date.fromisoformat(k)
        for k in daily_partitions.get_partition_keys_in_range(dg.PartitionKeyRange(start, end))
    ]
    engine = warehouse.engine()
    with engine.begin() as conn:
        store_ids = list(conn.execute(sa.select(stores.c.store_id)).scalars())
        rows = rebuild_daily_summary(conn, store_ids, dates)
        totals = conn.execute(
            sa.select(sa.func.sum(daily_summary_table.c.orders), sa.func.count()).where(
                daily_summary_table.c.date.in_(dates)
            )
        ).one()
    return dg.MaterializeResult(
        metadata={"rows": rows, "stores": len(store_ids), "dates": len(dates), "orders": int(totals[0] or 0)}
    )
