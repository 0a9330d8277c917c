"""End to end on a real Dagster: webserver + daemon subprocesses on a Postgres instance, the
simulator, the warehouse on Postgres, and the `adspipe` CLI as a user runs it.

Slow (a few minutes): `bash scripts/test.sh -m slow`. One deployment serves the whole module;
the tests run in file order and each starts from what the previous one left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import sqlalchemy as sa

from adspipe.orchestration.dagster_api import DagsterApi
from adspipe.orchestration.launcher import worker_pid
from adspipe.simulator.clock import SimClock
from adspipe.simulator.compare import meta_differences, orders_differences
from adspipe.simulator.faults import Faults
from adspipe.simulator.server import RequestRecord, Simulator, overlapping, run_simulator
from adspipe.warehouse import db
from adspipe_tests.e2e.stack import DagsterStack, dagster_stack

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(900)]

ADSPIPE = str(Path(sys.executable).with_name("adspipe"))
# A frozen simulator clock: the truth the warehouse is compared with does not move under the test.
NOW = datetime(2026, 6, 15, 15, 0, tzinfo=UTC)
TOKEN_ENV = "E2E_TOKEN"
META_LATENCY_S = 0.05  # long enough that two overlapping Meta calls would show in the request log


@dataclass
class Deployment:
    stack: DagsterStack
    sim: Simulator
    warehouse_url: str
    env: dict[str, str]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ADSPIPE, *args], env=self.env, capture_output=True, text=True, timeout=600, check=False
        )

    def engine(self) -> sa.engine.Engine:
        return db.get_engine(self.warehouse_url)


def _wait(what: str, done: Callable[[], bool], timeout_s: float, stack: DagsterStack) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}\n{stack.logs()}")
        time.sleep(1)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    pg_admin = os.environ.get("ADSPIPE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    admin = sa.create_engine(pg_admin, isolation_level="AUTOCOMMIT")
    name = f"adspipe_e2e_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    warehouse_url = sa.make_url(pg_admin).set(database=name).render_as_string(hide_password=False)
    sim = Simulator(
        seed=7, stores=3, clock=SimClock(NOW, speed=0), faults=Faults(meta_latency_s=META_LATENCY_S)
    )
    try:
        with run_simulator(sim) as handle:
            env = {
                **os.environ,
                **handle.env(),
                "ADSPIPE_DATABASE_URL": warehouse_url,
                TOKEN_ENV: "sim-token",
                "ADSPIPE_SCHEDULES": "stopped",  # the fresh schedules would race the assertions
                "ADSPIPE_PARTITIONS_START": "2025-01-01",
            }
            home = tmp_path_factory.mktemp("dagster_home")
            with dagster_stack(pg_admin, home, env) as stack:
                deployment = Deployment(stack, sim, warehouse_url, {**env, "ADSPIPE_DAGSTER_URL": stack.url})
                assert deployment.cli("db", "upgrade").returncode == 0
                yield deployment
    finally:
        db.get_engine(warehouse_url).dispose()
        db.get_engine.cache_clear()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _store(sim: Simulator, index: int) -> dict[str, object]:
    store: dict[str, object] = sim.world.describe()["stores"][index]
    return store


def _runs(instance: dg.DagsterInstance, job: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(job_name=job)))


def _no_overlap(log: list[RequestRecord]) -> None:
    overlaps = overlapping(log)
    assert overlaps == [], f"{len(overlaps)} Meta requests overlapped another one"


def test_a_new_store_gets_its_7_day_fill_once(deployment: Deployment) -> None:
    store = _store(deployment.sim, 2)  # one shop, one ad account
    accounts = store["ad_accounts"]
    assert isinstance(accounts, list) and len(accounts) == 1
    shop, account = str(store["shop_domain"]), str(accounts[0]["id"])
    name = str(store["name"])
    assert (
        deployment.cli(
            "connect", "shopify", "--store", name, "--shop", shop, "--token-env", TOKEN_ENV
        ).returncode
        == 0
    )
    assert (
        deployment.cli(
            "connect", "meta", "--store", name, "--ad-account", account, "--token-env", TOKEN_ENV
        ).returncode
        == 0
    )

    with deployment.stack.instance() as instance:
        # The sensors tick every 30 s: both fills start within one interval (plus the daemon's slack).
        _wait("the two 7-day fills", lambda: all(_runs(instance, j) for j in ("shopify_7d_fill", "meta_7d_fill")),
              75, deployment.stack)  # fmt: skip
        _wait("the fills to finish",
              lambda: all(r.is_finished for j in ("shopify_7d_fill", "meta_7d_fill") for r in _runs(instance, j)),
              180, deployment.stack)  # fmt: skip
        for job in ("shopify_7d_fill", "meta_7d_fill"):
            runs = _runs(instance, job)
            assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS], job
            assert runs[0].tags["adspipe/trigger"] == "new_connection"
        # Two more sensor intervals: no second fill.
        time.sleep(65)
        assert [len(_runs(instance, j)) for j in ("shopify_7d_fill", "meta_7d_fill")] == [1, 1]

    engine = deployment.engine()
    local_today = NOW.date()
    compared, diffs = orders_differences(
        engine, deployment.sim.truth, shop, local_today - timedelta(days=6), local_today - timedelta(days=1)
    )
    assert compared > 50 and diffs == []
    account_today = NOW.astimezone(ZoneInfo(str(accounts[0]["timezone"]))).date()  # the account's own today
    compared, diffs = meta_differences(
        engine,
        deployment.sim.truth,
        account,
        account_today - timedelta(days=7),
        account_today - timedelta(days=1),
    )
    assert compared == 7 and diffs == []


def test_sync_meta_30_days_runs_serially_in_date_order_and_equals_truth(deployment: Deployment) -> None:
    # Two more accounts (another store, two time zones): their sensor fills, a meta_fresh run and
    # the 30-day backfill all compete for Meta at once; the pool must keep the calls serial.
    other = _store(deployment.sim, 0)
    extra_accounts = [str(a["id"]) for a in other["ad_accounts"]]  # type: ignore[attr-defined]
    for extra in extra_accounts:
        added = deployment.cli(
            "connect", "meta", "--store", str(other["name"]), "--ad-account", extra, "--token-env", TOKEN_ENV
        )
        assert added.returncode == 0, added.stderr
    account = str(_store(deployment.sim, 2)["ad_accounts"][0]["id"])  # type: ignore[index]
    first, last = date(2026, 5, 1), date(2026, 5, 30)
    deployment.sim.reset_stats()
    fresh_run = DagsterApi(deployment.stack.url).launch_job("meta_fresh", {}, {"adspipe/test": "together"})
    done = deployment.cli("sync", "meta", "--from", str(first), "--to", str(last), "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    # Meta's chain claims the meta_api pool: its runs carry at most ADSPIPE_POOLED_BACKFILL_DAYS_PER_RUN
    # (7) days, so 30 days are a backfill of 5 runs that the fresh run can pass between.
    assert f"Enqueued 30 daily partitions for {first} to {last} (backfill " in done.stdout
    assert "all 30 day(s) materialized" in done.stdout

    with deployment.stack.instance() as instance:
        _wait(
            "the meta_fresh run launched alongside",
            lambda: instance.get_run_by_id(fresh_run).is_finished,  # type: ignore[union-attr]
            300,
            deployment.stack,
        )
        assert instance.get_run_by_id(fresh_run).status == dg.DagsterRunStatus.SUCCESS  # type: ignore[union-attr]
        materialized = instance.get_materialized_partitions(dg.AssetKey("fact_meta_daily"))
    assert {str(first + timedelta(days=i)) for i in range(30)} <= materialized

    log = deployment.sim.request_log("meta")
    _no_overlap(log)  # backfill, fresh run and sensor fills together: never two Meta calls at once
    for acct in [account, *extra_accounts]:
        days = [day for r in log if r.account == acct and (day := r.ad_level_day) is not None]
        in_range = [d for d in days if str(first) <= d <= str(last)]
        assert in_range == sorted(in_range) and len(set(in_range)) == 30, acct  # one call a day, oldest first
        compared, diffs = meta_differences(deployment.engine(), deployment.sim.truth, acct, first, last)
        assert compared == 30 and diffs == [], (acct, diffs[:5])


def test_an_inverted_range_launches_nothing(deployment: Deployment) -> None:
    with deployment.stack.instance() as instance:
        before = len(instance.get_backfills())
    done = deployment.cli("sync", "meta", "--from", "2026-05-10", "--to", "2026-05-01")
    assert done.returncode != 0
    assert "--to 2026-05-01 is before --from 2026-05-10" in done.stdout + done.stderr
    with deployment.stack.instance() as instance:
        assert len(instance.get_backfills()) == before


def test_a_single_day_is_one_partition(deployment: Deployment) -> None:
    done = deployment.cli("sync", "meta", "--from", "2026-04-20", "--to", "2026-04-20", "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    # A range that fits one run is launched as that run directly (no backfill daemon tick).
    assert "for 1 daily partitions, 2026-04-20 to 2026-04-20 (one run" in done.stdout
    run_id = done.stdout.split("Launched run ")[1].split(" ")[0]
    with deployment.stack.instance() as instance:
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags["dagster/asset_partition_range_start"] == "2026-04-20"
        assert run.tags["dagster/asset_partition_range_end"] == "2026-04-20"
        assert run.tags["adspipe/trigger"] == "adspipe-sync"
        assert "2026-04-20" in instance.get_materialized_partitions(dg.AssetKey("fact_meta_daily"))


def test_dagster_cli_materializes_one_partition_as_the_readme_says(deployment: Deployment) -> None:
    store = _store(deployment.sim, 2)
    account = str(store["ad_accounts"][0]["id"])  # type: ignore[index]
    dagster = str(Path(sys.executable).with_name("dagster"))
    day = "2026-04-02"
    # `dagster asset materialize` takes its target from -m / -f only (dagster 1.13 does not read
    # [tool.dagster] for it, unlike `dagster dev`): the README says so.
    for target in (["-m", "adspipe.definitions"],):
        done = subprocess.run(
            [dagster, "asset", "materialize", *target, "--select",
             "meta_insights_raw,fact_meta_daily,daily_meta_metrics", "--partition", day],
            env=deployment.stack.env | {"ADSPIPE_DAGSTER_URL": deployment.stack.url},
            cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with deployment.stack.instance() as instance:
        assert day in instance.get_materialized_partitions(dg.AssetKey("fact_meta_daily"))
    compared, diffs = meta_differences(
        deployment.engine(), deployment.sim.truth, account, date(2026, 4, 2), date(2026, 4, 2)
    )
    assert compared == 1 and diffs == []


def test_the_pool_holds_under_load_and_a_killed_run_frees_it(deployment: Deployment) -> None:
    deployment.sim.faults.update(meta_latency_s=0.4)  # runs long enough to pile up and to kill one
    deployment.sim.reset_stats()
    api = DagsterApi(deployment.stack.url)
    with deployment.stack.instance() as instance:
        # Runs of earlier tests (the new-connection sensors' fills) end first: the slot's holder
        # below must be one of this test's four runs.
        _wait("earlier runs to end", lambda: not instance.get_runs(filters=dg.RunsFilter(statuses=list(
            dg.DagsterRunStatus.__members__[s] for s in ("QUEUED", "NOT_STARTED", "STARTING", "STARTED"))
        )), 240, deployment.stack)  # fmt: skip
    run_ids = [api.launch_job("meta_fresh", {}, {"adspipe/test": "pool"}) for _ in range(4)]
    with deployment.stack.instance() as instance:
        # Kill the run that holds the pool slot, mid page loop.
        def holder() -> str | None:
            info = instance.event_log_storage.get_concurrency_info("meta_api")
            claimed = [s.run_id for s in info.claimed_slots]
            return claimed[0] if claimed else None

        _wait("a run to claim the meta_api slot", lambda: holder() is not None, 120, deployment.stack)
        victim = holder()
        assert victim in run_ids
        time.sleep(1.5)
        assert victim is not None
        pid = worker_pid(instance, victim)
        assert pid is not None, "the run worker process was not found"
        # A crash takes the worker and its step process with it (as a dying machine or the OOM
        # killer's process group would): SIGKILL both, children first so none is re-parented.
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        for child in children:
            os.kill(int(child), signal.SIGKILL)
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        _wait("the other three runs to finish",
              lambda: all(instance.get_run_by_id(r).is_finished for r in run_ids if r != victim),  # type: ignore[union-attr]
              300, deployment.stack)  # fmt: skip
        _wait("the killed run to be marked failed and its slot freed",
              lambda: instance.get_run_by_id(victim).is_finished and holder() is None,  # type: ignore[union-attr]
              120, deployment.stack)  # fmt: skip
        freed_after = time.monotonic() - killed_at
        statuses = {r: instance.get_run_by_id(r).status for r in run_ids}  # type: ignore[union-attr]
    assert statuses[victim] == dg.DagsterRunStatus.FAILURE
    assert [s for r, s in statuses.items() if r != victim] == [dg.DagsterRunStatus.SUCCESS] * 3
    _no_overlap(deployment.sim.request_log("meta"))
    assert freed_after < 120
    deployment.sim.faults.update(meta_latency_s=META_LATENCY_S)
