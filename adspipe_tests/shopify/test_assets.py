"""The Dagster layer on the simulator: the jobs log materializations for exactly the dates they
touched, with each date's truth; the partitioned assets handle a range day by day; a failed shop
fails the step after the others; a failed day fails alone (scripted answers)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.definitions import defs
from adspipe.resources import ClockResource, WarehouseResource
from adspipe.settings import NOW_ENV, backfill_days_per_run
from adspipe.shopify import sync
from adspipe.shopify.assets import shopify_7d_fill, shopify_fresh, shopify_orders_assets
from adspipe.shopify.client import ShopifyClient
from adspipe.simulator.scripted import Repeat
from adspipe.simulator.scripted import answer as scripted_answer
from adspipe.simulator.truth import OrderFact
from adspipe.warehouse import connections as conns
from adspipe.warehouse.connections import Connection
from adspipe_tests.shopify.helpers import mart, sync_runs
from adspipe_tests.simulator_fixtures import TOKEN, RunningSimulator

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
# The simulator's world (seed 1): store 0 (Los Angeles, USD) and store 1 (Berlin, EUR).
WEST, EAST = "pioneer-botanicals.myshopify.com", "summit-outfitters.myshopify.com"
RANGE = ["2026-03-05", "2026-03-06", "2026-03-07"]


@dataclass
class Env:
    engine: Engine
    running: RunningSimulator
    west: Connection
    east: Connection

    def orders(self, shop: str, since: date, until: date) -> list[OrderFact]:
        return self.running.sim.truth.orders(shop, since, until)

    def window(self, shop: str) -> tuple[date, date]:
        store = self.running.sim.world.store_by_domain(shop)
        assert store is not None
        return sync.fill_window(NOW, store.timezone)

    def orders_requests(self, shop: str) -> list[Any]:
        return [
            r
            for r in self.running.sim.request_log("shopify")
            if r.account == shop and "sortKey" in r.variables
        ]


@pytest.fixture
def env(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> Env:
    running = make_simulator(now=NOW)
    # Dagster re-creates the resource from its config, so the waits are swapped at the class.
    monkeypatch.setattr(ShopifyClient, "sleep", lambda self, seconds: None)
    monkeypatch.setenv(NOW_ENV, NOW.isoformat())
    monkeypatch.setenv("SHOP_TOKEN", TOKEN)
    with engine.begin() as db:
        west, _ = conns.connect(db, store="West", platform="shopify", account_id=WEST, token_env="SHOP_TOKEN")
        east, _ = conns.connect(db, store="East", platform="shopify", account_id=EAST, token_env="SHOP_TOKEN")
    return Env(engine, running, west, east)


def _resources(env: Env) -> dict[str, Any]:
    shopify = ShopifyClient(endpoint_template=env.running.shopify_endpoint)
    return {"warehouse": WarehouseResource(), "clock": ClockResource(), "shopify": shopify}


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


def _metrics(env: Env, shops: dict[str, str], since: date, until: date) -> dict[str, dict[str, Any]]:
    """daily_shopify_metrics' metadata per date from the truth: orders, and per currency."""
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    for shop, currency in shops.items():
        for day in env.running.sim.truth.shopify_daily(shop, since, until):
            values = out[day.date.isoformat()]
            values["orders"] = values.get("orders", 0) + day.orders
            values[f"orders_{currency}"] = day.orders
            values[f"net_revenue_{currency}"] = float(day.net_revenue)
    return dict(out)


def test_fill_job_materializes_exactly_the_touched_dates(env: Env) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        result = shopify_7d_fill.execute_in_process(instance=instance, resources=_resources(env))
    assert result.success
    (since, until), (east_since, east_until) = env.window(WEST), env.window(EAST)
    assert (since, until) == (east_since, east_until)  # 3 to 10 March in both
    dates = [(since + timedelta(days=i)).isoformat() for i in range((until - since).days + 1)]
    mats = _materializations(result)
    for asset in ("shopify_orders_raw", "fact_orders", "daily_shopify_metrics", "daily_summary"):
        assert sorted(mats[asset]) == dates, asset
    # Two shops in two currencies every day: per currency, no mixed total.
    assert mats["daily_shopify_metrics"] == _metrics(env, {WEST: "USD", EAST: "EUR"}, since, until)
    for day, values in mats["daily_summary"].items():
        metrics = mats["daily_shopify_metrics"][day]
        assert {k: values[k] for k in ("orders_USD", "net_revenue_USD", "orders_EUR", "net_revenue_EUR")} == {
            k: metrics[k] for k in ("orders_USD", "net_revenue_USD", "orders_EUR", "net_revenue_EUR")
        }
        assert "net_revenue" not in values and values["rows"] == 2
    # Each partition carries its own date's rows and calls: a page counts for its earliest date
    # (pages of 250 in created order, per shop); the shop reads are the run's.
    rows: dict[str, int] = defaultdict(int)
    pages: dict[str, int] = defaultdict(int)
    for shop in (WEST, EAST):
        facts = sorted(env.orders(shop, since, until), key=lambda o: (o.created_at, o.order_id))
        for o in facts:
            rows[o.local_date.isoformat()] += 1
        for start in range(0, len(facts), 250):
            pages[facts[start].local_date.isoformat()] += 1
        assert [r.variables["first"] for r in env.orders_requests(shop)] == [250] * -(-len(facts) // 250)
    log = env.running.sim.request_log("shopify")
    assert not [r for r in log if "id" in r.variables]  # no order needed a line-items follow-up
    raw = mats["shopify_orders_raw"]
    for day in dates:
        got = (raw[day]["rows"], raw[day]["pages"], raw[day]["api_calls"], raw[day]["throttled"])
        assert got == (rows[day], pages.get(day, 0), pages.get(day, 0), 0), day
    assert raw[dates[0]]["shops"] == 2
    (out,) = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    run = {k: v.value for k, v in out.event_specific_data.metadata.items()}
    assert (run["rows"], run["pages"], run["api_calls"], run["throttled"], run["dates_touched"]) == (
        sum(rows.values()), sum(pages.values()), len(log), 0, len(dates),
    )  # fmt: skip
    assert run["requested_cost"] > 0 and run["actual_cost"] > 0 and "throttle_wait_s" in run
    assert {r["dagster_run_id"] for r in sync_runs(env.engine)} == {result.run_id}


def test_fresh_job_idle_logs_nothing_and_scope_config_limits_to_one_shop(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The simulator's clock stands still: the second run finds no order changed."""
    config = {"ops": {"shopify_fresh_op": {"config": {"connection_id": env.west.connection_id}}}}
    with dg.DagsterInstance.ephemeral() as instance:
        first = shopify_fresh.execute_in_process(
            instance=instance, resources=_resources(env), run_config=config
        )
        monkeypatch.setenv(NOW_ENV, (NOW + timedelta(minutes=15)).isoformat())
        second = shopify_fresh.execute_in_process(
            instance=instance, resources=_resources(env), run_config=config
        )
    # No cursor yet: the first run reads the orders updated in the last 7 days, by local date.
    since = NOW - timedelta(days=7)
    (west_since, until) = env.window(WEST)
    touched = {o.local_date.isoformat() for o in env.orders(WEST, west_since - timedelta(days=15), until)
               if o.updated_at >= since}  # fmt: skip
    assert sorted(_materializations(first)["daily_shopify_metrics"]) == sorted(touched) and touched
    assert _materializations(second) == {}
    assert {r["connection_id"] for r in sync_runs(env.engine)} == {env.west.connection_id}
    assert {r.account for r in env.running.sim.request_log("shopify")} == {WEST}


def test_a_failed_shop_fails_the_step_after_logging_the_others(env: Env) -> None:
    rejected = scripted_answer(401, {"errors": "[API] Invalid API key or access token"})
    env.running.sim.faults.update(shopify_scripted={WEST: [Repeat(rejected)]})
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
    since, until = env.window(EAST)
    assert fact_dates == sorted({o.local_date.isoformat() for o in env.orders(EAST, since, until)})  # east's
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert failure is not None and WEST in failure.message and "re-authorize" in failure.message


def _materialize_range(env: Env, instance: dg.DagsterInstance, **kwargs: Any) -> Any:
    tags = {"dagster/asset_partition_range_start": RANGE[0], "dagster/asset_partition_range_end": RANGE[-1]}
    return dg.materialize(
        [shopify_orders_assets], instance=instance, resources=_resources(env), tags=tags, **kwargs
    )


def test_partitioned_assets_do_each_day_of_a_range(env: Env) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        result = _materialize_range(env, instance)
    assert result.success
    mats = _materializations(result)
    first, last = date.fromisoformat(RANGE[0]), date.fromisoformat(RANGE[-1])
    assert mats["daily_shopify_metrics"] == _metrics(env, {WEST: "USD", EAST: "EUR"}, first, last)
    # Every day its own request(s) per shop, in date order (each shop's local midnight).
    west_days = [r.variables["query"].split("'")[1][:10] for r in env.orders_requests(WEST)]
    east_days = [r.variables["query"].split("'")[1][:10] for r in env.orders_requests(EAST)]
    assert west_days == RANGE  # Los Angeles midnight is 08:00Z the same day
    assert east_days == ["2026-03-04", "2026-03-05", "2026-03-06"]  # Berlin midnight: 23:00Z the day before
    assert sorted(mart(env.engine, env.west.store_id)) == [first, first + timedelta(days=1), last]


def test_definitions_register_the_shopify_assets_jobs_and_resource() -> None:
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"shopify_orders_raw", "fact_orders", "daily_shopify_metrics"} <= keys
    assert defs.resolve_job_def("shopify_7d_fill") and defs.resolve_job_def("shopify_fresh")
    assert "shopify" in (defs.resources or {})
    spec = defs.resolve_assets_def("daily_shopify_metrics")
    assert spec.backfill_policy == dg.BackfillPolicy.multi_run(max_partitions_per_run=backfill_days_per_run())
    assert spec.group_names_by_key[dg.AssetKey("daily_shopify_metrics")] == "shopify"


def test_a_failed_day_fails_alone_and_the_other_days_of_the_range_commit(env: Env) -> None:
    """The west shop's 6 March answers 503 until the client gives up (scripted: its first orders
    request, 5 March, gets the real answer, the next five 503); 7 March commits after it."""
    busy = scripted_answer(503, "<html>Service Unavailable</html>")
    env.running.sim.faults.update(shopify_scripted={f"{WEST} Orders": [None, *[busy] * 5]})
    with dg.DagsterInstance.ephemeral() as instance:
        result = _materialize_range(env, instance, raise_on_error=False)
        status = instance.get_status_by_partition(
            dg.AssetKey("fact_orders"), RANGE, shopify_orders_assets.partitions_def
        )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert failure is not None and "1 of 3 day(s) failed (2026-03-06)" in failure.message
    assert {k: v.value for k, v in (status or {}).items()} == {
        "2026-03-05": "MATERIALIZED", "2026-03-06": "FAILED", "2026-03-07": "MATERIALIZED",
    }  # fmt: skip
    west_requests = env.orders_requests(WEST)
    assert [r.status for r in west_requests] == [200, 503, 503, 503, 503, 503, 200]
    assert [r.variables["query"].split("'")[1][:10] for r in west_requests[1:6]] == ["2026-03-06"] * 5
    # The west shop's 7 March committed after its failed 6 March, which has no mart row.
    assert sorted(str(d) for d in mart(env.engine, env.west.store_id)) == ["2026-03-05", "2026-03-07"]
    march_5, march_7 = date(2026, 3, 5), date(2026, 3, 7)
    want = {o.order_id for o in env.orders(WEST, march_5, march_5) + env.orders(WEST, march_7, march_7)}
    want |= {o.order_id for o in env.orders(EAST, march_5, march_7)}
    with env.engine.connect() as db:
        ids = db.execute(sa.text("SELECT order_id FROM fact_orders")).scalars().all()
    assert {int(i) for i in ids} == want and len(ids) == len(want)
