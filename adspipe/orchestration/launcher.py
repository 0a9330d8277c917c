"""A local run launcher whose run workers run monitoring can see die.

Dagster's DefaultRunLauncher does not support `check_run_worker_health`, so on a single machine a
run worker killed with SIGKILL (OOM killer, `kill -9`, a crashed host process) leaves its run
STARTED forever and its `meta_api` pool slot taken: every later Meta run then waits for good.
This launcher is the default one plus that health check: the run worker's pid is in the run's
"Started process for run (pid: N)" engine event; a pid that is gone (or a zombie) means the worker
died, run monitoring marks the run failed, and `free_slots_after_run_end_seconds` frees its slots.

Only for run workers on the same host as the daemon (the local instance, `dagster dev`, one VM).
The Docker and Kubernetes launchers check their containers / pods themselves (docs/deploy.md).
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, DagsterRun
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus


def worker_pid(instance: DagsterInstance, run_id: str) -> int | None:
    """The pid of the run's (latest) run worker process, from its engine event."""
    records = instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)
    for record in reversed(records):  # the latest worker (a resumed run has several)
        event = record.dagster_event
        data = event.engine_event_data if event else None
        pid = data.metadata.get("pid") if data and data.metadata else None
        message = (event.message if event else None) or record.user_message or ""
        if pid is not None and message.startswith("Started process for run"):
            return int(str(pid.value))
    return None


def process_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (a killed child its parent has not reaped)."""
    stat = Path(f"/proc/{pid}/stat")
    if stat.parent.parent.exists() and Path("/proc/self").exists():
        try:
            # Field 3 is the state; the command name in field 2 may contain spaces, so split after ")".
            return stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalRunLauncher(DefaultRunLauncher):
    """DefaultRunLauncher + run worker health checks by pid (see the module docstring)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        pid = worker_pid(self._instance, run.run_id)
        if pid is None:
            # No worker recorded yet: never fail a run on missing information.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "run worker pid not recorded yet")
        if process_alive(pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker pid {pid} is alive")
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker pid {pid} is gone (killed or crashed)")
