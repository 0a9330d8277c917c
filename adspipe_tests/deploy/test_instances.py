"""Every instance configuration we ship loads in Dagster with its run launcher, and all of them keep
the same run queue, `meta_api` pool and run monitoring: local (`dagster.yaml`), production
(`deploy/dagster.prod.yaml`), Docker Compose (`deploy/dagster.docker.yaml`) and Helm
(`deploy/helm/values.yaml`, rendered the way the chart renders it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config

from adspipe.orchestration.launcher import LocalRunLauncher
from adspipe_tests.ci import require_module
from adspipe_tests.deploy.helm_render import render_instance

ROOT = Path(__file__).resolve().parents[2]


def _require(module: str) -> None:
    require_module(module, "pip install -e '.[dev]' installs it")  # both launchers; CI never skips


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def _helm_values() -> dict[str, Any]:
    return _load(ROOT / "deploy" / "helm" / "values.yaml")


def _scheduling(config: dict[str, Any]) -> dict[str, Any]:
    """What must agree between deployments: pools, queue limits, monitoring, retries."""
    runs = config["concurrency"]["runs"]
    return {
        "pools": config["concurrency"]["pools"],
        "schedule_limit": runs["tag_concurrency_limits"],
        "monitoring": config["run_monitoring"]["enabled"],
        "frees_slots": config["run_monitoring"]["free_slots_after_run_end_seconds"] > 0,
        "retries": config["run_retries"],
    }


@pytest.fixture
def instance_pg_url(pg_database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    # dagster-postgres takes a plain libpq URL.
    url = sa.make_url(pg_database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    monkeypatch.setenv("DAGSTER_PG_URL", url)
    return url


def _instance(home: Path, config: dict[str, Any]) -> dg.DagsterInstance:
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return dg.DagsterInstance.from_config(str(home))


def test_local_instance_loads_with_the_pid_checking_launcher(tmp_path: Path) -> None:
    with _instance(tmp_path / "home", _load(ROOT / "dagster.yaml")) as instance:
        assert type(instance.run_launcher) is LocalRunLauncher
        assert instance.run_launcher.supports_check_run_worker_health
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1


def test_prod_instance_loads_on_postgres_with_the_local_launcher(
    tmp_path: Path, instance_pg_url: str
) -> None:
    with _instance(tmp_path / "home", _load(ROOT / "deploy" / "dagster.prod.yaml")) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.run_launcher) is LocalRunLauncher


def test_compose_instance_loads_on_postgres_with_the_docker_launcher(
    tmp_path: Path, instance_pg_url: str
) -> None:
    _require("dagster_docker")
    from dagster_docker import DockerRunLauncher

    with _instance(tmp_path / "home", _load(ROOT / "deploy" / "dagster.docker.yaml")) as instance:
        launcher = instance.run_launcher
        assert type(launcher) is DockerRunLauncher
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert launcher.networks == ["adspipe"]
        # The daemon hands run containers the database URLs and the secrets file's path, no token.
        assert launcher.env_vars == [
            "DAGSTER_PG_URL",
            "ADSPIPE_DATABASE_URL",
            "ADSPIPE_SECRETS_ENV_FILE=/run/secrets/adspipe.env",
        ]
        assert launcher.container_kwargs["volumes"] == [
            "/etc/adspipe/adspipe.env:/run/secrets/adspipe.env:ro"
        ]
        assert launcher.supports_check_run_worker_health  # monitoring sees a dead container
        pools = instance.get_concurrency_config().pool_config
        assert (pools.default_pool_limit, pools.op_granularity_run_buffer) == (1, 1)


def test_helm_instance_is_valid_for_dagster_and_k8s_run_launcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _require("dagster_k8s")
    from dagster_k8s import K8sRunLauncher

    # What the chart's daemon pod environment sets (configmap-env-daemon.yaml and the deployment).
    for name, value in {
        "DAGSTER_HOME": "/opt/dagster/dagster_home",
        "DAGSTER_K8S_INSTANCE_CONFIG_MAP": "dagster-instance",
        "DAGSTER_K8S_PG_PASSWORD_SECRET": "dagster-postgresql-secret",
        "DAGSTER_K8S_PIPELINE_RUN_ENV_CONFIGMAP": "dagster-pipeline-env",
    }.items():
        monkeypatch.setenv(name, value)

    rendered = render_instance(_helm_values())
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(rendered))
    # The whole file against Dagster's instance schema (storage, queue, concurrency, monitoring)…
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["run_launcher"]["class"] == "K8sRunLauncher"
    # …and the launcher's own config against K8sRunLauncher's schema. (Constructing the launcher
    # needs a cluster: it loads the in-cluster Kubernetes configuration.)
    launcher = rendered["run_launcher"]["config"]
    result = process_config(K8sRunLauncher.config_type(), launcher)
    assert result.success, result.errors
    assert result.value["postgres_password_secret"] == "dagster-postgresql-secret"
    assert "env_secrets" not in launcher  # tokens reach run pods only through the code location's secrets
    user = _helm_values()["dagster-user-deployments"]["deployments"][0]
    assert [s["name"] for s in user["envSecrets"]] == ["adspipe-databases", "adspipe-tokens"]
    assert user["includeConfigInLaunchedRuns"]["enabled"] is True
    assert _helm_values()["dagsterWebserver"]["envSecrets"] == []


def test_helm_instance_loads_on_postgres(
    tmp_path: Path, pg_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The rendered storage section, pointed at the test server, opens a real Postgres instance.
    url = sa.make_url(pg_database_url)
    values = _helm_values()
    values["postgresql"].update(
        postgresqlHost=url.host, postgresqlUsername=url.username, postgresqlDatabase=url.database,
        postgresqlParams={}, service={"port": url.port or 5432},
    )  # fmt: skip
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", url.password or "")
    rendered = render_instance(values)
    rendered["run_launcher"] = {"module": "dagster", "class": "DefaultRunLauncher"}  # no cluster here
    with _instance(tmp_path / "home", rendered) as instance:
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        config = instance.get_concurrency_config()
        assert config.pool_config.default_pool_limit == 1
        assert config.run_queue_config is not None and config.run_queue_config.max_concurrent_runs == 8
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 30


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(lambda: _load(ROOT / "deploy" / "dagster.docker.yaml"), id="compose"),
        pytest.param(lambda: render_instance(_helm_values()), id="helm"),
        pytest.param(lambda: _load(ROOT / "dagster.yaml"), id="local"),
    ],
)
def test_every_deployment_keeps_the_production_pool_queue_and_monitoring(other: Any) -> None:
    prod = _load(ROOT / "deploy" / "dagster.prod.yaml")
    assert _scheduling(other()) == _scheduling(prod)
    assert prod["concurrency"]["pools"] == {
        "granularity": "op",
        "default_limit": 1,
        "op_granularity_run_buffer": 1,
    }
