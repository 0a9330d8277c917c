"""The launcher's health check for runs started by a code server on another host: it asks that
server, never a local pid; an unreachable server fails the run only after the configured grace."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.launcher import WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG

from adspipe.orchestration.launcher import DEFAULT_UNREACHABLE_S, LocalRunLauncher, remote_code_server

ROOT = Path(__file__).resolve().parents[2]


def _run(tags: dict[str, str]) -> dg.DagsterRun:
    return dg.DagsterRun(job_name="noop", run_id="r1", tags=tags)


@pytest.mark.parametrize(
    ("info", "remote"),
    [
        ({"host": "localhost", "port": 4000}, False),
        ({"host": "127.0.0.1", "port": 4000}, False),
        ({"host": "::1", "port": 4000}, False),
        ({"host": "localhost", "socket": "/tmp/x.sock"}, False),
        ({"host": "10.77.0.2", "port": 4000}, True),
        ({"host": "adspipe", "port": 4000}, True),
    ],
)
def test_only_a_non_loopback_code_server_is_remote(info: dict[str, object], remote: bool) -> None:
    assert (remote_code_server(_run({GRPC_INFO_TAG: json.dumps(info)})) is not None) is remote
    assert remote_code_server(_run({})) is None


def _launcher(tmp_path: Path, grace: int | None) -> tuple[dg.DagsterInstance, LocalRunLauncher]:
    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    if grace is not None:
        config["run_launcher"]["config"] = {"code_server_unreachable_seconds": grace}
    tmp_path.mkdir()
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    launcher = instance.run_launcher
    assert isinstance(launcher, LocalRunLauncher)
    return instance, launcher


def test_an_unreachable_code_server_fails_its_run_after_the_grace_only(tmp_path: Path) -> None:
    # A name that never resolves: the server's host is gone.
    tags = {GRPC_INFO_TAG: json.dumps({"host": "code-server.invalid", "port": 4000})}
    instance, patient = _launcher(tmp_path / "a", None)
    with instance:
        assert patient._unreachable_grace_s == DEFAULT_UNREACHABLE_S
        result = patient.check_run_worker_health(_run(tags))
        assert result.status == WorkerStatus.RUNNING and "unreachable" in (result.msg or "")
    instance, strict = _launcher(tmp_path / "b", 0)
    with instance:
        result = strict.check_run_worker_health(_run(tags))
        assert result.status == WorkerStatus.FAILED
        assert "code-server.invalid:4000 unreachable" in (result.msg or "")
