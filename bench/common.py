"""Shared helpers for the benchmarks: a throwaway Postgres database, timing, results."""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.warehouse import db

PG_ADMIN_URL = os.environ.get("ADSPIPE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
RESULTS = Path(__file__).with_name("results")


@contextmanager
def scratch_database(prefix: str = "bench") -> Iterator[str]:
    """A new Postgres database, migrated to head, dropped afterwards."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"adspipe_{prefix}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        db.upgrade(db.get_engine(url))
        yield url
    finally:
        db.get_engine(url).dispose()
        db.get_engine.cache_clear()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


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
