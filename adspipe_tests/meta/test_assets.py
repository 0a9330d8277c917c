"""The Dagster layer: jobs and the partitioned asset chain, on an ephemeral instance, against the
simulator (its world, truth and scripted answers)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.definitions import defs
from adspipe.meta.assets import meta_7d_fill, meta_fresh, meta_insights
from adspipe.meta.client import MetaClient
from adspipe.meta.settings import AD_EFFECTIVE_STATUSES, API_VERSION
from adspipe.resources import ClockResource, WarehouseResource
from adspipe.settings import DEFAULT_POOLED_BACKFILL_DAYS_PER_RUN
from adspipe.simulator.faults import Faults
from adspipe.warehouse import connections as conns
from adspipe.warehouse.schema import sync_runs
from adspipe_tests.simulator_fixtures import TOKEN, RunningSimulator

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
KEYS = ("meta_insights_raw", "fact_meta_daily", "daily_meta_metrics", "daily_summary")
# The simulator's world (seed 1): store 0's first account (Los Angeles, USD; on 2 to 5 March an
# ad archived since spent) and store 2's (Auckland, billing in USD: both accounts are USD).
WEST, EAST = "act_719948244808154", "act_787205644618603"
FILTER = ("ACTIVE", "PAUSED")  # WEST's per-connection status filter
STATUSES = {WEST: FILTER, EAST: AD_EFFECTIVE_STATUSES}


@pytest.fixture
def graph(
    make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> RunningSimulator:
    running = make_simulator(now=NOW, faults=Faults(meta_throttle_intensity=0.0))
    # Dagster re-creates the resource from its config, so the waits are swapped at the class.
    monkeypatch.setattr(MetaClient, "sleep", lambda self, seconds: None)
    monkeypatch.setenv("ADSPIPE_NOW", NOW.isoformat())
    monkeypatch.setenv("META_TOK", TOKEN)
    return running


@pytest.fixture
def accounts(engine: Engine, graph: RunningSimulator) -> dict[str, int]:
    with engine.begin() as db:
        # act_1 keeps the seed's status filter (a connection option): its archived ad is the gap.
        one, _ = conns.connect(db, store="West", platform="meta", account_id=WEST, token_env="META_TOK",
                               ad_statuses=FILTER)  # fmt: skip
        two, _ = conns.connect(db, store="East", platform="meta", account_id=EAST, token_env="META_TOK",
                               attribution_window_days=3)  # fmt: skip
    return {"act_1": one.connection_id, "act_2": two.connection_id}


def _resources(graph: RunningSimulator) -> dict[str, Any]:
    return {
        "warehouse": WarehouseResource(),
        "meta": MetaClient(graph_url=graph.meta_graph_url),
        "clock": ClockResource(),
    }


def _insights_days(graph: RunningSimulator, account: str) -> list[str]:
    return [d for r in graph.sim.request_log("meta") if r.account == account and (d := r.ad_level_day)]


def _ratio(num: Decimal, den: Decimal) -> float:
    return float((num / den).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def _truth(graph: RunningSimulator, day: date, accounts: tuple[str, ...] = (WEST, EAST)) -> dict[str, Any]:
    """The simulator's truth for the day, as the assets' metadata names it (both accounts are USD)."""
    days = [graph.sim.truth.meta_daily(a, day, day, statuses=STATUSES[a])[0] for a in accounts]
    spend = sum((d.spend for d in days), Decimal(0))
    value = sum((d.purchase_value for d in days), Decimal(0))
    return {
        "accounts": len(accounts),
        "ads": sum(len(graph.sim.truth.ads(a, day, statuses=STATUSES[a])) for a in accounts),
        "purchases": sum(d.purchases for d in days),
        "spend_USD": float(spend),
        "purchase_value_USD": float(value),
        "spend_gap_USD": float(sum((d.spend_gap for d in days), Decimal(0))),
        "roas_USD": _ratio(value, spend),
    }


def _materializations(result: Any) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for event in result.get_asset_materialization_events():
        m = event.event_specific_data.materialization
        out.setdefault(m.asset_key.to_user_string(), {})[m.partition] = {
            k: v.value for k, v in m.metadata.items()
        }
    return out


def test_meta_fresh_records_exactly_the_touched_partitions(
    engine: Engine, graph: RunningSimulator, accounts: dict[str, int]
) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        result = meta_fresh.execute_in_process(instance=instance, resources=_resources(graph))
    assert result.success
    seen = _materializations(result)
    # act_1 (Los Angeles, N = 7): 3rd..8th; act_2 (Tokyo, N = 3): 8th..9th.
    expected = [f"2026-03-0{d}" for d in range(3, 10)]
    for key in KEYS:
        assert sorted(seen[key]) == expected, key
    # Amounts per currency (both accounts are USD), never one total across currencies.
    on_8th = _truth(graph, date(2026, 3, 8))
    assert seen["daily_meta_metrics"]["2026-03-08"] == on_8th
    # The 3rd is act_1's alone (act_2's window starts on the 8th); its archived ad is the gap.
    on_3rd = _truth(graph, date(2026, 3, 3), (WEST,))
    assert seen["daily_meta_metrics"]["2026-03-03"] == on_3rd and on_3rd["spend_gap_USD"] > 0
    # The day's own cost (act_2 only on 03-09): one ad-level call of one page; its account-level
    # row came in the run's one range call, which counts for the run, not for a day.
    raw = seen["meta_insights_raw"]["2026-03-09"]
    ads_9th = _truth(graph, date(2026, 3, 9), (EAST,))["ads"]  # plus its account-level row
    assert (raw["rows"], raw["accounts"], raw["pages"], raw["api_calls"], raw["throttled"]) == (
        ads_9th + 1, 1, 1, 1, 0
    )  # fmt: skip
    assert seen["meta_insights_raw"]["2026-03-08"]["api_calls"] == 2  # one call per account that day
    assert seen["fact_meta_daily"]["2026-03-08"]["spend_USD"] == on_8th["spend_USD"]
    summary = seen["daily_summary"]["2026-03-08"]
    assert (summary["spend_USD"], summary["rows"], summary["ad_accounts"]) == (on_8th["spend_USD"], 2, 2)
    assert "spend" not in summary and "orders_USD" not in summary  # no Shopify data: no revenue keys
    output = result.get_step_success_events()[0]
    (out,) = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = {k: v.value for k, v in out.event_specific_data.metadata.items()}
    # Per account: its read, one ad-level call per day, one account-level call for all its days.
    assert metadata["api_calls"] == 2 + (6 + 1) + (2 + 1)
    assert metadata["throttled"] == 0 and metadata["throttle_wait_s"] == 0
    assert (metadata["api_version"], metadata["api_version_served"]) == (API_VERSION, API_VERSION)
    assert {"backoff_wait_s", "pace_wait_s", "usage_high_water_pct", "rows", "pages"} <= set(metadata)
    assert output is not None


def test_fill_for_one_connection_and_a_failing_account_fails_the_op_naming_it(
    engine: Engine, graph: RunningSimulator, accounts: dict[str, int]
) -> None:
    config = {"ops": {"meta_7d_fill_op": {"config": {"connection_id": accounts["act_2"]}}}}
    with dg.DagsterInstance.ephemeral() as instance:
        result = meta_7d_fill.execute_in_process(
            instance=instance, resources=_resources(graph), run_config=config
        )
        assert result.success
        assert sorted(_materializations(result)["fact_meta_daily"]) == [f"2026-03-0{d}" for d in range(3, 10)]
        assert [r for r in graph.sim.request_log("meta") if r.account == WEST] == []

        rejected = {"error": {"message": "Error validating access token", "code": 190, "error_subcode": 463}}
        graph.sim.faults.update(meta_scripted={WEST: [(400, rejected)]})
        failed = meta_7d_fill.execute_in_process(
            instance=instance, resources=_resources(graph), raise_on_error=False
        )
    assert not failed.success
    (failure,) = failed.get_step_failure_events()
    text = str(failure.event_specific_data.error)
    assert "meta_7d_fill: 1 of 2 connection(s) failed" in text
    assert f"{WEST} (connection {accounts['act_1']}): {WEST}: Meta HTTP 400, code 190/463" in text
    assert TOKEN not in text
    # What did succeed (act_2) was still recorded before the failure.
    assert sorted(_materializations(failed)["daily_meta_metrics"]) == [f"2026-03-0{d}" for d in range(3, 10)]


def test_asset_chain_runs_a_partition_range_day_by_day(
    engine: Engine, graph: RunningSimulator, accounts: dict[str, int]
) -> None:
    tags = {
        "dagster/asset_partition_range_start": "2026-03-04",
        "dagster/asset_partition_range_end": "2026-03-06",
    }
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([meta_insights], instance=instance, resources=_resources(graph), tags=tags)
    assert result.success
    seen = _materializations(result)
    for key in KEYS:
        assert sorted(seen[key]) == ["2026-03-04", "2026-03-05", "2026-03-06"], key
    # Each partition carries its own day's figures (both accounts' ads), and the run's size
    # (not the run's totals: those are in the step's log).
    truth = _truth(graph, date(2026, 3, 5))
    fact = seen["fact_meta_daily"]["2026-03-05"]
    assert fact == {"rows": truth["ads"], "spend_USD": truth["spend_USD"],
                    "purchase_value_USD": truth["purchase_value_USD"]}  # fmt: skip
    raw = seen["meta_insights_raw"]["2026-03-05"]
    assert (raw["api_calls"], raw["pages"], raw["accounts"]) == (2, 2, 2)
    # act_1's archived ad's spend
    assert seen["daily_meta_metrics"]["2026-03-05"]["spend_gap_USD"] == truth["spend_gap_USD"] > 0
    # daily_summary is not in this run's selection: the Meta step records it, once a day.
    assert seen["daily_summary"]["2026-03-05"]["spend_USD"] == truth["spend_USD"]
    # One ad-level call per account and day, oldest first.
    assert _insights_days(graph, WEST) == ["2026-03-04", "2026-03-05", "2026-03-06"]
    assert _insights_days(graph, EAST) == ["2026-03-04", "2026-03-05", "2026-03-06"]


def test_every_meta_step_claims_the_meta_api_pool() -> None:
    assert meta_insights.op.pool == "meta_api"
    for job in (meta_7d_fill, meta_fresh):
        assert [node.definition.pool for node in job.graph.nodes] == ["meta_api"]
    # Any step of the code location that needs the Meta client claims the pool.
    for job in defs.resolve_all_job_defs():
        for node in job.graph.nodes:
            op = node.definition
            if isinstance(op, dg.OpDefinition) and "meta" in op.required_resource_keys:
                assert op.pool == "meta_api", op.name
    # A backfill run holds the pool's one slot for all its days: its days are capped.
    policy = meta_insights.backfill_policy
    assert policy is not None and policy.max_partitions_per_run == DEFAULT_POOLED_BACKFILL_DAYS_PER_RUN


def test_a_failed_day_fails_alone_and_the_other_days_of_the_run_commit(
    engine: Engine, graph: RunningSimulator, accounts: dict[str, int]
) -> None:
    # Per account: its read, the run's account-level call, the 4th; then the 5th answers 503
    # every time (the first call and its 4 retries).
    unavailable = (503, "<html>Service Unavailable</html>")
    script = [None, None, None, *[unavailable] * 5]
    graph.sim.faults.update(meta_scripted={WEST: script, EAST: script})
    tags = {
        "dagster/asset_partition_range_start": "2026-03-04",
        "dagster/asset_partition_range_end": "2026-03-06",
    }
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [meta_insights], instance=instance, resources=_resources(graph), tags=tags, raise_on_error=False
        )
        status = instance.get_status_by_partition(
            dg.AssetKey("fact_meta_daily"),
            ["2026-03-04", "2026-03-05", "2026-03-06"],
            meta_insights.partitions_def,
        )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert failure is not None and "1 of 3 day(s) failed (2026-03-05)" in failure.message
    assert {k: v.value for k, v in (status or {}).items()} == {
        "2026-03-04": "MATERIALIZED", "2026-03-05": "FAILED", "2026-03-06": "MATERIALIZED",
    }  # fmt: skip
    # The failed day was retried, then the day after it was still called (one job per day).
    calls = _insights_days(graph, WEST)
    assert list(dict.fromkeys(calls)) == ["2026-03-04", "2026-03-05", "2026-03-06"]
    assert calls.count("2026-03-05") == 5 and calls.count("2026-03-06") == 1
    with engine.connect() as db:
        days = db.execute(sa.text("SELECT DISTINCT date FROM fact_meta_daily ORDER BY date")).scalars().all()
    assert [str(d) for d in days] == ["2026-03-04", "2026-03-06"]


def test_a_served_version_other_than_the_pinned_one_is_warned_in_the_run_and_recorded(
    engine: Engine, graph: RunningSimulator, accounts: dict[str, int]
) -> None:
    graph.sim.faults.update(meta_served_version="v27.0")  # Meta answers with another version
    with dg.DagsterInstance.ephemeral() as instance:
        result = meta_fresh.execute_in_process(instance=instance, resources=_resources(graph))
        warnings = [
            e.user_message
            for e in instance.all_logs(result.run_id)
            if e.level == logging.WARNING and "served API version" in e.user_message
        ]
    assert result.success
    assert len(warnings) == 1  # once per run, though both accounts met it on every call
    assert f"Meta served API version v27.0 for calls made with {API_VERSION}" in warnings[0]
    (out,) = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = {k: v.value for k, v in out.event_specific_data.metadata.items()}
    assert (metadata["api_version"], metadata["api_version_served"]) == (API_VERSION, "v27.0")
    with engine.connect() as db:
        runs = db.execute(sa.select(sync_runs.c.api_version, sync_runs.c.api_version_served)).all()
    assert sorted(runs) == [(API_VERSION, "v27.0")] * 2
