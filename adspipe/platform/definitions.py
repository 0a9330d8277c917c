"""A platform's Dagster objects, assembled the same way for every platform from its spec."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from adspipe.orchestration.schedules import build_fresh_schedule, cron_every
from adspipe.orchestration.sensors import build_new_connection_sensor
from adspipe.platform.registry import PlatformSpec


@dataclass(frozen=True)
class PlatformDefinitions:
    """The partitioned asset chain, the two seed jobs, the fresh schedule, the new-connection
    sensor and the API resource of one platform."""

    spec: PlatformSpec
    assets: Sequence[dg.AssetsDefinition]
    fill_job: dg.JobDefinition
    fresh_job: dg.JobDefinition
    schedules: Sequence[dg.ScheduleDefinition]
    sensors: Sequence[dg.SensorDefinition]
    resources: Mapping[str, Any]

    def as_definitions(self) -> dg.Definitions:
        return dg.Definitions(
            assets=list(self.assets),
            jobs=[self.fill_job, self.fresh_job],
            schedules=list(self.schedules),
            sensors=list(self.sensors),
            resources=dict(self.resources),
        )


def platform_definitions(
    spec: PlatformSpec,
    *,
    assets: Sequence[dg.AssetsDefinition],
    fill_job: dg.JobDefinition,
    fresh_job: dg.JobDefinition,
    resources: Mapping[str, Any],
) -> PlatformDefinitions:
    """The spec's jobs must carry the spec's names: the CLI launches them by name without
    importing the definitions."""
    if (fill_job.name, fresh_job.name) != (spec.fill_job, spec.fresh_job):
        raise ValueError(f"{spec.name}: jobs must be named {spec.fill_job} and {spec.fresh_job}")
    return PlatformDefinitions(
        spec=spec,
        assets=assets,
        fill_job=fill_job,
        fresh_job=fresh_job,
        schedules=[build_fresh_schedule(fresh_job, cron_every(spec.fresh_interval()))],
        sensors=[build_new_connection_sensor(spec.name, fill_job)],
        resources=resources,
    )
