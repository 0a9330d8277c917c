"""The fault suite: every job on a simulator that fails often, and the warehouse still equals the
truth — nothing lost, nothing duplicated.

The simulator answers 10 % of API requests with a 5xx, hangs 5 % past the client's read timeout,
drops 3 % of connections mid-body, truncates 3 % of bodies and answers 2 % of Shopify requests
with INTERNAL_SERVER_ERROR; Shopify's bucket is 20× smaller than the Basic plan's, Meta's usage
rises 20× faster than normal, and both quotas refill at a fifth of the rate the clients expect
(as when another consumer shares them), so real THROTTLED answers and throttle errors come back
(each Meta throttle code in its own test). The fault draws are seeded (reproducible, as long as
no real answer takes longer than the read timeout: such a spurious timeout is one more request
and shifts the draws after it); the simulator clock is frozen (the truth does not move) and only advanced on
purpose between the fill and the fresh run; waits run on a virtual clock shared by the simulator
and the clients (see harness.py), so only the injected hangs cost real time.

Every test prints its figures (`-s`) and records them as JUnit properties: faults injected by
kind (the simulator's counters), requests retried (the clients' counters), rows compared.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from adspipe.checks import rules
from adspipe.meta import sync as meta_sync
from adspipe.shopify import sync as shopify_sync
from adspipe.simulator.faults import META_THROTTLE_CODES, Faults
from adspipe_tests.clocks import FakeClock
from adspipe_tests.faults.harness import (
    SEED,
    TOKEN_ENV,
    Compared,
    check_meta,
    check_orders,
    check_summary,
    injected,
    local_today,
    meta_client,
    register,
    shopify_client,
)
from adspipe_tests.simulator_fixtures import FIXED_NOW, RunningSimulator

READ_TIMEOUT_S = 0.25  # the clients' read timeout in this suite
HANG_S = 0.3  # a simulated timeout hangs just past it
# The simulator's quotas refill at this fraction of the clients' clock (a shared quota): pacing
# alone falls short, so THROTTLED answers and Meta throttle errors really come back.
SHARED_QUOTA_RATE = 0.2


def fault_knobs(*, scale: float = 1.0, **extra: Any) -> Faults:
    return Faults(
        error_5xx_rate=0.10 * scale,
        timeout_rate=0.05 * scale,
        timeout_hang_s=HANG_S,
        drop_rate=0.03 * scale,
        malformed_rate=0.03 * scale,
        shopify_internal_error_rate=0.02 * scale,
        **extra,
    )


@dataclass
class Figures:
    name: str
    injected: dict[str, dict[str, int]]
    retried: dict[str, int]
    rows_compared: int
    runs: int

    def report(self, record: Callable[[str, object], None]) -> None:
        line = json.dumps(self.__dict__, sort_keys=True)
        print(f"\nFAULT FIGURES {line}")
        record("fault_figures", line)


def _ok(report: Any, job: str = "") -> None:
    bad = [(o.connection.account_id, o.status, o.error) for o in report.outcomes if o.status != "success"]
    assert bad == [], (job, bad)


def _shopify_retries(result: shopify_sync.ShopifyResult) -> tuple[int, int]:
    return sum(s.calls.retries for s in result.runs), sum(s.calls.throttled for s in result.runs)


def _meta_retries(result: meta_sync.MetaResult) -> tuple[int, int]:
    return meta_sync.total_meter(result).transient_errors, sum(
        o.stats.throttled for o in result.report.outcomes
    )


def run_everything(
    engine: Engine, running: RunningSimulator, vt: FakeClock, monkeypatch: pytest.MonkeyPatch, *,
    max_attempts: int, range_days: int, page_size: int,
) -> Figures:  # fmt: skip
    """Both platforms: the 7-day fills at T0, the fresh runs 6 h later, then a partition range of
    each asset chain; after each, the warehouse against the truth of that moment."""
    monkeypatch.setenv(TOKEN_ENV, "sim-token")
    sim = running.sim
    world = register(engine, sim)
    shopify = shopify_client(
        vt, read_timeout_s=READ_TIMEOUT_S, page_size=page_size, max_attempts=max_attempts
    )
    meta = meta_client(vt, read_timeout_s=READ_TIMEOUT_S, max_transient_retries=max_attempts - 1)
    compared = Compared()
    retries = {"shopify_transient": 0, "shopify_throttled": 0, "meta_transient": 0, "meta_throttled": 0}

    def count(platform: str, pair: tuple[int, int]) -> None:
        retries[f"{platform}_transient"] += pair[0]
        retries[f"{platform}_throttled"] += pair[1]

    t0 = sim.clock.now()
    fill = shopify_sync.shopify_7d_fill(engine, shopify, t0)
    _ok(fill.report, "shopify_7d_fill")
    count("shopify", _shopify_retries(fill))
    mfill = meta_sync.run_fill(engine, meta, now=t0)
    _ok(mfill.report, "meta_7d_fill")
    count("meta", _meta_retries(mfill))
    for shop in world.shops:
        today = local_today(t0, world.timezones[shop])
        check_orders(engine, sim, shop, today - timedelta(days=7), today, compared)
    for account in world.accounts:
        window = meta_sync.fill_window(world.timezones[account], t0)
        check_meta(engine, sim, account, *window, compared)
    # Every local date in [UTC today − 6, UTC today − 2] is inside both fills, whatever the zone.
    check_summary(engine, sim, world.store_names, t0.date() - timedelta(days=6), t0.date() - timedelta(days=2),
                  compared)  # fmt: skip

    sim.clock.advance(timedelta(hours=6))
    t1 = sim.clock.now()
    fresh = shopify_sync.shopify_fresh(engine, shopify, t1)
    _ok(fresh.report, "shopify_fresh")
    count("shopify", _shopify_retries(fresh))
    assert not any(s.stopped_at_budget for s in fresh.runs)
    mfresh = meta_sync.run_fresh(engine, meta, now=t1)
    _ok(mfresh.report, "meta_fresh")
    count("meta", _meta_retries(mfresh))
    for shop in world.shops:
        today = local_today(t1, world.timezones[shop])
        check_orders(
            engine, sim, shop, local_today(t0, world.timezones[shop]) - timedelta(days=7), today, compared
        )
    for account, connection in world.accounts.items():
        window = meta_sync.fresh_window(world.timezones[account], t1, connection.attribution_window_days)
        check_meta(engine, sim, account, *window, compared)

    first = t0.date() - timedelta(days=30)
    days = [first + timedelta(days=i) for i in range(range_days)]
    part = shopify_sync.sync_days(engine, shopify, days)
    _ok(part.report, "shopify partitions")
    count("shopify", _shopify_retries(part))
    mpart = meta_sync.run_dates(engine, meta, days, now=t1)
    _ok(mpart.report, "meta partitions")
    count("meta", _meta_retries(mpart))
    for shop in world.shops:
        check_orders(engine, sim, shop, days[0], days[-1], compared)
    for account in world.accounts:
        check_meta(engine, sim, account, days[0], days[-1], compared)
    check_summary(engine, sim, world.store_names, days[0], days[-1], compared)

    assert compared.diffs == [], compared.diffs[:20]
    with engine.connect() as db:
        for check in (rules.shopify_raw_fact_parity, rules.meta_raw_fact_parity, rules.summary_matches_facts,
                      rules.cursor_consistency):  # fmt: skip
            outcome = check(db)
            assert outcome.passed or outcome.severity == "WARN", (outcome.name, outcome.problems)
    return Figures("", injected(sim), retries, compared.rows, runs=6)


def test_every_job_under_faults_equals_truth(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch,
    record_property: Callable[[str, object], None],
) -> None:  # fmt: skip
    vt = FakeClock()
    faults = fault_knobs(shopify_plan="Basic", shopify_bucket_scale=0.05, meta_throttle_intensity=40.0)
    running = make_simulator(
        seed=SEED, stores=2, faults=faults, monotonic=vt.slowed(SHARED_QUOTA_RATE), now=FIXED_NOW
    )
    figures = run_everything(engine, running, vt, monkeypatch, max_attempts=10, range_days=2, page_size=100)
    figures.name = f"default ({engine.dialect.name})"
    figures.report(record_property)
    for kind in ("5xx", "timeout", "drop", "malformed"):
        assert figures.injected["shopify"].get(kind, 0) > 0 and figures.injected["meta"].get(kind, 0) > 0, (
            kind
        )
    assert figures.injected["shopify"].get("throttled", 0) > 0 and figures.retried["shopify_throttled"] > 0
    assert figures.injected["meta"].get("throttled", 0) > 0 and figures.retried["meta_throttled"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("warehouse_url", ["postgres"], indirect=True)
def test_heavy_faults_over_more_days_equal_truth(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch,
    record_property: Callable[[str, object], None],
) -> None:  # fmt: skip
    """Twice the rates (20 % 5xx, 10 % timeouts, 6 % drops, 6 % truncated, 4 % internal), a
    tighter bucket, faster Meta usage, and a 14-day partition range."""
    vt = FakeClock()
    faults = fault_knobs(
        scale=2.0, shopify_plan="Basic", shopify_bucket_scale=0.05, meta_throttle_intensity=30.0
    )
    running = make_simulator(
        seed=SEED + 1, stores=3, faults=faults, monotonic=vt.slowed(SHARED_QUOTA_RATE), now=FIXED_NOW
    )
    figures = run_everything(engine, running, vt, monkeypatch, max_attempts=14, range_days=14, page_size=50)
    figures.name = "heavy (postgres)"
    figures.report(record_property)
    assert figures.injected["shopify"].get("throttled", 0) > 0


THROTTLES = [pytest.param(code, False, id=f"code-{code}") for code in META_THROTTLE_CODES] + [
    pytest.param(80000, True, id="plain-429")
]


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("code", "plain_429"), THROTTLES)
def test_meta_rides_out_each_throttle_code(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch,
    record_property: Callable[[str, object], None], code: int, plain_429: bool,
) -> None:  # fmt: skip
    """Usage rising 60× faster than normal: the client paces, waits out the throttles of this code
    (HTTP 400 + code, or a plain 429) and every day equals the truth."""
    vt = FakeClock()
    faults = Faults(meta_throttle_intensity=60.0, meta_throttle_code=code, meta_plain_429=plain_429)
    running = make_simulator(
        seed=SEED, stores=1, faults=faults, monotonic=vt.slowed(SHARED_QUOTA_RATE), ads_per_account=30
    )
    monkeypatch.setenv(TOKEN_ENV, "sim-token")
    world = register(engine, running.sim, shopify=False)
    meta = meta_client(vt, page_limit=25)
    now = running.sim.clock.now()
    days = [date(2026, 4, 1) + timedelta(days=i) for i in range(2)]
    result = meta_sync.run_dates(engine, meta, days, now=now)
    _ok(result.report)
    compared = Compared()
    for account in world.accounts:
        check_meta(engine, running.sim, account, days[0], days[-1], compared)
    assert compared.diffs == []
    transient, throttled = _meta_retries(result)
    counts = running.sim.counts()["meta"]
    assert counts["throttled"] > 0 and throttled == counts["throttled"]
    statuses = {r.status for r in running.sim.request_log("meta") if r.outcome == "throttled"}
    assert statuses == ({429} if plain_429 else {400})
    Figures(f"meta throttle {code}{' 429' if plain_429 else ''}", injected(running.sim),
            {"meta_throttled": throttled, "meta_transient": transient}, compared.rows, runs=1).report(record_property)  # fmt: skip


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_shopify_rides_out_a_tight_bucket(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch,
    record_property: Callable[[str, object], None],
) -> None:  # fmt: skip
    """A Basic plan's bucket 20× smaller (100 points, 5 points/s), refilling at a fifth of the
    rate the client expects: THROTTLED answers, waited out on the bucket's own figures."""
    vt = FakeClock()
    faults = Faults(shopify_bucket_scale=0.05, shopify_plan="Basic")
    running = make_simulator(seed=SEED, stores=1, faults=faults, monotonic=vt.slowed(SHARED_QUOTA_RATE))
    monkeypatch.setenv(TOKEN_ENV, "sim-token")
    world = register(engine, running.sim, meta=False)
    shopify = shopify_client(vt)
    now = running.sim.clock.now()
    result = shopify_sync.shopify_7d_fill(engine, shopify, now)
    _ok(result.report)
    compared = Compared()
    for shop in world.shops:
        today = local_today(now, world.timezones[shop])
        check_orders(engine, running.sim, shop, today - timedelta(days=7), today, compared)
    assert compared.diffs == []
    transient, throttled = _shopify_retries(result)
    assert running.sim.counts()["shopify"]["throttled"] > 0 and throttled > 0
    Figures("shopify tight bucket", injected(running.sim),
            {"shopify_throttled": throttled, "shopify_transient": transient, "virtual_wait_s": round(vt.slept)},
            compared.rows, runs=1).report(record_property)  # fmt: skip
