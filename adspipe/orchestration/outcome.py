"""A sync result, as Dagster sees it: failures, and the partitions a range committed.

The platform layer raises plain Python errors (adspipe.errors); only here do they become
`dg.Failure`s, and only here does a partition range's outcome become materializations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date
from typing import Any

import dagster as dg
from sqlalchemy.engine import Engine

from adspipe.errors import SyncFailed
from adspipe.marts.metadata import summary_is_targeted, summary_materializations
from adspipe.platform.engine import ConnectionRun, RunReport, SyncResult


def as_failure(error: SyncFailed) -> dg.Failure:
    return dg.Failure(
        description=str(error),
        metadata={"failed_connections": error.failed_connections},
        allow_retries=error.retryable,  # a bad token or a missing scope will not fix itself
    )


def raise_if_failed(report: RunReport, job: str) -> None:
    """Fail the step naming every failed connection (each already closed in sync_runs)."""
    error = report.failure(job)
    if error is not None:
        raise as_failure(error)


DayMetadata = Callable[[date], Mapping[str, Mapping[str, Any]]]  # day → asset key → that day's metadata


def partition_range_outcome(
    context: dg.AssetExecutionContext,
    engine: Engine,
    result: SyncResult[ConnectionRun] | SyncResult[Any],
    days: Sequence[date],
    assets: Sequence[str],
    day_metadata: DayMetadata,
) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
    """What a platform's partitioned multi-asset yields for its range, the same for every platform.

    Each partition carries its own day's metadata. daily_summary's partitions are recorded here
    only when this run or backfill does not materialize daily_summary itself (its own step then
    records them after every platform's side of the day). When days failed, every day is still
    its own unit: the others are recorded as materialized, then the step fails (naming the failed
    connections, else the failed days), and the failed days stay failed and re-runnable alone.
    """
    failed = set(result.failed_dates(days))
    summaries = [] if summary_is_targeted(context) else result.committed(days)
    if failed:
        for day in days:
            if day in failed:
                continue
            for asset, values in day_metadata(day).items():
                yield dg.AssetMaterialization(
                    asset_key=asset, partition=day.isoformat(), metadata=dict(values)
                )
        yield from summary_materializations(engine, summaries)
        raise_if_failed(result.report, result.job)
        raise dg.Failure(
            f"{context.op_def.name}: {len(failed)} day(s) failed: {', '.join(d.isoformat() for d in sorted(failed))}"
        )
    yield from summary_materializations(engine, summaries)
    # One result per asset for the whole range; each partition carries its own day's figures only.
    for day in days:
        for asset, values in day_metadata(day).items():
            context.add_asset_metadata(dict(values), asset_key=asset, partition_key=day.isoformat())
    for asset in assets:
        yield dg.MaterializeResult(asset_key=asset)
