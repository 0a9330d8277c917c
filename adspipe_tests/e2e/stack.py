"""A real Dagster deployment for end-to-end tests: a temporary DAGSTER_HOME whose instance lives in
Postgres, with `dagster-webserver` and `dagster-daemon` as subprocesses running this code location."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import httpx
import yaml

from adspipe_tests.scratch_pg import scratch_database

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DagsterStack:
    home: Path
    url: str
    env: dict[str, str]
    processes: list[subprocess.Popen[bytes]]

    def instance(self) -> dg.DagsterInstance:
        os.environ["DAGSTER_PG_URL"] = self.env["DAGSTER_PG_URL"]
        return dg.DagsterInstance.from_config(str(self.home))

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name} ---\n" + p.read_text(errors="replace")[-4000:]
            for p in sorted(self.home.glob("*.log"))
        )


def _instance_yaml(base: Path, overrides: dict[str, object]) -> dict[str, object]:
    config: dict[str, object] = yaml.safe_load(base.read_text())
    config["storage"] = {"postgres": {"postgres_url": {"env": "DAGSTER_PG_URL"}}}
    config.update(overrides)
    return config


@contextmanager
def dagster_stack(
    pg_url: str, home: Path, env: dict[str, str], *, instance_overrides: dict[str, object] | None = None
) -> Iterator[DagsterStack]:
    """Start webserver + daemon against a fresh Postgres database for the instance storage."""
    # Unique per stack: xdist workers (and other checkouts on the same server) each have a `dagster_home0`.
    with scratch_database(pg_url, f"dagster_{home.name}", drivername="postgresql") as instance_url:
        yield from _stack(home, env, instance_url, instance_overrides)


def _stack(
    home: Path, env: dict[str, str], instance_url: str, instance_overrides: dict[str, object] | None
) -> Iterator[DagsterStack]:
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(
        yaml.safe_dump(_instance_yaml(ROOT / "dagster.yaml", instance_overrides or {}))
    )
    port = free_port()
    full_env = {**os.environ, **env, "DAGSTER_HOME": str(home), "DAGSTER_PG_URL": instance_url}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for cmd, log in (
            (
                [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
                "webserver.log",
            ),
            ([str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], "daemon.log"),
        ):
            out = (home / log).open("wb")
            processes.append(
                subprocess.Popen(
                    cmd, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
        stack = DagsterStack(home=home, url=f"http://127.0.0.1:{port}", env=full_env, processes=processes)
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{stack.url}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise RuntimeError(f"Dagster did not start:\n{stack.logs()}")
            time.sleep(0.5)
        yield stack
    finally:
        for proc in processes:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in processes:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(home, ignore_errors=True)
