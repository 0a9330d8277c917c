"""P6: a Shopify history backfill, bulk operation vs paging, under the Standard plan.

One shop of `per_day` orders a day (3,000 full, 500 quick) and a range of `days` local dates
older than the fresh window (365 full, 60 quick) read by `sync_days`: once with
ADSPIPE_SHOPIFY_BULK=always (one bulkOperationRunQuery, polled, its JSONL streamed) and once with
`never` (every day paged through the cost bucket), each in its own process (so that each peak RSS
is its own), into its own scratch Postgres. Side by side: cost points requested by the backfill,
wall time, peak RSS, and `shopify_fresh` while the backfill runs. The range is read as the
product reads a backfill: in runs of ADSPIPE_BACKFILL_DAYS_PER_RUN days (30), each with its own
session and wait budget (one paged run over the whole year would exhaust the session's one-hour
wait budget: ~1.5 h of pacing).

Virtual time. Paging a year of 3,000 orders a day at the Standard plan's 100 points/s is ~1.5 h of
real waiting, so the simulator runs in process on a virtual monotonic clock shared with the
clients (adspipe_tests.clocks.FakeClock, as the fault suite does): every pacing wait and every
poll advances it at once, and the simulator's bucket refills and its bulk operation progresses on
it. Rates stated in the result: bucket 2,000 points, restore 100 points/s (Standard), bulk
processing `Faults.shopify_bulk_objects_per_s` objects/s (orders + line items), no added latency. Wall
time is the real time of the process (CPU: transforms, COPY, commits, the simulator itself) plus
the virtual waits.

The simulator's order cache is cut to SIM_CACHE_ORDERS (it shares the process, and its default
150,000 cached orders would count in the pipeline's peak RSS). After the fill the bucket refills
(20 s virtual) so that the backfill starts with it full, as in P2.

Fresh during the backfill: a second thread runs `shopify_fresh` (its own client, same token and
shop, so the same bucket) every FRESH_EVERY_S of elapsed time (real + virtual); a run's latency is
its real time plus its own virtual waits, against the job's 45 s budget; THROTTLED answers to the
fresh runs are counted by their client.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from adspipe.settings import backfill_days_per_run
from adspipe.shopify import settings as shopify_settings
from adspipe.shopify.client import ShopifyClient
from adspipe.shopify.sync import shopify_7d_fill, shopify_fresh, sync_days
from adspipe.shopify.transforms import local_date
from adspipe.simulator.clock import SimClock
from adspipe.simulator.faults import Faults
from adspipe.simulator.server import Simulator, run_simulator
from adspipe.simulator.world import SizedLRU
from adspipe.warehouse import connections as conns
from adspipe.warehouse import db
from adspipe_tests.clocks import FakeClock
from bench.common import scratch_database

NOW = datetime(2026, 11, 1, 17, 0, tzinfo=UTC)
TOKEN = "bench-bulk-token"
SEED = 11
PLAN = "Shopify"  # Standard: restore 100 points/s, bucket 2,000
BULK_RATE = 20_000.0  # objects per second the simulator's bulk operation processes
COST_GOAL = 0.01  # bulk points ≤ 1 % of paged
RSS_GOAL_MB = 300.0
FRESH_EVERY_S = 15 * 60.0
SIM_CACHE_ORDERS = 12_000


def measure(mode: str, days: int, per_day: int, fresh_every_s: float) -> dict[str, Any]:
    """One backfill in this process: figures as a dict."""
    vt = FakeClock()
    faults = Faults(shopify_plan=PLAN, shopify_bulk_objects_per_s=BULK_RATE)
    sim = Simulator(SEED, stores=1, orders_per_day=per_day, faults=faults, clock=SimClock(NOW, 0.0),
                    tokens=(TOKEN,), monotonic=vt.monotonic)  # fmt: skip
    # The simulator shares this process: keep its order cache to a few days (default 150,000
    # orders, ~150 MB that would count in the pipeline's peak RSS); it regenerates what it evicts.
    sim.world._orders = SizedLRU(SIM_CACHE_ORDERS, len)
    store = sim.world.stores[0]
    os.environ["BENCH_BULK_TOKEN"] = TOKEN
    os.environ["ADSPIPE_SHOPIFY_BULK"] = mode
    with run_simulator(sim) as handle, scratch_database("bulk") as url:
        engine = db.get_engine(url)
        with engine.begin() as conn:
            conns.connect(
                conn, store="bench", platform="shopify", account_id=store.domain, token_env="BENCH_BULK_TOKEN"
            )

        def client() -> ShopifyClient:
            made = ShopifyClient(endpoint_template=handle.shopify_endpoint)
            return made.with_transport(sleep=vt.sleep, monotonic=vt.monotonic)

        shopify_7d_fill(engine, client(), NOW, time_budget_s=3600)  # the cursor fresh runs from
        vt.sleep(2_000 / 100)  # the bucket refills: the backfill starts with it full (as in P2)
        today = local_date(NOW, store.timezone)
        dates = [today - timedelta(days=8 + n) for n in range(days)][::-1]
        fresh: list[dict[str, Any]] = []
        stop = threading.Event()
        began, slept_at_start = time.monotonic(), vt.slept

        def elapsed() -> float:
            return time.monotonic() - began + (vt.slept - slept_at_start)

        def fresh_loop() -> None:
            due = 0.0  # one at the start, then every fresh_every_s
            while not stop.is_set():
                if elapsed() < due:
                    time.sleep(0.05)
                    continue
                due += fresh_every_s
                fresh_client = client()
                own: list[float] = []
                fresh_client.with_transport(
                    sleep=lambda s, own=own: (own.append(s), vt.sleep(s)), monotonic=vt.monotonic
                )
                t0 = time.monotonic()
                result = shopify_fresh(engine, fresh_client, NOW)
                run = result.runs[0]
                fresh.append({
                    "latency_s": round(time.monotonic() - t0 + sum(own), 2), "status": result.report.outcomes[0].status,
                    "throttled": run.calls.throttled, "stopped_at_budget": run.stopped_at_budget,
                })  # fmt: skip

        watcher = threading.Thread(target=fresh_loop, daemon=True)
        watcher.start()
        # As the product runs a backfill: runs of ADSPIPE_BACKFILL_DAYS_PER_RUN days (30), each its
        # own client session and wait budget, oldest first.
        per_run = backfill_days_per_run()
        orders = requests = pages = 0
        cost = 0.0
        try:
            for first in range(0, len(dates), per_run):
                result = sync_days(engine, client(), dates[first : first + per_run], now=NOW)
                outcome = result.report.outcomes[0]
                if outcome.status != "success":
                    raise RuntimeError(f"the backfill did not succeed: {outcome.status} {outcome.error}")
                run = result.runs[0]
                orders, requests, pages = (
                    orders + run.orders_read,
                    requests + run.calls.api_calls,
                    pages + run.calls.pages,
                )
                cost += run.calls.requested_cost
        finally:
            stop.set()
            watcher.join(timeout=120)
        wall_real = time.monotonic() - began
        waits = vt.slept - slept_at_start
    return {
        "mode": mode,
        "days": days,
        "runs": -(-len(dates) // per_run),
        "orders": orders,
        "requests": requests,
        "pages": pages,
        "requested_cost": cost,
        "wall_s": round(wall_real + waits, 1),
        "real_s": round(wall_real, 1),
        "virtual_waits_s": round(waits, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "bulk_operations": len(sim.shopify.bulk.ops),
        "fresh_runs": fresh,
        "fresh_budget_s": shopify_settings.FRESH_TIME_BUDGET_S,
    }


def _child(mode: str, days: int, per_day: int, fresh_every_s: float) -> dict[str, Any]:
    args = [sys.executable, "-m", "bench.bench_bulk", "--child", mode, "--days", str(days),
            "--per-day", str(per_day), "--fresh-every", str(fresh_every_s)]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:  # the child's own error, not only its exit status
        raise RuntimeError(f"P6 {mode} child exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def run(quick: bool = False) -> dict[str, Any]:
    days, per_day = (60, 500) if quick else (365, 3_000)
    every = 10.0 if quick else FRESH_EVERY_S
    bulk, paged = _child("always", days, per_day, every), _child("never", days, per_day, every)
    cost_ratio = bulk["requested_cost"] / paged["requested_cost"] if paged["requested_cost"] else None

    def fresh_ok(m: dict[str, Any]) -> bool:
        return all(
            r["status"] == "success" and r["latency_s"] <= m["fresh_budget_s"] and not r["stopped_at_budget"]
            and r["throttled"] == 0 for r in m["fresh_runs"]
        )  # fmt: skip

    def worst(m: dict[str, Any]) -> str:
        runs = m["fresh_runs"]
        if not runs:
            return "no fresh run fell due"
        return (f"{len(runs)} fresh runs, worst {max(r['latency_s'] for r in runs):.1f} s, "
                f"THROTTLED {sum(r['throttled'] for r in runs)}")  # fmt: skip

    passed = (
        cost_ratio is not None and cost_ratio <= COST_GOAL and bulk["peak_rss_mb"] < RSS_GOAL_MB
        and bool(bulk["fresh_runs"]) and fresh_ok(bulk) and bulk["orders"] == paged["orders"]
    )  # fmt: skip
    return {
        "id": "P6",
        "title": "Shopify history backfill: bulk operation vs paging (Standard plan)",
        "inputs": (
            f"{days}-day sync_days of {per_day:,} orders/day ({paged['orders']:,} orders); simulator in process on "
            f"virtual time: bucket 2,000, restore 100 points/s, bulk {BULK_RATE:,.0f} objects/s, fresh every "
            f"{every:g} s"
        ),
        "repetitions": 1,
        "bulk": bulk,
        "paged": paged,
        "figure": (
            f"points {bulk['requested_cost']:,.0f} vs {paged['requested_cost']:,.0f}; wall {bulk['wall_s']:.0f} s vs "
            f"{paged['wall_s']:.0f} s; RSS {bulk['peak_rss_mb']:.0f} vs {paged['peak_rss_mb']:.0f} MB; "
            f"fresh during bulk: {worst(bulk)}; during paging: {worst(paged)}"
        ),
        "ratio": round(cost_ratio, 5) if cost_ratio is not None else None,
        "goal": f"points <= {COST_GOAL:.0%} of paged, RSS < {RSS_GOAL_MB:.0f} MB, fresh within budget, 0 THROTTLED",
        "passed": passed,
        "unit": "seconds",
        "bars": [("bulk wall", bulk["wall_s"]), ("paged wall", paged["wall_s"], "#C44E52")],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", choices=("always", "never"))
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--per-day", type=int, default=3_000)
    parser.add_argument("--fresh-every", type=float, default=FRESH_EVERY_S)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.days, args.per_day, args.fresh_every), default=str))
        return
    print(json.dumps(run(args.quick), indent=2, default=str))


if __name__ == "__main__":
    main()
