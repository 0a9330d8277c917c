"""The Dagster layer every platform's `assets.py` is built from: the partitioned asset chain (one
multi-asset over daily partitions), the seed jobs' ops and what they yield.

A platform supplies only what is its own: how a step runs its sync (a function of the `Step`),
each day's metadata per asset, the run's totals; the names, descriptions, resource key and pool.
Every step reads its resources by key (`warehouse`, `clock` and the platform's API client).
"""
# No `from __future__ import annotations` here: Dagster compares the `context` annotation itself.

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext, OpExecutionContext
from dagster._core.storage.tags import PRIORITY_TAG  # `dagster/priority`: higher runs first
from sqlalchemy.engine import Engine

from adspipe.marts.metadata import summary_materializations
from adspipe.orchestration.job_assets import seed_job
from adspipe.orchestration.outcome import partition_range_outcome, raise_if_failed
from adspipe.orchestration.partitions import daily_partitions, partition_dates, partitions_start
from adspipe.orchestration.scope import ScopeConfig
from adspipe.platform.engine import SyncResult
from adspipe.platform.registry import PlatformSpec
from adspipe.settings import FILL_RUN_PRIORITY, FRESH_RUN_PRIORITY, platform_backfill_days_per_run

AssetsMetadata = dict[str, dict[str, Any]]  # asset key → one day's metadata
OnDay = Callable[[SyncResult[Any], Any, date], None]


@dataclass(frozen=True)
class Step:
    """What a platform's sync needs from the Dagster step running it."""

    context: OpExecutionContext | AssetExecutionContext
    config: Any  # the step's run config (a ScopeConfig)
    engine: Engine

    @property
    def resources(self) -> Any:
        return self.context.resources

    @property
    def run_id(self) -> str:
        return self.context.run.run_id

    @property
    def log(self) -> Any:
        return self.context.log

    def sync_options(self) -> dict[str, Any]:
        """What every ad platform's sync takes from the step: now, scope, run id, where to log."""
        return {
            "now": self.resources.clock.now(), "connection_id": self.config.connection_id,
            "dagster_run_id": self.run_id, "log": self.log.info,
        }  # fmt: skip


def day_materializations(
    engine: Engine,
    result: SyncResult[Any],
    metadata: Callable[[date, list[Any]], AssetsMetadata],
    keys: Sequence[str],
) -> Iterator[dg.AssetMaterialization]:
    """One runtime materialization per asset and committed date partition (`metadata(day, runs)`:
    each asset's figures of that day over the runs that committed it), then daily_summary's.

    Yielded (not `context.log_event`-ed): events a step yields are kept when it then fails, so
    what did succeed is recorded before the step fails naming the failed connections.
    """
    first = partitions_start()
    touched = result.touched()
    for day, runs in touched.items():
        if day < first:
            continue  # outside the partitions definition: nothing to attach it to
        per_asset = metadata(day, runs)
        for key in keys:
            yield dg.AssetMaterialization(asset_key=key, partition=day.isoformat(), metadata=per_asset[key])
    yield from summary_materializations(engine, list(touched))


Finish = Callable[[OpExecutionContext, Engine, Any], Iterator[dg.AssetMaterialization | dg.Output[None]]]


def job_finish(
    metadata: Callable[[Engine, date, list[Any]], AssetsMetadata],
    run_metadata: Callable[[Any], dict[str, Any]],
    keys: Sequence[str],
) -> Finish:
    """How a seed op ends: each committed day's materializations, the run's totals logged, the
    step failed naming the failed connections (after what did succeed), else its output."""

    def finish(
        context: OpExecutionContext, engine: Engine, result: SyncResult[Any]
    ) -> Iterator[dg.AssetMaterialization | dg.Output[None]]:
        yield from day_materializations(engine, result, lambda day, runs: metadata(engine, day, runs), keys)
        totals = run_metadata(result)
        context.log.info(f"{result.job}: {totals}")
        raise_if_failed(result.report, result.job)
        yield dg.Output(None, metadata=totals)

    return finish


def seed_op(
    name: str,
    description: str,
    client: str,
    run: Callable[[Step], SyncResult[Any]],
    finish: Finish,
    *,
    pool: str | None = None,
    tags: Mapping[str, str] | None = None,
    config_type: type[ScopeConfig] = ScopeConfig,
) -> dg.OpDefinition:
    """A seed job's one op: `run(step)` syncs (resources `warehouse`, `clock` and `client`), then
    `finish` records what it did."""

    @dg.op(
        name=name, description=description, pool=pool, tags=dict(tags) if tags else None,
        out=dg.Out(dg.Nothing), required_resource_keys={"warehouse", "clock", client},
    )  # fmt: skip
    def seed(
        context: OpExecutionContext,
        config: config_type,  # type: ignore[valid-type]
    ) -> Iterator[dg.AssetMaterialization | dg.Output[None]]:
        engine = context.resources.warehouse.engine()
        yield from finish(context, engine, run(Step(context, config, engine)))

    return seed


def chain_specs(*assets: tuple[str, str], **options: Any) -> list[dg.AssetSpec]:
    """The chain's specs from (key, description), raw first: each depends on the one before
    (`options`: the specs' own, e.g. group_name)."""
    return [
        dg.AssetSpec(key, description=description, deps=[assets[i - 1][0]] if i else None, **options)
        for i, (key, description) in enumerate(assets)
    ]


@dataclass(frozen=True)
class SeedJob:
    """One seed job of a platform: how its op syncs, the op's and the job's descriptions."""

    run: Callable[[Step], SyncResult[Any]]
    op_description: str
    job_description: str
    config_type: type[ScopeConfig] = ScopeConfig


def seed_jobs(
    spec: PlatformSpec, finish: Finish, asset_keys: Sequence[str], fill: SeedJob, fresh: SeedJob, *,
    tags: Mapping[str, str] | None = None,
) -> tuple[dg.JobDefinition, dg.JobDefinition]:  # fmt: skip
    """The platform's `<name>_7d_fill` and `<name>_fresh` jobs, each its one op (`<job>_op`, in the
    spec's pool), declaring the assets they refresh (so the asset pages list their automations).

    Each job's runs carry a `dagster/priority` (fresh above fill, both above backfill runs' 0): the
    run queue and the pool's slot go to the higher priority first (docs/architecture.md)."""
    jobs = [
        seed_job(
            name, seed_op(f"{name}_op", seed.op_description, spec.name, seed.run, finish, pool=spec.pool,
                          tags=tags, config_type=seed.config_type),
            seed.job_description, asset_keys, tags={**(tags or {}), PRIORITY_TAG: str(priority)},
        )
        for name, seed, priority in (
            (spec.fill_job, fill, FILL_RUN_PRIORITY), (spec.fresh_job, fresh, FRESH_RUN_PRIORITY)
        )
    ]  # fmt: skip
    return jobs[0], jobs[1]


def daily_asset_chain(
    name: str,
    specs: Sequence[dg.AssetSpec],
    client: str,
    run: Callable[[Step, list[date], OnDay | None], SyncResult[Any]],
    metadata: Callable[[Engine, SyncResult[Any], date], AssetsMetadata],
    run_metadata: Callable[[Any], dict[str, Any]],
    *,
    log_name: str,
    per_day_metadata: bool,
    clock: bool = True,
    pool: str | None = None,
    **options: Any,
) -> dg.AssetsDefinition:
    """A platform's partitioned asset chain (raw → fact → its mart): one multi-asset over the daily
    partitions, a backfill's range in runs of `ADSPIPE_BACKFILL_DAYS_PER_RUN` days; in a `pool`,
    at most `ADSPIPE_POOLED_BACKFILL_DAYS_PER_RUN` (a run holds the pool's slot for all its days).

    `run(step, dates, on_day)` syncs the range; with `per_day_metadata` each day's metadata is taken
    right after it commits (while the next day's call is in flight, bench P1), otherwise once the
    range ends. `options`: the multi-asset's own (group, pool, description)."""
    keys = [spec.key.to_user_string() for spec in specs]

    @dg.multi_asset(
        name=name, specs=list(specs), partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.multi_run(
            max_partitions_per_run=platform_backfill_days_per_run(pooled=pool is not None)
        ),
        required_resource_keys={"warehouse", client} | ({"clock"} if clock else set()), pool=pool, **options,
    )  # fmt: skip
    def chain(context: AssetExecutionContext, config: ScopeConfig) -> Any:
        engine = context.resources.warehouse.engine()
        dates = partition_dates(context)
        per_day: dict[date, AssetsMetadata] = {}

        def on_day(result: SyncResult[Any], run_: Any, day: date) -> None:
            per_day[day] = metadata(engine, result, day)

        result = run(Step(context, config, engine), dates, on_day if per_day_metadata else None)
        context.log.info(f"{log_name}: {run_metadata(result)}")  # the run's totals

        def day_metadata(day: date) -> AssetsMetadata:
            # A day not committed (or not taken as it committed): its figures as they stand.
            return per_day[day] if day in per_day else metadata(engine, result, day)

        yield from partition_range_outcome(context, engine, result, dates, keys, day_metadata)

    return chain


def ad_asset_chain(
    spec: PlatformSpec,
    specs: Sequence[dg.AssetSpec],
    run: Callable[[Step, list[date], OnDay | None], SyncResult[Any]],
    metadata: Callable[[Engine, date, list[Any]], AssetsMetadata],
    run_metadata: Callable[[Any], dict[str, Any]],
    **options: Any,
) -> dg.AssetsDefinition:
    """An ad platform's chain (`spec.asset_op`, in the spec's pool): each day's metadata
    (`metadata(engine, day, runs)`) taken as the day commits, over the accounts that committed it."""
    return daily_asset_chain(
        spec.asset_op, specs, spec.name, run,
        lambda engine, result, day: metadata(engine, day, result.touched().get(day, [])), run_metadata,
        log_name=spec.asset_op, per_day_metadata=True, pool=spec.pool, **options,
    )  # fmt: skip
