"""P1 — backfill overhead through a real Dagster daemon.

A Meta backfill of N days is launched exactly as `adspipe sync meta` does (one asset backfill
through the GraphQL API) on a real deployment: dagster-webserver + dagster-daemon subprocesses on
a Postgres instance, the warehouse on Postgres, the simulator answering every Meta call after a
fixed latency. Meta calls are serial (the `meta_api` pool), so the floor is
(number of Meta calls) × latency; the figure is wall time ÷ floor. The request log proves each day
had its own ad-level call, oldest first, and that no two Meta calls overlapped.

Days per run are compared side by side on the same range, one deployment each: Meta's shipped cap
(ADSPIPE_POOLED_BACKFILL_DAYS_PER_RUN, 7, so `meta_fresh` gets the pool's slot between runs) and
the uncapped ADSPIPE_BACKFILL_DAYS_PER_RUN (30): what the cap costs in run hand-overs.
"""

from __future__ import annotations

import os
import signal
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from adspipe.orchestration.dagster_api import DagsterApi
from adspipe.orchestration.sync_request import PLATFORM_ASSETS
from adspipe.settings import DEFAULT_BACKFILL_DAYS_PER_RUN, DEFAULT_POOLED_BACKFILL_DAYS_PER_RUN
from adspipe.simulator.faults import Faults
from adspipe.simulator.server import RequestRecord, Simulator, overlapping, run_simulator
from adspipe.warehouse import connections as conns
from adspipe.warehouse import db
from bench.common import PG_ADMIN_URL, scratch_database

GOAL = 1.25
ROOT = Path(__file__).resolve().parent.parent


def one_backfill(days: int, latency_s: float, per_run: int, executor: str = "in_process") -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from adspipe_tests.e2e.stack import dagster_stack  # the same deployment the end-to-end suite uses

    sim = Simulator(seed=11, stores=1, faults=Faults(meta_latency_s=latency_s), ads_per_account=20)
    account = sim.world.describe()["stores"][0]["ad_accounts"][0]["id"]
    end = date.today() - timedelta(days=2)
    start = end - timedelta(days=days - 1)
    with scratch_database("p1") as url, run_simulator(sim) as handle:
        engine = db.get_engine(url)
        with engine.begin() as conn:
            conns.connect(
                conn, store="Bench", platform="meta", account_id=account, token_env="BENCH_META_TOKEN"
            )
        env = {
            **handle.env(),
            "ADSPIPE_DATABASE_URL": url,
            "BENCH_META_TOKEN": "sim-token",
            "ADSPIPE_SCHEDULES": "stopped",
            "ADSPIPE_SENSORS": "stopped",
            # Meta's chain is pooled: its runs carry the pooled setting's days (never more than the other's).
            "ADSPIPE_BACKFILL_DAYS_PER_RUN": str(per_run),
            "ADSPIPE_POOLED_BACKFILL_DAYS_PER_RUN": str(per_run),
            "ADSPIPE_RUN_EXECUTOR": executor,
            "ADSPIPE_PARTITIONS_START": str(start - timedelta(days=1)),
        }
        home = Path(tempfile.mkdtemp(prefix="p1_home_"))
        with dagster_stack(PG_ADMIN_URL, home, env) as stack:
            api = DagsterApi(stack.url)
            sim.reset_stats()
            began = time.monotonic()
            backfill_id = api.launch_asset_backfill(
                PLATFORM_ASSETS["meta"], str(start), str(end), title=f"P1 {days} days", tags={}
            )
            # Wall: launch → every day of every asset materialized, read from the instance's event
            # log as it happens. (The backfill's own count is only updated on the backfill daemon's
            # 30 s tick: its status flips up to 30 s later, reported as backfill_completed_s.)
            instance = stack.instance()
            keys = [dg.AssetKey(k) for k in PLATFORM_ASSETS["meta"]]
            wanted = {str(start + timedelta(days=i)) for i in range(days)}
            all_materialized: float | None = None
            while True:
                if all_materialized is None and all(
                    wanted <= instance.get_materialized_partitions(key) for key in keys
                ):
                    all_materialized = time.monotonic() - began
                progress = api.backfill_progress(backfill_id)
                if progress.finished:
                    break
                time.sleep(0.25)
            completed = time.monotonic() - began
            wall = all_materialized if all_materialized is not None else completed
            instance.dispose()
        db.get_engine(url).dispose()
    log = sim.request_log("meta")
    overlaps = len(overlapping(log, tolerance_s=1e-6))
    firsts = [day for r in sorted(log, key=lambda r: r.t_in) if (day := r.ad_level_day) is not None]
    calls = len(log)
    floor = calls * latency_s
    idle = idle_breakdown(log, began, wall, runs=-(-days // per_run))
    return {
        "days": days,
        "per_run": per_run,
        "executor": executor,
        "runs": -(-days // per_run),
        "wall_s": round(wall, 1),
        "backfill_completed_s": round(completed, 1),
        "meta_calls": calls,
        "floor_s": round(floor, 1),
        "ratio": round(wall / floor, 3),
        "materialized": progress.materialized,
        "one_call_per_day_in_order": firsts == sorted(firsts) and len(set(firsts)) == days,
        "overlapping_calls": overlaps,
        **idle,
    }


def idle_breakdown(log: list[RequestRecord], began: float, wall: float, runs: int) -> dict[str, float]:
    """Where wall − floor went: before the first Meta call (the daemon's tick, the first run's
    start-up), between calls (the `runs − 1` largest gaps are the hand-overs from one run to the
    next; the rest is inside runs), and after the last call (the last run's end, its events)."""
    ordered = sorted(log, key=lambda r: r.t_in)
    if not ordered:
        return {}
    gaps = sorted(b.t_in - a.t_out for a, b in zip(ordered, ordered[1:], strict=False))
    handovers = gaps[len(gaps) - (runs - 1) :] if runs > 1 else []
    return {
        "before_first_call_s": round(ordered[0].t_in - began, 1),
        "idle_at_handovers_s": round(sum(handovers), 1),
        "idle_inside_runs_s": round(sum(gaps) - sum(handovers), 1),
        "median_gap_inside_runs_ms": round(
            1000 * statistics.median(gaps[: len(gaps) - len(handovers)] or [0.0]), 1
        ),
        "after_last_call_s": round(wall - (ordered[-1].t_out - began), 1),
    }


def _terminate_cleanly(signum: int, frame: object) -> None:
    # SIGTERM (a killed benchmark) unwinds the context managers: the daemon, the webserver and the
    # scratch databases go too, instead of a daemon left running backfills against nothing.
    raise SystemExit(128 + signum)


def run(quick: bool = False) -> dict[str, Any]:
    os.environ.setdefault("ADSPIPE_SCHEDULES", "stopped")
    signal.signal(signal.SIGTERM, _terminate_cleanly)
    # Meta's shipped days per run (the pooled cap, which lets meta_fresh in between runs) side by
    # side with the uncapped runs it replaced: what the cap costs in hand-overs.
    compare = [DEFAULT_POOLED_BACKFILL_DAYS_PER_RUN, DEFAULT_BACKFILL_DAYS_PER_RUN]
    days, latency = (30, 0.25) if quick else (365, 1.0)
    results = [one_backfill(days, latency, per_run) for per_run in compare]
    chosen = next(r for r in results if r["per_run"] == DEFAULT_POOLED_BACKFILL_DAYS_PER_RUN)
    passed = (
        chosen["ratio"] <= GOAL
        and chosen["materialized"] == days
        and chosen["one_call_per_day_in_order"]
        and chosen["overlapping_calls"] == 0
    )
    return {
        "figure": f"{chosen['wall_s']} s for {days} days, {chosen['meta_calls']} Meta calls",
        "ratio": chosen["ratio"],
        "goal": f"wall / (calls x {latency} s) <= {GOAL}",
        "passed": passed,
        "inputs": f"{days}-day Meta backfill, {latency} s per call, {DEFAULT_POOLED_BACKFILL_DAYS_PER_RUN} days per "
        f"run (vs {DEFAULT_BACKFILL_DAYS_PER_RUN}: ratio {results[-1]['ratio']})",
        "repetitions": 1,
        "details": results,
        "median_ratio": statistics.median(r["ratio"] for r in results),
    }


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--per-run", type=int, nargs="+", default=[DEFAULT_POOLED_BACKFILL_DAYS_PER_RUN])
    parser.add_argument(
        "--executor", nargs="+", default=["in_process"], choices=["in_process", "multiprocess"]
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _terminate_cleanly)
    for executor in args.executor:
        for n in args.per_run:
            print(json.dumps(one_backfill(args.days, args.latency, n, executor)), flush=True)
