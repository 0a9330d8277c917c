"""P3: load throughput end to end, API pages → Postgres, with no API latency.

What runs: the real jobs — `shopify_7d_fill` (ShopifyClient paging, `order_rows`, `write_orders`,
mart rebuilds, cursor) and `meta_7d_fill` (`run_fill`: MetaClient paging, `check_rows`,
`fact_row`, per-day replace of raw and facts, mart rebuilds) — with their HTTP answered
in-process by `bench.payloads` (pre-rendered realistic JSON pages, `httpx.MockTransport`, no
socket, no latency, an API that costs nothing). Not the simulator: its server would share the
2 cores with the pipeline and the figure would measure both.

Compared, on the same pages and rows, each into empty tables:
- adspipe: the job as shipped (new rows encoded for COPY by the reading thread and COPY'd in a
  savepoint; the checked upsert path where rows are stored already);
- row at a time: the same job with every write forced to one INSERT … ON CONFLICT per row and
  every COPY path declined (the baseline), everything else unchanged;
- COPY ceiling: plain `COPY` of the same raw and fact rows (already transformed) into the empty
  tables, no conflict handling, no marts — the most the database takes.
Goal: adspipe ≥ 50 % of the ceiling, for orders and for insights rows.

The figures are for tables that have planner statistics (one run, `ANALYZE`, then the timed runs
into emptied tables): autovacuum is off on the benchmark server, and without statistics the
planner picks plans that scan the whole shop per page (see docs/performance.md); the first run,
into never-analyzed tables, is reported as `adspipe_never_analyzed_per_s`.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.gc_tuning import bulk_load
from adspipe.meta import load as meta_load
from adspipe.meta import sync as meta_sync
from adspipe.meta import transforms as meta_transforms
from adspipe.meta.client import MetaClient
from adspipe.shopify import load as shopify_load
from adspipe.shopify.client import ShopifyClient
from adspipe.shopify.sync import shopify_7d_fill
from adspipe.shopify.transforms import order_rows
from adspipe.warehouse import connections as conns
from adspipe.warehouse import db, schema
from adspipe.warehouse.connections import Connection
from adspipe.warehouse.upsert import _copy_into, upsert_rows
from bench import payloads
from bench.common import median_seconds, save, scratch_database

NOW = datetime(2026, 11, 1, 17, 0, tzinfo=UTC)
GOAL = 0.5
FIRST_BUDGET_S = 30.0  # the fill into never-analyzed tables stops after this (FillIncomplete)
LOADED = [
    "daily_summary", "daily_summary_platform", "daily_shopify_metrics", "daily_ad_metrics", "fact_orders",
    "shopify_orders_raw",
    "fact_meta_daily", "meta_insights_raw", "sync_runs", "sync_cursors",
]  # fmt: skip


def _analyze(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")


def _first_then_analyzed(
    engine: Engine, fill: Any, first_fill: Any, repeat: int
) -> tuple[float, float, list[float]]:
    """One run into never-analyzed tables (`first_fill`, bounded in time: it returns the rows it
    loaded), then ANALYZE, then the median of `repeat` runs of `fill` into emptied tables that
    have statistics — the steady state of a warehouse where autovacuum runs (it is off on the
    benchmark server). Returns (first run's rows/s, median seconds, runs)."""
    _empty(engine)
    began = time.perf_counter()
    loaded = first_fill()
    first_rate = loaded / (time.perf_counter() - began)
    _analyze(engine)
    median, runs = median_seconds(fill, repeat, setup=functools.partial(_empty, engine))
    return first_rate, median, runs


def _empty(engine: Engine) -> None:
    """DELETE, not TRUNCATE: TRUNCATE resets the planner's row count (reltuples) to "unknown",
    and the plans go back to the never-analyzed ones. Then VACUUM (keeps the statistics): every
    run starts from the same tables, not from the dead rows of the runs before it (the same
    keys again: each run was slower than the last without it)."""
    present = [table for table in LOADED if table in set(schema.ALL_TABLES)]
    with engine.begin() as conn:
        for table in present:
            conn.exec_driver_sql(f'DELETE FROM "{table}"')  # noqa: S608 - our table names
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM " + ", ".join(f'"{t}"' for t in present))


@contextmanager
def row_at_a_time() -> Iterator[None]:
    """Swap the loaders' writers for one statement per row, no COPY (the baseline)."""
    single = functools.partial(upsert_rows, batch_rows=1, use_copy=False)

    def single_parts(
        conn: sa.Connection, parts: Sequence[tuple[sa.Table, Sequence[Mapping[str, Any]]]]
    ) -> None:
        for table, rows in parts:
            single(conn, table, rows)

    def no_copy(conn: sa.Connection, parts: Sequence[Any]) -> bool:
        return False  # the loaders' straight COPY of new rows declined: they take the upsert path

    def no_encoded(conn: sa.Connection, shop_domain: str, pages: Sequence[Any]) -> None:
        return None  # the fill's encoded pages declined: their orders are written as rows

    saved = (
        shopify_load.upsert_rows,
        shopify_load.insert_new_rows,
        shopify_load.copy_new_rows,
        shopify_load.write_encoded_orders,
        meta_load.insert_new_rows,
        meta_load.copy_encoded,
    )
    shopify_load.upsert_rows = single
    shopify_load.insert_new_rows = single_parts
    shopify_load.copy_new_rows = no_copy
    shopify_load.write_encoded_orders = no_encoded
    meta_load.insert_new_rows = single_parts
    meta_load.copy_encoded = no_copy
    try:
        yield
    finally:
        (
            shopify_load.upsert_rows, shopify_load.insert_new_rows, shopify_load.copy_new_rows,
            shopify_load.write_encoded_orders, meta_load.insert_new_rows, meta_load.copy_encoded,
        ) = saved  # fmt: skip


def copy_rows(engine: Engine, parts: list[tuple[sa.Table, list[dict[str, Any]]]]) -> None:
    """Plain COPY of prepared rows into their tables (the ceiling), in one transaction: the same
    COPY writer and the same collector setting as the loaders (`_copy_into`, `bulk_load`)."""
    with bulk_load(), engine.begin() as conn:
        for table, rows in parts:
            _copy_into(conn, table.name, table, list(rows[0]), rows)


def _connections(engine: Engine) -> tuple[Connection, Connection]:
    os.environ.setdefault("BENCH_TOKEN", "bench-token")
    with engine.begin() as conn:
        shop, _ = conns.connect(
            conn, store="bench", platform="shopify", account_id=payloads.SHOP, token_env="BENCH_TOKEN"
        )
        meta, _ = conns.connect(
            conn, store="bench", platform="meta", account_id=payloads.ACCOUNT, token_env="BENCH_TOKEN"
        )
    return shop, meta


def orders(engine: Engine, shop: Connection, total: int, repeat: int, baseline_repeat: int) -> dict[str, Any]:
    start, span = NOW - timedelta(days=7), timedelta(days=7)
    api = payloads.ShopifyApi(total, start, span)

    def fill(budget_s: float = 3600.0) -> int:
        client = ShopifyClient(endpoint_template="http://shopify.bench/{shop}/{version}/graphql.json")
        client.with_transport(api.transport())
        try:
            result = shopify_7d_fill(engine, client, NOW, time_budget_s=budget_s)
        finally:
            client.close()
        if budget_s >= 3600:
            assert result.report.outcomes[0].status == "success", result.report.outcomes
            assert result.runs[0].orders_written == total, result.runs[0].orders_written
        return result.runs[0].orders_read

    empty = functools.partial(_empty, engine)
    # Never analyzed: the fill slows down page after page; bounded to FIRST_BUDGET_S.
    first_rate, pipeline_s, pipeline_runs = _first_then_analyzed(
        engine, fill, functools.partial(fill, FIRST_BUDGET_S), repeat
    )
    with row_at_a_time():
        baseline_s, _ = median_seconds(fill, baseline_repeat, setup=empty)

    # The ceiling: the same rows, transformed beforehand (timed apart), COPY'd into empty tables.
    with bulk_load():  # as the loaders run
        began = time.perf_counter()
        nodes = [
            node
            for first in range(0, total, 250)
            for node in json.loads(api._pages[first])["data"]["orders"]["nodes"]
        ]
        rows = [
            order_rows(
                n, shop_domain=payloads.SHOP, connection_id=shop.connection_id, store_id=shop.store_id,
                timezone=payloads.SHOP_TZ, shop_currency="USD",
            )
            for n in nodes
        ]  # fmt: skip
        transform_s = time.perf_counter() - began
    parts = [(schema.shopify_orders_raw, [r.raw for r in rows]), (schema.fact_orders, [r.fact for r in rows])]
    copy_s, _ = median_seconds(lambda: copy_rows(engine, parts), repeat, setup=empty)
    payload_kb = sum(len(p) for p in api._pages.values()) / total / 1000
    return {
        "rows": total,
        "pages": api.requests,
        "payload_kb_per_order": round(payload_kb, 2),
        "adspipe_per_s": round(total / pipeline_s),
        "adspipe_runs_s": [round(r, 2) for r in pipeline_runs],
        "adspipe_never_analyzed_per_s": round(first_rate),
        "row_at_a_time_per_s": round(total / baseline_s),
        "copy_ceiling_per_s": round(total / copy_s),
        "parse_and_transform_only_per_s": round(total / transform_s),
        "share_of_copy": round(copy_s / pipeline_s, 3),
        # Derived: the job's time less the parse + transform time measured apart (what the writes cost).
        "write_share_of_copy": round(copy_s / max(pipeline_s - transform_s, 1e-9), 3),
        "speedup_vs_row_at_a_time": round(baseline_s / pipeline_s, 1),
    }


def insights(engine: Engine, meta: Connection, ads: int, repeat: int, baseline_repeat: int) -> dict[str, Any]:
    api = payloads.MetaApi(ads)
    limit = MetaClient().page_limit
    days = [NOW.date() - timedelta(days=d) for d in range(7, 0, -1)]
    api.prerender(days, limit, f"/{MetaClient().api_version}/{payloads.ACCOUNT}/insights")
    total = ads * len(days)

    def fill() -> None:
        # The synchronous path P3 has always measured: 3,000 ads a day would switch the account to
        # report runs (ADSPIPE_META_REPORT_RUN_MIN_ADS), which bench's in-process API does not serve.
        client = MetaClient(graph_url="http://graph.bench", report_run_min_ads=0).with_transport(
            transport=api.transport()
        )
        try:
            result = meta_sync.run_fill(engine, client, now=NOW)
        finally:
            client.close()
        assert not result.report.failed, result.report.failed
        assert sum(d.ad_rows for d in result.runs[0].days) == total

    def first_fill() -> int:
        fill()
        return total

    empty = functools.partial(_empty, engine)
    first_rate, pipeline_s, pipeline_runs = _first_then_analyzed(engine, fill, first_fill, repeat)
    with row_at_a_time():
        baseline_s, _ = median_seconds(fill, baseline_repeat, setup=empty)

    with bulk_load():  # as the loaders run
        began = time.perf_counter()
        raw_rows: list[dict[str, Any]] = []
        facts: list[dict[str, Any]] = []
        client = MetaClient()
        for day in days:
            day_rows: list[dict[str, Any]] = []
            for offset in range(0, ads, limit):
                day_rows.extend(json.loads(api._pages[(day.isoformat(), "ad", offset, limit)])["data"])
            checked = meta_transforms.check_rows(day_rows, day, level="ad")
            common = {"ad_account_id": payloads.ACCOUNT, "date": day, "connection_id": meta.connection_id}
            raw_rows.extend(
                {**common, "level": "ad", "ad_id": r["ad_id"], "payload": r, "fetched_at": NOW}
                for r in checked
            )
            facts.extend(
                meta_transforms.fact_row(
                    r, ad_account_id=payloads.ACCOUNT, store_id=meta.store_id, connection_id=meta.connection_id,
                    currency="USD", purchase_type=client.purchase_action_type, fallbacks=client.purchase_fallbacks,
                )
                for r in checked
            )  # fmt: skip
        transform_s = time.perf_counter() - began
    parts = [(schema.meta_insights_raw, raw_rows), (schema.fact_meta_daily, facts)]
    copy_s, _ = median_seconds(lambda: copy_rows(engine, parts), repeat, setup=empty)
    return {
        "rows": total,
        "ads": ads,
        "days": len(days),
        "requests": api.requests,
        "adspipe_per_s": round(total / pipeline_s),
        "adspipe_runs_s": [round(r, 2) for r in pipeline_runs],
        "adspipe_never_analyzed_per_s": round(first_rate),
        "row_at_a_time_per_s": round(total / baseline_s),
        "copy_ceiling_per_s": round(total / copy_s),
        "parse_and_transform_only_per_s": round(total / transform_s),
        "share_of_copy": round(copy_s / pipeline_s, 3),
        # Derived: the job's time less the parse + transform time measured apart (what the writes cost).
        "write_share_of_copy": round(copy_s / max(pipeline_s - transform_s, 1e-9), 3),
        "speedup_vs_row_at_a_time": round(baseline_s / pipeline_s, 1),
    }


def run(quick: bool = False) -> dict[str, Any]:
    n_orders, n_ads = (3_000, 400) if quick else (20_000, 3_000)
    repeat, baseline_repeat = (2, 1) if quick else (5, 1)
    with scratch_database("throughput") as url:
        engine = db.get_engine(url)
        shop, meta = _connections(engine)
        o = orders(engine, shop, n_orders, repeat, baseline_repeat)
        i = insights(engine, meta, n_ads, repeat, baseline_repeat)
    share = min(o["share_of_copy"], i["share_of_copy"])
    return {
        "id": "P3",
        "title": "load throughput, API pages to Postgres (no latency)",
        "inputs": (
            f"{n_orders:,} orders (7-day fill, 250/page) and {n_ads * 7:,} insight rows (7 days x {n_ads:,} ads); "
            "in-process API, real clients and jobs; baseline 1x"
        ),
        "repetitions": repeat,
        "orders": o,
        "insights": i,
        "figure": (
            f"orders {o['adspipe_per_s']:,}/s ({o['share_of_copy']:.0%} of COPY {o['copy_ceiling_per_s']:,}/s, "
            f"{o['speedup_vs_row_at_a_time']}x row-at-a-time); insights {i['adspipe_per_s']:,}/s "
            f"({i['share_of_copy']:.0%} of COPY {i['copy_ceiling_per_s']:,}/s, {i['speedup_vs_row_at_a_time']}x)"
        ),
        "ratio": round(share, 2),
        "goal": f">= {GOAL} of COPY",
        "passed": share >= GOAL,
        "unit": "rows/s",
        "bars": [
            ("orders: row-at-a-time", o["row_at_a_time_per_s"], "#8c8c8c"),
            ("orders: adspipe", o["adspipe_per_s"]),
            ("orders: COPY", o["copy_ceiling_per_s"], "#55A868"),
            ("insights: row-at-a-time", i["row_at_a_time_per_s"], "#8c8c8c"),
            ("insights: adspipe", i["adspipe_per_s"]),
            ("insights: COPY", i["copy_ceiling_per_s"], "#55A868"),
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    result = run(args.quick)
    save("throughput", result)
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
