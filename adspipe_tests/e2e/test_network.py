"""adspipe across a network boundary, as Dagster's distributed deployment runs it (docs/deploy.md):
the code location is a gRPC server (`dagster api grpc`, the image's command) on one host, the
webserver and the daemon on another, Postgres (instance storage and warehouse) and the simulator on
a third. Each host is a network namespace with its own address on a bridge when the machine allows
it (root, `ip netns`), separate processes on loopback otherwise; the test prints which.

One deployment, steps in order (one test function, so a failure names the step):
1. a Meta backfill launched through the webserver's GraphQL completes; the warehouse equals the
   simulator's truth; no two Meta calls overlapped while the code server's run workers ran;
2. tokens live only where steps run: in the code server and its run workers, not in the webserver
   or the daemon (/proc/<pid>/environ);
3. the code server's host dies mid-run: run monitoring fails that run and frees its meta_api slot;
4. the code server comes back: the workspace reloads over GraphQL and the next run succeeds, with
   the webserver and the daemon never restarted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa
import yaml
from dagster._core.storage.tags import GRPC_INFO_TAG

from adspipe.orchestration.dagster_api import DagsterApi
from adspipe.orchestration.launcher import worker_pid
from adspipe.orchestration.sync_request import BackfillRequest
from adspipe.simulator.clock import SimClock
from adspipe.simulator.compare import meta_differences
from adspipe.simulator.faults import Faults
from adspipe.simulator.server import Simulator, overlapping, run_simulator
from adspipe_tests.e2e.netns import Host, environ_has, namespaces_available, network, process_tree

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(420)]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NOW = datetime(2026, 6, 15, 15, 0, tzinfo=UTC)
TOKEN_ENV = "NET_E2E_META_TOKEN"
FIRST, LAST = date(2026, 5, 1), date(2026, 5, 9)
BUDGET_S = 360  # the whole deployment, start to clean-up
UNREACHABLE_GRACE_S = 15


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return str(found[-1])
    which = shutil.which(name)
    if which is None:
        pytest.fail(f"{name} not found (the PostgreSQL server binaries are needed)", pytrace=False)
    return which


def _base_env() -> dict[str, str]:
    """What every process of the deployment inherits: no setting of this test process leaks in."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "ADSPIPE_MONOTONIC_BASE", "ADSPIPE_FRESH_MACHINE")
    return {k: os.environ[k] for k in keep if k in os.environ}


@dataclass
class Deployment:
    hosts: dict[str, Host]
    sim: Simulator
    token: str
    warehouse_url: str
    instance_url: str
    web_url: str
    home: Path
    code_cmd: list[str]
    code_env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def code(self) -> Host:
        return self.hosts["code"]

    @property
    def control(self) -> Host:
        return self.hosts["control"]

    @property
    def services(self) -> Host:
        return self.hosts["services"]

    def start(self, name: str, host: Host, argv: list[str], env: dict[str, str]) -> None:
        log = (self.home / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            host.command(argv),
            env=env,
            cwd=self.home,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_code_server(self) -> None:
        self.start("code-server", self.code, self.code_cmd, self.code_env)
        # Health-checked from the control host, across the network, as the webserver reaches it.
        port = self.code_cmd[self.code_cmd.index("-p") + 1]
        check = self.control.command(
            [str(BIN / "dagster"), "api", "grpc-health-check", "-h", self.code.addr, "-p", port]
        )
        self.wait(
            "the code server to serve", lambda: subprocess.run(check, capture_output=True).returncode == 0, 90
        )

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name} ---\n" + p.read_text(errors="replace")[-3000:]
            for p in sorted(self.home.glob("*.log"))
        )

    def wait(self, what: str, done: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}\n{self.logs()}")
            time.sleep(0.5)

    def instance(self) -> dg.DagsterInstance:
        os.environ["DAGSTER_PG_URL"] = self.instance_url
        return dg.DagsterInstance.from_config(str(self.home / "control"))

    def api(self) -> DagsterApi:
        return DagsterApi(self.web_url)

    def adspipe(self, *args: str) -> subprocess.CompletedProcess[str]:
        # The CLI runs on the code host, where the warehouse URL and the tokens are.
        return subprocess.run(
            self.code.command([str(BIN / "adspipe"), *args]), env=self.code_env,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip


def _start_postgres(stack: ExitStack, host: Host, workdir: Path) -> int:
    """A Postgres of our own listening on the services host's address (trust: an isolated net)."""
    data = workdir / "pgdata"
    data.mkdir()
    # Postgres refuses to run as root: as root, run it as the postgres user; otherwise as ourselves.
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(data, "postgres", "postgres")
    subprocess.run([*as_postgres, _pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, capture_output=True)  # fmt: skip
    with (data / "pg_hba.conf").open("a") as hba:
        hba.write("host all all 0.0.0.0/0 trust\n")
    port = host.port(5432)
    options = (
        f"-h {host.addr} -p {port} -k {data} -c fsync=off -c synchronous_commit=off -c max_connections=200"
    )
    pg_ctl = [*as_postgres, _pg_bin("pg_ctl"), "-D", str(data)]
    log = data / "server.log"  # written by the postgres user, inside its own directory
    started = subprocess.run(host.command([*pg_ctl, "-l", str(log), "-o", options, "-w", "start"]),
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert started.returncode == 0, (
        started.stdout + started.stderr + (log.read_text() if log.exists() else "")
    )
    stack.callback(subprocess.run, [*pg_ctl, "-m", "immediate", "stop"], capture_output=True, check=False)
    return port


@pytest.fixture
def deployment() -> Iterator[Deployment]:
    # ADSPIPE_TEST_NETNS=0 forces the loopback variant (to exercise it on a machine with namespaces).
    use_ns = os.environ.get("ADSPIPE_TEST_NETNS", "1") != "0" and namespaces_available()
    print(
        f"\nnetwork boundary: {'network namespaces on a bridge' if use_ns else 'separate processes on loopback'}"
    )
    workdir = Path(tempfile.mkdtemp(prefix="adspipe-net-"))
    workdir.chmod(0o755)
    token = f"net-token-{uuid.uuid4().hex}"
    assert token not in str(os.environ)
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        hosts = stack.enter_context(network(["code", "control", "services"], use_namespaces=use_ns))
        code, control, services = hosts["code"], hosts["control"], hosts["services"]
        print("hosts: " + ", ".join(f"{h.name}={h.addr}" for h in hosts.values()))
        pg_port = _start_postgres(stack, services, workdir)
        admin_url = f"postgresql+psycopg://postgres@{services.addr}:{pg_port}/postgres"
        with services.entered():
            admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
            with admin.connect() as conn:
                conn.execute(sa.text("CREATE DATABASE dagster"))
                conn.execute(sa.text("CREATE DATABASE warehouse"))
        instance_url = f"postgresql://postgres@{services.addr}:{pg_port}/dagster"
        warehouse_url = f"postgresql+psycopg://postgres@{services.addr}:{pg_port}/warehouse"

        sim = Simulator(
            seed=7,
            stores=3,
            clock=SimClock(NOW, speed=0),
            faults=Faults(meta_latency_s=0.05),
            tokens=(token,),
        )  # only the token the code host holds opens the API
        with services.entered():  # the simulator's socket belongs to the services host
            handle = stack.enter_context(run_simulator(sim, host=services.addr, port=services.port(8765)))

        # The instance: dagster.yaml on Postgres, the remote code server's runs checked over gRPC.
        instance_config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
        instance_config["storage"] = {"postgres": {"postgres_url": {"env": "DAGSTER_PG_URL"}}}
        instance_config["run_launcher"]["config"] = {"code_server_unreachable_seconds": UNREACHABLE_GRACE_S}
        for name in ("control", "code"):
            (workdir / name).mkdir()
            (workdir / name / "dagster.yaml").write_text(yaml.safe_dump(instance_config))
        code_port, web_port = code.port(4000), control.port(3000)
        (workdir / "workspace.yaml").write_text(yaml.safe_dump(
            {"load_from": [{"grpc_server": {"host": code.addr, "port": code_port, "location_name": "adspipe"}}]}
        ))  # fmt: skip

        base = _base_env()
        control_env = {**base, "DAGSTER_HOME": str(workdir / "control"), "DAGSTER_PG_URL": instance_url}
        code_env = {
            **base, **handle.env(),
            "DAGSTER_HOME": str(workdir / "code"), "DAGSTER_PG_URL": instance_url,
            "ADSPIPE_DATABASE_URL": warehouse_url, TOKEN_ENV: token,
            "ADSPIPE_SCHEDULES": "stopped", "ADSPIPE_SENSORS": "stopped",
            "ADSPIPE_PARTITIONS_START": "2025-01-01", "ADSPIPE_BACKFILL_DAYS_PER_RUN": "3",
        }  # fmt: skip
        code_cmd = [str(BIN / "dagster"), "api", "grpc", "-h", code.addr, "-p", str(code_port),
                    "-m", "adspipe.definitions", "--location-name", "adspipe"]  # fmt: skip
        dep = Deployment(hosts, sim, token, warehouse_url, instance_url, f"http://{control.addr}:{web_port}",
                         workdir, code_cmd, code_env)  # fmt: skip

        def stop_all() -> None:
            for proc in dep.processes.values():
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)

        stack.callback(stop_all)
        migrated = dep.adspipe("db", "upgrade")  # migrations first, then the code location
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        dep.start_code_server()
        workspace = str(workdir / "workspace.yaml")
        dep.start("webserver", control, [str(BIN / "dagster-webserver"), "-w", workspace,
                                         "-h", control.addr, "-p", str(web_port)], control_env)  # fmt: skip
        dep.start("daemon", control, [str(BIN / "dagster-daemon"), "run", "-w", workspace], control_env)

        def web_up() -> bool:
            with control.entered():
                try:
                    return httpx.get(f"{dep.web_url}/server_info", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

        dep.wait("the webserver", web_up, 120)
        yield dep


RELOAD = """
mutation Reload($name: String!) {
  reloadRepositoryLocation(repositoryLocationName: $name) {
    __typename
    ... on WorkspaceLocationEntry {
      locationOrLoadError { __typename ... on RepositoryLocation { name } ... on PythonError { message } }
    }
  }
}"""


def _failures(dep: Deployment, backfill_id: str) -> list[str]:
    """The error messages of the backfill's failed runs, for an assertion message."""
    with dep.services.entered(), dep.instance() as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        return [
            f"{r.run_id}: {(e.dagster_event.event_specific_data if e.dagster_event else e.user_message)}"[
                :1500
            ]
            for r in runs
            if r.status == dg.DagsterRunStatus.FAILURE
            for e in instance.all_logs(r.run_id)
            if e.dagster_event
            and e.dagster_event.event_type_value in ("STEP_FAILURE", "RUN_FAILURE", "ENGINE_EVENT")
        ][-8:]


def _error_of(entry: dg.EventLogEntry) -> str:
    data = entry.dagster_event.event_specific_data if entry.dagster_event else None
    error = getattr(data, "error", None)
    return error.to_string() if error is not None else ""


def _claimed(dep: Deployment) -> list[str]:
    with dep.services.entered(), dep.instance() as instance:
        return [s.run_id for s in instance.event_log_storage.get_concurrency_info("meta_api").claimed_slots]


def _run(dep: Deployment, run_id: str) -> dg.DagsterRun:
    with dep.services.entered(), dep.instance() as instance:
        run = instance.get_run_by_id(run_id)
    assert run is not None
    return run


def test_the_code_location_serves_runs_across_the_network(deployment: Deployment) -> None:
    dep = deployment
    started = time.monotonic()
    store = dep.sim.world.describe()["stores"]
    accounts = [(str(store[2]["name"]), str(store[2]["ad_accounts"][0]["id"]))]
    accounts += [(str(store[0]["name"]), str(a["id"])) for a in store[0]["ad_accounts"]]
    for name, account in accounts:
        added = dep.adspipe(
            "connect", "meta", "--store", name, "--ad-account", account, "--token-env", TOKEN_ENV
        )
        assert added.returncode == 0, added.stderr

    # 1. A backfill through the webserver's GraphQL, executed by run workers of the code server.
    request = BackfillRequest("meta", FIRST, LAST, None)
    dep.sim.reset_stats()
    with dep.control.entered():
        backfill_id = dep.api().launch_asset_backfill(
            request.asset_keys, str(FIRST), str(LAST), title=request.title, tags=request.tags
        )

    def backfill_done() -> bool:
        with dep.control.entered():
            return dep.api().backfill_progress(backfill_id).finished

    dep.wait("the backfill", backfill_done, 180)
    with dep.control.entered():
        progress = dep.api().backfill_progress(backfill_id)
    if not progress.succeeded:
        print("\n".join(_failures(dep, backfill_id)))
    assert progress.succeeded and progress.materialized == 9, progress
    with dep.services.entered(), dep.instance() as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        assert len(runs) == 3 and {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
        for run in runs:  # launched on the remote code server, not a local subprocess
            assert json.loads(run.tags[GRPC_INFO_TAG])["host"] == dep.code.addr
    log = dep.sim.request_log("meta")
    assert overlapping(log) == [], "two Meta calls overlapped"
    engine = sa.create_engine(dep.warehouse_url, poolclass=sa.pool.NullPool)
    for _, account in accounts:
        days = [d for r in log if r.account == account and (d := r.ad_level_day) is not None]
        assert days == sorted(days) and len(set(days)) == 9, account  # one call a day, oldest first
        with dep.services.entered():
            compared, diffs = meta_differences(engine, dep.sim.truth, account, FIRST, LAST)
        assert compared == 9 and diffs == [], (account, diffs[:5])

    # 2 + 3. A run holds the slot; tokens are where it runs only; then the code host dies.
    dep.sim.faults.update(meta_latency_s=0.4)
    with dep.control.entered():
        victim = dep.api().launch_job("meta_fresh", {}, {"adspipe/test": "network-kill"})
    dep.wait("the run to claim the meta_api slot", lambda: victim in _claimed(dep), 120)
    with dep.services.entered(), dep.instance() as instance:
        pid = worker_pid(instance, victim)
    assert pid is not None
    if dep.code.netns:
        assert pid in dep.code.pids(), "the run worker is not on the code host"
    assert environ_has(pid, dep.token), "the run worker lacks the token"
    assert environ_has(dep.processes["code-server"].pid, dep.token)
    for name in ("webserver", "daemon"):
        for member in process_tree(dep.processes[name].pid):
            assert not environ_has(member, dep.token), f"the token leaked into the {name} (pid {member})"
            assert not environ_has(member, "ADSPIPE_DATABASE_URL="), name

    if dep.code.netns:
        dep.code.kill_all()  # the machine is gone: server, run worker, step processes
    else:
        os.killpg(dep.processes["code-server"].pid, signal.SIGKILL)
    dep.processes["code-server"].wait(timeout=30)
    killed_at = time.monotonic()
    dep.wait("the killed run to fail and free its slot",
             lambda: _run(dep, victim).is_finished and victim not in _claimed(dep), 120)  # fmt: skip
    freed_after = time.monotonic() - killed_at
    assert _run(dep, victim).status == dg.DagsterRunStatus.FAILURE
    with dep.services.entered(), dep.instance() as instance:
        messages = [r.message for r in instance.all_logs(victim)]
    # Across hosts the daemon asks the code server (unreachable: gone); on one host, the worker's pid.
    expected = "unreachable" if dep.code.netns else "is gone"
    assert any(expected in (m or "") for m in messages), messages[-5:]
    assert (UNREACHABLE_GRACE_S if dep.code.netns else 0) <= freed_after < 90

    # 4. The code server comes back; the workspace reloads; webserver and daemon were never restarted.
    dep.sim.faults.update(meta_latency_s=0.05)
    dep.start_code_server()
    with dep.control.entered():
        reloaded = httpx.post(f"{dep.web_url}/graphql", json={"query": RELOAD, "variables": {"name": "adspipe"}},
                              timeout=60).json()["data"]["reloadRepositoryLocation"]  # fmt: skip
    assert reloaded["locationOrLoadError"] == {"__typename": "RepositoryLocation", "name": "adspipe"}, (
        reloaded
    )
    with dep.control.entered():
        after = dep.api().launch_job("meta_fresh", {}, {"adspipe/test": "network-after"})
    dep.wait("the run after the restart", lambda: _run(dep, after).is_finished, 120)
    assert _run(dep, after).status == dg.DagsterRunStatus.SUCCESS
    assert after not in _claimed(dep)
    assert all(dep.processes[n].poll() is None for n in ("webserver", "daemon"))
    assert overlapping(dep.sim.request_log("meta")) == []
    print(f"network-boundary test body: {time.monotonic() - started:.0f} s")
    assert time.monotonic() - started < BUDGET_S
