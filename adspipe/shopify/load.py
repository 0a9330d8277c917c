"""Warehouse writes for Shopify: raw and fact upserts, and the set-based `daily_shopify_metrics`.

Orders are compared with what is stored before they are written: an incoming version older than
the stored one is never written (a slow run cannot undo a newer one), and `shopify_fresh` also
skips versions equal to the stored one, so the order(s) sitting at its inclusive cursor come back
every run without counting as a change. The mart is rebuilt per (store, local date) with one
INSERT … SELECT … ON CONFLICT, and rows of touched dates that no longer have facts are deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adspipe.shopify.transforms import OrderRows
from adspipe.warehouse.copydata import CopyData, copy_encoded, encode
from adspipe.warehouse.schema import daily_shopify_metrics, fact_orders, shopify_orders_raw
from adspipe.warehouse.sql import chunked, money_ratio, one_of
from adspipe.warehouse.upsert import (
    copy_applies,
    copy_new_rows,
    insert_new_rows,
    upsert_from_select,
    upsert_rows,
)


@dataclass
class WriteResult:
    written: int = 0
    skipped: int = 0
    # Local dates whose mart rows may have changed: the written orders' dates (and their previous
    # dates, should one move), plus the dates where a customer's first order moved.
    dates: set[date] = field(default_factory=set)
    assumed_new_failed: bool = False  # write_orders(assume_new=True) found stored orders


@dataclass(frozen=True)
class EncodedOrders:
    """One page's order rows, and the same rows COPY-ready (raw and fact)."""

    rows: tuple[OrderRows, ...]
    raw: CopyData
    fact: CopyData


def encode_orders(rows: Sequence[OrderRows]) -> EncodedOrders:
    """A page's rows → `EncodedOrders` (pure; the fill runs it in its read-ahead thread)."""
    return EncodedOrders(
        rows=tuple(rows),
        raw=encode(shopify_orders_raw, [r.raw for r in rows]),
        fact=encode(fact_orders, [r.fact for r in rows]),
    )


def _joined(parts: Sequence[CopyData]) -> CopyData:
    parts = [p for p in parts if p.rows]
    if not parts:
        return CopyData("", (), b"", 0)
    if len({(p.table, p.columns) for p in parts}) != 1:
        raise ValueError("encoded pages of different tables or columns")
    return CopyData(
        parts[0].table, parts[0].columns, b"".join(p.data for p in parts), sum(p.rows for p in parts)
    )


def write_encoded_orders(
    conn: Connection, shop_domain: str, pages: Sequence[EncodedOrders]
) -> WriteResult | None:
    """`write_orders(assume_new=True)` for encoded pages: their bytes COPY'd straight in.

    None, with nothing written, when COPY does not apply (not Postgres, too few rows, an order
    twice): the caller writes the same orders as rows. `assumed_new_failed`, with nothing
    written, when an order is stored already: the caller writes them the checked way.
    """
    rows = [r for page in pages for r in page.rows]
    ids = [r.order_id for r in rows]
    if not copy_applies(conn, 2 * len(rows)) or len(set(ids)) != len(ids):
        return None
    parts = [_joined([p.raw for p in pages]), _joined([p.fact for p in pages])]
    if not copy_encoded(conn, parts):
        return WriteResult(assumed_new_failed=True)
    customers = {r.customer_id for r in rows if r.customer_id is not None}
    before, after = first_orders_around(conn, shop_domain, customers, ids)
    return WriteResult(
        written=len(rows), dates={r.order_date for r in rows} | _moved_firsts(customers, before, after)
    )


def stored_versions(
    conn: Connection, shop_domain: str, order_ids: Sequence[int]
) -> dict[int, tuple[datetime, date]]:
    """order_id → (updated_at, order_date) of the stored fact rows among `order_ids`."""
    found: dict[int, tuple[datetime, date]] = {}
    f, dialect = fact_orders, conn.dialect.name
    for chunk in chunked(sorted(set(order_ids)), dialect):
        query = sa.select(f.c.order_id, f.c.updated_at, f.c.order_date).where(
            f.c.shop_domain == shop_domain, one_of(f.c.order_id, chunk, dialect)
        )
        found.update({row.order_id: (row.updated_at, row.order_date) for row in conn.execute(query)})
    return found


def _counted(table: Any) -> sa.ColumnElement[bool]:
    """docs/metrics.md: an order counts when it is not a test and not cancelled."""
    return sa.and_(table.c.is_test == sa.false(), table.c.cancelled_at.is_(None))


def _is_first_order(f: Any) -> sa.ColumnElement[bool]:
    """No earlier counted order of the same customer in the same shop (ties broken by order id)."""
    earlier = fact_orders.alias("earlier")
    return ~sa.exists().where(
        earlier.c.shop_domain == f.c.shop_domain,
        earlier.c.customer_id == f.c.customer_id,
        _counted(earlier),
        sa.or_(
            earlier.c.created_at < f.c.created_at,
            sa.and_(earlier.c.created_at == f.c.created_at, earlier.c.order_id < f.c.order_id),
        ),
    )


def first_orders(
    conn: Connection, shop_domain: str, customer_ids: Iterable[int]
) -> dict[int, tuple[int, date]]:
    """customer_id → (order_id, local date) of each customer's first counted order."""
    return first_orders_around(conn, shop_domain, customer_ids, ())[1]


def first_orders_around(
    conn: Connection, shop_domain: str, customer_ids: Iterable[int], written: Sequence[int]
) -> tuple[dict[int, tuple[int, date]], dict[int, tuple[int, date]]]:
    """Each customer's first counted order without the just-written orders `written` (= before
    they were inserted) and with them (now), in (created_at, order_id) order: one ordered read of
    those customers' counted orders on the (shop_domain, customer_id, created_at, order_id) index."""
    before: dict[int, tuple[int, date]] = {}
    after: dict[int, tuple[int, date]] = {}
    new = set(written)
    f, dialect = fact_orders, conn.dialect.name
    for chunk in chunked(sorted(set(customer_ids)), dialect):
        query = (
            sa.select(f.c.customer_id, f.c.order_id, f.c.order_date)
            .where(f.c.shop_domain == shop_domain, one_of(f.c.customer_id, chunk, dialect), _counted(f))
            .order_by(f.c.customer_id, f.c.created_at, f.c.order_id)
        )
        for customer, order_id, order_date in conn.execute(query):
            after.setdefault(customer, (order_id, order_date))
            if customer not in before and order_id not in new:
                before[customer] = (order_id, order_date)
    return before, after


def _moved_firsts(
    customers: Iterable[int], before: dict[int, tuple[int, date]], after: dict[int, tuple[int, date]]
) -> set[date]:
    """A customer's first order moved (an earlier one arrived, or the first was cancelled): the
    dates of the old and the new first order change their new/returning counts."""
    dates: set[date] = set()
    for customer in customers:
        before_first, after_first = before.get(customer), after.get(customer)
        if before_first != after_first:
            dates |= {f[1] for f in (before_first, after_first) if f is not None}
    return dates


def write_orders(
    conn: Connection,
    shop_domain: str,
    rows: Sequence[OrderRows],
    *,
    skip_unchanged: bool,
    assume_new: bool = False,
) -> WriteResult:
    """Upsert raw then fact rows of one page (inside the caller's transaction).

    `assume_new` (the fill of a shop whose orders are not stored yet): COPY every order straight
    in without first reading which are stored; should one be stored after all, the COPY rolls back
    to its savepoint, `result.assumed_new_failed` is set and the orders take the checked path.
    """
    latest: dict[int, OrderRows] = {}
    for row in rows:  # one row per order per statement (Postgres refuses a row affected twice)
        if row.order_id not in latest or row.updated_at > latest[row.order_id].updated_at:
            latest[row.order_id] = row
    result = WriteResult(skipped=len(rows) - len(latest))
    if assume_new and copy_applies(conn, 2 * len(latest)):
        fresh = list(latest.values())
        if copy_new_rows(
            conn, [(shopify_orders_raw, [r.raw for r in fresh]), (fact_orders, [r.fact for r in fresh])]
        ):
            customers = {r.customer_id for r in fresh if r.customer_id is not None}
            before, after = first_orders_around(conn, shop_domain, customers, list(latest))
            result.dates = {r.order_date for r in fresh} | _moved_firsts(customers, before, after)
            result.written = len(fresh)
            return result
        result.assumed_new_failed = True
    stored = stored_versions(conn, shop_domain, list(latest))
    to_write: list[OrderRows] = []
    for row in latest.values():
        before_version = stored.get(row.order_id)
        if before_version is not None:
            stored_updated, stored_date = before_version
            if stored_updated > row.updated_at or (
                skip_unchanged and stored_updated == row.updated_at and stored_date == row.order_date
            ):
                result.skipped += 1
                continue
            result.dates.add(stored_date)
        result.dates.add(row.order_date)
        to_write.append(row)
    if not to_write:
        return result
    customers = {r.customer_id for r in to_write if r.customer_id is not None}
    firsts_before = first_orders(conn, shop_domain, customers)
    # Orders not stored yet (checked above, in this transaction) go straight in with COPY.
    new = [r for r in to_write if r.order_id not in stored]
    changed = [r for r in to_write if r.order_id in stored]
    insert_new_rows(conn, [(shopify_orders_raw, [r.raw for r in new]), (fact_orders, [r.fact for r in new])])
    upsert_rows(conn, shopify_orders_raw, (r.raw for r in changed))
    upsert_rows(conn, fact_orders, (r.fact for r in changed))
    result.dates |= _moved_firsts(customers, firsts_before, first_orders(conn, shop_domain, customers))
    result.written = len(to_write)
    return result


def rebuild_shopify_metrics(
    conn: Connection,
    *,
    store_id: int,
    shop_domain: str,
    timezone: str | None,
    currency: str | None,
    dates: Iterable[date],
) -> int:
    """Recompute `daily_shopify_metrics` for (store, each date); returns the rows written.

    A date with facts but no counted order gets a row of zeros; a date without any facts loses
    its row.
    """
    dates_ = sorted(set(dates))
    if not dates_:
        return 0
    f = fact_orders
    counted = _counted(f)
    zero = sa.literal(0)

    def total(column: Any) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((counted, column), else_=zero)), zero)

    def count(condition: sa.ColumnElement[bool]) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), zero)

    with_customer = sa.and_(counted, f.c.customer_id.is_not(None))
    first = _is_first_order(f)
    orders = count(counted)
    gross = total(f.c.total_price)
    select = (
        sa.select(
            f.c.store_id,
            f.c.order_date,
            sa.literal(shop_domain),
            sa.literal(currency, sa.String),
            sa.literal(timezone, sa.String),
            orders,
            gross,
            total(f.c.total_refunded),
            total(f.c.net_revenue),
            money_ratio(conn.dialect.name, gross, orders, decimals=2, denominator_is_money=False),
            count(sa.and_(with_customer, first)),
            count(sa.and_(with_customer, ~first)),
        )
        .where(f.c.store_id == store_id, f.c.shop_domain == shop_domain, f.c.order_date.in_(dates_))
        .group_by(f.c.store_id, f.c.order_date)
    )
    columns = [
        "store_id", "date", "shop_domain", "currency", "timezone", "orders", "gross_revenue", "refunds",
        "net_revenue", "aov", "new_customers", "returning_customers",
    ]  # fmt: skip
    written = upsert_from_select(conn, daily_shopify_metrics, select, columns)
    m = daily_shopify_metrics
    conn.execute(
        sa.delete(m).where(
            m.c.store_id == store_id,
            m.c.date.in_(dates_),
            ~sa.exists().where(f.c.store_id == m.c.store_id, f.c.order_date == m.c.date),
        )
    )
    return written


@dataclass(frozen=True)
class DayTotals:
    orders: int
    gross_revenue: Decimal
    refunds: Decimal
    net_revenue: Decimal


def mart_totals(conn: Connection, store_id: int, dates: Iterable[date]) -> dict[date, DayTotals]:
    """The mart's numbers for these dates (metadata for Dagster's asset plots)."""
    dates_ = sorted(set(dates))
    if not dates_:
        return {}
    m = daily_shopify_metrics
    rows = conn.execute(
        sa.select(m.c.date, m.c.orders, m.c.gross_revenue, m.c.refunds, m.c.net_revenue).where(
            m.c.store_id == store_id, m.c.date.in_(dates_)
        )
    )
    return {r.date: DayTotals(r.orders, r.gross_revenue, r.refunds, r.net_revenue) for r in rows}
