"""The adspipe code location: assembles every package's definitions into one.

Only `defs` may be a module-level `Definitions` (Dagster refuses a second one), so the packages'
definitions are imported through their modules.
"""

from __future__ import annotations

import dagster as dg

from adspipe.checks.assets import asset_checks, checks_job
from adspipe.marts.assets import daily_summary
from adspipe.meta import assets as meta_assets
from adspipe.meta import defs as meta_defs
from adspipe.orchestration import pool_wait
from adspipe.orchestration.schedules import build_fresh_schedule, meta_fresh_cron, shopify_fresh_cron
from adspipe.orchestration.sensors import build_new_connection_sensor
from adspipe.resources import ClockResource, WarehouseResource
from adspipe.settings import run_executor
from adspipe.shopify import assets as shopify_assets
from adspipe.shopify import defs as shopify_defs

pool_wait.apply()  # run workers load this module: their steps wait for pool slots without spinning

defs = dg.Definitions.merge(
    dg.Definitions(
        assets=[daily_summary],
        asset_checks=asset_checks,
        jobs=[checks_job],
        sensors=[
            build_new_connection_sensor("shopify", shopify_assets.shopify_7d_fill_job),
            build_new_connection_sensor("meta", meta_assets.meta_7d_fill),
        ],
        schedules=[
            build_fresh_schedule(shopify_assets.shopify_fresh_job, shopify_fresh_cron()),
            build_fresh_schedule(meta_assets.meta_fresh, meta_fresh_cron()),
        ],
        resources={"warehouse": WarehouseResource(), "clock": ClockResource()},
        executor=dg.in_process_executor if run_executor() == "in_process" else dg.multiprocess_executor,
    ),
    meta_defs.defs,
    shopify_defs.defs,
)
