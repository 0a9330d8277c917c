"""Issue 4's acceptance list, against the local simulator (real `ShopifyClient`, real HTTP).

The sync functions are called directly (no Dagster), with `now=` read from the simulator clock,
which is frozen and only moved on purpose between runs, so refunds and cancellations arrive as it
moves. Waits (pacing, THROTTLED) run on a virtual clock shared by the client and the simulator's
bucket (see adspipe_tests/faults/harness.py): exact for the bucket, instant in real time.

Stores of the default world (seed 1): Pioneer Botanicals (America/Los_Angeles, west of UTC),
Summit Outfitters (Europe/Berlin, east; EU DST began 29 Mar 2026) and Lumen Outfitters
(Pacific/Auckland; NZ DST ended 5 Apr 2026). T0 = 2026-04-03 06:00Z puts 29 Mar in Berlin's fill
window and 5 Apr in Auckland's window as the clock moves on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.platform.engine import REAUTH_HINT
from adspipe.shopify import sync
from adspipe.shopify.client import ShopifyClient
from adspipe.shopify.report import run_metadata
from adspipe.simulator.compare import orders_differences, shopify_metrics_differences
from adspipe.simulator.faults import Faults
from adspipe.warehouse import connections as conns
from adspipe.warehouse.schema import connections, shopify_orders_raw
from adspipe_tests.clocks import FakeClock
from adspipe_tests.faults.harness import TOKEN_ENV, World, local_today, register, shopify_client
from adspipe_tests.shopify.helpers import cursor, mart, sync_runs, table_digests
from adspipe_tests.simulator_fixtures import RunningSimulator

T0 = datetime(2026, 4, 3, 6, 0, tzinfo=UTC)
WEST, EAST, DST_END = (
    "pioneer-botanicals.myshopify.com",
    "summit-outfitters.myshopify.com",
    "lumen-outfitters.myshopify.com",
)
# Between runs the clock moves by hours, then by days (refunds and cancellations arrive up to 10
# days after their order).
STEPS = (
    timedelta(hours=3),
    timedelta(hours=9),
    timedelta(days=1),
    timedelta(days=1, hours=5),
    timedelta(days=2),
)


@dataclass
class Env:
    engine: Engine
    running: RunningSimulator
    vt: FakeClock
    client: ShopifyClient
    world: World

    @property
    def sim(self) -> Any:
        return self.running.sim

    def now(self) -> datetime:
        return self.sim.clock.now()

    def fill(self) -> sync.ShopifyResult:
        return _ok(sync.shopify_7d_fill(self.engine, self.client, self.now()))

    def fresh(self) -> sync.ShopifyResult:
        return _ok(sync.shopify_fresh(self.engine, self.client, self.now()))

    def conn_id(self, shop: str) -> int:
        return self.world.shops[shop].connection_id

    def store_id(self, shop: str) -> int:
        return self.world.shops[shop].store_id


def _ok(result: sync.ShopifyResult) -> sync.ShopifyResult:
    bad = [
        (o.connection.account_id, o.status, o.error) for o in result.report.outcomes if o.status != "success"
    ]
    assert bad == [], bad
    return result


@pytest.fixture
def make_env(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Env]:
    def make(
        *, now: datetime = T0, stores: tuple[int, ...] = (0, 1, 2), quota_rate: float = 1.0, **kwargs: Any
    ) -> Env:
        vt = FakeClock()
        kwargs.setdefault("stores", 3)
        running = make_simulator(now=now, monotonic=vt.slowed(quota_rate), **kwargs)
        monkeypatch.setenv(TOKEN_ENV, "sim-token")
        world = register(engine, running.sim, stores=stores, meta=False)
        return Env(engine, running, vt, shopify_client(vt), world)

    return make


def _window_start(env: Env, shop: str, at: datetime) -> date:
    return sync.fill_window(at, env.world.timezones[shop])[0]


def _compare(env: Env, shop: str, since: date) -> tuple[int, list[str]]:
    until = local_today(env.now(), env.world.timezones[shop])
    rows, diffs = shopify_metrics_differences(env.engine, env.sim.truth, shop, since, until)
    _, order_diffs = orders_differences(env.engine, env.sim.truth, shop, since, until)
    return rows, diffs + order_diffs


def _dst_changes(timezone: str, since: date, until: date) -> list[date]:
    """Local dates in since..until whose length is not 24 h."""
    tz, out = ZoneInfo(timezone), []
    day = since
    while day <= until:
        start = datetime(day.year, day.month, day.day, tzinfo=tz)
        end = start + timedelta(days=1)
        if end.astimezone(UTC) - start.astimezone(UTC) != timedelta(days=1):
            out.append(day)
        day += timedelta(days=1)
    return out


def test_marts_equal_truth_as_refunds_and_cancellations_arrive(make_env: Callable[..., Env]) -> None:
    env = make_env()
    starts = {shop: _window_start(env, shop, T0) for shop in env.world.shops}
    cursors: dict[str, list[datetime | None]] = {shop: [] for shop in env.world.shops}
    compared = 0

    def check(label: str) -> None:
        nonlocal compared
        for shop in env.world.shops:
            rows, diffs = _compare(env, shop, starts[shop])
            compared += rows
            assert diffs == [], (label, diffs[:20])
            cursors[shop].append(cursor(env.engine, env.conn_id(shop)))

    env.fill()
    check("fill")
    for step in STEPS:
        env.sim.clock.advance(step)
        env.fresh()
        check(f"fresh at {env.now()}")

    # The cursor never went back, and it moved.
    for shop, seen in cursors.items():
        assert None not in seen, shop
        assert seen == sorted(seen), (shop, seen)  # type: ignore[type-var]
        assert seen[-1] > seen[0], shop  # type: ignore[operator]

    # The clock really moved through refunds and cancellations of orders already synced.
    end = env.now()
    changed_refunds = changed_cancels = 0
    for shop in env.world.shops:
        until = local_today(T0, env.world.timezones[shop])
        before = {o.order_id: o for o in env.sim.truth.orders(shop, starts[shop], until, at=T0)}
        for o in env.sim.truth.orders(shop, starts[shop], until, at=end):
            if o.order_id not in before:
                continue  # created after T0
            changed_refunds += o.refunded != before[o.order_id].refunded
            changed_cancels += o.cancelled != before[o.order_id].cancelled
    assert changed_refunds > 0 and changed_cancels > 0, (changed_refunds, changed_cancels)

    # West, east, and DST changes inside the windows compared.
    assert ZoneInfo(env.world.timezones[WEST]).utcoffset(end.replace(tzinfo=None)) < timedelta(0)
    assert ZoneInfo(env.world.timezones[EAST]).utcoffset(end.replace(tzinfo=None)) > timedelta(0)
    dst = {
        shop: _dst_changes(
            env.world.timezones[shop], starts[shop], local_today(end, env.world.timezones[shop])
        )
        for shop in (EAST, DST_END)
    }
    assert dst == {EAST: [date(2026, 3, 29)], DST_END: [date(2026, 4, 5)]}
    print(
        f"\nSHOPIFY ACCEPTANCE rows compared {compared}, {len(STEPS)} fresh runs, "
        f"{changed_refunds} refunds and {changed_cancels} cancellations arrived after the fill"
    )


# sync_runs is the run log (one new row per run, started_at/finished_at): excluded. Every other
# table — raw, facts, marts, cursors and connections with their timestamps — must not change.
def test_running_either_job_again_changes_nothing(make_env: Callable[..., Env]) -> None:
    env = make_env(stores=(0, 1))
    env.fill()
    env.sim.clock.advance(timedelta(hours=6))
    env.fresh()
    before = table_digests(env.engine)
    # every table but the ad platforms' (Meta's, Google Ads', daily_ad_metrics and its per-platform
    # summary) has rows
    ads = ("meta", "google_ads", "daily_ad_metrics", "daily_summary_platform")
    assert all(not v.startswith("0:") for k, v in before.items() if not any(a in k for a in ads)), before
    runs = len(sync_runs(env.engine))

    env.fill()
    assert table_digests(env.engine) == before, "shopify_7d_fill again"
    env.fresh()
    assert table_digests(env.engine) == before, "shopify_fresh again"
    assert len(sync_runs(env.engine)) == runs + 2 * len(env.world.shops)


def test_idle_fresh_makes_one_cheap_query_and_rewrites_no_mart(make_env: Callable[..., Env]) -> None:
    env = make_env(stores=(0, 1))
    env.fill()
    env.sim.clock.advance(timedelta(hours=2))
    env.fresh()
    cursors_before = {shop: cursor(env.engine, env.conn_id(shop)) for shop in env.world.shops}
    marts_before = {shop: mart(env.engine, env.store_id(shop)) for shop in env.world.shops}
    digests = table_digests(env.engine)

    env.sim.reset_stats()
    result = env.fresh()

    log = env.sim.request_log("shopify")
    assert sorted(r.account for r in log) == sorted(env.world.shops), log
    assert all(r.endpoint == "graphql" and r.outcome == "ok" for r in log), log
    for shop_result in result.runs:
        shop = shop_result.connection.account_id
        calls = shop_result.calls
        assert calls.api_calls == 1 and calls.pages == 1 and calls.throttled == 0, (shop, calls)
        # The orders at the cursor itself come back (>=) and are recognised as unchanged.
        assert 1 <= shop_result.orders_read <= 3, (shop, shop_result.orders_read)
        assert shop_result.orders_written == 0 and shop_result.mart_rows == 0, shop_result
        assert shop_result.dates == set(), shop_result.dates
        # One query of the orders shape (first 250, line items): far under the 1,000 single-query
        # cap, and it only costs the handful of orders at the cursor.
        assert 0 < calls.requested_cost <= 100 and calls.actual_cost <= 20, (shop, calls)
        print(f"\nidle fresh {shop}: requested cost {calls.requested_cost:g}, actual {calls.actual_cost:g}")
        assert cursor(env.engine, env.conn_id(shop)) == cursors_before[shop]
        assert mart(env.engine, env.store_id(shop)) == marts_before[shop]
    assert table_digests(env.engine) == digests


def _late_refund(env: Env, shop: str, end: datetime) -> tuple[Any, Any]:
    """An order in the fill window, unrefunded at T0, whose only change by `end` is a refund
    arriving at least three days after it was created."""
    tz = env.world.timezones[shop]
    since, until = _window_start(env, shop, T0), local_today(T0, tz)
    before = {o.order_id: o for o in env.sim.truth.orders(shop, since, until, at=T0)}
    for after in env.sim.truth.orders(shop, since, until, at=end):
        old = before[after.order_id]
        if not after.counted or old.refunded or not after.refunded or old.cancelled:
            continue
        if after.updated_at - after.created_at < timedelta(days=3) or after.updated_at <= T0:
            continue
        # Exactly one change: the refund (one instant before it, the order is as at T0).
        just_before = env.sim.truth.orders(shop, after.local_date, after.local_date,
                                           at=after.updated_at - timedelta(seconds=1))  # fmt: skip
        prior = next(o for o in just_before if o.order_id == after.order_id)
        if prior.refunded == 0 and prior.updated_at == old.updated_at:
            return old, after
    raise AssertionError(f"no late refund in {shop}'s window")


def test_late_refund_changes_the_order_date_not_the_refund_date(make_env: Callable[..., Env]) -> None:
    env = make_env(stores=(1,))
    shop = EAST
    tz = env.world.timezones[shop]
    old, refunded = _late_refund(env, shop, T0 + timedelta(days=8))
    refund_date = refunded.updated_at.astimezone(ZoneInfo(tz)).date()
    assert (refund_date - refunded.local_date).days >= 3

    env.fill()
    before = mart(env.engine, env.store_id(shop))
    order_day = before[refunded.local_date]
    env.sim.clock.set(refunded.updated_at + timedelta(minutes=1))
    env.fresh()
    after = mart(env.engine, env.store_id(shop))

    # The order's date carries the refund (plus whatever else the truth says changed that day)…
    truth_then = env.sim.truth.shopify_daily(shop, refunded.local_date, refunded.local_date, at=T0)[0]
    truth_now = env.sim.truth.shopify_daily(shop, refunded.local_date, refunded.local_date)[0]
    assert (
        after[refunded.local_date]["refunds"] - order_day["refunds"] == truth_now.refunds - truth_then.refunds
    )
    assert truth_now.refunds - truth_then.refunds >= refunded.refunded
    assert after[refunded.local_date]["refunds"] == truth_now.refunds
    # …and the refund's own date does not: it holds exactly the refunds of its own orders.
    truth_refund_day = env.sim.truth.shopify_daily(shop, refund_date, refund_date)[0]
    assert after.get(refund_date, {"refunds": Decimal("0.00")})["refunds"] == truth_refund_day.refunds
    rows, diffs = _compare(env, shop, _window_start(env, shop, T0))
    assert diffs == [], diffs[:20]


# The heavy one: SQLite by default, Postgres under -m slow.
@pytest.mark.parametrize(
    "warehouse_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.slow)], indirect=True
)
def test_standard_plan_throttled_fill_of_5000_orders(make_env: Callable[..., Env]) -> None:
    # Shopify's "Shopify" plan (the standard one): bucket 2,000, restore 100/s; scaled to a tenth
    # and refilling at half the client's clock, so pacing falls short and THROTTLED answers come.
    env = make_env(
        stores=(0,), quota_rate=0.5, orders_per_day=700,
        faults=Faults(shopify_plan="Shopify", shopify_bucket_scale=0.1),
    )  # fmt: skip
    shop = WEST
    since = _window_start(env, shop, T0)
    wanted = env.sim.truth.orders(shop, since, local_today(T0, env.world.timezones[shop]))
    assert len(wanted) >= 5000, len(wanted)

    result = env.fill()
    counts = env.sim.counts()["shopify"]
    calls = result.runs[0].calls
    run = [r for r in sync_runs(env.engine, "shopify_7d_fill") if r["connection_id"] == env.conn_id(shop)][-1]
    assert run["status"] == "success" and run["error"] is None
    assert counts["throttled"] > 0
    assert run["throttled"] == counts["throttled"] == calls.throttled == run_metadata(result)["throttled"]
    assert run["api_calls"] == calls.api_calls
    assert result.runs[0].orders_read == len(wanted)
    with env.engine.connect() as db:
        payloads = db.execute(sa.select(shopify_orders_raw.c.payload)).scalars().all()
    assert len(payloads) == len(wanted)
    lines = [p if isinstance(p, dict) else json.loads(p) for p in payloads]
    assert all(p["lineItems"]["nodes"] for p in lines)
    rows, diffs = _compare(env, shop, since)
    assert diffs == [], diffs[:20]
    print(
        f"\nSTANDARD PLAN FILL {len(wanted)} orders, {calls.api_calls} calls, {counts['throttled']} THROTTLED, "
        f"throttle wait {calls.throttle_wait_s:.1f} s + pace {calls.pace_wait_s:.1f} s (virtual)"
    )


def test_revoked_token_marks_needs_reauth_and_the_others_sync(
    make_env: Callable[..., Env], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = make_env(tokens=("sim-token", "east-token"))
    monkeypatch.setenv("EAST_SHOP_TOKEN", "east-token")
    with env.engine.begin() as db:
        db.execute(
            sa.update(connections)
            .where(connections.c.connection_id == env.conn_id(EAST))
            .values(token_ref="env:EAST_SHOP_TOKEN")
        )
    env.fill()
    env.sim.faults.update(revoked_tokens=["east-token"])
    env.sim.clock.advance(timedelta(hours=8))

    result = sync.shopify_fresh(env.engine, env.client, env.now())
    status = {o.connection.account_id: o for o in result.report.outcomes}
    assert status[EAST].status == "failed"
    assert status[WEST].status == status[DST_END].status == "success"
    with env.engine.connect() as db:
        east = conns.get_connection(db, env.conn_id(EAST))
        row = db.execute(sa.select(connections).where(connections.c.connection_id == env.conn_id(EAST))).one()
    assert east.status == "needs_reauth"
    reason = row.status_reason or ""
    assert "401" in reason or "Invalid API key" in reason, reason
    error = [r for r in sync_runs(env.engine, "shopify_fresh") if r["connection_id"] == env.conn_id(EAST)][-1]
    assert error["status"] == "failed"
    assert REAUTH_HINT in error["error"] and "adspipe connect" in error["error"]
    assert "east-token" not in error["error"] and "east-token" not in (row.status_reason or "")
    for shop in (WEST, DST_END):
        rows, diffs = _compare(env, shop, _window_start(env, shop, T0))
        assert diffs == [], diffs[:20]
    # The next run skips the connection that needs re-authorization and still syncs the others.
    env.sim.clock.advance(timedelta(hours=1))
    again = _ok(sync.shopify_fresh(env.engine, env.client, env.now()))
    assert sorted(o.connection.account_id for o in again.report.outcomes) == sorted([WEST, DST_END])
