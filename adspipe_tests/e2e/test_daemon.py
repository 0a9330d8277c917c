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


def _in_progress(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    statuses = [dg.DagsterRunStatus[s] for s in ("QUEUED", "NOT_STARTED", "STARTING", "STARTED")]
    return list(instance.get_runs(filters=dg.RunsFilter(statuses=statuses)))


def _slot_holder(instance: dg.DagsterInstance) -> str | None:
    claimed = instance.event_log_storage.get_concurrency_info("meta_api").claimed_slots
    return claimed[0].run_id if claimed else None


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
        _wait("earlier runs to end", lambda: not _in_progress(instance), 240, deployment.stack)
    run_ids = [api.launch_job("meta_fresh", {}, {"adspipe/test": "pool"}) for _ in range(4)]
    with deployment.stack.instance() as instance:
        # Kill the run that holds the pool slot, mid page loop.
        def holder() -> str | None:
            return _slot_holder(instance)

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


def _step_times(instance: dg.DagsterInstance, run_id: str, step: str) -> tuple[float, float]:
    """When the run's API step (its other steps are the asset checks) started, holding the pool's
    slot from then, and ended."""
    ends = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
    events = [e for e in instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_START, *ends})
              if e.step_key == step]  # fmt: skip
    start = [e.timestamp for e in events if e.dagster_event_type == dg.DagsterEventType.STEP_START]
    end = [e.timestamp for e in events if e.dagster_event_type in ends]
    assert len(start) == 1 and len(end) == 1, (run_id, len(start), len(end))
    return start[0], end[0]


def test_fresh_stays_fresh_during_a_long_meta_backfill(deployment: Deployment) -> None:
    """meta_fresh launched while a 28-day Meta backfill holds meta_api: it passes the backfill's
    queued runs (its `dagster/priority`) and waits only for the runs already holding or claiming
    the slot, each at most ADSPIPE_POOLED_BACKFILL_DAYS_PER_RUN days long."""
    store = _store(deployment.sim, 1)  # a store no other test connects
    account = str(store["ad_accounts"][0]["id"])  # type: ignore[index]
    with deployment.stack.instance() as instance:
        fills = len(_runs(instance, "meta_7d_fill"))
        added = deployment.cli("connect", "meta", "--store", str(store["name"]), "--ad-account", account,
                               "--token-env", TOKEN_ENV, "--attribution-window-days", "3")  # fmt: skip
        assert added.returncode == 0, added.stderr
        connection = int(added.stdout.split("as connection ")[1].split()[0])
        # The new account's 7-day fill (its sensor) ends first: only the backfill and fresh compete.
        _wait("the new account's 7-day fill",
              lambda: len(_runs(instance, "meta_7d_fill")) > fills and not _in_progress(instance), 180, deployment.stack)  # fmt: skip
    deployment.sim.faults.update(meta_latency_s=0.4)  # a day ≈ 0.8 s of Meta calls: a 7-day step ≈ 6 s
    first, last = date(2026, 2, 1), date(2026, 2, 28)
    started = deployment.cli(
        "sync", "meta", "--from", str(first), "--to", str(last), "--connection", str(connection)
    )
    assert started.returncode == 0, started.stdout + started.stderr
    backfill_id = started.stdout.split("(backfill ")[1].split(")")[0]
    api = DagsterApi(deployment.stack.url)
    with deployment.stack.instance() as instance:

        def backfill_runs() -> list[dg.DagsterRun]:
            return list(instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id})))

        def first_run_holds() -> bool:  # the first 7 days' run holds meta_api
            held = [r for r in backfill_runs() if r.run_id == _slot_holder(instance)]
            return bool(held) and held[0].tags["dagster/asset_partition_range_start"] == str(first)

        _wait("the backfill's first run to hold meta_api", first_run_holds, 180, deployment.stack)
        fresh = api.launch_job("meta_fresh", {"ops": {"meta_fresh_op": {"config": {"connection_id": connection}}}},
                               {"adspipe/test": "fresh-during-backfill"})  # fmt: skip
        _wait("the backfill and the fresh run to end",
              lambda: len(backfill_runs()) == 4 and all(r.is_finished for r in backfill_runs())
              and instance.get_run_by_id(fresh).is_finished, 300, deployment.stack)  # type: ignore[union-attr]  # fmt: skip
        fresh_record = instance.get_run_record_by_id(fresh)
        assert fresh_record is not None
        assert fresh_record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        assert fresh_record.dagster_run.tags["dagster/priority"] == "10"  # from the job, through the launch
        launched_at = fresh_record.create_timestamp.timestamp()
        fresh_start, _ = _step_times(instance, fresh, "meta_fresh_op")
        runs = backfill_runs()
        assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * 4
        steps = {r.run_id: _step_times(instance, r.run_id, "meta_insights") for r in runs}
        ranges = sorted((r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
                        for r in runs)  # fmt: skip
    # 28 days in runs of at most 7 (ADSPIPE_POOLED_BACKFILL_DAYS_PER_RUN), oldest first.
    assert ranges == [
        (str(first + timedelta(days=7 * i)), str(first + timedelta(days=7 * i + 6))) for i in range(4)
    ]
    by_start = sorted(steps.values())
    assert [s[0] for s in by_start] == [steps[r.run_id][0] for r in sorted(
        runs, key=lambda r: r.tags["dagster/asset_partition_range_start"])]  # fmt: skip
    # The fresh step ran before the backfill runs still queued when it was launched: at most the
    # holder and the one run the queue's buffer had started took the slot in between.
    before_fresh = [s for s in by_start if launched_at < s[0] < fresh_start]
    after_fresh = [s for s in by_start if s[0] > fresh_start]
    assert len(before_fresh) <= 1 and len(after_fresh) >= 2, (launched_at, fresh_start, by_start)
    # Its wait: what was left of the holder's step plus at most one more backfill step, each a
    # bounded run (≤ 7 days) instead of the whole backfill.
    longest_step = max(end - start for start, end in steps.values())
    waited = fresh_start - launched_at
    assert waited <= 2 * longest_step + 10, (waited, longest_step)  # + one run start-up (≤ 10 s)
    _no_overlap(deployment.sim.request_log("meta"))
    compared, diffs = meta_differences(deployment.engine(), deployment.sim.truth, account, first, last)
    assert compared == 28 and diffs == [], diffs[:5]
    deployment.sim.faults.update(meta_latency_s=META_LATENCY_S)
    print(
        f"meta_fresh waited {waited:.1f} s for meta_api; the longest backfill step held it {longest_step:.1f} s"
    )
