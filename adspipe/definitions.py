"""The adspipe code location: assembles every package's definitions into one.

Only `defs` may be a module-level `Definitions` (Dagster refuses a second one), so the packages'
definitions are imported through their modules. Every platform comes from the registry: a new
platform package is picked up without a change here.
"""

from __future__ import annotations

import dagster as dg

from adspipe.checks.assets import asset_checks, checks_job
from adspipe.marts.assets import daily_summary
from adspipe.orchestration import pool_wait
from adspipe.platform import registry
from adspipe.resources import ClockResource, WarehouseResource
from adspipe.settings import run_executor

pool_wait.apply()  # run workers load this module: their steps wait for pool slots without spinning

defs = dg.Definitions.merge(
    dg.Definitions(
        assets=[daily_summary],
        asset_checks=asset_checks,
        jobs=[checks_job],
        resources={"warehouse": WarehouseResource(), "clock": ClockResource()},
        executor=dg.in_process_executor if run_executor() == "in_process" else dg.multiprocess_executor,
    ),
    *(spec.definitions().as_definitions() for spec in registry.platforms()),
)
