"""The `daily_summary` asset in the UI: each partition's metadata is that day's truth per currency.

Both platforms' assets and daily_summary over a partition range, in one run: daily_summary is
recorded once per partition, by its own step (after both platforms' days), with the warehouse's
orders, revenue, spend and MER of that day per currency; never a sum across currencies.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.marts.assets import daily_summary
from adspipe.meta.assets import meta_insights
from adspipe.meta.client import MetaClient
from adspipe.resources import ClockResource, WarehouseResource
from adspipe.settings import NOW_ENV
from adspipe.shopify.assets import shopify_orders_assets
from adspipe.warehouse import connections as conns
from adspipe.warehouse.schema import daily_meta_metrics, daily_shopify_metrics
from adspipe_tests.meta.fake_graph import FakeAccount, FakeGraph
from adspipe_tests.shopify.conftest import EAST, WEST, Env, make_env
from adspipe_tests.shopify.fakes import FakeShopify, order

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
DAYS = ["2026-03-04", "2026-03-05", "2026-03-06"]


@pytest.fixture
def env(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """West (New York, USD) and East (Berlin, EUR): a shop and an ad account each."""
    shops = make_env(engine, monkeypatch, FakeShopify())
    for i, day in enumerate(DAYS):
        # West: i+1 orders of 10.00 at local noon; East: one order of 100.00 (EUR), minus 5.00 refunded.
        for n in range(i + 1):
            shops.shopify.put(WEST, order(100 * i + n, created=f"{day}T17:00:0{n}Z", total="10.00"))
        shops.shopify.put(EAST, order(900 + i, created=f"{day}T11:00:00Z", total="100.00", refunded="5.00"))
    days = [date(2026, 3, 1) + timedelta(days=i) for i in range(9)]
    graph = FakeGraph(
        {
            "act_w": FakeAccount("America/New_York", "USD", {d: [("w1", "ACTIVE", "8.00", 1, "30.00")] for d in days}),
            "act_e": FakeAccount("Europe/Berlin", "EUR", {d: [("e1", "ACTIVE", "40.00", 2, "90.00")] for d in days}),
        }
    )  # fmt: skip
    monkeypatch.setattr(MetaClient, "http", lambda self: httpx.Client(transport=graph.transport()))
    monkeypatch.setattr(MetaClient, "sleep", lambda self, seconds: None)
    monkeypatch.setenv(NOW_ENV, NOW.isoformat())
    monkeypatch.setenv("META_TOK", "EAAtoken-abcdefgh")
    with engine.begin() as db:
        conns.connect(db, store="West", platform="meta", account_id="act_w", token_env="META_TOK")
        conns.connect(db, store="East", platform="meta", account_id="act_e", token_env="META_TOK")
    yield shops


def _resources(env: Env) -> dict[str, Any]:
    return {
        "warehouse": WarehouseResource(),
        "clock": ClockResource(),
        "shopify": env.dagster_client(),
        "meta": MetaClient(graph_url="http://graph.test"),
    }


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
    engine: Engine, env: Env
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
    for i, (_, partition, meta) in enumerate(summaries):
        day = date.fromisoformat(partition)
        truth = _warehouse_truth(engine, day)
        assert {k: meta[k] for k in truth} == truth, partition
        # That day's own numbers: West had i+1 orders of 10.00 (USD), East one of 95.00 net (EUR).
        assert (meta["orders_USD"], meta["net_revenue_USD"], meta["spend_USD"]) == (
            i + 1,
            10.0 * (i + 1),
            8.0,
        )
        assert (meta["orders_EUR"], meta["net_revenue_EUR"], meta["spend_EUR"]) == (1, 95.0, 40.0)
        assert meta["mer_USD"] == round(10.0 * (i + 1) / 8.0, 4) and meta["mer_EUR"] == 2.375
        assert (meta["roas_USD"], meta["roas_EUR"]) == (3.75, 2.25)
        # No total across currencies, under any name.
        assert not {"orders", "net_revenue", "spend", "mer", "roas"} & set(meta)
        assert (meta["rows"], meta["stores"], meta["currencies"]) == (2, 2, "EUR, USD")
        preview = meta["preview"]
        assert [r.data["store"] for r in preview.records] == ["East", "West"]
        assert [r.data["net_revenue"] for r in preview.records] == [95.0, 10.0 * (i + 1)]
        assert [c.name for c in preview.schema.columns][:4] == ["store", "currency", "orders", "net_revenue"]


def test_platform_partitions_carry_their_own_days_rows_and_calls(engine: Engine, env: Env) -> None:
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
    for i, day in enumerate(DAYS):
        orders = seen["shopify_orders_raw"][day]
        # Each shop: one search of one page for the day; West's i+1 orders and East's one.
        assert (orders["rows"], orders["api_calls"], orders["pages"], orders["shops"]) == (i + 2, 2, 2, 2)
        insights = seen["meta_insights_raw"][day]
        # Each account: one ad-level call for the day (account-level rows: the run's range call).
        assert (insights["rows"], insights["api_calls"], insights["accounts"]) == (4, 2, 2)
        assert seen["daily_shopify_metrics"][day]["net_revenue_EUR"] == 95.0


def test_a_daily_summary_partition_without_upstream_data_fails_saying_what_is_missing(
    engine: Engine, env: Env
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


def test_a_range_records_the_days_with_data_and_fails_the_others(engine: Engine, env: Env) -> None:
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
        assert _summaries(first)[0][2]["spend_EUR"] == 40.0 and "orders_EUR" not in _summaries(first)[0][2]
        result = dg.materialize(
            [daily_summary], instance=instance, resources=_resources(env),
            tags=_range("2026-03-04", "2026-03-05"), raise_on_error=False,
        )  # fmt: skip
    assert not result.success
    assert [(p, m["spend_USD"]) for _, p, m in _summaries(result)] == [("2026-03-04", 8.0)]
    (failure,) = result.get_step_failure_events()
    assert "daily_summary 2026-03-05: the warehouse holds no upstream data" in str(
        failure.event_specific_data.error
    )
