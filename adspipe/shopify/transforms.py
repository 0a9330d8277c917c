"""Pure functions: a Shopify order payload → its `shopify_orders_raw` and `fact_orders` rows.

No I/O. Money comes from `shopMoney` (the shop's currency) as exact decimals; the local order
date is the calendar date of `createdAt` in the shop's IANA time zone. A payload that cannot be
read raises `BadOrderPayload` naming the order: a wrong row is worse than a failed page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adspipe.clock import parse_instant
from adspipe.warehouse.types import MONEY_SCALE

_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)


class BadOrderPayload(ValueError):
    """An order payload that cannot be turned into rows; the message names the order and field."""


@dataclass(frozen=True)
class OrderRows:
    order_id: int
    order_date: date
    updated_at: datetime
    customer_id: int | None
    raw: dict[str, Any]
    fact: dict[str, Any]


@cache
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadOrderPayload(f"unknown IANA time zone {name!r}") from None


def local_date(instant: datetime, timezone: str) -> date:
    return instant.astimezone(zone(timezone)).date()


def gid_number(gid: Any) -> int | None:
    """`gid://shopify/Customer/123` → 123 (None for None)."""
    if gid is None:
        return None
    tail = str(gid).rsplit("/", 1)[-1].split("?", 1)[0]
    if not tail.isdigit():
        raise BadOrderPayload(f"not a Shopify id: {gid!r}")
    return int(tail)


def order_id_of(node: dict[str, Any]) -> int:
    legacy = node.get("legacyResourceId")
    if legacy is not None and str(legacy).isdigit():
        return int(legacy)
    number = gid_number(node.get("id"))
    if number is None:
        raise BadOrderPayload("order without id")
    return number


def money(node: dict[str, Any], field: str, *, required: bool, order: str) -> Decimal | None:
    bag = node.get(field)
    if bag is None:
        if required:
            raise BadOrderPayload(f"order {order}: {field} is missing")
        return None
    try:
        amount = Decimal(str(bag["shopMoney"]["amount"]))
    except (KeyError, TypeError, InvalidOperation):
        raise BadOrderPayload(f"order {order}: {field}.shopMoney.amount is not an amount") from None
    if not amount.is_finite() or amount.quantize(_QUANTUM) != amount:
        raise BadOrderPayload(
            f"order {order}: {field} {amount} is not an amount with <= {MONEY_SCALE} decimals"
        )
    return amount


def _instant(node: dict[str, Any], field: str, *, required: bool, order: str) -> datetime | None:
    value = node.get(field)
    if value is None:
        if required:
            raise BadOrderPayload(f"order {order}: {field} is missing")
        return None
    try:
        return parse_instant(str(value))
    except ValueError:
        raise BadOrderPayload(f"order {order}: {field} {value!r} is not an ISO-8601 instant") from None


def _line_item_count(node: dict[str, Any]) -> int:
    items = node.get("lineItems") or {}
    if isinstance(items, dict):
        if "nodes" in items:
            return len(items["nodes"] or [])
        return len(items.get("edges") or [])
    return 0


def order_rows(
    node: dict[str, Any],
    *,
    shop_domain: str,
    connection_id: int,
    store_id: int,
    timezone: str,
    shop_currency: str,
) -> OrderRows:
    order_id = order_id_of(node)
    label = f"{node.get('name') or order_id} ({shop_domain})"
    created_at = _instant(node, "createdAt", required=True, order=label)
    updated_at = _instant(node, "updatedAt", required=True, order=label)
    assert created_at is not None and updated_at is not None
    order_date = local_date(created_at, timezone)
    total = money(node, "totalPriceSet", required=True, order=label)
    refunded = money(node, "totalRefundedSet", required=False, order=label) or Decimal(0)
    assert total is not None
    currency = (
        ((node.get("totalPriceSet") or {}).get("shopMoney") or {}).get("currencyCode")
        or node.get("currencyCode")
        or shop_currency
    )
    customer_id = gid_number((node.get("customer") or {}).get("id"))
    raw = {
        "shop_domain": shop_domain,
        "order_id": order_id,
        "connection_id": connection_id,
        "order_date": order_date,
        "created_at": created_at,
        "updated_at": updated_at,
        "payload": node,
    }
    fact = {
        "shop_domain": shop_domain,
        "order_id": order_id,
        "store_id": store_id,
        "connection_id": connection_id,
        "order_name": node.get("name"),
        "order_date": order_date,
        "created_at": created_at,
        "updated_at": updated_at,
        "cancelled_at": _instant(node, "cancelledAt", required=False, order=label),
        "financial_status": node.get("displayFinancialStatus"),
        "currency": str(currency),
        "total_price": total,
        "subtotal_price": money(node, "subtotalPriceSet", required=False, order=label),
        "total_discounts": money(node, "totalDiscountsSet", required=False, order=label),
        "total_tax": money(node, "totalTaxSet", required=False, order=label),
        "total_shipping": money(node, "totalShippingPriceSet", required=False, order=label),
        "total_refunded": refunded,
        "net_revenue": total - refunded,
        "customer_id": customer_id,
        "line_item_count": _line_item_count(node),
        "is_test": bool(node.get("test")),
    }
    return OrderRows(order_id, order_date, updated_at, customer_id, raw, fact)


def local_midnight(day: date, timezone: str) -> datetime:
    """The first instant of a local date (zoneinfo resolves a skipped midnight to the gap's end)."""
    naive = datetime.combine(day, time(0))
    aware = naive.replace(tzinfo=zone(timezone))
    return aware.astimezone(zone("UTC"))
