"""The adspipe code location: assembles every package's definitions into one."""

from __future__ import annotations

import dagster as dg

from adspipe.marts.assets import daily_summary
from adspipe.meta import defs as meta_defs
from adspipe.resources import ClockResource, WarehouseResource
from adspipe.shopify import defs as shopify_defs

defs = dg.Definitions.merge(
    dg.Definitions(
        assets=[daily_summary],
        resources={"warehouse": WarehouseResource(), "clock": ClockResource()},
    ),
    meta_defs.defs,
    shopify_defs.defs,
)
