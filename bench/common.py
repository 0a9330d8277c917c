"""Shared helpers for the benchmarks: a throwaway Postgres database, timing, results."""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe_tests import scratch_pg

PG_ADMIN_URL = os.environ.get("ADSPIPE_BENCH_PG_URL", scratch_pg.DEFAULT_ADMIN_URL)
RESULTS = Path(__file__).with_name("results")


@contextmanager
def scratch_database(prefix: str = "bench") -> Iterator[str]:
    """A new Postgres database, migrated to head, dropped afterwards (adspipe_tests.scratch_pg)."""
    with scratch_pg.scratch_database(PG_ADMIN_URL, f"adspipe_{prefix}", migrate=True) as url:
        yield url


def median_seconds(
    fn: Callable[[], Any], repeat: int, setup: Callable[[], Any] | None = None
) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        if setup:
            setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def truncate(engine: Engine, *tables: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))


def save(name: str, result: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, default=str))
