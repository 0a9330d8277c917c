"""The benchmarks that drive the pipeline through bench's own in-process API still run: a product
change that bench's API does not answer (the access-scopes read did once) fails here, not in the
next full benchmark run."""

from __future__ import annotations

import pytest

from bench import bench_throughput


@pytest.mark.slow
def test_p3_quick_runs_to_a_verdict() -> None:
    result = bench_throughput.run(quick=True)
    assert result["id"] == "P3" and isinstance(result["ratio"], float) and result["ratio"] > 0
    assert "passed" in result
