"""The crash suite: SIGKILL a sync in the middle of its page loop, then check what it left.

(a) `shopify_fresh` after a 7-day fill and two days of new orders and refunds: one shop with 150
orders a day read 10 per page (dozens of pages), 40 ms of simulator latency per request, killed
after the k-th orders page was served; (b) the Meta asset chain over 10 days (`run_dates`), one
account, read 25 rows per page, killed after the k-th insights request. Each at three kill points.

(c) a Shopify partition range of 20 old days through one bulk operation, killed while polling
the operation and while downloading its JSONL result (slowed to a chunk every 50 ms).

After the kill: the process did not finish; no half-written page or day is visible (the rules
`*_raw_fact_parity` and `summary_matches_facts` pass, and every committed Meta day equals its
truth); no cursor went backwards, and the Shopify cursor is not ahead of the committed data. Then
the next run completes and the warehouse equals the truth.

The sync runs in a child process (`adspipe_tests.crash.worker`) against the simulator served by
this process and a Postgres warehouse. (The `meta_api` pool slot of a SIGKILLed Dagster run is
covered by adspipe_tests/e2e/test_daemon.py.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.checks import rules
from adspipe.google_ads.tables import fact_google_ads_daily, google_ads_raw
from adspipe.settings import GOOGLE_ADS_URL_ENV, GOOGLE_OAUTH_URL_ENV
from adspipe.shopify import sync as shopify_sync
from adspipe.shopify.client import ShopifyClient
from adspipe.simulator.faults import Faults
from adspipe.simulator.server import Simulator
from adspipe.warehouse import cursors
from adspipe.warehouse.schema import (
    fact_meta_daily,
    meta_insights_raw,
    sync_runs,
)
from adspipe_tests.clocks import FakeClock
from adspipe_tests.faults.harness import (
    TOKEN_ENV,
    Compared,
    check_orders,
    local_today,
    register,
    simulator_credentials,
)
from adspipe_tests.faults.platforms import GOOGLE_ADS, META, Harness, Knobs, ok
from adspipe_tests.simulator_fixtures import FIXED_NOW, RunningSimulator

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.parametrize("warehouse_url", ["postgres"], indirect=True),
]

SEED = 11
WORKER = [sys.executable, "-m", "adspipe_tests.crash.worker"]
ROOT = Path(__file__).resolve().parents[2]  # where `adspipe_tests` is importable from
LATENCY_S = 0.04
# (requests served before the kill, extra seconds): 0 lands while the client parses and commits
# the page just served; half the latency lands in the middle of the next request.
KILL_POINTS = [(2, 0.0), (12, LATENCY_S / 2), (25, 0.0)]
META_KILL_POINTS = [(2, 0.0), (8, LATENCY_S / 2), (15, 0.0)]
GOOGLE_KILL_POINTS = [(2, 0.0), (5, LATENCY_S / 2), (8, 0.0)]  # the customer read, then one a day


def _iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def _kill_after(
    sim: Simulator, args: list[str], served: Callable[[], int], count: int, extra_s: float
) -> int:
    """Start the worker, SIGKILL it once `served()` reaches `count` (plus `extra_s`); its exit code."""
    proc = subprocess.Popen(
        [*WORKER, *args], env=dict(os.environ), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 120
        while served() < count:
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise AssertionError(
                    f"the worker ended (exit {proc.returncode}) before the kill point:\n{out}"
                )
            if time.monotonic() > deadline:
                raise AssertionError("the worker never reached the kill point")
            time.sleep(0.002)
        if extra_s:
            time.sleep(extra_s)
        proc.send_signal(signal.SIGKILL)
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()


def _consistent(engine: Engine) -> None:
    """No half-written page or day: raw = facts per date, marts = sum of the facts, and the
    Shopify cursor is not ahead of its committed orders."""
    with engine.connect() as db:
        for check in (rules.shopify_raw_fact_parity, rules.meta_raw_fact_parity, rules.summary_matches_facts):
            outcome = check(db)
            assert outcome.passed, (outcome.name, outcome.problems)
        cursor = rules.cursor_consistency(db)
        assert cursor.passed or cursor.severity == "WARN", cursor.problems


def _cursor(engine: Engine, connection_id: int, key: str) -> str | None:
    with engine.connect() as db:
        return cursors.get_cursor(db, connection_id, key)


def _run_statuses(engine: Engine, connection_id: int) -> list[str]:
    """The sync_runs statuses of a connection, oldest first (the killed run's row is never closed)."""
    with engine.connect() as db:
        query = sa.select(sync_runs.c.job, sync_runs.c.status).where(
            sync_runs.c.connection_id == connection_id
        )
        return [f"{r.job}:{r.status}" for r in db.execute(query.order_by(sync_runs.c.sync_run_id))]


def _figures(record: Callable[[str, object], None], **figures: object) -> None:
    line = json.dumps(figures, sort_keys=True, default=str)
    print(f"\nCRASH FIGURES {line}")
    record("crash_figures", line)


@pytest.mark.parametrize(("pages", "extra_s"), KILL_POINTS, ids=[f"after-{p}-pages" for p, _ in KILL_POINTS])
def test_shopify_fresh_killed_mid_loop_resumes_to_truth(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch,
    record_property: Callable[[str, object], None], pages: int, extra_s: float,
) -> None:  # fmt: skip
    monkeypatch.setenv(TOKEN_ENV, "sim-token")
    running = make_simulator(seed=SEED, stores=1, orders_per_day=150, now=FIXED_NOW)
    sim = running.sim
    world = register(engine, sim, meta=False)
    (shop,) = world.shops
    connection = world.shops[shop]
    t0 = sim.clock.now()
    assert shopify_sync.shopify_7d_fill(engine, ShopifyClient(), t0).report.failed == []
    before = _cursor(engine, connection.connection_id, cursors.SHOPIFY_UPDATED_AT)
    assert before is not None

    sim.clock.advance(timedelta(days=2))  # two days of new orders, refunds and cancellations
    t1 = sim.clock.now()
    sim.faults.update(shopify_latency_s=LATENCY_S)
    sim.reset_stats()
    code = _kill_after(sim, ["shopify_fresh", "--now", _iso(t1), "--page-size", "10"],
                       lambda: sim.counts()["shopify"]["ok"], pages, extra_s)  # fmt: skip
    assert code == -signal.SIGKILL
    served = sim.counts()["shopify"]["ok"]
    at_kill = _cursor(engine, connection.connection_id, cursors.SHOPIFY_UPDATED_AT)
    assert at_kill is not None and at_kill >= before  # never backwards
    _consistent(engine)
    since = local_today(t0, world.timezones[shop]) - timedelta(days=7)
    until = local_today(t1, world.timezones[shop])
    partial = Compared()
    check_orders(engine, sim, shop, since, until, partial)
    assert partial.diffs, "the kill landed after the run had read everything"

    sim.faults.update(shopify_latency_s=0.0)
    resumed = shopify_sync.shopify_fresh(engine, ShopifyClient(page_size=10), t1)
    assert resumed.report.failed == [] and not resumed.runs[0].stopped_at_budget
    after = _cursor(engine, connection.connection_id, cursors.SHOPIFY_UPDATED_AT)
    assert after is not None and after >= at_kill
    _consistent(engine)
    compared = Compared()
    check_orders(engine, sim, shop, since, until, compared)
    assert compared.diffs == []
    _figures(record_property, suite="shopify_fresh", kill_after_pages=pages, extra_s=extra_s, served=served,
             cursor_before=before, cursor_at_kill=at_kill, cursor_after=after, pages_resumed=resumed.runs[0].calls.pages,
             sync_runs=_run_statuses(engine, connection.connection_id),
             rows_compared=compared.rows)  # fmt: skip


@dataclass(frozen=True)
class AdsCrash:
    """What the multi-day crash test needs to know of an ad platform."""

    harness: Harness
    job: str  # the worker's job
    endpoint: str  # the simulator endpoint of one day's request (counted to place the kill)
    fact: sa.Table
    customer_column: str
    days_with_rows: Callable[[Engine, str, date, date], list[date]]  # a second table's committed days
    cursor_key: str | None  # the platform's cursor (a partition range leaves it where it is)
    faults: Faults


def _meta_account_days(engine: Engine, account: str, first: date, last: date) -> list[date]:
    with engine.connect() as db:
        return sorted(db.execute(sa.select(meta_insights_raw.c.date).where(
            meta_insights_raw.c.ad_account_id == account, meta_insights_raw.c.level == "account",
            meta_insights_raw.c.date.between(first, last)).distinct()).scalars())  # fmt: skip


def _google_raw_days(engine: Engine, customer: str, first: date, last: date) -> list[date]:
    with engine.connect() as db:
        return sorted(db.execute(sa.select(google_ads_raw.c.date).where(
            google_ads_raw.c.customer_id == customer, google_ads_raw.c.date.between(first, last)
        ).distinct()).scalars())  # fmt: skip


ADS_CRASH = {
    # Meta: 40 ads at 25 rows a page, about 2 insights requests a day (plus one account-level call).
    "meta": AdsCrash(META, "meta_dates", "insights", fact_meta_daily, "ad_account_id", _meta_account_days,
                     cursors.META_WINDOW_END, Faults(meta_latency_s=LATENCY_S)),
    # Google Ads: one searchStream a day (after the customer read), through the manager for store 1.
    "google_ads": AdsCrash(GOOGLE_ADS, "google_ads_dates", "searchStream", fact_google_ads_daily, "customer_id",
                           _google_raw_days, None, Faults(google_ads_latency_s=LATENCY_S)),
}  # fmt: skip
ADS_KILL_POINTS = [pytest.param("meta", n, extra, id=f"meta-after-{n}-requests") for n, extra in META_KILL_POINTS] + [
    pytest.param("google_ads", n, extra, id=f"google_ads-after-{n}-requests") for n, extra in GOOGLE_KILL_POINTS
]  # fmt: skip


@pytest.mark.parametrize(("platform", "requests", "extra_s"), ADS_KILL_POINTS)
def test_ads_multi_day_run_killed_mid_loop_resumes_to_truth(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch,
    record_property: Callable[[str, object], None], platform: str, requests: int, extra_s: float,
) -> None:  # fmt: skip
    """The asset chain over 10 days of one ad account, SIGKILLed after the k-th day request."""
    crash = ADS_CRASH[platform]
    h = crash.harness
    for name, value in simulator_credentials().items():
        monkeypatch.setenv(name, value)
    running = make_simulator(seed=SEED, stores=2, ads_per_account=40, now=FIXED_NOW, faults=crash.faults)
    monkeypatch.setenv(GOOGLE_ADS_URL_ENV, running.handle.google_ads_url)
    monkeypatch.setenv(GOOGLE_OAUTH_URL_ENV, running.handle.google_oauth_url)
    sim = running.sim
    world = register(engine, sim, stores=[1], shopify=False, meta=platform == "meta",
                     google_ads=platform == "google_ads")  # fmt: skip
    (account,) = world.connections(platform)
    connection = world.connections(platform)[account]
    now = sim.clock.now()
    vt = FakeClock()
    # A fill first (for Meta, a cursor then exists: the asset chain must leave it where it is).
    ok(h.fill(engine, h.client(vt, running.handle, Knobs()), now))
    before = _cursor(engine, connection.connection_id, crash.cursor_key) if crash.cursor_key else None
    assert crash.cursor_key is None or before is not None
    first, last = date(2026, 3, 1), date(2026, 3, 10)
    sim.reset_stats()

    def served() -> int:
        return sum(1 for r in sim.request_log(platform) if r.endpoint == crash.endpoint and r.outcome == "ok")

    args = [crash.job, "--now", _iso(now), "--since", str(first), "--until", str(last), "--page-limit", "25"]
    code = _kill_after(sim, args, served, requests, extra_s)
    assert code == -signal.SIGKILL
    at_kill = served()
    if crash.cursor_key:
        assert _cursor(engine, connection.connection_id, crash.cursor_key) == before
    _consistent(engine)
    fact_date = crash.fact.c.date
    with engine.connect() as db:
        committed = sorted(db.execute(sa.select(fact_date).where(
            crash.fact.c[crash.customer_column] == account, fact_date.between(first, last)).distinct()).scalars())  # fmt: skip
    # Days run oldest first, each in one transaction: the committed days are a prefix, every one
    # whole (Meta: its account-level row beside its ad rows; Google Ads: its raw rows beside its
    # facts, as many as the truth) and equal to the truth.
    assert committed == [first + timedelta(days=i) for i in range(len(committed))]
    assert crash.days_with_rows(engine, account, first, last) == committed
    assert len(committed) < 10, "the kill landed after the run had committed every day"
    partial = Compared()
    for day in committed:
        h.compare(engine, sim, account, (day, day), partial)
    assert partial.diffs == []

    resumed = h.dates(engine, h.client(vt, running.handle, Knobs(page_limit=25)),
                      [first + timedelta(days=i) for i in range(10)], now)  # fmt: skip
    ok(resumed)
    if crash.cursor_key:
        assert _cursor(engine, connection.connection_id, crash.cursor_key) == before
    _consistent(engine)
    compared = Compared()
    h.compare(engine, sim, account, (first, last), compared)
    assert compared.diffs == []
    statuses = _run_statuses(engine, connection.connection_id)
    # The fill, the killed run (its row never closed), the resumed run.
    assert [s.split(":")[1] for s in statuses] == ["success", "running", "success"], statuses
    _figures(record_property, suite=f"{platform}_dates", kill_after_requests=requests, extra_s=extra_s,
             served=at_kill, days_committed_at_kill=len(committed), cursor=before, sync_runs=statuses,
             rows_compared=compared.rows + partial.rows)  # fmt: skip


@pytest.mark.parametrize("phase", ["polling", "download"])
def test_shopify_bulk_range_killed_while_polling_or_downloading_resumes_on_the_same_operation(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch,
    record_property: Callable[[str, object], None], phase: str,
) -> None:  # fmt: skip
    monkeypatch.setenv(TOKEN_ENV, "sim-token")
    monkeypatch.setenv("ADSPIPE_SHOPIFY_BULK", "always")
    running = make_simulator(seed=SEED, stores=1, orders_per_day=150, now=FIXED_NOW)
    sim = running.sim
    # polling: ~9,000 objects at 1,500/s keep the operation RUNNING ~6 s (first polls 2 s, 3 s);
    # download: the operation completes quickly, the result streams a 64 KiB chunk every 50 ms
    sim.faults.update(shopify_bulk_objects_per_s=1_500.0 if phase == "polling" else 100_000.0,
                      shopify_bulk_chunk_delay_s=0.05 if phase == "download" else 0.0)  # fmt: skip
    world = register(engine, sim, meta=False)
    (shop,) = world.shops
    connection = world.shops[shop]
    until = local_today(FIXED_NOW, world.timezones[shop]) - timedelta(days=10)
    since = until - timedelta(days=19)
    bulk = sim.shopify.bulk
    reached = (lambda: len(bulk.ops)) if phase == "polling" else (lambda: bulk.downloads)
    args = [
        "shopify_days",
        "--now",
        _iso(FIXED_NOW),
        "--since",
        since.isoformat(),
        "--until",
        until.isoformat(),
    ]
    code = _kill_after(sim, args, reached, 1, 1.5 if phase == "polling" else 0.3)
    assert code == -signal.SIGKILL
    (operation,) = bulk.ops.values()
    assert bulk.state(operation)[0] == ("RUNNING" if phase == "polling" else "COMPLETED")
    with engine.connect() as db:
        remembered = db.execute(
            sa.text("SELECT value FROM sync_cursors WHERE cursor_key LIKE 'shopify_bulk:%'")
        )
        assert [r[0] for r in remembered] == [operation.gid]  # the operation's id outlived the kill
    _consistent(engine)
    partial = Compared()
    check_orders(engine, sim, shop, since, until, partial)
    assert partial.diffs, "the kill landed after the run had committed the range"

    sim.faults.update(shopify_bulk_chunk_delay_s=0.0)
    resumed = shopify_sync.sync_days(
        engine, ShopifyClient(), [since + timedelta(days=i) for i in range(20)], now=FIXED_NOW
    )
    assert resumed.report.failed == [] and resumed.runs[0].calls.pages == 0
    assert len(bulk.ops) == 1  # reused, not duplicated
    _consistent(engine)
    compared = Compared()
    check_orders(engine, sim, shop, since, until, compared)
    assert compared.diffs == [] and compared.rows > 1000
    with engine.connect() as db:
        assert (
            db.execute(
                sa.text("SELECT count(*) FROM sync_cursors WHERE cursor_key LIKE 'shopify_bulk:%'")
            ).scalar()
            == 0
        )
    _figures(record_property, suite="shopify_bulk", phase=phase, downloads=bulk.downloads,
             sync_runs=_run_statuses(engine, connection.connection_id), rows_compared=compared.rows)  # fmt: skip
