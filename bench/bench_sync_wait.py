"""P1W — `adspipe sync --wait` for 3 days: how long the command takes beyond the work itself.

The real command (a subprocess, as a user types it) against a real deployment (dagster-webserver +
dagster-daemon on a Postgres instance, as in P1), the simulator answering Meta after a fixed
latency. Work = first Meta call in → last Meta call out (the days' own API time, commits right
after); wall = command start → command exit. wall − work is what the user waits for nothing:
the launch, the queue, the run worker's start-up, the run's end and the command noticing it.
Also reported: command start → first Meta call, and last Meta call → command exit (goal ≤ 10 s
each, ≤ 10 s together).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from adspipe.simulator.faults import Faults
from adspipe.simulator.server import Simulator, overlapping, run_simulator
from adspipe.warehouse import connections as conns
from adspipe.warehouse import db
from bench.common import PG_ADMIN_URL, scratch_database

GOAL_S = 10.0
ROOT = Path(__file__).resolve().parent.parent


def one_sync(days: int, latency_s: float) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from adspipe_tests.e2e.stack import dagster_stack  # the deployment the end-to-end suite uses

    sim = Simulator(seed=11, stores=1, faults=Faults(meta_latency_s=latency_s), ads_per_account=20)
    account = sim.world.describe()["stores"][0]["ad_accounts"][0]["id"]
    end = date.today() - timedelta(days=2)
    start = end - timedelta(days=days - 1)
    with scratch_database("p6") as url, run_simulator(sim) as handle:
        with db.get_engine(url).begin() as conn:
            connection, _ = conns.connect(
                conn, store="Bench", platform="meta", account_id=account, token_env="BENCH_META_TOKEN"
            )
        env = {
            **handle.env(),
            "ADSPIPE_DATABASE_URL": url,
            "BENCH_META_TOKEN": "sim-token",
            "ADSPIPE_SCHEDULES": "stopped",
            "ADSPIPE_SENSORS": "stopped",
            "ADSPIPE_PARTITIONS_START": str(start - timedelta(days=1)),
        }
        home = Path(tempfile.mkdtemp(prefix="p6_home_"))
        with dagster_stack(PG_ADMIN_URL, home, env) as stack:
            adspipe = str(Path(sys.executable).with_name("adspipe"))
            command = [adspipe, "sync", "meta", "--from", str(start), "--to", str(end), "--wait",
                       "--connection", str(connection.connection_id), "--dagster-url", stack.url]  # fmt: skip
            sim.reset_stats()
            began = time.monotonic()
            done = subprocess.run(
                command, env={**os.environ, **env}, capture_output=True, text=True, timeout=600, check=False
            )
            returned = time.monotonic()
        db.get_engine(url).dispose()
    log = sorted(sim.request_log("meta"), key=lambda r: r.t_in)
    if done.returncode != 0 or not log:
        raise RuntimeError(f"sync failed ({done.returncode}): {done.stdout[-1500:]} {done.stderr[-1500:]}")
    firsts = [day for r in log if (day := r.ad_level_day) is not None]
    work = log[-1].t_out - log[0].t_in
    wall = returned - began
    return {
        "days": days,
        "wall_s": round(wall, 1),
        "work_s": round(work, 1),
        "wall_minus_work_s": round(wall - work, 1),
        "launch_to_first_call_s": round(log[0].t_in - began, 1),
        "last_call_to_return_s": round(returned - log[-1].t_out, 1),
        "meta_calls": len(log),
        "one_call_per_day_in_order": firsts == sorted(firsts) and len(set(firsts)) == days,
        "overlapping_calls": len(overlapping(log, tolerance_s=1e-6)),
        "command": " ".join(["adspipe", *command[1:-2], "--dagster-url", "<stack>"]),
    }


def _terminate_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def run(quick: bool = False) -> dict[str, Any]:
    signal.signal(signal.SIGTERM, _terminate_cleanly)
    days, latency = 3, 0.25
    result = one_sync(days, latency)
    passed = (
        result["wall_minus_work_s"] <= GOAL_S
        and result["launch_to_first_call_s"] <= GOAL_S
        and result["last_call_to_return_s"] <= GOAL_S
        and result["one_call_per_day_in_order"]
        and result["overlapping_calls"] == 0
    )
    return {
        "figure": f"wall − work {result['wall_minus_work_s']} s (wall {result['wall_s']} s, work {result['work_s']} s)",
        "ratio": result["wall_minus_work_s"],
        "goal": f"wall − work <= {GOAL_S:.0f} s; first call and return each within {GOAL_S:.0f} s",
        "passed": passed,
        "inputs": f"3-day Meta `adspipe sync --wait`, {latency} s per call, real daemon",
        "repetitions": 1,
        "details": [result],
    }


if __name__ == "__main__":
    import json

    signal.signal(signal.SIGTERM, _terminate_cleanly)
    print(json.dumps(one_sync(3, 0.25)), flush=True)
