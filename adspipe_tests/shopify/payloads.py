"""Shopify payload builders for tests: an order node, money, a query cost, an orders page, a
GraphQL error body, as the Admin API shapes them. Plain data (no HTTP, no fake): what a test
states as the body of a simulator scripted answer, or as a transform's input."""

from __future__ import annotations

from typing import Any

from adspipe.simulator.scripted import Answer
from adspipe.simulator.scripted import answer as scripted_answer


def cost(requested: float = 10, actual: float | None = 5, available: float = 1990, maximum: float = 2000,
         rate: float = 100) -> dict[str, Any]:  # fmt: skip
    return {
        "requestedQueryCost": requested,
        "actualQueryCost": actual,
        "throttleStatus": {"maximumAvailable": maximum, "currentlyAvailable": available, "restoreRate": rate},
    }


def data_body(data: dict[str, Any], **cost_kwargs: Any) -> dict[str, Any]:
    """A successful answer's body: `data` and the cost extension."""
    return {"data": data, "extensions": {"cost": cost(**cost_kwargs)}}


def error_body(
    code: str, message: str = "error", *, with_cost: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A GraphQL error answer's body (HTTP 200): ACCESS_DENIED comes with `data: null`."""
    body: dict[str, Any] = {"errors": [{"message": message, "extensions": {"code": code}}]}
    if with_cost is not None:
        body["extensions"] = {"cost": with_cost}
    if code == "ACCESS_DENIED":
        body["data"] = None
    return body


def money(amount: str, currency: str = "USD") -> dict[str, Any]:
    return {"shopMoney": {"amount": amount, "currencyCode": currency}}


def order(
    n: int,
    *,
    created: str = "2026-03-01T15:00:00Z",
    updated: str | None = None,
    total: str = "25.98",
    refunded: str = "0.00",
    cancelled: str | None = None,
    test: bool = False,
    customer: int | None = 7,
    line_items: int = 2,
) -> dict[str, Any]:
    return {
        "id": f"gid://shopify/Order/{n}",
        "legacyResourceId": str(n),
        "name": f"#{1000 + n}",
        "createdAt": created,
        "updatedAt": updated or created,
        "processedAt": created,
        "cancelledAt": cancelled,
        "cancelReason": "CUSTOMER" if cancelled else None,
        "displayFinancialStatus": "PAID",
        "currencyCode": "USD",
        "test": test,
        "totalPriceSet": money(total),
        "subtotalPriceSet": money("20.00"),
        "totalDiscountsSet": money("1.00"),
        "totalTaxSet": money("2.00"),
        "totalShippingPriceSet": money("4.98"),
        "totalRefundedSet": money(refunded),
        "customer": {"id": f"gid://shopify/Customer/{customer}"} if customer is not None else None,
        "lineItems": {
            "pageInfo": {"hasNextPage": False, "endCursor": None},
            "nodes": [{"id": f"gid://shopify/LineItem/{n}{i}", "quantity": 1} for i in range(line_items)],
        },
        "refunds": [],
    }


def orders_data(nodes: list[dict[str, Any]], *, has_next: bool = False, end_cursor: str | None = None,
                tz: str = "America/New_York", currency: str = "USD") -> dict[str, Any]:  # fmt: skip
    return {
        "shop": {"ianaTimezone": tz, "currencyCode": currency},
        "orders": {"pageInfo": {"hasNextPage": has_next, "endCursor": end_cursor}, "nodes": nodes},
    }


# As simulator scripted answers (adspipe/simulator/scripted.py): (HTTP status, body, headers).


def ok_answer(data: dict[str, Any], **cost_kwargs: Any) -> Answer:
    return scripted_answer(200, data_body(data, **cost_kwargs))


def error_answer(code: str, message: str = "error", *, with_cost: dict[str, Any] | None = None) -> Answer:
    return scripted_answer(200, error_body(code, message, with_cost=with_cost))
