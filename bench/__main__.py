"""adspipe benchmarks: `python -m bench [--quick] [--only P2,P4,...]`.

Runs the benchmarks of issue 8 against a real Postgres (ADSPIPE_BENCH_PG_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres; every benchmark creates and drops its own
database), prints one table of figures and ratios with their goals, writes
bench/results/latest.json (bench/results/latest-quick.json with --quick) and, when matplotlib is
installed (`pip install -e .[bench]`), renders docs/perf_chart.png. A subset (`--only`) writes
bench/results/latest-<IDS>.json and leaves the full run's file and chart alone.

  P1  backfill overhead through a real Dagster daemon (bench/bench_backfill.py, when present)
  P2  Shopify pacing under the Standard plan against the simulator (bench/bench_pacing.py)
  P3  load throughput, API pages → Postgres, vs row-at-a-time and COPY (bench/bench_throughput.py)
  P4  mart rebuild cost vs history length (bench/bench_marts.py)
  P5  peak RSS of a 1,000,000-order load (bench/bench_memory.py)
  P1W 3-day `adspipe sync --wait`: wall − work through a real daemon (bench/bench_sync_wait.py)
  P7  30-day Meta backfill of a 5,000-ad account through report runs vs its floor (bench/bench_report_runs.py)
  P6  a year's Shopify backfill, bulk operation vs paging: points, wall, RSS, fresh (bench/bench_bulk.py)
  P9  agency scale: 10/50/200 stores, serial vs K=8 Meta accounts at once (bench/bench_scale.py)

`--quick` checks the same ratios at smaller sizes (CI); the full run takes under 20 minutes on
2 cores. The exit status is 1 when a figure misses its goal, 2 when a benchmark crashed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import RESULTS

BENCHMARKS: dict[str, str] = {
    "P1": "bench.bench_backfill",
    "P2": "bench.bench_pacing",
    "P3": "bench.bench_throughput",
    "P4": "bench.bench_marts",
    "P5": "bench.bench_memory",
    "S": "bench.bench_simulator",
    "P1W": "bench.bench_sync_wait",
    "P7": "bench.bench_report_runs",
    "P6": "bench.bench_bulk",
    "P9": "bench.bench_scale",
}
CHART = Path(__file__).resolve().parent.parent / "docs" / "perf_chart.png"


def run_one(key: str, quick: bool) -> dict[str, Any]:
    module_name = BENCHMARKS[key]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return {"id": key, "status": "skipped", "reason": f"{module_name} does not exist yet"}
    began = time.perf_counter()
    try:
        result: dict[str, Any] = module.run(quick=quick)
    except Exception as exc:
        traceback.print_exc()
        return {"id": key, "status": "error", "reason": f"{type(exc).__name__}: {exc}"[:500]}
    result.setdefault("id", key)
    result.setdefault("status", "passed" if result.get("passed") else "failed")
    result["elapsed_s"] = round(time.perf_counter() - began, 1)
    return result


def table(results: list[dict[str, Any]]) -> str:
    header = ("", "figure", "ratio", "goal", "result", "inputs (repetitions)", "took")
    rows = [header]
    for r in results:
        if r["status"] in ("skipped", "error"):
            reason = str(r.get("reason", ""))
            rows.append(
                (
                    r["id"],
                    reason[:90] + ("…" if len(reason) > 90 else ""),
                    "",
                    "",
                    r["status"].upper(),
                    "",
                    "",
                )
            )
            continue
        rows.append(
            (
                r["id"],
                str(r.get("figure", "")),
                str(r.get("ratio", "")),
                str(r.get("goal", "")),
                "pass" if r.get("passed") else "FAIL",
                f"{r.get('inputs', '')} ({r.get('repetitions', 1)}x)",
                f"{r.get('elapsed_s', 0):.0f} s",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, same ratios (CI)")
    parser.add_argument("--only", default="", help="comma-separated subset, e.g. P2,P4")
    parser.add_argument("--no-chart", action="store_true", help="do not render docs/perf_chart.png")
    args = parser.parse_args(argv)
    keys = [k.strip().upper() for k in args.only.split(",") if k.strip()] or list(BENCHMARKS)
    unknown = [k for k in keys if k not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    began = time.perf_counter()
    results = []
    for key in keys:
        print(f"== {key} ({BENCHMARKS[key]}){' --quick' if args.quick else ''}", flush=True)
        result = run_one(key, args.quick)
        results.append(result)
        print(f"   {result['status']}: {result.get('figure', result.get('reason', ''))}", flush=True)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": {"python": platform.python_version(), "cpus": _cpus(), "platform": platform.platform()},
        "elapsed_s": round(time.perf_counter() - began, 1),
        "results": results,
    }
    RESULTS.mkdir(exist_ok=True)
    # A subset (--only) does not replace the full run's results and chart.
    subset = "-" + "-".join(keys) if args.only else ""
    name = f"latest{subset}-quick.json" if args.quick else f"latest{subset}.json"
    (RESULTS / name).write_text(json.dumps(report, indent=2, default=str) + "\n")
    print()
    print(table(results))
    print(f"\n{len(results)} benchmark(s) in {report['elapsed_s']:.0f} s; results in {RESULTS / name}")
    if not args.no_chart and not args.quick and not args.only:
        from bench.chart import render

        if render(results, CHART):
            print(f"chart: {CHART}")
        else:
            print("chart: skipped (matplotlib is not installed: pip install -e .[bench])")
    if any(r["status"] == "error" for r in results):
        return 2
    return 1 if any(r["status"] == "failed" for r in results) else 0


def _cpus() -> int | None:
    import os

    return os.cpu_count()


if __name__ == "__main__":
    sys.exit(main())
