"""The benchmark harness's plumbing (no database): the table, a missing module, the chart."""

from __future__ import annotations

from pathlib import Path

import pytest

from adspipe_tests.ci import require_module
from bench import __main__ as harness
from bench.chart import render


def test_missing_benchmark_module_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(harness.BENCHMARKS, "P1", "bench.no_such_benchmark_module")
    result = harness.run_one("P1", quick=True)
    assert result["status"] == "skipped"
    assert "does not exist" in result["reason"]


def test_table_shows_figures_goals_and_verdicts() -> None:
    results = [
        {"id": "P4", "status": "passed", "passed": True, "figure": "150 ms vs 104 ms", "ratio": 1.43,
         "goal": "<= 2.0", "inputs": "1,000 orders/day", "repetitions": 7, "elapsed_s": 30},
        {"id": "P3", "status": "failed", "passed": False, "figure": "x", "ratio": 0.2, "goal": ">= 0.5",
         "inputs": "y", "repetitions": 3, "elapsed_s": 60},
        {"id": "P1", "status": "skipped", "reason": "bench.bench_backfill does not exist yet"},
    ]  # fmt: skip
    text = harness.table(results)
    assert "pass" in text and "FAIL" in text and "SKIPPED" in text
    assert "(7x)" in text


def test_chart_renders(tmp_path: Path) -> None:
    require_module("matplotlib", "the bench extra: pip install -e '.[bench]'")
    path = tmp_path / "chart.png"
    result = {"id": "P5", "ratio": 0.43, "goal": "< 300 MB", "passed": True, "unit": "MB",
              "bars": [("peak", 128.0)], "limit": 300}  # fmt: skip
    assert render([result], path)
    assert path.stat().st_size > 1000
