"""The local launcher's health check: a live worker is RUNNING, a killed one FAILED, an unknown one
is never failed on missing information."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
from dagster._core.events import EngineEventData
from dagster._core.launcher import WorkerStatus

from adspipe.orchestration.launcher import LocalRunLauncher, process_alive

ROOT = Path(__file__).resolve().parents[2]


def test_process_alive_sees_a_killed_child_even_before_it_is_reaped() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert process_alive(child.pid)
        child.kill()
        # Not reaped yet: a zombie, which `kill(pid, 0)` alone would still report alive.
        import time

        deadline = time.monotonic() + 5
        while process_alive(child.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not process_alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not process_alive(child.pid)


def test_health_follows_the_pid_of_the_runs_worker(tmp_path: Path) -> None:
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        launcher = instance.run_launcher
        assert isinstance(launcher, LocalRunLauncher) and launcher.supports_check_run_worker_health
        run = instance.create_run_for_job(dg.GraphDefinition(name="noop").to_job())
        assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING  # nothing recorded yet
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        instance.report_engine_event(
            f"Started process for run (pid: {child.pid}).", run, EngineEventData.in_process(child.pid)
        )
        assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
        child.kill()
        child.wait()
        result = launcher.check_run_worker_health(run)
        assert result.status == WorkerStatus.FAILED and str(child.pid) in (result.msg or "")
