"""End to end on a real Dagster: what the UI shows for `daily_summary` is the warehouse's truth.

One asset backfill of every asset over 4 days through the daemon; each `daily_summary` partition's
latest materialization (read from the instance, as the UI does) holds exactly the warehouse's
orders and revenue of that day per currency, recorded once, by daily_summary's own step. A
`daily_summary`-only backfill of days without upstream data does not turn green with 0 rows.

Slow: `.venv/bin/pytest -m slow -k ui_truth`.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from adspipe.orchestration.dagster_api import BackfillProgress, DagsterApi
from adspipe.simulator.clock import SimClock
from adspipe.simulator.server import Simulator, run_simulator
from adspipe.warehouse import connections as conns
from adspipe.warehouse import db
from adspipe.warehouse.schema import daily_meta_metrics, daily_shopify_metrics
from adspipe_tests.e2e.stack import DagsterStack, dagster_stack

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(900)]

NOW = datetime(2026, 6, 15, 15, 0, tzinfo=UTC)
TOKEN_ENV = "E2E_TOKEN"
FIRST, LAST = date(2026, 6, 10), date(2026, 6, 13)
ALL_ASSETS = [
    "shopify_orders_raw", "fact_orders", "daily_shopify_metrics",
    "meta_insights_raw", "fact_meta_daily", "daily_meta_metrics", "daily_summary",
]  # fmt: skip
SUMMARY = dg.AssetKey("daily_summary")

TARGETING = """
query Targeting($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    __typename
    ... on AssetNode { targetingInstigators { __typename ... on Schedule { name } ... on Sensor { name } } }
  }
}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DagsterStack, str]]:
    pg_admin = os.environ.get("ADSPIPE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    admin = sa.create_engine(pg_admin, isolation_level="AUTOCOMMIT")
    name = f"adspipe_ui_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    warehouse_url = sa.make_url(pg_admin).set(database=name).render_as_string(hide_password=False)
    sim = Simulator(seed=11, stores=3, clock=SimClock(NOW, speed=0))
    try:
        with run_simulator(sim) as handle:
            env = {
                **os.environ, **handle.env(), "ADSPIPE_DATABASE_URL": warehouse_url, TOKEN_ENV: "sim-token",
                # Only the backfills under test write: no fresh schedule, no new-connection fill.
                "ADSPIPE_SCHEDULES": "stopped", "ADSPIPE_SENSORS": "stopped",
                "ADSPIPE_PARTITIONS_START": "2026-01-01",
            }  # fmt: skip
            engine = db.get_engine(warehouse_url)
            db.upgrade(engine)
            with engine.begin() as conn:
                for store in sim.world.describe()["stores"]:
                    conns.connect(conn, store=store["name"], platform="shopify", account_id=store["shop_domain"],
                                  token_env=TOKEN_ENV)  # fmt: skip
                    for account in store.get("ad_accounts", []):
                        conns.connect(conn, store=store["name"], platform="meta", account_id=account["id"],
                                      token_env=TOKEN_ENV)  # fmt: skip
            with dagster_stack(pg_admin, tmp_path_factory.mktemp("dagster_home"), env) as running:
                yield running, warehouse_url
    finally:
        db.get_engine(warehouse_url).dispose()
        db.get_engine.cache_clear()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _backfill(stack: DagsterStack, assets: list[str], first: date, last: date) -> BackfillProgress:
    api = DagsterApi(stack.url)
    backfill_id = api.launch_asset_backfill(assets, str(first), str(last), title="ui truth", tags={})
    deadline = time.monotonic() + 600
    while not (progress := api.backfill_progress(backfill_id)).finished:
        if time.monotonic() > deadline:
            raise AssertionError(f"backfill {backfill_id} did not finish: {progress}\n{stack.logs()}")
        time.sleep(2)
    return progress


def _truth(engine: sa.engine.Engine, day: date) -> dict[str, float]:
    """The day's orders and revenue per shop currency, and spend per ad account currency."""
    truth: dict[str, Decimal] = defaultdict(Decimal)
    dsm, dmm = daily_shopify_metrics, daily_meta_metrics
    with engine.connect() as conn:
        for row in conn.execute(
            sa.select(dsm.c.currency, dsm.c.orders, dsm.c.net_revenue).where(dsm.c.date == day)
        ):
            truth[f"orders_{row.currency}"] += row.orders
            truth[f"net_revenue_{row.currency}"] += row.net_revenue
        for row in conn.execute(sa.select(dmm.c.currency, dmm.c.spend).where(dmm.c.date == day)):
            truth[f"spend_{row.currency}"] += row.spend
    return {k: float(v) for k, v in truth.items()}


def _summaries(instance: dg.DagsterInstance, day: date) -> list[dg.EventLogRecord]:
    return list(
        instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=SUMMARY, asset_partitions=[day.isoformat()]), limit=50
        ).records
    )


def test_ui_truth_every_daily_summary_partition_shows_the_warehouse_figures_of_its_day(
    stack: tuple[DagsterStack, str],
) -> None:
    dagster, warehouse_url = stack
    progress = _backfill(dagster, ALL_ASSETS, FIRST, LAST)
    assert progress.succeeded, f"{progress}\n{dagster.logs()}"
    engine = db.get_engine(warehouse_url)
    currencies: set[str] = set()
    with dagster.instance() as instance:
        for i in range((LAST - FIRST).days + 1):
            day = FIRST + timedelta(days=i)
            records = _summaries(instance, day)
            # Recorded once, by daily_summary's own step, after both platforms' days were final.
            assert len(records) == 1, (day, len(records))
            event = records[0].event_log_entry
            assert event.step_key == "daily_summary", (day, event.step_key)
            mat = event.asset_materialization
            assert mat is not None
            metadata = {k: v.value for k, v in mat.metadata.items()}
            truth = _truth(engine, day)
            assert truth and {k: metadata[k] for k in truth} == truth, day
            assert not {"orders", "net_revenue", "spend"} & set(metadata)  # never across currencies
            currencies |= {k.removeprefix("orders_") for k in truth if k.startswith("orders_")}
            assert metadata["rows"] == len(metadata["preview"].records) > 0
    assert len(currencies) >= 2  # the simulator's stores sell in several currencies


def test_ui_truth_a_daily_summary_only_backfill_without_upstream_data_does_not_succeed(
    stack: tuple[DagsterStack, str],
) -> None:
    dagster, _ = stack
    first, last = date(2026, 3, 1), date(2026, 3, 2)  # nothing synced for these days
    progress = _backfill(dagster, ["daily_summary"], first, last)
    assert not progress.succeeded and progress.failed == 2 and progress.materialized == 0, progress
    with dagster.instance() as instance:
        assert _summaries(instance, first) == [] and _summaries(instance, last) == []
        failures = instance.get_records_for_run(
            run_id=instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": progress.backfill_id}))[
                0
            ].run_id,
            of_type=dg.DagsterEventType.STEP_FAILURE,
        ).records
    assert failures
    message = str(failures[0].event_log_entry.dagster_event.event_specific_data.error)  # type: ignore[union-attr]
    assert "the warehouse holds no upstream data for this date" in message


def test_ui_truth_asset_pages_list_the_schedules_and_sensors_that_refresh_them(
    stack: tuple[DagsterStack, str],
) -> None:
    dagster, _ = stack
    body = httpx.post(
        f"{dagster.url}/graphql",
        json={"query": TARGETING, "variables": {"key": {"path": ["daily_summary"]}}},
        timeout=30,
    ).json()
    node = body["data"]["assetNodeOrError"]
    assert node["__typename"] == "AssetNode", body
    names = {i["name"] for i in node["targetingInstigators"]}
    # Every platform's fresh schedule and new-connection sensor refreshes daily_summary (Google Ads too).
    assert names == {
        "shopify_fresh_schedule", "meta_fresh_schedule", "google_ads_fresh_schedule",
        "shopify_new_connection_sensor", "meta_new_connection_sensor", "google_ads_new_connection_sensor",
    }  # fmt: skip
