"""Fresh schedules: shopify_fresh every 15 minutes (15-30), meta_fresh hourly (1-2 h).

A tick is skipped while a run of the same job is queued or in progress, and every scheduled run
carries the `adspipe/schedule` tag that dagster.yaml limits to one at a time per job.
"""

from datetime import timedelta

import dagster as dg
from dagster import ScheduleEvaluationContext

from adspipe import settings
from adspipe.settings import META_FRESH_HOURS_ENV, SCHEDULES_STATUS_ENV, SHOPIFY_FRESH_MINUTES_ENV

__all__ = [
    "META_FRESH_HOURS_ENV",
    "SCHEDULES_STATUS_ENV",
    "SHOPIFY_FRESH_MINUTES_ENV",
    "build_fresh_schedule",
]

SCHEDULE_TAG = "adspipe/schedule"

_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def cron_every(interval: timedelta) -> str:
    """The cron line of a fresh schedule: every N minutes below an hour, else every N hours."""
    minutes = int(interval.total_seconds() // 60)
    if minutes < 60:
        return f"*/{minutes} * * * *"
    return f"0 */{minutes // 60} * * *"


def shopify_fresh_cron() -> str:
    return cron_every(timedelta(minutes=settings.shopify_fresh_minutes()))


def meta_fresh_cron() -> str:
    return cron_every(timedelta(hours=settings.meta_fresh_hours()))


def _default_status() -> dg.DefaultScheduleStatus:
    running = settings.schedules_running()
    return dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED


def build_fresh_schedule(job: dg.JobDefinition, cron: str) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=f"{job.name}_schedule",
        job=job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=_default_status(),
        description=f"Runs {job.name} for every active connection ({cron}); skips while one is still running.",
    )
    def _schedule(context: ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        active = context.instance.get_run_records(
            filters=dg.RunsFilter(job_name=job.name, statuses=_ACTIVE), limit=1
        )
        if active:
            return dg.SkipReason(
                f"{job.name} run {active[0].dagster_run.run_id} is still {active[0].dagster_run.status.value}"
            )
        return dg.RunRequest(tags={SCHEDULE_TAG: job.name})

    return _schedule
