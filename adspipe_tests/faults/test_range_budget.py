"""A partition range's time budget grows with its days (RANGE_DAY_TIME_BUDGET_S a day): one
fill's budget for a whole range failed a big shop's 30-day backfill run on pacing alone (bench P6,
paged: DeadlineReached). The full-size evidence is P6's paged year in 30-day runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from adspipe.shopify import settings as shopify_settings
from adspipe.shopify import sync as shopify_sync
from adspipe_tests.clocks import FakeClock
from adspipe_tests.faults.harness import (
    TOKEN_ENV,
    Compared,
    check_orders,
    local_today,
    register,
    shopify_client,
)
from adspipe_tests.faults.platforms import ok
from adspipe_tests.simulator_fixtures import RunningSimulator

DAYS = 4


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_a_ranges_deadline_is_its_days_times_the_per_day_budget(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    vt = FakeClock()
    running = make_simulator(seed=7, stores=1, monotonic=vt.monotonic)
    monkeypatch.setenv(TOKEN_ENV, "sim-token")
    monkeypatch.setenv("ADSPIPE_SHOPIFY_BULK", "never")
    world = register(engine, running.sim, meta=False)
    (shop,) = world.shops
    now = running.sim.clock.now()
    today = local_today(now, world.timezones[shop])
    days = [today - timedelta(days=n) for n in range(DAYS, 0, -1)]
    budgets: list[float] = []
    start = shopify_sync._start

    def recording(engine: Engine, client: Any, connection: Any, budget_s: float) -> Any:
        budgets.append(budget_s)
        return start(engine, client, connection, budget_s)

    monkeypatch.setattr(shopify_sync, "_start", recording)
    ok(shopify_sync.sync_days(engine, shopify_client(vt), days, now=now))
    assert (
        budgets == [DAYS * shopify_settings.RANGE_DAY_TIME_BUDGET_S]
        and budgets[0] > shopify_settings.FILL_TIME_BUDGET_S
    )
    compared = Compared()
    check_orders(engine, running.sim, shop, days[0], days[-1], compared)
    assert compared.diffs == [] and compared.rows > 0
