"""The instance part of Dagster's Helm chart, rendered from deploy/helm/values.yaml in Python.

Mirrors the chart's `configmap-instance.yaml` and its helpers (`_postgresql.tpl`, `_run-launcher.tpl`,
`_run-coordinator.tpl`, `_concurrency.tpl`) for the keys our values use, so the tests can load the
dagster.yaml the chart would write without a cluster or the helm binary.
"""

from __future__ import annotations

from typing import Any


def _postgres(values: dict[str, Any]) -> dict[str, Any]:
    pg = values["postgresql"]
    return {
        "postgres_db": {
            "username": pg["postgresqlUsername"],
            "password": {"env": "DAGSTER_PG_PASSWORD"},  # from global.postgresqlSecretName
            "hostname": pg["postgresqlHost"],
            "db_name": pg["postgresqlDatabase"],
            "port": pg["service"]["port"],
            "params": pg.get("postgresqlParams", {}),
        }
    }


def _k8s_launcher(values: dict[str, Any], namespace: str) -> dict[str, Any]:
    cfg = values["runLauncher"]["config"]["k8sRunLauncher"]
    config: dict[str, Any] = {
        "load_incluster_config": cfg["loadInclusterConfig"],
        "job_namespace": cfg.get("jobNamespace") or namespace,
        "image_pull_policy": cfg["imagePullPolicy"],
        "service_account_name": "dagster",
        "dagster_home": {"env": "DAGSTER_HOME"},
        "instance_config_map": {"env": "DAGSTER_K8S_INSTANCE_CONFIG_MAP"},
        "postgres_password_secret": {"env": "DAGSTER_K8S_PG_PASSWORD_SECRET"},
        "env_config_maps": [
            {"env": "DAGSTER_K8S_PIPELINE_RUN_ENV_CONFIGMAP"},
            *(m["name"] for m in cfg.get("envConfigMaps", []) if "name" in m),
        ],
    }
    if cfg.get("envSecrets"):
        config["env_secrets"] = [s["name"] for s in cfg["envSecrets"] if "name" in s]
    if cfg.get("envVars"):
        config["env_vars"] = cfg["envVars"]
    if cfg.get("runK8sConfig"):
        config["run_k8s_config"] = {
            {"containerConfig": "container_config", "podSpecConfig": "pod_spec_config"}.get(k, k): v
            for k, v in cfg["runK8sConfig"].items()
        }
    return {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": config}


def _concurrency(values: dict[str, Any]) -> dict[str, Any]:
    pools, runs = values["concurrency"]["pools"], values["concurrency"]["runs"]
    out: dict[str, Any] = {
        "pools": {
            "default_limit": pools["defaultLimit"],
            "granularity": pools["granularity"],
            "op_granularity_run_buffer": pools["opGranularityRunBuffer"],
        }
    }
    run_limits: dict[str, Any] = {}
    if runs.get("maxConcurrentRuns") is not None:
        run_limits["max_concurrent_runs"] = runs["maxConcurrentRuns"]
    if runs.get("tagConcurrencyLimits"):
        run_limits["tag_concurrency_limits"] = runs["tagConcurrencyLimits"]
    if run_limits:
        out["runs"] = run_limits
    return out


def render_instance(values: dict[str, Any], namespace: str = "dagster") -> dict[str, Any]:
    """The dagster.yaml the chart's instance ConfigMap holds for these values."""
    daemon = values["dagsterDaemon"]
    storage = _postgres(values)
    qrc = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    if qrc.get("maxConcurrentRuns") is not None and values["concurrency"]["runs"].get("maxConcurrentRuns"):
        raise ValueError("the chart refuses maxConcurrentRuns in both concurrency.runs and the coordinator")
    instance: dict[str, Any] = {
        "scheduler": {"module": "dagster._core.scheduler", "class": "DagsterDaemonScheduler"},
        "schedule_storage": {
            "module": "dagster_postgres.schedule_storage",
            "class": "PostgresScheduleStorage",
            "config": storage,
        },
        "run_launcher": _k8s_launcher(values, namespace),
        "run_storage": {
            "module": "dagster_postgres.run_storage",
            "class": "PostgresRunStorage",
            "config": storage,
        },
        "event_log_storage": {
            "module": "dagster_postgres.event_log",
            "class": "PostgresEventLogStorage",
            "config": storage,
        },
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {"dequeue_interval_seconds": qrc["dequeueIntervalSeconds"]},
        },
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
    }
    if values["concurrency"].get("enabled"):
        instance["concurrency"] = _concurrency(values)
    monitoring = daemon["runMonitoring"]
    if monitoring["enabled"]:
        instance["run_monitoring"] = {
            "enabled": True,
            "start_timeout_seconds": monitoring["startTimeoutSeconds"],
            "poll_interval_seconds": monitoring["pollIntervalSeconds"],
            "free_slots_after_run_end_seconds": monitoring["freeSlotsAfterRunEndSeconds"],
        }
    retries = daemon["runRetries"]
    if retries["enabled"]:
        instance["run_retries"] = {
            "enabled": True,
            "max_retries": retries["maxRetries"],
            "retry_on_asset_or_op_failure": retries["retryOnAssetOrOpFailure"],
        }
    return instance
