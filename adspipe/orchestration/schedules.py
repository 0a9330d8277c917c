"""Fresh schedules: shopify_fresh every 15 minutes (15-30), meta_fresh hourly (1-2 h).

A tick is skipped while a run of the same job is queued or in progress, and every scheduled run
carries the `adspipe/schedule` tag that dagster.yaml limits to one at a time per job.
"""

import os

import dagster as dg
from dagster import ScheduleEvaluationContext

SHOPIFY_FRESH_MINUTES_ENV = "ADSPIPE_SHOPIFY_FRESH_MINUTES"
META_FRESH_HOURS_ENV = "ADSPIPE_META_FRESH_HOURS"
SCHEDULES_STATUS_ENV = "ADSPIPE_SCHEDULES"  # "running" (default) or "stopped"
SCHEDULE_TAG = "adspipe/schedule"

_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def _setting(name: str, default: int, low: int, high: int, unit: str) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a whole number of {unit} (got {raw!r})") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high} {unit} (got {value})")
    return value


def shopify_fresh_cron() -> str:
    return f"*/{_setting(SHOPIFY_FRESH_MINUTES_ENV, 15, 15, 30, 'minutes')} * * * *"


def meta_fresh_cron() -> str:
    return f"0 */{_setting(META_FRESH_HOURS_ENV, 1, 1, 2, 'hours')} * * *"


def _default_status() -> dg.DefaultScheduleStatus:
    stopped = os.environ.get(SCHEDULES_STATUS_ENV, "running").strip().lower() == "stopped"
    return dg.DefaultScheduleStatus.STOPPED if stopped else dg.DefaultScheduleStatus.RUNNING


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
