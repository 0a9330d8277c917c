"""The seed jobs declare the assets they refresh, so each asset's page lists their schedules and sensors.

The four seed jobs are op jobs (not partitioned: their windows are per connection time zone, and
the fresh jobs follow a cursor) that record runtime materializations for the partitions they
touched. Dagster's UI lists on an asset page the schedules and sensors whose job holds that asset
(`RemoteRepository.get_schedules_targeting`: the asset's `job_names`), and an op job holds none.
Dagster's own mechanism for jobs that materialize assets outside its asset graph, an asset layer
with `external_job_asset_keys` (what `JobDefinition.for_external_job` builds), gives the asset
those job names without making the job an asset job: runs, run config, steps and pools stay as
they are; backfills and the asset page's "Materialize" keep using the implicit asset job.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg
from dagster._core.definitions.assets.job.asset_layer import AssetLayer


def refreshing(job: dg.JobDefinition, asset_keys: Iterable[str]) -> dg.JobDefinition:
    """`job`, declaring that its runs materialize (partitions of) these assets."""
    return job._copy(asset_layer=AssetLayer.for_external_job([dg.AssetKey(k) for k in asset_keys]))


def seed_job(
    name: str,
    op: dg.OpDefinition,
    description: str,
    asset_keys: Iterable[str],
    tags: dict[str, str] | None = None,
) -> dg.JobDefinition:
    """A platform's seed job (`<platform>_7d_fill`, `<platform>_fresh`): its one op, declaring the
    assets it refreshes (so the asset pages list its schedule and sensor)."""

    @dg.job(name=name, tags=tags, description=description)
    def _job() -> None:
        op()

    return refreshing(_job, asset_keys)
