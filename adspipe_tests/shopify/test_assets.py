"""The Dagster layer: the jobs log materializations for exactly the dates they touched, the
partitioned assets handle a range day by day, a failed shop fails the step after the others."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from adspipe.definitions import defs
from adspipe.resources import ClockResource, WarehouseResource
from adspipe.settings import NOW_ENV, backfill_days_per_run
from adspipe.shopify.assets import (
    shopify_7d_fill,
    shopify_fresh,
    shopify_orders_assets,
)
from adspipe_tests.shopify.conftest import EAST, NOW, WEST, Env
from adspipe_tests.shopify.helpers import mart, sync_runs
from adspipe_tests.shopify.payloads import order


def _resources(env: Env) -> dict[str, Any]:
    return {"warehouse": WarehouseResource(), "clock": ClockResource(), "shopify": env.dagster_client()}


def _materializations(result: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """asset key → partition → metadata values."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for event in result.all_events:
        if event.event_type_value != "ASSET_MATERIALIZATION":
            continue
        mat = event.event_specific_data.materialization
        values = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
        out.setdefault(mat.asset_key.to_user_string(), {})[mat.partition] = values
    return out


def _orders(env: Env) -> None:
    env.shopify.put(WEST, order(1, created="2026-03-05T15:00:00Z", total="10.00", refunded="1.00"))
    env.shopify.put(WEST, order(2, created="2026-03-07T15:00:00Z", total="20.00"))
    env.shopify.put(EAST, order(3, created="2026-03-07T10:00:00Z", total="30.00"))


def test_fill_job_materializes_exactly_the_touched_dates(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NOW_ENV, NOW.isoformat())
    _orders(env)
    with dg.DagsterInstance.ephemeral() as instance:
        result = shopify_7d_fill.execute_in_process(instance=instance, resources=_resources(env))
    assert result.success
    mats = _materializations(result)
    for asset in ("shopify_orders_raw", "fact_orders", "daily_shopify_metrics", "daily_summary"):
        assert sorted(mats[asset]) == ["2026-03-05", "2026-03-07"], asset
    metrics = mats["daily_shopify_metrics"]
    assert metrics["2026-03-05"] == {"orders": 1, "orders_USD": 1, "net_revenue_USD": 9.0}
    # Two shops in two currencies on 03-07: per currency, no mixed total.
    assert metrics["2026-03-07"] == {
        "orders": 2, "orders_EUR": 1, "net_revenue_EUR": 30.0, "orders_USD": 1, "net_revenue_USD": 20.0,
    }  # fmt: skip
    summary = mats["daily_summary"]["2026-03-07"]
    assert (summary["orders_USD"], summary["net_revenue_USD"]) == (1, 20.0)
    assert (summary["orders_EUR"], summary["net_revenue_EUR"]) == (1, 30.0)
    assert "net_revenue" not in summary and summary["rows"] == 2
    # Each partition carries its own date's rows and calls: West's one page (orders of 03-05 and
    # 03-07) counts for 03-05, its earliest date; East's page for 03-07. The shop reads are the run's.
    raw = mats["shopify_orders_raw"]
    assert (raw["2026-03-05"]["rows"], raw["2026-03-05"]["pages"], raw["2026-03-05"]["api_calls"]) == (
        1,
        1,
        1,
    )
    assert (raw["2026-03-07"]["rows"], raw["2026-03-07"]["pages"], raw["2026-03-07"]["api_calls"]) == (
        2,
        1,
        1,
    )
    assert raw["2026-03-07"]["shops"] == 2 and raw["2026-03-05"]["throttled"] == 0
    (out,) = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    run = {k: v.value for k, v in out.event_specific_data.metadata.items()}
    assert (run["rows"], run["pages"], run["api_calls"], run["throttled"], run["dates_touched"]) == (
        3,
        2,
        6,
        0,
        2,
    )
    assert run["requested_cost"] > 0 and run["actual_cost"] > 0 and "throttle_wait_s" in run
    assert {r["dagster_run_id"] for r in sync_runs(env.engine)} == {result.run_id}


def test_fresh_job_idle_logs_nothing_and_scope_config_limits_to_one_shop(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(NOW_ENV, NOW.isoformat())
    _orders(env)
    config = {"ops": {"shopify_fresh_op": {"config": {"connection_id": env.west.connection_id}}}}
    with dg.DagsterInstance.ephemeral() as instance:
        first = shopify_fresh.execute_in_process(
            instance=instance, resources=_resources(env), run_config=config
        )
        monkeypatch.setenv(NOW_ENV, (NOW + timedelta(minutes=15)).isoformat())
        second = shopify_fresh.execute_in_process(
            instance=instance, resources=_resources(env), run_config=config
        )
    assert sorted(_materializations(first)["daily_shopify_metrics"]) == ["2026-03-05", "2026-03-07"]
    assert _materializations(second) == {}
    assert {r["connection_id"] for r in sync_runs(env.engine)} == {env.west.connection_id}


def test_a_failed_shop_fails_the_step_after_logging_the_others(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(NOW_ENV, NOW.isoformat())
    _orders(env)
    env.shopify.fail[WEST] = httpx.Response(401, json={"errors": "[API] Invalid API key or access token"})
    with dg.DagsterInstance.ephemeral() as instance:
        result = shopify_7d_fill.execute_in_process(
            instance=instance, resources=_resources(env), raise_on_error=False
        )
        # A failed step's result omits its materializations; the instance's event log keeps them.
        logged = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    assert not result.success
    fact_dates = [
        e.dagster_event.step_materialization_data.materialization.partition
        for e in logged
        if e.dagster_event and e.dagster_event.asset_key == dg.AssetKey("fact_orders")
    ]
    assert fact_dates == ["2026-03-07"]  # the east shop's date
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert failure is not None and WEST in failure.message and "re-authorize" in failure.message


def test_partitioned_assets_do_each_day_of_a_range(env: Env) -> None:
    _orders(env)
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [shopify_orders_assets],
            instance=instance,
            resources=_resources(env),
            tags={
                "dagster/asset_partition_range_start": "2026-03-05",
                "dagster/asset_partition_range_end": "2026-03-07",
            },
        )
    assert result.success
    mats = _materializations(result)
    assert sorted(mats["daily_shopify_metrics"]) == ["2026-03-05", "2026-03-06", "2026-03-07"]
    assert mats["daily_shopify_metrics"]["2026-03-05"]["orders"] == 1
    assert mats["daily_shopify_metrics"]["2026-03-06"]["orders"] == 0
    assert mats["daily_shopify_metrics"]["2026-03-07"]["orders"] == 2
    # Every day its own request(s) per shop, in date order.
    west_days = [
        re.search(r"created_at:>='(\d{4}-\d\d-\d\d)", r["query"]).group(1)  # type: ignore[union-attr]
        for r in env.shopify.orders_requests(WEST)
    ]
    assert west_days == ["2026-03-05", "2026-03-06", "2026-03-07"]
    assert sorted(mart(env.engine, env.west.store_id)) != []


def test_definitions_register_the_shopify_assets_jobs_and_resource() -> None:
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"shopify_orders_raw", "fact_orders", "daily_shopify_metrics"} <= keys
    assert defs.resolve_job_def("shopify_7d_fill") and defs.resolve_job_def("shopify_fresh")
    assert "shopify" in (defs.resources or {})
    spec = defs.resolve_assets_def("daily_shopify_metrics")
    assert spec.backfill_policy == dg.BackfillPolicy.multi_run(max_partitions_per_run=backfill_days_per_run())
    assert spec.group_names_by_key[dg.AssetKey("daily_shopify_metrics")] == "shopify"


def test_a_failed_day_fails_alone_and_the_other_days_of_the_range_commit(env: Env) -> None:
    _orders(env)
    env.shopify.fail_created_since.add("2026-03-06T05:00:00Z")  # the west shop's 03-06 (New York midnight)
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [shopify_orders_assets],
            instance=instance,
            resources=_resources(env),
            raise_on_error=False,
            tags={
                "dagster/asset_partition_range_start": "2026-03-05",
                "dagster/asset_partition_range_end": "2026-03-07",
            },
        )
        status = instance.get_status_by_partition(
            dg.AssetKey("fact_orders"),
            ["2026-03-05", "2026-03-06", "2026-03-07"],
            shopify_orders_assets.partitions_def,
        )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert failure is not None and "1 of 3 day(s) failed (2026-03-06)" in failure.message
    assert {k: v.value for k, v in (status or {}).items()} == {
        "2026-03-05": "MATERIALIZED", "2026-03-06": "FAILED", "2026-03-07": "MATERIALIZED",
    }  # fmt: skip
    # The west shop's 03-07 order committed after its failed 03-06, which has no mart row.
    assert sorted(str(d) for d in mart(env.engine, env.west.store_id)) == ["2026-03-05", "2026-03-07"]
    with env.engine.connect() as db:
        ids = db.execute(sa.text("SELECT order_id FROM fact_orders ORDER BY order_id")).scalars().all()
    assert [int(i) for i in ids] == [1, 2, 3]
