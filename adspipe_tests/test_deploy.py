"""The production instance file is valid with Postgres storage and keeps the Meta pool at 1."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]


def test_prod_instance_on_postgres_limits_meta_pool(
    pg_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # dagster-postgres takes a plain libpq URL.
    url = sa.make_url(pg_database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    monkeypatch.setenv("DAGSTER_PG_URL", url)
    shutil.copy(ROOT / "deploy" / "dagster.prod.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        config = instance.get_concurrency_config()
        assert config.pool_config.default_pool_limit == 1
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
        # What a step does before its first claim: the pool is created at the default limit.
        assert instance.event_log_storage.initialize_concurrency_limit_to_default("meta_api")
        first = instance.event_log_storage.claim_concurrency_slot("meta_api", "run-a", "step-a")
        second = instance.event_log_storage.claim_concurrency_slot("meta_api", "run-b", "step-b")
        assert first.is_claimed and not second.is_claimed
        assert instance.event_log_storage.get_concurrency_info("meta_api").slot_count == 1
