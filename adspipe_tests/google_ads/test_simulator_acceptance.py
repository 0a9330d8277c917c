"""Google Ads wired in, against the simulator (real clients, real HTTP), next to Shopify and Meta.

A 7-day fill of every platform across the simulator's three stores (three time zones): Google
Ads facts and daily_ad_metrics rows equal the simulator's truth (spend to the cent, fractional
conversions exactly), and daily_summary's spend and MER equal the truth over Meta + Google for
every store-day (MER = net revenue / (Meta account-level spend + Google spend)). Then the clock
moves on and google_ads_fresh picks up the conversions that arrived late.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from adspipe.meta import sync as meta_sync
from adspipe.shopify import sync as shopify_sync
from adspipe.simulator.google_ads_compare import google_ads_differences, summary_spend_differences
from adspipe_tests.faults.harness import TOKEN_ENV, meta_client, register, shopify_client
from adspipe_tests.google_ads.gads_env import GadsEnv, make_gads_env
from adspipe_tests.simulator_fixtures import RunningSimulator

NOW = datetime(2026, 4, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def gads(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> GadsEnv:
    return make_gads_env(engine, make_simulator, monkeypatch, now=NOW)


def _window(gads: GadsEnv, customer_id: str, back: int) -> tuple[date, date]:
    today = gads.today(customer_id)
    return today - timedelta(days=back), today - timedelta(days=1)


def test_fill_equals_the_truth_and_daily_summary_adds_meta_and_google(
    gads: GadsEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "sim-token")
    world = register(gads.engine, gads.sim)
    assert len(world.store_names) == 3 and len({gads.timezone(c) for c in gads.customers}) == 3
    now = gads.now()
    shop = shopify_sync.shopify_7d_fill(gads.engine, shopify_client(gads.vt), now)
    assert not shop.report.failed
    meta = meta_sync.run_fill(gads.engine, meta_client(gads.vt), now=now)
    assert not meta.report.failed
    gads.fill()

    gworld = gads.sim.google_ads.world
    compared = 0
    for customer_id in gads.customers:
        since, until = _window(gads, customer_id, 7)
        n, diffs = google_ads_differences(gads.engine, gworld, customer_id, since, until, at=now)
        assert diffs == [], diffs
        compared += n
    assert compared == 21
    # Every store-day the fills covered in all three of its platforms' (shared) time zone.
    total = 0
    for customer in gworld.customers:
        name = world.store_names[customer.store_index]
        since, until = _window(gads, customer.customer_id, 7)
        n, diffs = summary_spend_differences(
            gads.engine, gads.sim.truth, gworld, [name], since, until, at=now
        )
        assert diffs == [], diffs
        total += n
    assert total == 21


def test_fresh_after_the_clock_moved_picks_up_late_conversions(gads: GadsEnv) -> None:
    gads.fill()
    gworld = gads.sim.google_ads.world
    first = gads.now()
    gads.move(timedelta(days=4))
    later = gads.now()
    # The warehouse still holds the first answer: the truth moved (late conversions).
    stale = 0
    for customer_id in gads.customers:
        today = gads.today(customer_id)
        since, until = today - timedelta(days=11), today - timedelta(days=5)  # the fill's days, 4 days on
        _, diffs = google_ads_differences(gads.engine, gworld, customer_id, since, until, at=later)
        stale += sum("conversions" in d for d in diffs)
        _, before = google_ads_differences(gads.engine, gworld, customer_id, since, until, at=first)
        assert before == [], before
    assert stale > 0
    result = gads.fresh()
    for customer_id in gads.customers:
        since, until = _window(gads, customer_id, 30)
        run = next(r for r in result.runs if r.connection.account_id == customer_id)
        assert (run.dates[0], run.dates[-1], len(run.dates)) == (since, until, 30)
        n, diffs = google_ads_differences(gads.engine, gworld, customer_id, since, until, at=later)
        assert n == 30 and diffs == [], diffs
