"""New-connection sensors: every new or re-authorized connection gets its 7-day fill, once.

"Once" holds twice over: the run key names the connection and its authorization instant (Dagster
never launches a run key twice for a sensor), and a connection whose fill already succeeded
after that authorization is skipped (so a reset sensor does not refill).
"""

import warnings
from datetime import datetime

import dagster as dg
import sqlalchemy as sa
from dagster import SensorEvaluationContext
from sqlalchemy.engine import Engine

from adspipe import settings
from adspipe.orchestration.sync_request import CONNECTION_TAG
from adspipe.resources import WarehouseResource
from adspipe.settings import SENSORS_STATUS_ENV
from adspipe.warehouse import connections as conns
from adspipe.warehouse.schema import sync_runs
from adspipe.warehouse.types import UtcDateTime

# Dagster 1.13 passes `owners=[]` (not None) to SensorDefinition whenever it copies a sensor to
# attach resources, and warns that the beta `owners` parameter is used. Our sensors pass no owners:
# that one warning (and only it) is dropped wherever these sensors are loaded.
warnings.filterwarnings(
    "ignore",
    message=r"Parameter `owners` of initializer `SensorDefinition.__init__`",
    category=dg.BetaWarning,
)

SENSOR_INTERVAL_S = 30
__all__ = ["SENSORS_STATUS_ENV", "build_new_connection_sensor", "fill_run_key", "pending_fills"]


def _default_status() -> dg.DefaultSensorStatus:
    running = settings.sensors_running()
    return dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED


def fill_run_key(platform: str, connection_id: int, authorized_at: datetime) -> str:
    return f"{platform}-7d-fill:{connection_id}:{authorized_at.isoformat()}"


def pending_fills(engine: Engine, platform: str, fill_job: str) -> list[conns.Connection]:
    """Active connections with no successful fill since their last authorization."""
    last_started = sa.type_coerce(sa.func.max(sync_runs.c.started_at), UtcDateTime())
    with engine.connect() as db:
        targets = conns.list_connections(db, platform=platform, active_only=True)
        last_success: dict[int, datetime] = {
            row.connection_id: row.last
            for row in db.execute(
                sa.select(sync_runs.c.connection_id, last_started.label("last"))
                .where(sync_runs.c.job == fill_job, sync_runs.c.status == "success")
                .group_by(sync_runs.c.connection_id)
            )
        }
    return [
        c
        for c in targets
        if c.connection_id not in last_success or last_success[c.connection_id] < c.authorized_at
    ]


def build_new_connection_sensor(platform: str, fill_job: dg.JobDefinition) -> dg.SensorDefinition:
    op_name = fill_job.graph.node_defs[0].name

    @dg.sensor(
        name=f"{platform}_new_connection_sensor",
        job=fill_job,
        minimum_interval_seconds=SENSOR_INTERVAL_S,
        default_status=_default_status(),
        description=f"Launches {fill_job.name} for one {platform} connection when it is connected or re-authorized.",
    )
    def _sensor(context: SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
        requests = [
            dg.RunRequest(
                run_key=fill_run_key(platform, c.connection_id, c.authorized_at),
                run_config={"ops": {op_name: {"config": {"connection_id": c.connection_id}}}},
                tags={CONNECTION_TAG: str(c.connection_id), "adspipe/trigger": "new_connection"},
            )
            for c in pending_fills(warehouse.engine(), platform, fill_job.name)
        ]
        return dg.SensorResult(run_requests=requests)

    return _sensor
