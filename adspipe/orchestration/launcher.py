"""A local run launcher whose run workers run monitoring can see die.

Dagster's DefaultRunLauncher does not support `check_run_worker_health`, so on a single machine a
run worker killed with SIGKILL (OOM killer, `kill -9`, a crashed host process) leaves its run
STARTED forever and its `meta_api` pool slot taken: every later Meta run then waits for good.
This launcher is the default one plus that health check: the run worker's pid is in the run's
"Started process for run (pid: N)" engine event; a pid that is gone (or a zombie) means the worker
died, run monitoring marks the run failed, and `free_slots_after_run_end_seconds` frees its slots.

A pid means something only on the host that started the worker. When the code location is a gRPC
server on another host (`grpc_server` in the workspace, docs/deploy.md), its run workers are its
own subprocesses there, so the check asks that server instead: a server that no longer knows the run
(it was restarted, or the worker is gone) means the worker died; a server unreachable for longer
than `code_server_unreachable_seconds` means its host or process died with its workers.
The Docker and Kubernetes launchers check their containers / pods themselves.
"""

from __future__ import annotations

import ipaddress
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from dagster import DagsterEventType, DagsterInstance, DagsterRun, Field, IntSource
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster._grpc.client import DagsterGrpcClient
from dagster._grpc.types import CanCancelExecutionRequest, CanCancelExecutionResult
from dagster._serdes import ConfigurableClassData, deserialize_value

# How long a remote code server may stay unreachable before its runs count as dead: longer than a
# restart of the server, shorter than a human noticing a stuck queue.
DEFAULT_UNREACHABLE_S = 60


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


def remote_code_server(run: DagsterRun) -> dict[str, Any] | None:
    """The gRPC server that started the run, when it is not on this host (None otherwise)."""
    raw = run.tags.get(GRPC_INFO_TAG)
    if not raw:
        return None
    info: dict[str, Any] = json.loads(raw)
    host = str(info.get("host") or "localhost")
    if info.get("socket") or host == "localhost":
        return None
    try:
        return None if ipaddress.ip_address(host).is_loopback else info
    except ValueError:  # a host name other than localhost
        return info


class LocalRunLauncher(DefaultRunLauncher):
    """DefaultRunLauncher + run worker health checks (see the module docstring)."""

    def __init__(
        self,
        inst_data: ConfigurableClassData | None = None,
        code_server_unreachable_seconds: int = DEFAULT_UNREACHABLE_S,
    ) -> None:
        super().__init__(inst_data=inst_data)
        self._unreachable_grace_s = code_server_unreachable_seconds
        self._unreachable_since: dict[str, float] = {}  # run id -> first failed check (this daemon)

    @classmethod
    def config_type(cls) -> dict[str, Field]:
        return {
            "code_server_unreachable_seconds": Field(
                IntSource, is_required=False, default_value=DEFAULT_UNREACHABLE_S
            )
        }

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]) -> Self:
        return cls(inst_data=inst_data, **config_value)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        remote = remote_code_server(run)
        if remote is not None:
            return self._ask_code_server(run, remote)
        pid = worker_pid(self._instance, run.run_id)
        if pid is None:
            # No worker recorded yet: never fail a run on missing information.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "run worker pid not recorded yet")
        if process_alive(pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker pid {pid} is alive")
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker pid {pid} is gone (killed or crashed)")

    def _ask_code_server(self, run: DagsterRun, info: dict[str, Any]) -> CheckRunHealthResult:
        where = f"{info.get('host')}:{info.get('port')}"
        client = DagsterGrpcClient(
            port=info.get("port"),
            socket=info.get("socket"),
            host=str(info["host"]),
            use_ssl=bool(info.get("use_ssl")),
        )
        try:
            result = deserialize_value(
                client.can_cancel_execution(CanCancelExecutionRequest(run_id=run.run_id), timeout=10),
                CanCancelExecutionResult,
            )
        except Exception:  # unreachable: the server, its host or the network is down
            since = self._unreachable_since.setdefault(run.run_id, time.monotonic())
            waited = time.monotonic() - since
            if waited < self._unreachable_grace_s:
                return CheckRunHealthResult(
                    WorkerStatus.RUNNING, f"code server {where} unreachable for {waited:.0f} s"
                )
            self._unreachable_since.pop(run.run_id, None)
            return CheckRunHealthResult(
                WorkerStatus.FAILED,
                f"code server {where} unreachable for {waited:.0f} s: its run worker is lost",
            )
        self._unreachable_since.pop(run.run_id, None)
        if result.can_cancel:
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"code server {where} is running it")
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"code server {where} does not know the run (restarted, or its worker is gone)",
        )
