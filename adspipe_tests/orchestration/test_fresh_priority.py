"""Fresh stays fresh during a backfill: the seed jobs' run priority wins the pool's slot over
queued backfill steps, and a pooled platform's backfill runs hold the slot for a bounded number
of days (adspipe/platform/assets.py, docs/architecture.md "Fresh runs first")."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext

from adspipe import settings
from adspipe.definitions import defs
from adspipe.meta.assets import meta_7d_fill, meta_fresh, meta_insights
from adspipe.orchestration import pool_wait
from adspipe.platform import registry
from adspipe_tests.conftest import PG_ADMIN_URL
from adspipe_tests.scratch_pg import scratch_database

ROOT = Path(__file__).resolve().parents[2]
POOL = "meta_api"
CHAIN_STEP = meta_insights.op.name  # a Meta backfill run's one API step


@pytest.fixture
def instance(pg_database_url: str) -> Iterator[dg.DagsterInstance]:
    """A Dagster instance as deployed: Postgres storage (its pending claims are timestamped to the
    microsecond; SQLite's to the second, which ties claims made in one second) and the pools of
    dagster.yaml (op granularity, limit 1)."""
    concurrency = yaml.safe_load((ROOT / "dagster.yaml").read_text())["concurrency"]
    with (
        scratch_database(PG_ADMIN_URL, "dagster_priority", drivername="postgresql") as url,
        dg.instance_for_test(
            overrides={"storage": {"postgres": {"postgres_url": url}}, "concurrency": concurrency}
        ) as inst,
    ):
        assert inst.event_log_storage.supports_global_concurrency_limits
        yield inst


def _run(
    instance: dg.DagsterInstance, job: dg.JobDefinition | None, tags: Mapping[str, str]
) -> dg.DagsterRun:
    # The tags a launched run gets from its job (what the launch GraphQL and the schedules merge in).
    job_tags = dict(job.run_tags) if job is not None else {}
    return instance.create_run_for_job(meta_fresh if job is None else job, tags={**job_tags, **tags})


def _claim(context: InstanceConcurrencyContext, step: str) -> bool:
    # A waiting step re-checks its claim every 0.5 s (pool_wait): wait that out, then ask again.
    time.sleep(pool_wait.recheck_interval(None, 0) + 0.05)
    return context.claim(POOL, step)


def _grant_order(instance: dg.DagsterInstance, claims: list[tuple[dg.DagsterRun, str]]) -> list[str]:
    """The first (run, step) takes the pool's one slot, the others then claim it in this order;
    the slot is freed again and again: the run ids in the order the waiting steps got it."""
    with ExitStack() as stack:
        contexts = [stack.enter_context(InstanceConcurrencyContext(instance, run)) for run, _ in claims]
        assert contexts[0].claim(POOL, claims[0][1])
        assert not any(ctx.claim(POOL, step) for ctx, (_, step) in zip(contexts[1:], claims[1:], strict=True))
        waiting = dict(zip(range(1, len(claims)), contexts[1:], strict=True))
        order, holding = [], 0
        while waiting:
            instance.event_log_storage.free_concurrency_slot_for_step(
                claims[holding][0].run_id, claims[holding][1]
            )
            granted = [i for i, ctx in waiting.items() if _claim(ctx, claims[i][1])]
            assert len(granted) == 1, granted  # the limit holds: one step at a time
            holding = granted[0]
            claimed = instance.event_log_storage.get_concurrency_info(POOL).claimed_slots
            assert [slot.run_id for slot in claimed] == [claims[holding][0].run_id]
            order.append(claims[holding][0].run_id)
            del waiting[holding]
        return order


def test_a_fresh_step_gets_the_slot_before_the_queued_backfill_steps_and_the_fill(
    instance: dg.DagsterInstance,
) -> None:
    backfill = {"dagster/backfill": "b1"}  # a backfill run: no priority tag (Dagster's 0)
    holder, queued, fill, fresh = (
        _run(instance, None, backfill), _run(instance, None, backfill),
        _run(instance, meta_7d_fill, {}), _run(instance, meta_fresh, {}),
    )  # fmt: skip
    priorities = [r.tags.get("dagster/priority", "0") for r in (holder, queued, fill, fresh)]
    assert priorities == ["0", "0", "5", "10"]
    # Claimed in this order while a backfill step holds the one slot.
    order = _grant_order(
        instance,
        [(holder, CHAIN_STEP), (queued, CHAIN_STEP), (fill, "meta_7d_fill_op"), (fresh, "meta_fresh_op")],
    )
    # Highest priority first, although the backfill's next step claimed first.
    assert order == [fresh.run_id, fill.run_id, queued.run_id]


def test_without_priorities_the_slot_goes_in_submission_order(instance: dg.DagsterInstance) -> None:
    """The control: what the fresh run met before its priority (it waited behind every queued step),
    and what the backfill's own runs keep among themselves (oldest first)."""
    holder, queued, later, fresh = (_run(instance, None, {"dagster/backfill": "b1"}) for _ in range(4))
    order = _grant_order(
        instance, [(holder, CHAIN_STEP), (queued, CHAIN_STEP), (later, CHAIN_STEP), (fresh, "meta_fresh_op")]
    )
    assert order == [queued.run_id, later.run_id, fresh.run_id]


def test_every_seed_job_runs_above_backfills_and_fresh_above_fill() -> None:
    assert settings.FRESH_RUN_PRIORITY > settings.FILL_RUN_PRIORITY > 0
    for spec in registry.platforms():
        fill, fresh = defs.resolve_job_def(spec.fill_job), defs.resolve_job_def(spec.fresh_job)
        assert fill.run_tags["dagster/priority"] == str(settings.FILL_RUN_PRIORITY), spec.name
        assert fresh.run_tags["dagster/priority"] == str(settings.FRESH_RUN_PRIORITY), spec.name
    # The backfills' runs (the implicit asset job) carry no priority: Dagster's 0.
    assert "dagster/priority" not in defs.resolve_implicit_global_asset_job_def().run_tags


def test_a_pooled_chain_holds_the_slot_for_at_most_the_pooled_days_per_run() -> None:
    pooled = settings.DEFAULT_POOLED_BACKFILL_DAYS_PER_RUN
    assert pooled < settings.DEFAULT_BACKFILL_DAYS_PER_RUN
    chains = {spec.asset_op: spec for spec in registry.platforms()}
    seen = set()
    for assets in defs.resolve_asset_graph().assets_defs:
        spec = chains.get(assets.op.name) if assets.is_executable and assets.node_def is not None else None
        if spec is None:
            continue
        seen.add(spec.name)
        expected = pooled if spec.pool is not None else settings.DEFAULT_BACKFILL_DAYS_PER_RUN
        assert assets.backfill_policy == dg.BackfillPolicy.multi_run(max_partitions_per_run=expected), (
            spec.name
        )
    assert "meta" in seen and registry.get("meta").pool == POOL
    assert seen == set(registry.names())


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, (7, 30)),
        ({"ADSPIPE_POOLED_BACKFILL_DAYS_PER_RUN": "3"}, (3, 30)),
        # Never more than the general setting: the cap only ever shortens a run.
        ({"ADSPIPE_POOLED_BACKFILL_DAYS_PER_RUN": "20", "ADSPIPE_BACKFILL_DAYS_PER_RUN": "5"}, (5, 5)),
        ({"ADSPIPE_BACKFILL_DAYS_PER_RUN": "4"}, (4, 4)),
    ],
)
def test_pooled_days_per_run_setting(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: tuple[int, int]
) -> None:
    for name in ("ADSPIPE_POOLED_BACKFILL_DAYS_PER_RUN", "ADSPIPE_BACKFILL_DAYS_PER_RUN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert (
        settings.platform_backfill_days_per_run(pooled=True),
        settings.platform_backfill_days_per_run(pooled=False),
    ) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("seven", "must be a whole number of days, got 'seven'"),
        ("0", "must be between 1 and 366, got 0"),
        ("400", "must be between 1 and 366, got 400"),
        ("-2", "must be between 1 and 366, got -2"),
    ],
)
def test_a_bad_pooled_days_per_run_is_refused(
    monkeypatch: pytest.MonkeyPatch, raw: str, message: str
) -> None:
    monkeypatch.setenv("ADSPIPE_POOLED_BACKFILL_DAYS_PER_RUN", raw)
    with pytest.raises(settings.SettingsError, match=f"ADSPIPE_POOLED_BACKFILL_DAYS_PER_RUN {message}"):
        settings.pooled_backfill_days_per_run()
