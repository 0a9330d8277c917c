"""The one partitions definition every asset shares: a partition key is a local calendar date.

Each connection reads a key in its own time zone (a shop's orders created on that local date; an
ad account's insights for that date), so the key space is shared while the instants differ.
`end_offset=1` makes today's (in-progress) partition addressable.
"""

from __future__ import annotations

from datetime import date

import dagster as dg

from adspipe.settings import DEFAULT_PARTITIONS_START, PARTITIONS_START_ENV, partitions_start

__all__ = ["DEFAULT_PARTITIONS_START", "PARTITIONS_START_ENV", "daily_partitions", "partitions_start"]


daily_partitions = dg.DailyPartitionsDefinition(
    start_date=partitions_start().isoformat(), timezone="UTC", end_offset=1
)


def partition_dates(context: dg.AssetExecutionContext) -> list[date]:
    """The local dates of a run's partition range, oldest first: the one place a range becomes dates."""
    return [date.fromisoformat(key) for key in context.partition_keys]
