"""The one partitions definition every asset shares: a partition key is a local calendar date.

Each connection reads a key in its own time zone (a shop's orders created on that local date; an
ad account's insights for that date), so the key space is shared while the instants differ.
`end_offset=1` makes today's (in-progress) partition addressable.
"""

from __future__ import annotations

import os
from datetime import date

import dagster as dg

PARTITIONS_START_ENV = "ADSPIPE_PARTITIONS_START"
DEFAULT_PARTITIONS_START = "2023-01-01"


def partitions_start() -> date:
    return date.fromisoformat(os.environ.get(PARTITIONS_START_ENV, "").strip() or DEFAULT_PARTITIONS_START)


daily_partitions = dg.DailyPartitionsDefinition(
    start_date=partitions_start().isoformat(), timezone="UTC", end_offset=1
)
