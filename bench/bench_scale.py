"""P9: agency scale. N stores (one shop and one or two ad accounts each) against the simulator in
its own process (Shopify Plus, 30 orders a day per shop, Meta usage meters on Meta's scopes),
`ADSPIPE_META_CONCURRENCY` serial (K = 1) and agency (K = 8), on a scratch Postgres warehouse.

For each size: `adspipe connect --from-file` of every shop and ad account (timed), then every job
once in each mode (shopify_7d_fill, meta_7d_fill, shopify_fresh, meta_fresh — the jobs' plain
Python, which the Dagster ops call as is) with `meta_latency_s` per Meta call and
`shopify_latency_s` per Shopify call: wall time, calls, pacing waits, throttle answers (the
client's and the simulator's), and the request log's overlapping calls for one ad account. Then
the fresh jobs once more with no latency at all: the per-connection cost beyond the calls.

Latency is real time (the simulator sleeps before it answers); K accounts overlap their sleeps,
which a virtual clock shared by concurrent threads could not model faithfully. A serial Meta job
at 200 stores and 1 s per call takes ~45 minutes, so in the full run the serial Meta walls at 200
stores are modelled, not measured: calls × (latency + the overhead per call the serial job showed
at the previous size, `overhead_per_call_s`); every serial call waits its latency once, and the
overhead (database work the read-ahead does not hide, client and server time) grows with the
calls. The full run takes ~45 minutes (the serial Meta jobs at 50 stores alone ~16).

Goals (issue 19): agency meta_fresh ≤ serial / 8 + 10 % and ≤ 20 min at 200 stores, 0 throttle
answers, no overlapping calls for one account; per connection with no latency shopify_fresh ≤
0.1 s and meta_fresh ≤ 0.3 s beyond pacing; shopify_fresh over 200 shops ≤ 90 s (15 minutes with
10× margin); connect --from-file of 400 lines < 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from adspipe.meta import sync as meta_sync
from adspipe.meta.client import MetaClient
from adspipe.platform.engine import SyncResult
from adspipe.settings import DATABASE_URL_ENV
from adspipe.shopify import sync as shopify_sync
from adspipe.shopify.client import ShopifyClient
from adspipe.simulator.process import serve_in_child
from adspipe.simulator.server import RequestRecord, overlapping
from adspipe.warehouse import db
from bench.common import scratch_database

NOW = datetime(2026, 11, 1, 17, 0, tzinfo=UTC)
TOKEN_ENV, TOKEN = "BENCH_SCALE_TOKEN", "bench-scale-token"
AGENCY_K = 8
SHOPIFY_LATENCY_S = 0.25  # a realistic Admin GraphQL round trip for a page of orders
GOALS = {
    "agency_vs_serial": 1.10,  # agency wall ≤ 1.10 × serial / K
    "agency_max_s": 20 * 60,
    "shopify_per_connection_s": 0.1,
    "meta_per_connection_s": 0.3,
    "shopify_fresh_200_s": 15 * 60 / 10,
    "connect_400_s": 30.0,
}


@dataclass
class Sim:
    proc: subprocess.Popen[bytes]
    base: str

    def get(self, path: str, **params: Any) -> Any:
        return httpx.get(f"{self.base}{path}", params=params, timeout=120).json()

    def faults(self, **knobs: Any) -> None:
        httpx.post(f"{self.base}/admin/faults", json=knobs, timeout=10).raise_for_status()

    def log_after(self, seq: int) -> list[RequestRecord]:
        return [RequestRecord(**r) for r in self.get("/admin/requests", limit=1_000_000) if r["seq"] > seq]

    def last_seq(self) -> int:
        last = self.get("/admin/requests", limit=1)
        return int(last[0]["seq"]) if last else 0


def serve(stores: int, meta_latency_s: float, shopify_latency_s: float) -> Sim:
    proc, base = serve_in_child(
        ["--seed", "19", "--stores", str(stores), "--orders-per-day", "30", "--token", TOKEN,
         "--shopify-plan", "Shopify Plus", "--meta-latency", str(meta_latency_s),
         "--shopify-latency", str(shopify_latency_s), "--clock-start", NOW.isoformat(), "--clock-speed", "0"],
        timeout_s=120,
    )  # fmt: skip
    return Sim(proc, base)


def connect_all(sim: Sim, folder: Path) -> dict[str, Any]:
    """Every shop and ad account of the world through `adspipe connect --from-file` (timed)."""
    from adspipe.cli import main

    lines = ["store,platform,account,token_env,window"]
    for store in sim.get("/admin/world")["stores"]:
        lines.append(f"{store['name']},shopify,{store['shop_domain']},{TOKEN_ENV},")
        for account in store["ad_accounts"]:
            lines.append(
                f"{store['name']},meta,{account['id']},{TOKEN_ENV},{account['attribution_window_days']}"
            )
    path = folder / "connections.csv"
    path.write_text("\n".join(lines) + "\n")
    began = time.perf_counter()
    result = CliRunner().invoke(main, ["connect", "--from-file", str(path)], catch_exceptions=False)
    wall = time.perf_counter() - began
    if result.exit_code != 0:
        raise RuntimeError(f"connect --from-file failed: {result.output}")
    return {"lines": len(lines) - 1, "wall_s": round(wall, 2)}


def _meter_waits(result: SyncResult[Any]) -> tuple[int, float, int]:
    """(calls, pacing + throttle waits, throttle answers) over a result's connections."""
    stats = result.report.stats
    return stats.api_calls, stats.throttle_wait_s, stats.throttled


Job = Callable[[Any, int], SyncResult[Any]]


def jobs(graph: str, endpoint: str) -> dict[str, Job]:
    def meta(fn: Callable[..., SyncResult[Any]]) -> Job:
        def run(engine: Any, k: int) -> SyncResult[Any]:
            client = MetaClient(graph_url=graph, account_concurrency=k)
            try:
                return fn(engine, client, now=NOW)
            finally:
                client.close()

        return run

    def shopify(fn: Callable[..., SyncResult[Any]]) -> Job:
        def run(engine: Any, k: int) -> SyncResult[Any]:
            client = ShopifyClient(endpoint_template=endpoint)
            try:
                return fn(engine, client, NOW)
            finally:
                client.close()

        return run

    return {
        "shopify_7d_fill": shopify(shopify_sync.shopify_7d_fill),
        "meta_7d_fill": meta(meta_sync.run_fill),
        "shopify_fresh": shopify(shopify_sync.shopify_fresh),
        "meta_fresh": meta(meta_sync.run_fresh),
    }


def run_job(sim: Sim, engine: Any, name: str, job: Job, k: int, longest: dict[str, int]) -> dict[str, Any]:
    """One job once; `longest[name]`: the most calls one account made (the floor of any K)."""
    seq = sim.last_seq()
    began = time.perf_counter()
    result = job(engine, k)
    wall = time.perf_counter() - began
    log = sim.log_after(seq)
    calls, waits, throttled = _meter_waits(result)
    accounts = {r.account for r in log}
    per_account = [sum(1 for r in log if r.account == a) for a in accounts]
    longest[name] = max(per_account, default=0)
    overlaps = sum(len(overlapping([r for r in log if r.account == a])) for a in accounts)
    failed = [o.error for o in result.report.failed]
    return {
        "job": name, "k": k, "wall_s": round(wall, 2), "connections": len(result.report.outcomes),
        "failed": len(failed), "first_failure": failed[0][:200] if failed else None, "calls": calls,
        "pacing_waits_s": round(waits, 2), "throttled_client": throttled,
        "throttled_simulator": sum(1 for r in log if r.outcome == "throttled"),
        "overlaps_per_account": overlaps,
    }  # fmt: skip


def measure(
    stores: int, meta_latency_s: float, shopify_latency_s: float, serial_model: bool,
    overhead: dict[str, float] | None = None, serial_jobs: tuple[str, ...] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One size. `overhead`: seconds per call beyond the latency of each serial Meta job, measured
    at a smaller size; with `serial_model` the serial Meta walls are calls × (latency + overhead).
    `serial_jobs`: the only jobs run serially (K = 1), e.g. just meta_fresh, the acceptance's
    comparison, when the serial fill would add ~45 minutes; the others' serial walls are modelled."""
    os.environ[TOKEN_ENV] = TOKEN
    sim = serve(stores, meta_latency_s, shopify_latency_s)
    out: dict[str, Any] = {
        "stores": stores,
        "meta_latency_s": meta_latency_s,
        "shopify_latency_s": shopify_latency_s,
    }
    try:
        graph = f"{sim.base}/meta"
        endpoint = f"{sim.base}/shopify/{{shop}}/admin/api/{{version}}/graphql.json"
        with scratch_database("scale") as url, tempfile.TemporaryDirectory() as folder:
            os.environ[DATABASE_URL_ENV] = url
            out["connect"] = connect_all(sim, Path(folder))
            engine = db.get_engine(url)
            runs: list[dict[str, Any]] = []
            longest: dict[str, int] = {}
            for k in (AGENCY_K, 1):
                for name, job in jobs(graph, endpoint).items():
                    if k == 1 and serial_model and name.startswith("meta"):
                        continue  # modelled below
                    if k == 1 and serial_jobs is not None and name not in serial_jobs:
                        continue
                    runs.append(run_job(sim, engine, name, job, k, longest))
                    print(f"   {stores} stores, K={k}: {json.dumps(runs[-1])}", flush=True)
            sim.faults(meta_latency_s=0.0, shopify_latency_s=0.0)
            zero: list[dict[str, Any]] = []
            for name, job in jobs(graph, endpoint).items():
                zero.append(run_job(sim, engine, name, job, 1, {}))
                print(f"   {stores} stores, no latency: {json.dumps(zero[-1])}", flush=True)
            db.get_engine.cache_clear()
            engine.dispose()
    finally:
        sim.proc.terminate()
        sim.proc.wait(timeout=10)
    for r in runs + zero:
        r["per_connection_s"] = round((r["wall_s"] - r["pacing_waits_s"]) / max(1, r["connections"]), 4)
    by = {(r["job"], r["k"]): r for r in runs}
    for name in ("meta_7d_fill", "meta_fresh"):
        calls = by[(name, AGENCY_K)]["calls"]
        if (name, 1) in by:  # measured: its overhead per call calibrates the model of a larger size
            serial = by[(name, 1)]
            serial["overhead_per_call_s"] = round(
                (serial["wall_s"] - calls * meta_latency_s) / max(1, calls), 4
            )
        else:
            per_call = meta_latency_s + (overhead or {}).get(name, 0.0)
            by[(name, 1)] = {"job": name, "k": 1, "wall_s": round(calls * per_call, 1), "calls": calls,
                             "modelled": f"calls x ({meta_latency_s} s + {per_call - meta_latency_s:.4f} s overhead "
                             "per call measured serially at the previous size)"}  # fmt: skip
            runs.append(by[(name, 1)])
    for name in ("meta_7d_fill", "meta_fresh"):  # no K can beat the account with the most calls
        by[(name, AGENCY_K)]["longest_account_s"] = round(longest.get(name, 0) * meta_latency_s, 1)
    out["runs"], out["no_latency"] = runs, zero
    return out


def verdict(size: dict[str, Any]) -> dict[str, Any]:
    by = {(r["job"], r["k"]): r for r in size["runs"]}
    zero = {r["job"]: r for r in size["no_latency"]}
    agency, serial = by[("meta_fresh", AGENCY_K)], by[("meta_fresh", 1)]
    measured = [r for r in size["runs"] + size["no_latency"] if not r.get("modelled")]
    # The bound is serial / K. With few accounts K workers need ceil(C / K) rounds of an
    # average account, and no K beats the account with the most calls (its calls stay serial):
    # smaller sizes are held to the largest of the three.
    count = max(1, agency["connections"])
    rounds = -(-count // AGENCY_K) * serial["wall_s"] / count
    bound = max(serial["wall_s"] / AGENCY_K, rounds, agency["longest_account_s"])
    checks = {
        "agency_ratio": round(agency["wall_s"] / (serial["wall_s"] / AGENCY_K), 3),
        "agency_vs_bound": round(agency["wall_s"] / bound, 3),
        "agency_within_20_min": agency["wall_s"] <= GOALS["agency_max_s"],
        "throttled": sum(r["throttled_client"] + r["throttled_simulator"] for r in measured),
        "overlaps_per_account": sum(
            r["overlaps_per_account"] for r in measured if r["job"].startswith("meta")
        ),
        "failed": sum(r["failed"] for r in measured),
        "shopify_fresh_per_connection_s": zero["shopify_fresh"]["per_connection_s"],
        "meta_fresh_per_connection_s": zero["meta_fresh"]["per_connection_s"],
        "shopify_fresh_s": by[("shopify_fresh", AGENCY_K)]["wall_s"],
        "connect_s": size["connect"]["wall_s"],
    }
    checks["passed"] = (
        checks["agency_vs_bound"] <= GOALS["agency_vs_serial"] and checks["agency_within_20_min"]
        and (size["stores"] < 200 or checks["agency_ratio"] <= GOALS["agency_vs_serial"])
        and checks["throttled"] == 0 and checks["overlaps_per_account"] == 0 and checks["failed"] == 0
        and checks["shopify_fresh_per_connection_s"] <= GOALS["shopify_per_connection_s"]
        and checks["meta_fresh_per_connection_s"] <= GOALS["meta_per_connection_s"]
        and checks["shopify_fresh_s"] <= GOALS["shopify_fresh_200_s"] * max(1.0, size["stores"] / 200)
        and checks["connect_s"] <= GOALS["connect_400_s"] * max(1.0, size["out_lines"] / 400)
    )  # fmt: skip
    return checks


def run(
    quick: bool = False, sizes: tuple[int, ...] | None = None, meta_latency_s: float | None = None,
    serial_jobs: tuple[str, ...] | None = None,
) -> dict[str, Any]:  # fmt: skip
    sizes = sizes or ((10,) if quick else (10, 50, 200))
    latency = meta_latency_s if meta_latency_s is not None else (0.25 if quick else 1.0)
    results: list[dict[str, Any]] = []
    for stores in sizes:
        previous = results[-1]["runs"] if results else []
        overhead = {r["job"]: r["overhead_per_call_s"] for r in previous if "overhead_per_call_s" in r}
        size = measure(
            stores,
            latency,
            SHOPIFY_LATENCY_S,
            not quick and stores >= 200 and bool(overhead),
            overhead,
            serial_jobs,
        )
        size["out_lines"] = size["connect"]["lines"]
        size["checks"] = verdict(size)
        results.append(size)
    last = results[-1]
    checks = last["checks"]
    agency = next(r for r in last["runs"] if r["job"] == "meta_fresh" and r["k"] == AGENCY_K)
    serial = next(r for r in last["runs"] if r["job"] == "meta_fresh" and r["k"] == 1)
    return {
        "id": "P9",
        "title": "agency scale: serial vs K=8 Meta accounts at once",
        "inputs": f"{', '.join(map(str, sizes))} stores, {latency} s per Meta call, {SHOPIFY_LATENCY_S} s per Shopify call",
        "repetitions": 1,
        "sizes": results,
        "figure": (
            f"{last['stores']} stores: meta_fresh K=8 {agency['wall_s']:.0f} s vs serial {serial['wall_s']:.0f} s"
            f"{' (modelled)' if serial.get('modelled') else ''}; per connection shopify_fresh "
            f"{checks['shopify_fresh_per_connection_s']:.3f} s, meta_fresh {checks['meta_fresh_per_connection_s']:.3f} s; "
            f"connect {last['connect']['lines']} lines {checks['connect_s']:.1f} s; throttled {checks['throttled']}, "
            f"overlaps {checks['overlaps_per_account']}"
        ),
        "ratio": checks["agency_ratio"],
        "goal": f"<= {GOALS['agency_vs_serial']} x serial/{AGENCY_K}, 0 throttled, 0 overlaps",
        "passed": all(r["checks"]["passed"] for r in results),
        "unit": "seconds",
        "bars": [("serial/8", serial["wall_s"] / AGENCY_K, "#55A868"), ("K=8", agency["wall_s"])],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--stores", type=int, action="append", help="sizes to run (repeatable)")
    parser.add_argument("--meta-latency", type=float, default=None, help="seconds per Meta call")
    parser.add_argument(
        "--serial-job", action="append", help="run only these jobs serially (repeatable; default: all)"
    )
    args = parser.parse_args()
    result = run(
        args.quick, tuple(args.stores) if args.stores else None, args.meta_latency,
        tuple(args.serial_job) if args.serial_job else None,
    )  # fmt: skip
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
