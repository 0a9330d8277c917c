"""The adspipe code location: assembles every package's definitions into one."""

from __future__ import annotations

import dagster as dg

from adspipe.marts.assets import daily_summary
from adspipe.resources import ClockResource, WarehouseResource

core = dg.Definitions(
    assets=[daily_summary],
    resources={"warehouse": WarehouseResource(), "clock": ClockResource()},
)

defs = dg.Definitions.merge(core)
