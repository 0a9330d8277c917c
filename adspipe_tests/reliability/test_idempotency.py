"""Idempotency: each job, and each partition range, run three times gives byte-identical marts.

Every platform of the registry (Shopify, Meta, Google Ads) runs through its adapter
(adspipe_tests/faults/platforms.py) against the simulator. After every run the tables below are dumped ordered by their key, each row as the `repr` of
the values the driver returns (so `Decimal('10.00')` and `Decimal('10.0000')` differ), hashed;
the three hashes must be equal. Columns left out, and why: none of the marts and facts — they
carry no load timestamps (docs/architecture.md). The raw and cursor tables are compared too,
without `meta_insights_raw.fetched_at`, `google_ads_raw.fetched_at` and `sync_cursors.updated_at`, which are by definition the
time of the run that last wrote the row; `sync_runs` is a log (one row per run) and is not
compared. Re-runs happen 5 minutes apart (the fresh jobs' cursors and windows see a later now).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.marts.daily_summary import rebuild_daily_summary
from adspipe.warehouse import schema
from adspipe_tests.clocks import FakeClock
from adspipe_tests.faults.harness import register, simulator_credentials
from adspipe_tests.faults.platforms import HARNESSES, Harness, Knobs
from adspipe_tests.simulator_fixtures import RunningSimulator

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
PLATFORMS = ("shopify", "meta", "google_ads")  # the registry's platforms, each through its adapter
# The tables a platform's jobs own (each must be written) and the raw and cursor tables compared too.
OWNED = {
    "shopify": ("daily_shopify_metrics", "daily_summary", "fact_orders"),
    "meta": ("daily_meta_metrics", "daily_summary", "fact_meta_daily"),
    "google_ads": ("daily_ad_metrics", "daily_summary", "fact_google_ads_daily"),
}
MARTS = tuple(dict.fromkeys(t for tables in OWNED.values() for t in tables))
# Legitimately the time of the run that wrote the row: left out of the comparison.
RUN_TIMESTAMPS = {"meta_insights_raw": {"fetched_at"}, "google_ads_raw": {"fetched_at"},
                  "sync_cursors": {"updated_at"}}  # fmt: skip
ALSO_COMPARED = ("shopify_orders_raw", "meta_insights_raw", "google_ads_raw", "sync_cursors")
RANGE = [date(2026, 3, 5) + timedelta(days=i) for i in range(3)]  # 5..7 March


def table_bytes(engine: Engine, name: str) -> bytes:
    table = schema.table_or_view(name)
    columns = [c for c in table.columns if c.name not in RUN_TIMESTAMPS.get(name, set())]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*columns).order_by(*table.primary_key.columns)).all()
    return b"\n".join(repr(tuple(row)).encode() for row in rows)


def dump(engine: Engine) -> dict[str, tuple[int, str]]:
    """table → (rows, sha256 of the repr of every row in key order)."""
    out = {}
    for name in (*MARTS, *ALSO_COMPARED):
        data = table_bytes(engine, name)
        out[name] = (data.count(b"\n") + 1 if data else 0, hashlib.sha256(data).hexdigest())
    return out


@dataclass
class World:
    engine: Engine
    clients: dict[str, Any]
    stores: list[str]  # the stores' names, in the order they were registered

    def jobs(self) -> dict[str, Callable[[datetime], Any]]:
        """Every platform's fill, fresh run and partition range (RANGE), and the summary."""
        out: dict[str, Callable[[datetime], Any]] = {}
        for name in PLATFORMS:
            out |= _platform_jobs(self.engine, HARNESSES[name], self.clients[name])
        out["daily_summary"] = self.daily_summary
        return out

    def daily_summary(self, now: datetime) -> int:
        """What the daily_summary asset does for a partition range: every store, every date."""
        with self.engine.begin() as conn:
            store_ids = list(conn.execute(sa.select(schema.stores.c.store_id)).scalars())
            return rebuild_daily_summary(conn, store_ids, RANGE)


def _platform_jobs(engine: Engine, h: Harness, client: Any) -> dict[str, Callable[[datetime], Any]]:
    return {
        f"{h.name}-fill": lambda now: h.fill(engine, client, now),
        f"{h.name}-fresh": lambda now: h.fresh(engine, client, now),
        f"{h.name}-partitions": lambda now: h.dates(engine, client, RANGE, now),
    }


@pytest.fixture
def world(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> World:
    """The simulator's first two stores (Los Angeles shop with a Los Angeles and a New York ad
    account, USD; Berlin, EUR), each with its Shopify shop, Meta accounts and Google Ads customer
    (the second one through the manager, a 3-day conversion lag), at 25–50 rows a page."""
    running = make_simulator(seed=7, stores=2, now=NOW, orders_per_day=12, ads_per_account=8)
    for name, value in simulator_credentials().items():
        monkeypatch.setenv(name, value)
    registered = register(engine, running.sim, google_ads=True, google_lag_days=3)
    vt = FakeClock()
    knobs = Knobs(page_size=50, page_limit=25)
    clients = {name: HARNESSES[name].client(vt, running.handle, knobs) for name in PLATFORMS}
    return World(engine, clients, registered.store_names)


def _ok(result: Any) -> None:
    report = getattr(result, "report", None)
    assert report is None or report.failed == [], [o.error for o in report.failed]


JOBS = [f"{p}-{job}" for p in PLATFORMS for job in ("fill", "fresh", "partitions")] + ["daily_summary"]
PREREQUISITES = {"daily_summary": [f"{p}-partitions" for p in PLATFORMS]}


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)  # Postgres: the sequence test below
@pytest.mark.parametrize("job", JOBS)
def test_a_job_run_three_times_leaves_byte_identical_marts(world: World, job: str) -> None:
    jobs = world.jobs()
    for before in PREREQUISITES.get(job, []):
        _ok(jobs[before](NOW))
    if job == "daily_summary":  # its own first materialization: from no rows at all
        with world.engine.begin() as conn:
            conn.execute(sa.delete(schema.daily_summary))
    dumps = []
    for attempt in range(3):
        _ok(jobs[job](NOW + timedelta(minutes=5 * attempt)))
        dumps.append(dump(world.engine))
    assert dumps[0] == dumps[1] == dumps[2]
    written = {name for name, (rows, _) in dumps[0].items() if rows}
    expected = set(OWNED.get(job.split("-")[0], ("daily_summary",)))
    assert expected <= written  # the run did write the marts it owns


@pytest.mark.parametrize("warehouse_url", ["sqlite", "postgres"], indirect=True)
def test_every_job_and_partition_again_twice_leaves_byte_identical_marts(world: World) -> None:
    """The whole day's sequence (fills, fresh runs, the partition ranges, the summary), then the
    whole sequence twice more: the warehouse is byte-identical each time."""
    jobs = world.jobs()
    dumps = []
    for attempt in range(3):
        for job in JOBS:
            _ok(jobs[job](NOW + timedelta(minutes=5 * attempt)))
        dumps.append(dump(world.engine))
    assert dumps[0] == dumps[1] == dumps[2]
    rows = {name: rows for name, (rows, _) in dumps[0].items()}
    assert rows["fact_orders"] >= 50 and rows["daily_summary"] >= 16 and rows["fact_meta_daily"] >= 20
    assert rows["fact_google_ads_daily"] >= 20 and rows["google_ads_raw"] == rows["fact_google_ads_daily"]


def test_mismatch_flags_follow_the_store_connections(world: World) -> None:
    """A Shopify-only day of the first store (shop Los Angeles, one ad account New York) is rebuilt
    before the ad accounts' time zones are known; it must not keep `timezone_mismatch = false` after."""
    _ok(world.jobs()["shopify-fill"](NOW))
    today = schema.daily_summary.c.date == NOW.date()
    with world.engine.connect() as conn:
        before = (
            conn.execute(sa.select(schema.daily_summary.c.timezone_mismatch).where(today)).scalars().all()
        )
    assert before == [False, False]  # no ad account time zone known yet
    _ok(world.jobs()["meta-fill"](NOW))  # reads the accounts' zones; touches no data of today
    summary, stores = schema.daily_summary, schema.stores
    with world.engine.connect() as conn:
        rows = conn.execute(
            sa.select(stores.c.name, summary.c.timezone_mismatch)
            .join(stores, stores.c.store_id == summary.c.store_id)
            .where(today)
            .order_by(summary.c.store_id)
        ).all()
    # The first store mismatches (a New York ad account); the second is all Berlin.
    assert [tuple(r) for r in rows] == [(world.stores[0], True), (world.stores[1], False)]
