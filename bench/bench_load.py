"""P3, warehouse half: rows per second into Postgres for the same fact rows, four ways.

- row at a time: one INSERT … ON CONFLICT statement per row (the baseline peers use)
- executemany batches: one compiled INSERT … ON CONFLICT with 1,000 parameter sets per call
- adspipe upsert: what the pipeline uses (COPY into staging + one INSERT … SELECT … ON CONFLICT)
- COPY: plain COPY into the empty table, no conflict handling (the ceiling)

Each way loads into an empty table and, for the upserts, again over the loaded rows (the update
path a re-run takes). Median of `--repeat` runs.
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from adspipe.warehouse import connections as conns
from adspipe.warehouse import db, schema
from adspipe.warehouse.upsert import upsert_rows
from bench.common import median_seconds, save, scratch_database, truncate


def fact_rows(n: int, connection_id: int, store_id: int) -> list[dict[str, Any]]:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        {
            "shop_domain": "bench.myshopify.com",
            "order_id": i,
            "store_id": store_id,
            "connection_id": connection_id,
            "order_name": f"#{1000 + i}",
            "order_date": date(2026, 1, 1) + timedelta(days=i // 1000),
            "created_at": base + timedelta(seconds=i * 80),
            "updated_at": base + timedelta(seconds=i * 80 + 5),
            "cancelled_at": None,
            "financial_status": "PAID",
            "currency": "USD",
            "total_price": Decimal(f"{50 + i % 300}.{i % 100:02d}"),
            "subtotal_price": Decimal("45.00"),
            "total_discounts": Decimal("0.00"),
            "total_tax": Decimal("3.50"),
            "total_shipping": Decimal("4.99"),
            "total_refunded": Decimal("0.00"),
            "net_revenue": Decimal(f"{50 + i % 300}.{i % 100:02d}"),
            "customer_id": 10_000 + i % 7_000,
            "line_item_count": 1 + i % 4,
            "is_test": False,
        }  # fmt: skip
        for i in range(n)
    ]


def run(rows: int, repeat: int) -> dict[str, Any]:
    with scratch_database("load") as url:
        engine = db.get_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("SELECT 1")
        import os

        os.environ["BENCH_TOKEN"] = "x"
        with engine.begin() as conn:
            connection, _ = conns.connect(
                conn,
                store="bench",
                platform="shopify",
                account_id="bench.myshopify.com",
                token_env="BENCH_TOKEN",
            )
        data = fact_rows(rows, connection.connection_id, connection.store_id)
        table = schema.fact_orders
        columns = list(data[0])

        def row_at_a_time() -> None:
            with engine.begin() as conn:
                for row in data:
                    upsert_rows(conn, table, [row], use_copy=False)

        def executemany_batches() -> None:
            with engine.begin() as conn:
                upsert_rows(conn, table, data, use_copy=False)

        def adspipe_upsert() -> None:
            with engine.begin() as conn:
                upsert_rows(conn, table, data)

        def plain_copy() -> None:
            with engine.begin() as conn:
                processors = [table.c[c].type.bind_processor(conn.dialect) for c in columns]
                raw = conn.connection.driver_connection
                assert raw is not None
                with (
                    raw.cursor() as cur,
                    cur.copy(f"COPY fact_orders ({', '.join(columns)}) FROM STDIN") as copy,
                ):
                    for row in data:
                        copy.write_row(
                            [p(row[c]) if p else row[c] for c, p in zip(columns, processors, strict=True)]
                        )

        def empty() -> None:
            truncate(engine, "fact_orders")

        results: dict[str, Any] = {"rows": rows, "repeat": repeat}
        small = max(1, repeat // 2)
        for name, fn, reps in (
            ("row_at_a_time", row_at_a_time, small),
            ("executemany_batches", executemany_batches, repeat),
            ("adspipe_upsert", adspipe_upsert, repeat),
            ("copy_ceiling", plain_copy, repeat),
        ):
            insert_s, _ = median_seconds(fn, reps, setup=empty)
            results[name] = {"insert_rows_per_s": round(rows / insert_s)}
            if name != "copy_ceiling":
                update_s, _ = median_seconds(fn, reps)  # table already holds the rows: the update path
                results[name]["update_rows_per_s"] = round(rows / update_s)
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == rows
        ceiling = results["copy_ceiling"]["insert_rows_per_s"]
        for name in ("row_at_a_time", "executemany_batches", "adspipe_upsert"):
            results[name]["share_of_copy"] = round(results[name]["insert_rows_per_s"] / ceiling, 3)
        return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    result = run(args.rows, args.repeat)
    save("load_warehouse", result)
    for name in ("row_at_a_time", "executemany_batches", "adspipe_upsert", "copy_ceiling"):
        print(f"{name:15} {result[name]}")


if __name__ == "__main__":
    main()
