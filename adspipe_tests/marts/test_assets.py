"""The `daily_summary` asset in the UI: each partition's metadata is that day's truth per currency.

Both platforms' assets and daily_summary over a partition range, in one run: daily_summary is
recorded once per partition, by its own step (after both platforms' days), with the warehouse's
orders, revenue, spend and MER of that day per currency; never a sum across currencies.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.marts.assets import daily_summary
from adspipe.meta.assets import meta_insights
from adspipe.meta.client import MetaClient
from adspipe.resources import ClockResource, WarehouseResource
from adspipe.settings import NOW_ENV
from adspipe.shopify.assets import shopify_orders_assets
from adspipe.shopify.client import ShopifyClient
from adspipe.simulator.faults import Faults
from adspipe.warehouse import connections as conns
from adspipe.warehouse.schema import daily_meta_metrics, daily_shopify_metrics
from adspipe_tests.simulator_fixtures import TOKEN, RunningSimulator

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
DAYS = ["2026-03-04", "2026-03-05", "2026-03-06"]
# The simulator's world (seed 1): store 0 (Los Angeles, USD) with its first ad account (Los
# Angeles, USD), store 1 (Berlin, EUR) with its account (Berlin, EUR).
WEST, EAST = 0, 1
WEST_ACCOUNT, EAST_ACCOUNT = "act_719948244808154", "act_381676873269249"


@pytest.fixture
def env(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> RunningSimulator:
    """West and East: a shop and an ad account each, on the simulator."""
    running = make_simulator(now=NOW, faults=Faults(meta_throttle_intensity=0.0))
    # Dagster re-creates the resources from their config, so the waits are swapped at the class.
    monkeypatch.setattr(MetaClient, "sleep", lambda self, seconds: None)
    monkeypatch.setattr(ShopifyClient, "sleep", lambda self, seconds: None)
    monkeypatch.setenv(NOW_ENV, NOW.isoformat())
    monkeypatch.setenv("SIM_TOK", TOKEN)
    with engine.begin() as db:
        for name, store, account in (("West", WEST, WEST_ACCOUNT), ("East", EAST, EAST_ACCOUNT)):
            domain = running.sim.truth.store(store).domain
            conns.connect(db, store=name, platform="shopify", account_id=domain, token_env="SIM_TOK")
            conns.connect(db, store=name, platform="meta", account_id=account, token_env="SIM_TOK")
    return running


def _resources(env: RunningSimulator) -> dict[str, Any]:
    return {
        "warehouse": WarehouseResource(),
        "clock": ClockResource(),
        "shopify": ShopifyClient(endpoint_template=env.shopify_endpoint),
        "meta": MetaClient(graph_url=env.meta_graph_url),
    }


@dataclass(frozen=True)
class Truth:
    """One store-day of the simulator's truth over the registered shop and ad account."""

    currency: str
    orders: int
    net_revenue: Decimal
    spend: Decimal
    purchase_value: Decimal
    account_spend: Decimal
    ad_rows: int  # the account's ad-level rows of the day


def _truth(env: RunningSimulator, store: int, account: str, day: date) -> Truth:
    (shop,) = env.sim.truth.shopify_daily(store, day, day)
    (ads,) = env.sim.truth.meta_daily(account, day, day, statuses=None)
    rows = len(env.sim.truth.ads(account, day, statuses=None))
    assert ads.currency == shop.currency
    return Truth(
        shop.currency, shop.orders, shop.net_revenue, ads.spend, ads.purchase_value, ads.account_spend, rows
    )


def _ratio(num: Decimal, den: Decimal) -> float:
    return float((num / den).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def _range(start: str, end: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end}


def _summaries(result: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """(step, partition, metadata) of every daily_summary materialization, in order."""
    out = []
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        if mat.asset_key == dg.AssetKey("daily_summary"):
            out.append((event.step_key, mat.partition, {k: v.value for k, v in mat.metadata.items()}))
    return out


def _warehouse_truth(engine: Engine, day: date) -> dict[str, float]:
    """The day's figures per currency, straight from the platform marts."""
    truth: dict[str, Decimal] = defaultdict(Decimal)
    dsm, dmm = daily_shopify_metrics, daily_meta_metrics
    with engine.connect() as db:
        for row in db.execute(
            sa.select(dsm.c.currency, dsm.c.orders, dsm.c.net_revenue).where(dsm.c.date == day)
        ):
            truth[f"orders_{row.currency}"] += row.orders
            truth[f"net_revenue_{row.currency}"] += row.net_revenue
        for row in db.execute(sa.select(dmm.c.currency, dmm.c.spend).where(dmm.c.date == day)):
            truth[f"spend_{row.currency}"] += row.spend
    return {k: float(v) for k, v in truth.items()}


def test_each_partition_shows_that_days_figures_per_currency_recorded_once_after_both_platforms(
    engine: Engine, env: RunningSimulator
) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [shopify_orders_assets, meta_insights, daily_summary], instance=instance,
            resources=_resources(env), tags=_range(DAYS[0], DAYS[-1]),
        )  # fmt: skip
    assert result.success
    summaries = _summaries(result)
    # Once per partition, by daily_summary's own step: never by a platform step before the other
    # platform's rows of the day landed.
    assert [(step, partition) for step, partition, _ in summaries] == [("daily_summary", d) for d in DAYS]
    for _, partition, meta in summaries:
        day = date.fromisoformat(partition)
        truth = _warehouse_truth(engine, day)
        assert {k: meta[k] for k in truth} == truth, partition
        # That day's own numbers: the simulator's truth of West (USD) and East (EUR).
        west, east = _truth(env, WEST, WEST_ACCOUNT, day), _truth(env, EAST, EAST_ACCOUNT, day)
        assert (west.currency, east.currency) == ("USD", "EUR")
        for code, t in (("USD", west), ("EUR", east)):
            assert (meta[f"orders_{code}"], meta[f"net_revenue_{code}"], meta[f"spend_{code}"]) == (
                t.orders, float(t.net_revenue), float(t.spend)
            ), (partition, code)  # fmt: skip
            assert meta[f"mer_{code}"] == _ratio(t.net_revenue, t.account_spend), (partition, code)
            assert meta[f"roas_{code}"] == _ratio(t.purchase_value, t.spend), (partition, code)
        # No total across currencies, under any name.
        assert not {"orders", "net_revenue", "spend", "mer", "roas"} & set(meta)
        assert (meta["rows"], meta["stores"], meta["currencies"]) == (2, 2, "EUR, USD")
        preview = meta["preview"]
        assert [r.data["store"] for r in preview.records] == ["East", "West"]
        assert [r.data["net_revenue"] for r in preview.records] == [
            float(east.net_revenue),
            float(west.net_revenue),
        ]
        assert [c.name for c in preview.schema.columns][:4] == ["store", "currency", "orders", "net_revenue"]


def test_platform_partitions_carry_their_own_days_rows_and_calls(
    engine: Engine, env: RunningSimulator
) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [shopify_orders_assets, meta_insights, daily_summary], instance=instance,
            resources=_resources(env), tags=_range(DAYS[0], DAYS[-1]),
        )  # fmt: skip
    assert result.success
    seen: dict[str, dict[str, dict[str, Any]]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        seen.setdefault(mat.asset_key.to_user_string(), {})[mat.partition] = {
            k: v.value for k, v in mat.metadata.items()
        }
    for day in DAYS:
        on = date.fromisoformat(day)
        west, east = _truth(env, WEST, WEST_ACCOUNT, on), _truth(env, EAST, EAST_ACCOUNT, on)
        created = sum(len(env.sim.truth.orders(store, on, on)) for store in (WEST, EAST))
        orders = seen["shopify_orders_raw"][day]
        # Each shop: one search of one page for the day; every order created that day.
        assert (orders["rows"], orders["api_calls"], orders["pages"], orders["shops"]) == (created, 2, 2, 2)
        insights = seen["meta_insights_raw"][day]
        # Each account: one ad-level call for the day, plus its account-level row (from the run's
        # range call).
        assert (insights["rows"], insights["api_calls"], insights["accounts"]) == (
            west.ad_rows + east.ad_rows + 2, 2, 2
        )  # fmt: skip
        assert seen["daily_shopify_metrics"][day]["net_revenue_EUR"] == float(east.net_revenue)


def test_a_daily_summary_partition_without_upstream_data_fails_saying_what_is_missing(
    engine: Engine, env: RunningSimulator
) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [daily_summary], instance=instance, resources=_resources(env), partition_key="2026-03-05",
            raise_on_error=False,
        )  # fmt: skip
        status = instance.get_status_by_partition(
            dg.AssetKey("daily_summary"), ["2026-03-05"], daily_summary.partitions_def
        )
    assert not result.success
    assert _summaries(result) == []  # not a green partition with 0 rows
    (failure,) = result.get_step_failure_events()
    message = str(failure.event_specific_data.error)
    assert "daily_summary 2026-03-05: the warehouse holds no upstream data for this date" in message
    assert "daily_shopify_metrics: 0 store(s), daily_ad_metrics: 0 ad account(s)" in message
    assert {k: v.value for k, v in (status or {}).items()} == {"2026-03-05": "FAILED"}


def test_a_range_records_the_days_with_data_and_fails_the_others(
    engine: Engine, env: RunningSimulator
) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        first = dg.materialize(
            [meta_insights],
            instance=instance,
            resources=_resources(env),
            tags=_range("2026-03-04", "2026-03-04"),
        )
        assert first.success
        # A Meta-only run records daily_summary itself (its own figures are final), once.
        assert [(s, p) for s, p, _ in _summaries(first)] == [("meta_insights", "2026-03-04")]
        on_4th = _truth(env, EAST, EAST_ACCOUNT, date(2026, 3, 4))
        assert _summaries(first)[0][2]["spend_EUR"] == float(on_4th.spend)
        assert "orders_EUR" not in _summaries(first)[0][2]
        result = dg.materialize(
            [daily_summary], instance=instance, resources=_resources(env),
            tags=_range("2026-03-04", "2026-03-05"), raise_on_error=False,
        )  # fmt: skip
    assert not result.success
    west = _truth(env, WEST, WEST_ACCOUNT, date(2026, 3, 4))
    assert [(p, m["spend_USD"]) for _, p, m in _summaries(result)] == [("2026-03-04", float(west.spend))]
    (failure,) = result.get_step_failure_events()
    assert "daily_summary 2026-03-05: the warehouse holds no upstream data" in str(
        failure.event_specific_data.error
    )
