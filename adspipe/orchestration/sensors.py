"""New-connection sensors: every new or re-authorized connection gets its 7-day fill, once.

"Once" holds twice over: the run key names the connection and its authorization instant (Dagster
never launches a run key twice for a sensor), and a connection whose fill already succeeded
after that authorization is skipped (so a reset sensor does not refill).

Without flooding the run queue: a tick requests fills only while fewer than the run queue's
`max_concurrent_runs` of this sensor's fills are queued or running (oldest connections first),
so 400 connections made at once (`adspipe connect --from-file`) enter the queue a few at a time
and leave room for the schedules' runs. A run key already launched is not requested again.
"""

import warnings
from datetime import datetime

import dagster as dg
import sqlalchemy as sa
from dagster import SensorEvaluationContext
from dagster._core.storage.tags import RUN_KEY_TAG
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
TRIGGER_TAG, TRIGGER = "adspipe/trigger", "new_connection"
DEFAULT_FILLS_IN_FLIGHT = 4  # when the instance has no run queue limit (an ephemeral instance)
_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
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


def fills_in_flight_limit(instance: dg.DagsterInstance) -> int:
    """The run queue's `max_concurrent_runs` (the most runs it starts at once), else the default."""
    queue = instance.get_concurrency_config().run_queue_config
    limit = queue.max_concurrent_runs if queue is not None else -1
    return limit if limit > 0 else DEFAULT_FILLS_IN_FLIGHT


def _launched(instance: dg.DagsterInstance, job: str) -> tuple[set[str], int]:
    """The run keys of this job's new-connection fills, and how many of them are still active."""
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=job, tags={TRIGGER_TAG: TRIGGER}))
    keys = {r.tags[RUN_KEY_TAG] for r in runs if RUN_KEY_TAG in r.tags}
    return keys, sum(1 for r in runs if r.status in _ACTIVE)


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
        launched, active = _launched(context.instance, fill_job.name)
        room = max(0, fills_in_flight_limit(context.instance) - active)
        pending = sorted(
            pending_fills(warehouse.engine(), platform, fill_job.name),
            key=lambda c: (c.authorized_at, c.connection_id),
        )
        keyed = [(fill_run_key(platform, c.connection_id, c.authorized_at), c) for c in pending]
        requests = [
            dg.RunRequest(
                run_key=key,
                run_config={"ops": {op_name: {"config": {"connection_id": c.connection_id}}}},
                tags={CONNECTION_TAG: str(c.connection_id), TRIGGER_TAG: TRIGGER},
            )
            for key, c in keyed
            if key not in launched
        ][:room]
        return dg.SensorResult(run_requests=requests)

    return _sensor
