"""Order payload → raw and fact rows: ids, local dates per shop zone, exact money, flags."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from adspipe.shopify.transforms import BadOrderPayload, OrderRows, gid_number, order_id_of, order_rows
from adspipe_tests.shopify.payloads import money, order


def _rows(node: dict[str, Any], tz: str = "America/New_York") -> OrderRows:
    return order_rows(
        node, shop_domain="s.myshopify.com", connection_id=3, store_id=2, timezone=tz, shop_currency="USD"
    )


def test_fact_row_is_typed_exact_and_dated_in_the_shop_zone() -> None:
    node = order(
        42, created="2026-03-02T03:30:00Z", updated="2026-03-05T10:00:00Z", total="25.98", refunded="5.01"
    )
    rows = _rows(node)
    fact = rows.fact
    # 03:30 UTC is 22:30 the evening before in New York.
    assert fact["order_date"] == date(2026, 3, 1) and rows.order_date == date(2026, 3, 1)
    assert fact["order_id"] == 42 and fact["order_name"] == "#1042"
    assert fact["created_at"] == datetime(2026, 3, 2, 3, 30, tzinfo=UTC)
    assert fact["updated_at"] == datetime(2026, 3, 5, 10, tzinfo=UTC)
    assert (fact["total_price"], fact["total_refunded"], fact["net_revenue"]) == (
        Decimal("25.98"), Decimal("5.01"), Decimal("20.97"),
    )  # fmt: skip
    assert (fact["subtotal_price"], fact["total_discounts"], fact["total_tax"], fact["total_shipping"]) == (
        Decimal("20.00"), Decimal("1.00"), Decimal("2.00"), Decimal("4.98"),
    )  # fmt: skip
    assert fact["customer_id"] == 7 and fact["line_item_count"] == 2 and fact["is_test"] is False
    assert fact["currency"] == "USD" and fact["financial_status"] == "PAID" and fact["cancelled_at"] is None
    assert (fact["store_id"], fact["connection_id"]) == (2, 3)
    raw = rows.raw
    assert raw["payload"] is node and raw["order_date"] == date(2026, 3, 1) and raw["connection_id"] == 3


@pytest.mark.parametrize(
    ("tz", "expected"),
    [
        ("Pacific/Auckland", date(2026, 3, 2)),
        ("UTC", date(2026, 3, 1)),
        ("America/Los_Angeles", date(2026, 3, 1)),
    ],
)
def test_local_date_east_and_west_of_utc(tz: str, expected: date) -> None:
    assert _rows(order(1, created="2026-03-01T15:00:00Z"), tz).order_date == expected


def test_dst_day_boundaries() -> None:
    # US DST starts 2026-03-08 02:00 local: midnight is 05:00Z before, 04:00Z after.
    assert _rows(order(1, created="2026-03-08T04:59:59Z")).order_date == date(2026, 3, 7)
    assert _rows(order(1, created="2026-03-08T05:00:00Z")).order_date == date(2026, 3, 8)
    assert _rows(order(1, created="2026-03-09T03:59:59Z")).order_date == date(2026, 3, 8)
    assert _rows(order(1, created="2026-03-09T04:00:00Z")).order_date == date(2026, 3, 9)


def test_nullable_bags_customer_and_cancellation() -> None:
    node = order(5, customer=None, cancelled="2026-03-03T00:00:00Z", test=True)
    node["subtotalPriceSet"] = None
    node["totalRefundedSet"] = None
    fact = _rows(node).fact
    assert fact["customer_id"] is None and fact["subtotal_price"] is None
    assert fact["total_refunded"] == Decimal("0") and fact["net_revenue"] == Decimal("25.98")
    assert fact["cancelled_at"] == datetime(2026, 3, 3, tzinfo=UTC) and fact["is_test"] is True


def test_ids_from_legacy_id_or_gid() -> None:
    assert order_id_of({"legacyResourceId": "5501234567890"}) == 5501234567890
    assert order_id_of({"id": "gid://shopify/Order/77"}) == 77
    assert gid_number("gid://shopify/Customer/9?x=1") == 9 and gid_number(None) is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("totalPriceSet", money("abc"), "not an amount"),
        ("totalPriceSet", money("1.23456"), "<= 4 decimals"),
        ("totalPriceSet", money("NaN"), "not an amount"),
        ("totalPriceSet", None, "totalPriceSet is missing"),
        ("createdAt", "yesterday", "not an ISO-8601 instant"),
        ("updatedAt", None, "updatedAt is missing"),
        ("id", "gid://shopify/Order/x", "not a Shopify id"),
    ],
)
def test_bad_payloads_name_the_order_and_field(field: str, value: object, message: str) -> None:
    node = order(8)
    node[field] = value
    if field == "id":
        node["legacyResourceId"] = None
    with pytest.raises(BadOrderPayload, match=message):
        _rows(node)


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(BadOrderPayload, match="unknown IANA time zone"):
        _rows(order(1), "Mars/Olympus")
