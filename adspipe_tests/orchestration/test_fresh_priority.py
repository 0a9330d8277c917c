"""Fresh stays fresh during a backfill: the seed jobs' run priority wins the pool's slot over
queued backfill steps, and a pooled platform's backfill runs hold the slot for a bounded number
of days (adspipe/platform/assets.py, docs/architecture.md "Fresh runs first")."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
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


def test_a_fresh_step_gets_the_slot_before_the_queued_backfill_steps_and_the_fill(
    instance: dg.DagsterInstance,
) -> None:
    backfill = {"dagster/backfill": "b1"}  # a backfill run: no priority tag (Dagster's 0)
    holder, queued, fill, fresh = (
        _run(instance, None, backfill), _run(instance, None, backfill),
        _run(instance, meta_7d_fill, {}), _run(instance, meta_fresh, {}),
    )  # fmt: skip
    assert [r.tags.get("dagster/priority", "0") for r in (holder, queued, fill, fresh)] == [
        "0",
        "0",
        "5",
        "10",
    ]
    with (
        InstanceConcurrencyContext(instance, holder) as holding,
        InstanceConcurrencyContext(instance, queued) as waiting,
        InstanceConcurrencyContext(instance, fill) as filling,
        InstanceConcurrencyContext(instance, fresh) as freshening,
    ):
        assert holding.claim(POOL, CHAIN_STEP)
        # Submitted in this order while the backfill step holds the one slot: all three wait.
        assert not waiting.claim(POOL, CHAIN_STEP)
        assert not filling.claim(POOL, "meta_7d_fill_op")
        assert not freshening.claim(POOL, "meta_fresh_op")

        def holder_of_slot() -> str:
            claimed = instance.event_log_storage.get_concurrency_info(POOL).claimed_slots
            assert len(claimed) == 1
            return claimed[0].run_id

        order = []
        for run, step in ((holder, CHAIN_STEP), (None, ""), (None, ""), (None, "")):
            if run is not None:
                instance.event_log_storage.free_concurrency_slot_for_step(run.run_id, step)
            granted = [
                (r, s) for ctx, r, s in (
                    (waiting, queued, CHAIN_STEP), (filling, fill, "meta_7d_fill_op"),
                    (freshening, fresh, "meta_fresh_op"),
                ) if s not in ctx._claims and _claim(ctx, s)
            ]  # fmt: skip
            assert len(granted) == 1, granted  # the limit holds: one step at a time
            ((run_got, step_got),) = granted
            assert holder_of_slot() == run_got.run_id
            order.append(run_got.run_id)
            instance.event_log_storage.free_concurrency_slot_for_step(run_got.run_id, step_got)
            if len(order) == 3:
                break
    # Highest priority first, although the backfill step queued first; equal priorities (the
    # backfill's runs among themselves) keep submission order.
    assert order == [fresh.run_id, fill.run_id, queued.run_id]


def test_without_priorities_the_slot_goes_in_submission_order(instance: dg.DagsterInstance) -> None:
    """The control: what the fresh run met before its priority (it waited behind every queued step)."""
    holder, queued, fresh = (_run(instance, None, {"dagster/backfill": "b1"}) for _ in range(3))
    with (
        InstanceConcurrencyContext(instance, holder) as holding,
        InstanceConcurrencyContext(instance, queued) as waiting,
        InstanceConcurrencyContext(instance, fresh) as freshening,
    ):
        assert holding.claim(POOL, CHAIN_STEP)
        assert not waiting.claim(POOL, CHAIN_STEP)
        assert not freshening.claim(POOL, "meta_fresh_op")
        instance.event_log_storage.free_concurrency_slot_for_step(holder.run_id, CHAIN_STEP)
        assert not _claim(freshening, "meta_fresh_op")
        assert _claim(waiting, CHAIN_STEP)


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
