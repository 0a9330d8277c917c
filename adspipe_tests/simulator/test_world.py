"""The world: deterministic from the seed, time zones on both sides of UTC with DST, the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from adspipe.simulator.cli import simulator
from adspipe.simulator.world import World
from adspipe_tests.simulator_fixtures import FIXED_NOW


def test_same_seed_same_world_other_seed_other_world() -> None:
    a, b, c = World(5), World(5), World(6)
    assert a.describe() == b.describe() != c.describe()
    day = FIXED_NOW.date().toordinal()
    assert a.orders_on(a.stores[0], day) == b.orders_on(b.stores[0], day)
    assert a.ad_days_on(a.accounts[0], day) == b.ad_days_on(b.accounts[0], day)
    # generating days in another order changes nothing
    b.orders_on(b.stores[0], day + 3)
    assert a.orders_on(a.stores[0], day - 1) == b.orders_on(b.stores[0], day - 1)


def test_default_world_has_zones_west_and_east_with_dst_in_the_test_window() -> None:
    for seed in (1, 2, 3):
        world = World(seed)
        offsets = []
        for store in world.stores:
            tz = ZoneInfo(store.timezone)
            then, now = (FIXED_NOW - timedelta(days=60)).astimezone(tz), FIXED_NOW.astimezone(tz)
            offsets.append(now.utcoffset())
            assert then.utcoffset() != now.utcoffset(), store.timezone  # a DST change inside the window
        assert offsets[0] < timedelta(0) < offsets[1] < offsets[2]
        assert [len(s.accounts) for s in world.stores] == [2, 1, 1]
        assert world.stores[0].accounts[1].timezone != world.stores[0].timezone
        assert world.stores[2].accounts[0].currency != world.stores[2].currency


def test_orders_have_refunds_and_cancellations_that_arrive_later() -> None:
    world = World(1)
    store = world.stores[0]
    orders = [o for d in range(30) for o in world.orders_on(store, FIXED_NOW.date().toordinal() - d)]
    late = [o for o in orders if o.refunds and o.refunds[0].time > o.created + 86400]
    cancelled = [o for o in orders if o.cancel_time is not None]
    assert late and cancelled and any(o.test for o in orders)
    assert all(len(o.lines) >= 1 for o in orders)


def test_cli_world_json_and_serve_help() -> None:
    runner = CliRunner()
    result = runner.invoke(simulator, ["world", "--seed", "4", "--json"])
    assert result.exit_code == 0
    described = json.loads(result.output)
    assert described == World(4).describe()
    assert all(a["id"].startswith("act_") for s in described["stores"] for a in s["ad_accounts"])
    text = runner.invoke(simulator, ["world"]).output
    assert ".myshopify.com" in text and "act_" in text
    help_text = runner.invoke(simulator, ["serve", "--help"]).output
    for option in ("--seed", "--stores", "--error-rate", "--meta-throttle-code", "--clock-speed", "--token"):
        assert option in help_text


def test_adspipe_cli_has_the_simulator_group() -> None:
    from adspipe.cli import main

    result = CliRunner().invoke(main, ["simulator", "world", "--stores", "1"])
    assert result.exit_code == 0 and ".myshopify.com" in result.output


def test_now_default_is_real_time() -> None:
    from adspipe.simulator.clock import SimClock

    assert abs(SimClock().now() - datetime.now(UTC)) < timedelta(seconds=5)
