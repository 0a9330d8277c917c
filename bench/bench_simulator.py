"""S — the simulator is never the bottleneck: orders and insight rows served per CPU second of
the simulator's server process (one uvicorn worker = one core), with no latency set.

The measurement lives with the simulator (adspipe/simulator/bench.py, also
`python -m adspipe.simulator.bench`); this module puts it in the harness's table.
"""

from __future__ import annotations

from typing import Any

from adspipe.simulator import bench as simulator_bench


def run(quick: bool = False) -> dict[str, Any]:
    result = simulator_bench.run(quick=quick)
    return {
        **result,
        "id": "S",
        "figure": f"{result['orders_per_server_cpu_s']} orders/s, {result['insight_rows_per_server_cpu_s']} rows/s",
        "ratio": round(
            min(result["orders_per_server_cpu_s"], result["insight_rows_per_server_cpu_s"])
            / simulator_bench.GOAL_PER_S,
            2,
        ),
        "inputs": f"{result['orders']} orders, {result['insight_rows']} insight rows over HTTP",
        "repetitions": 1,
    }
