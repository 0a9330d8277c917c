"""Idempotency: each job, and each partition range, run three times gives byte-identical marts.

After every run the five tables below are dumped ordered by their key, each row as the `repr` of
the values the driver returns (so `Decimal('10.00')` and `Decimal('10.0000')` differ), hashed;
the three hashes must be equal. Columns left out, and why: none of the marts and facts — they
carry no load timestamps (docs/architecture.md). The raw and cursor tables are compared too,
without `meta_insights_raw.fetched_at` and `sync_cursors.updated_at`, which are by definition the
time of the run that last wrote the row; `sync_runs` is a log (one row per run) and is not
compared. Re-runs happen 5 minutes apart (the fresh jobs' cursors and windows see a later now).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.marts.daily_summary import rebuild_daily_summary
from adspipe.meta import sync as meta_sync
from adspipe.meta.client import MetaClient
from adspipe.shopify import sync as shopify_sync
from adspipe.shopify.client import ShopifyClient
from adspipe.warehouse import connections as conns
from adspipe.warehouse import schema
from adspipe_tests.clocks import FakeClock
from adspipe_tests.meta.fake_graph import FakeAccount
from adspipe_tests.reliability.helpers import ScriptedGraph, ScriptedShopify
from adspipe_tests.shopify.fakes import TOKEN, money, order

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
WEST, EAST = "west.myshopify.com", "east.myshopify.com"
MARTS = ("daily_shopify_metrics", "daily_meta_metrics", "daily_summary", "fact_orders", "fact_meta_daily")
# Legitimately the time of the run that wrote the row: left out of the comparison.
RUN_TIMESTAMPS = {"meta_insights_raw": {"fetched_at"}, "sync_cursors": {"updated_at"}}
ALSO_COMPARED = ("shopify_orders_raw", "meta_insights_raw", "sync_cursors")
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


def _orders(shopify: ScriptedShopify) -> None:
    """Nine days of orders: refunds, a cancelled and a test order, returning customers, two
    currencies, orders near the shops' midnights."""
    n = 0
    for day in range(9):
        for k in range(4):
            n += 1
            created = (NOW - timedelta(days=day, hours=3 * k + 1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            node = order(n, created=created, total=f"{10 + k}.{n % 100:02d}", refunded="2.50" if n % 5 == 0 else "0.00",
                         cancelled=created if n % 11 == 0 else None, test=n % 13 == 0, customer=n % 7)  # fmt: skip
            shopify.put(WEST, node)
            east = order(1000 + n, created=created, total=f"{20 + k}.99", customer=n % 3)
            east["totalPriceSet"] = money(f"{20 + k}.99", "EUR")
            shopify.put(EAST, east)


def _ads(day_count: int = 11) -> dict[str, FakeAccount]:
    days = [NOW.date() - timedelta(days=i) for i in range(day_count)]
    return {
        "act_1": FakeAccount("America/Los_Angeles", "USD", {
            d: [("a1", "ACTIVE", "10.25", 2, "45.10"), ("a2", "PAUSED", "3.33", 1, "9.99"), ("z", "ARCHIVED", "1.50", 0, "0")]
            for d in days}),
        "act_2": FakeAccount("Europe/Berlin", "EUR", {d: [("b1", "ACTIVE", "7.77", 1, "20.00")] for d in days}),
    }  # fmt: skip


@dataclass
class World:
    engine: Engine
    shopify: ShopifyClient
    meta: MetaClient

    def jobs(self) -> dict[str, Callable[[datetime], Any]]:
        e, s, m = self.engine, self.shopify, self.meta
        return {
            "shopify_7d_fill": lambda now: shopify_sync.shopify_7d_fill(e, s, now),
            "shopify_fresh": lambda now: shopify_sync.shopify_fresh(e, s, now),
            "shopify_orders_assets": lambda now: shopify_sync.sync_days(e, s, RANGE),
            "meta_7d_fill": lambda now: meta_sync.run_fill(e, m, now=now),
            "meta_fresh": lambda now: meta_sync.run_fresh(e, m, now=now),
            "meta_insights": lambda now: meta_sync.run_dates(e, m, RANGE, now=now),
            "daily_summary": self.daily_summary,
        }

    def daily_summary(self, now: datetime) -> int:
        """What the daily_summary asset does for a partition range: every store, every date."""
        with self.engine.begin() as conn:
            store_ids = list(conn.execute(sa.select(schema.stores.c.store_id)).scalars())
            return rebuild_daily_summary(conn, store_ids, RANGE)


@pytest.fixture
def world(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("SHOP_TOKEN", TOKEN)
    monkeypatch.setenv("META_TOK", "EAAidempotency0123")
    shopify = ScriptedShopify()
    shopify.add_shop(WEST, "America/New_York", "USD")
    shopify.add_shop(EAST, "Europe/Berlin", "EUR")
    _orders(shopify)
    clock = FakeClock()
    client = ShopifyClient(endpoint_template="https://{shop}/admin/api/{version}/graphql.json", page_size=50)
    client.with_transport(httpx.MockTransport(shopify), sleep=clock.sleep, monotonic=clock.monotonic)
    graph = ScriptedGraph(_ads())
    meta = MetaClient(graph_url="http://graph.test", page_limit=25).with_transport(
        transport=graph.transport(), sleep=lambda seconds: None
    )
    with engine.begin() as db:
        conns.connect(db, store="West", platform="shopify", account_id=WEST, token_env="SHOP_TOKEN")
        conns.connect(db, store="East", platform="shopify", account_id=EAST, token_env="SHOP_TOKEN")
        conns.connect(db, store="West", platform="meta", account_id="act_1", token_env="META_TOK",
                      attribution_window_days=2)  # fmt: skip
        conns.connect(db, store="East", platform="meta", account_id="act_2", token_env="META_TOK",
                      attribution_window_days=3)  # fmt: skip
    return World(engine, client, meta)


def _ok(result: Any) -> None:
    report = getattr(result, "report", None)
    assert report is None or report.failed == [], [o.error for o in report.failed]


JOBS = [
    "shopify_7d_fill", "shopify_fresh", "shopify_orders_assets", "meta_7d_fill", "meta_fresh", "meta_insights",
    "daily_summary",
]  # fmt: skip
PREREQUISITES = {"daily_summary": ["shopify_orders_assets", "meta_insights"]}


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
    expected = {
        "shopify": {"daily_shopify_metrics", "daily_summary", "fact_orders"},
        "meta": {"daily_meta_metrics", "daily_summary", "fact_meta_daily"},
        "daily": {"daily_summary"},
    }[job.split("_")[0]]
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


def test_mismatch_flags_follow_the_store_connections(world: World) -> None:
    """A Shopify-only day of store West (shop New York, ad account Los Angeles) is rebuilt before
    the ad account's time zone is known; it must not keep `timezone_mismatch = false` after."""
    _ok(world.jobs()["shopify_7d_fill"](NOW))
    today = schema.daily_summary.c.date == NOW.date()
    with world.engine.connect() as conn:
        before = (
            conn.execute(sa.select(schema.daily_summary.c.timezone_mismatch).where(today)).scalars().all()
        )
    assert before == [False, False]  # no ad account time zone known yet
    _ok(world.jobs()["meta_7d_fill"](NOW))  # reads Los Angeles and Berlin; touches no data of today
    with world.engine.connect() as conn:
        rows = conn.execute(
            sa.select(schema.daily_summary.c.store_id, schema.daily_summary.c.timezone_mismatch)
            .where(today)
            .order_by(schema.daily_summary.c.store_id)
        ).all()
    assert [tuple(r) for r in rows] == [(1, True), (2, False)]  # West mismatches; East is all Berlin
