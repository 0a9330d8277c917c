"""P4: the marts scale with the dates touched, not with the history.

Two scratch databases hold the same shop (UTC, USD) with `orders_per_day` orders a day: one with
a long history (3 years), one with 30 days. Both end on the same date, and the last days are
generated identically, so the rebuilt dates hold the same rows. The history is generated with
set-based SQL (`INSERT … SELECT generate_series`) straight into `fact_orders`,
`daily_shopify_metrics`, `daily_ad_metrics` and `daily_summary` (the steady state after
loading), then `VACUUM ANALYZE`.

Timed: what a job does after it wrote a page touching 10 dates — adspipe's
`rebuild_shopify_metrics` + `rebuild_daily_summary` for the last 10 dates in one transaction
(median of `repeat` runs after one warm-up). Goal: long ÷ short ≤ 2.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.marts.daily_summary import rebuild_daily_summary
from adspipe.shopify.load import rebuild_shopify_metrics
from adspipe.warehouse import connections as conns
from adspipe.warehouse import db
from bench.common import median_seconds, save, scratch_database

SHOP = "bench.myshopify.com"
ACCOUNT = "act_100"
END = date(2026, 11, 1)  # the last date of the history (the newest touched date)
TOUCHED = 10
GOAL = 2.0

# Orders: `per_day` a day, evenly spread over the UTC day; 5 % without a customer, 70 % of the rest
# new customers, 30 % returning (an earlier order's customer); 1 % test, 3 % cancelled, 5 % refunded.
FACTS_SQL = """
INSERT INTO fact_orders (shop_domain, order_id, store_id, connection_id, order_name, order_date,
    created_at, updated_at, cancelled_at, financial_status, currency, total_price, subtotal_price,
    total_discounts, total_tax, total_shipping, total_refunded, net_revenue, customer_id,
    line_item_count, is_test)
SELECT :shop, g, :store_id, :connection_id, '#' || (1000 + g), o.day, o.ts, o.ts + interval '90 seconds',
    CASE WHEN g % 100 BETWEEN 10 AND 12 THEN o.ts + interval '1 hour' END,
    CASE WHEN g % 20 = 7 THEN 'PARTIALLY_REFUNDED' ELSE 'PAID' END, 'USD', o.price, o.price - 8.49,
    0, 3.50, 4.99, o.refunded, o.price - o.refunded,
    CASE WHEN g % 20 = 3 THEN NULL
         WHEN g % 10 < 3 AND g > 0 THEN 1000000 + (hashint(g) % g)
         ELSE 1000000 + g END,
    1 + g % 4, g % 100 = 42
FROM generate_series(:first, :last) AS g
CROSS JOIN LATERAL (
    SELECT (CAST(:start AS date) + (g / :per_day)::int) AS day,
           (CAST(:start AS date) + (g / :per_day)::int)::timestamp AT TIME ZONE 'UTC'
               + make_interval(secs => (g % :per_day) * 86400.0 / :per_day) AS ts,
           (20 + (g * 37) % 280 + (g % 100) / 100.0)::numeric(18, 4) AS price,
           CASE WHEN g % 20 = 7 THEN 10.00 ELSE 0 END::numeric(18, 4) AS refunded
) AS o
"""

# A stable integer hash in SQL (so "returning customer" picks are reproducible).
HASH_FN = """
CREATE OR REPLACE FUNCTION hashint(x bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS
$$ SELECT abs(hashtextextended(x::text, 7)) $$
"""

SHOPIFY_MART_SQL = """
INSERT INTO daily_shopify_metrics (store_id, date, shop_domain, currency, timezone, orders,
    gross_revenue, refunds, net_revenue, aov, new_customers, returning_customers)
SELECT store_id, order_date, :shop, 'USD', 'UTC',
    count(*) FILTER (WHERE NOT is_test AND cancelled_at IS NULL),
    coalesce(sum(total_price) FILTER (WHERE NOT is_test AND cancelled_at IS NULL), 0),
    coalesce(sum(total_refunded) FILTER (WHERE NOT is_test AND cancelled_at IS NULL), 0),
    coalesce(sum(net_revenue) FILTER (WHERE NOT is_test AND cancelled_at IS NULL), 0),
    round(avg(total_price) FILTER (WHERE NOT is_test AND cancelled_at IS NULL), 2), 0, 0
FROM fact_orders GROUP BY store_id, order_date
"""

META_MART_SQL = """
INSERT INTO daily_ad_metrics (store_id, platform, ad_account_id, date, currency, timezone, ads, spend,
    impressions, clicks, purchases, purchase_value, account_spend, spend_gap, roas)
SELECT :store_id, 'meta', :account, d::date, 'USD', 'UTC', 40, 800, 120000, 2400, 30, 2400, 820, 20, 3
FROM generate_series(CAST(:start AS date), CAST(:end AS date), interval '1 day') AS d
"""

SUMMARY_SQL = """
INSERT INTO daily_summary (store_id, date, currency, orders, gross_revenue, refunds, net_revenue,
    aov, spend, impressions, clicks, purchases, purchase_value, roas, mer, currency_mismatch,
    timezone_mismatch)
SELECT s.store_id, s.date, s.currency, s.orders, s.gross_revenue, s.refunds, s.net_revenue, s.aov,
    m.spend, m.impressions, m.clicks, m.purchases, m.purchase_value, 3, 1, false, false
FROM daily_shopify_metrics s JOIN daily_meta_metrics m ON m.store_id = s.store_id AND m.date = s.date
"""


def populate(engine: Engine, days: int, per_day: int) -> dict[str, Any]:
    """History of `days` days ending on END; order ids count from the first day of a 3-year
    history, so the last days hold the same orders whatever the length."""
    os.environ.setdefault("BENCH_TOKEN", "x")
    with engine.begin() as conn:
        shop, _ = conns.connect(
            conn, store="bench", platform="shopify", account_id=SHOP, token_env="BENCH_TOKEN"
        )
        meta, _ = conns.connect(
            conn, store="bench", platform="meta", account_id=ACCOUNT, token_env="BENCH_TOKEN"
        )
        conns.set_account_info(conn, shop.connection_id, timezone="UTC", currency="USD")
        conns.set_account_info(conn, meta.connection_id, timezone="UTC", currency="USD")
    epoch = END - timedelta(days=3 * 365 - 1)  # order id 0 is on this date
    start = END - timedelta(days=days - 1)
    first = (start - epoch).days * per_day
    last = ((END - epoch).days + 1) * per_day - 1
    began = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(sa.text(HASH_FN))
        conn.execute(
            sa.text(FACTS_SQL),
            {
                "shop": SHOP,
                "store_id": shop.store_id,
                "connection_id": shop.connection_id,
                "first": first,
                "last": last,
                "start": epoch.isoformat(),
                "per_day": per_day,
            },
        )
        conn.execute(sa.text(SHOPIFY_MART_SQL), {"shop": SHOP})
        conn.execute(
            sa.text(META_MART_SQL),
            {
                "store_id": shop.store_id,
                "account": ACCOUNT,
                "start": start.isoformat(),
                "end": END.isoformat(),
            },
        )
        conn.execute(sa.text(SUMMARY_SQL))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    with engine.connect() as conn:
        facts = conn.execute(sa.text("SELECT count(*) FROM fact_orders")).scalar_one()
        size = conn.execute(sa.text("SELECT pg_total_relation_size('fact_orders')")).scalar_one()
    return {
        "store_id": shop.store_id,
        "fact_orders": facts,
        "fact_orders_mb": round(size / 1e6),
        "generate_s": round(time.perf_counter() - began, 1),
    }


def touched_dates() -> list[date]:
    return [END - timedelta(days=i) for i in range(TOUCHED)]


def rebuild(engine: Engine, store_id: int, dates: list[date]) -> None:
    with engine.begin() as conn:
        rebuild_shopify_metrics(
            conn, store_id=store_id, shop_domain=SHOP, timezone="UTC", currency="USD", dates=dates
        )
        rebuild_daily_summary(conn, [store_id], dates)


def explain(engine: Engine, store_id: int, dates: list[date]) -> list[str]:
    """EXPLAIN ANALYZE of every statement of the rebuild (each in a rolled-back transaction)."""
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "DELETE")):
            captured.append((statement, parameters))

    with engine.connect() as conn:
        sa.event.listen(conn, "before_cursor_execute", capture)
        trans = conn.begin()
        try:
            rebuild_shopify_metrics(
                conn, store_id=store_id, shop_domain=SHOP, timezone="UTC", currency="USD", dates=dates
            )
            rebuild_daily_summary(conn, [store_id], dates)
        finally:
            trans.rollback()
            sa.event.remove(conn, "before_cursor_execute", capture)
    plans = []
    for statement, parameters in captured:
        with engine.connect() as conn:
            trans = conn.begin()
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).scalars()
            plans.append("\n".join(rows))
            trans.rollback()
    return plans


def measure(days: int, per_day: int, repeat: int) -> dict[str, Any]:
    with scratch_database("marts") as url:
        engine = db.get_engine(url)
        info = populate(engine, days, per_day)
        dates = touched_dates()
        rebuild(engine, info["store_id"], dates)  # warm-up (and the update path from here on)
        seconds, runs = median_seconds(lambda: rebuild(engine, info["store_id"], dates), repeat)
        one_day, _ = median_seconds(lambda: rebuild(engine, info["store_id"], dates[:1]), repeat)
        # The same rebuild with Postgres' JIT compiler off (what limits the figure: see the doc).
        no_jit = sa.create_engine(url, connect_args={"options": "-c jit=off"})
        try:
            rebuild(no_jit, info["store_id"], dates)
            jit_off, _ = median_seconds(lambda: rebuild(no_jit, info["store_id"], dates), repeat)
        finally:
            no_jit.dispose()
        with engine.connect() as conn:
            mart = conn.execute(
                sa.text("SELECT sum(orders), sum(new_customers) FROM daily_shopify_metrics WHERE date >= :d"),
                {"d": min(dates)},
            ).one()
        return {
            "history_days": days,
            **info,
            "rebuild_10_dates_s": round(seconds, 4),
            "runs_s": [round(r, 4) for r in runs],
            "rebuild_1_date_s": round(one_day, 4),
            "rebuild_10_dates_jit_off_s": round(jit_off, 4),
            "touched_orders": int(mart[0]),
            "touched_new_customers": int(mart[1]),
        }


def run(quick: bool = False) -> dict[str, Any]:
    per_day = 1_000
    long_days = 365 if quick else 3 * 365
    repeat = 5 if quick else 7
    short = measure(30, per_day, repeat)
    long = measure(long_days, per_day, repeat)
    ratio = long["rebuild_10_dates_s"] / short["rebuild_10_dates_s"]
    return {
        "id": "P4",
        "title": "marts: rebuild 10 touched dates, long vs 30-day history",
        "inputs": f"{per_day:,} orders/day; {long_days} vs 30 days of fact_orders; 10 dates; daily_shopify_metrics + daily_summary",
        "repetitions": repeat,
        "short": short,
        "long": long,
        "figure": f"{long['rebuild_10_dates_s'] * 1000:.0f} ms vs {short['rebuild_10_dates_s'] * 1000:.0f} ms",
        "ratio": round(ratio, 2),
        "goal": f"<= {GOAL}",
        "passed": ratio <= GOAL,
        "ratio_jit_off": round(long["rebuild_10_dates_jit_off_s"] / short["rebuild_10_dates_jit_off_s"], 2),
        "unit": "ms (rebuild of 10 dates)",
        "bars": [
            ("30 days", short["rebuild_10_dates_s"] * 1000),
            (f"{long_days} days", long["rebuild_10_dates_s"] * 1000),
            ("30 d, jit off", short["rebuild_10_dates_jit_off_s"] * 1000, "#8c8c8c"),
            (f"{long_days} d, jit off", long["rebuild_10_dates_jit_off_s"] * 1000, "#8c8c8c"),
        ],
        "limit": GOAL * short["rebuild_10_dates_s"] * 1000,
        "limit_label": "2x 30 days",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    result = run(args.quick)
    save("marts", result)
    print(result)


if __name__ == "__main__":
    main()
