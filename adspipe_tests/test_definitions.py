"""The code location loads, validates with the dagster CLI, and the instance file holds our limits."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg

from adspipe.definitions import defs

ROOT = Path(__file__).resolve().parents[1]


def test_definitions_load_with_daily_summary_asset() -> None:
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "daily_summary" in keys
    assert {"warehouse", "clock"} <= set(defs.resources or {})


def test_dagster_definitions_validate_passes() -> None:
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All code locations passed validation" in result.stdout + result.stderr


def test_instance_yaml_sets_meta_pool_queue_and_monitoring(tmp_path: Path) -> None:
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        settings = instance.get_concurrency_config()
        assert settings.pool_config.default_pool_limit == 1
        assert str(settings.pool_config.pool_granularity.value).lower() == "op"
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
        assert instance.run_coordinator.__class__.__name__ == "QueuedRunCoordinator"
        assert instance.run_retries_enabled and not instance.run_retries_retry_on_asset_or_op_failure


def test_code_location_registers_jobs_sensors_schedules_and_checks() -> None:
    jobs = {job.name for job in defs.resolve_all_job_defs()}
    assert {"shopify_7d_fill", "shopify_fresh", "meta_7d_fill", "meta_fresh"} <= jobs
    sensors = {s.name: s for s in defs.sensors or []}
    assert sensors["shopify_new_connection_sensor"].job_name == "shopify_7d_fill"
    assert sensors["meta_new_connection_sensor"].job_name == "meta_7d_fill"
    schedules = {s.name: s for s in defs.schedules or []}  # type: ignore[union-attr]
    assert schedules["shopify_fresh_schedule"].cron_schedule == "*/15 * * * *"
    assert schedules["meta_fresh_schedule"].cron_schedule == "0 */1 * * *"
    checks = {
        (key.asset_key.to_user_string(), key.name) for key in defs.resolve_asset_graph().asset_check_keys
    }
    assert {
        ("fact_orders", "raw_fact_parity"),
        ("fact_meta_daily", "raw_fact_parity"),
        ("daily_summary", "summary_matches_facts"),
        ("daily_meta_metrics", "spend_cross_check"),
        ("shopify_orders_raw", "cursor_consistency"),
        ("daily_summary", "currency_timezone_match"),
    } <= checks
