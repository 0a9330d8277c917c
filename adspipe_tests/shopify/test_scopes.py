"""Issue 14: the app's access scopes are read, not assumed (connect, fill, partition ranges).

Without `read_all_orders` Shopify returns no order created more than 60 days ago, with no error:
a day older than that would load short. Such a day fails alone, naming the scope, and nothing is
written for it; the other days of the range load.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from adspipe.cli import main
from adspipe.shopify import settings, sync
from adspipe.simulator.compare import orders_differences, shopify_metrics_differences
from adspipe.warehouse import db
from adspipe.warehouse.schema import connections, daily_shopify_metrics, fact_orders, shopify_orders_raw
from adspipe_tests.clocks import FakeClock
from adspipe_tests.faults.harness import TOKEN_ENV, local_today, register, shopify_client
from adspipe_tests.shopify.helpers import sync_runs
from adspipe_tests.simulator_fixtures import FIXED_NOW, TOKEN, RunningSimulator

SHOP = "pioneer-botanicals.myshopify.com"  # store 0 of seed 1: America/Los_Angeles


def _rows(engine: Engine, table: sa.Table, shop: str) -> int:
    with engine.connect() as db:
        return int(
            db.execute(
                sa.select(sa.func.count()).select_from(table).where(table.c.shop_domain == shop)
            ).scalar_one()
        )


def test_a_90_day_range_without_read_all_orders_fails_the_30_oldest_days_alone(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    vt = FakeClock()
    running = make_simulator(now=FIXED_NOW, monotonic=vt.monotonic, stores=1)
    running.sim.faults.update(shopify_no_read_all_orders_shops=[SHOP])
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    world = register(engine, running.sim, meta=False)
    today = local_today(FIXED_NOW, world.timezones[SHOP])  # 2026-04-15 (05:00 in Los Angeles)
    days = [today - timedelta(days=i) for i in range(89, -1, -1)]
    result = sync.sync_days(engine, shopify_client(vt), days, now=FIXED_NOW)

    # now − 60 days is 2026-02-14 05:00 local: 02-14 and older would load short.
    oldest = today - timedelta(days=59)
    failed = [d for d in days if d < oldest]
    assert len(failed) == 30 and failed[-1].isoformat() == "2026-02-14"
    assert result.failed_dates(days) == failed
    (shop,) = result.runs
    assert sorted(shop.failed_days) == failed
    for message in shop.failed_days.values():
        assert "lacks the read_all_orders scope" in message and "nothing was written" in message
    # Nothing written for the failed days; the other 60 days equal the simulator's truth.
    with engine.connect() as db:
        old = db.execute(
            sa.select(sa.func.count()).select_from(fact_orders).where(fact_orders.c.order_date < oldest)
        ).scalar_one()
        old_marts = db.execute(
            sa.select(sa.func.count())
            .select_from(daily_shopify_metrics)
            .where(daily_shopify_metrics.c.date < oldest)
        ).scalar_one()
    assert (old, old_marts) == (0, 0)
    assert shop.dates == set(days) - set(failed)
    compared, diffs = shopify_metrics_differences(engine, running.sim.truth, SHOP, oldest, today)
    _, order_diffs = orders_differences(engine, running.sim.truth, SHOP, oldest, today)
    assert compared == 60 and diffs == [] and order_diffs == []
    assert _rows(engine, fact_orders, SHOP) > 60 * 10
    (run,) = sync_runs(engine, settings.JOB_PARTITIONS)
    assert run["status"] == "failed"
    assert run["error"].startswith("TransientApiError: 30 of 90 day(s) failed (2026-01-16, ")
    assert "read_all_orders" in run["error"]


def test_with_read_all_orders_the_same_range_loads_whole(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    vt = FakeClock()
    running = make_simulator(now=FIXED_NOW, monotonic=vt.monotonic, stores=1)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    world = register(engine, running.sim, meta=False)
    today = local_today(FIXED_NOW, world.timezones[SHOP])
    days = [today - timedelta(days=i) for i in range(69, 49, -1)]  # 20 days around the 60-day mark
    result = sync.sync_days(engine, shopify_client(vt), days, now=FIXED_NOW)
    assert result.failed_dates(days) == [] and [o.status for o in result.report.outcomes] == ["success"]
    compared, diffs = shopify_metrics_differences(engine, running.sim.truth, SHOP, days[0], days[-1])
    assert compared == 20 and diffs == []


@pytest.mark.parametrize("job", ["fill", "days"])
def test_missing_read_orders_fails_the_shop_naming_the_scope_and_writes_nothing(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch, job: str
) -> None:
    vt = FakeClock()
    running = make_simulator(now=FIXED_NOW, monotonic=vt.monotonic, stores=1)
    running.sim.faults.update(shopify_missing_scope_shops=[SHOP])
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    register(engine, running.sim, meta=False)
    client = shopify_client(vt)
    if job == "fill":
        result = sync.shopify_7d_fill(engine, client, FIXED_NOW)
    else:
        days = [FIXED_NOW.date() - timedelta(days=3)]
        result = sync.sync_days(engine, client, days, now=FIXED_NOW)
    (outcome,) = result.report.outcomes
    assert outcome.status == "failed"
    assert outcome.error is not None and "missing the read_orders scope (granted: none)" in outcome.error
    assert (_rows(engine, shopify_orders_raw, SHOP), _rows(engine, fact_orders, SHOP)) == (0, 0)
    # The orders query was never sent: the scope read came first.
    assert result.runs[0].calls.api_calls == 2  # shop info, access scopes


# ---- adspipe connect shopify ---------------------------------------------------------------------


def _connect(shop: str = SHOP) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["connect", "shopify", "--store", "Pioneer", "--shop", shop, "--token-env", "SIM_SHOP_TOKEN"]
    )
    return result.exit_code, result.output


def _connections(engine: Engine) -> int:
    with engine.connect() as db:
        return int(db.execute(sa.select(sa.func.count()).select_from(connections)).scalar_one())


@pytest.fixture
def cli_env(
    engine: Engine,
    warehouse_url: str,
    make_simulator: Callable[..., RunningSimulator],
    monkeypatch: pytest.MonkeyPatch,
) -> RunningSimulator:
    monkeypatch.setenv("SIM_SHOP_TOKEN", TOKEN)
    return make_simulator(stores=1)


def _connected(warehouse_url: str) -> str:
    return f"connected shopify {SHOP} for store 'Pioneer' as connection 1 (warehouse {db.safe_url(warehouse_url)})"


def test_connect_reads_the_scopes_and_connects_when_both_are_granted(
    cli_env: RunningSimulator, engine: Engine, warehouse_url: str
) -> None:
    code, output = _connect()
    assert code == 0, output
    assert output.strip() == _connected(warehouse_url)
    assert _connections(engine) == 1


def test_connect_without_read_all_orders_warns_about_days_older_than_60_days(
    cli_env: RunningSimulator, engine: Engine, warehouse_url: str
) -> None:
    cli_env.sim.faults.update(shopify_no_read_all_orders_shops=[SHOP])
    code, output = _connect()
    assert code == 0, output
    lines = output.strip().splitlines()
    assert lines[0].startswith(f"warning: the app lacks the read_all_orders scope on {SHOP}")
    assert "days older than 60 days cannot be read" in lines[0]
    assert lines[1] == _connected(warehouse_url)
    assert _connections(engine) == 1


def test_connect_without_read_orders_is_an_error_and_connects_nothing(
    cli_env: RunningSimulator, engine: Engine
) -> None:
    cli_env.sim.faults.update(shopify_missing_scope_shops=[SHOP])
    code, output = _connect()
    assert code == 1
    assert output.strip() == (
        f"error: the app is missing the read_orders scope on {SHOP} (granted: none); "
        "re-install or re-authorize it with read_orders and read_all_orders"
    )
    assert _connections(engine) == 0


def test_connect_with_a_rejected_token_connects_nothing(cli_env: RunningSimulator, engine: Engine) -> None:
    cli_env.sim.faults.update(revoked_tokens=[TOKEN])
    code, output = _connect()
    assert code == 1 and "rejected the access token" in output and TOKEN not in output
    assert _connections(engine) == 0


def test_connect_to_an_unreachable_api_warns_and_connects(
    engine: Engine, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIM_SHOP_TOKEN", TOKEN)
    monkeypatch.setenv(
        "ADSPIPE_SHOPIFY_ENDPOINT", "http://127.0.0.1:9/{shop}/admin/api/{version}/graphql.json"
    )
    code, output = _connect()
    assert code == 0, output
    assert output.startswith(f"warning: could not read the access scopes of {SHOP}")
    assert _connections(engine) == 1
