"""The adspipe code location: assembles every package's definitions into one."""

from __future__ import annotations

import dagster as dg

from adspipe.resources import ClockResource, WarehouseResource

core = dg.Definitions(resources={"warehouse": WarehouseResource(), "clock": ClockResource()})

defs = dg.Definitions.merge(core)
