"""Test doubles for the Shopify client: scripted HTTP answers and a fake clock (no real sleeps)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx

from adspipe.shopify import connect
from adspipe.shopify.client import ShopifyClient
from adspipe_tests.clocks import FakeClock

TOKEN = "shpat_supersecret0123456789"
SHOP = "acme.myshopify.com"


def cost(requested: float = 10, actual: float | None = 5, available: float = 1990, maximum: float = 2000,
         rate: float = 100) -> dict[str, Any]:  # fmt: skip
    return {
        "requestedQueryCost": requested,
        "actualQueryCost": actual,
        "throttleStatus": {"maximumAvailable": maximum, "currentlyAvailable": available, "restoreRate": rate},
    }


def ok(data: dict[str, Any], **cost_kwargs: Any) -> httpx.Response:
    return httpx.Response(200, json={"data": data, "extensions": {"cost": cost(**cost_kwargs)}})


def graphql_error(
    code: str, message: str = "error", *, with_cost: dict[str, Any] | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"errors": [{"message": message, "extensions": {"code": code}}]}
    if with_cost is not None:
        body["extensions"] = {"cost": with_cost}
    if code == "ACCESS_DENIED":
        body["data"] = None
    return httpx.Response(200, json=body)


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


class Script:
    """Answers requests in order from a list of responses (or callables of the request)."""

    def __init__(
        self, answers: list[httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]]
    ) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.answers:
            raise AssertionError("unexpected request")
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer


def client_with(script: Script, clock: FakeClock, **fields: Any) -> ShopifyClient:
    client = ShopifyClient(endpoint_template="https://{shop}/admin/api/{version}/graphql.json", **fields)
    return client.with_transport(httpx.MockTransport(script), sleep=clock.sleep, monotonic=clock.monotonic)


_TERM = re.compile(r"(created_at|updated_at):(>=|<)'([^']+)'")


class FakeShopify:
    """A tiny in-memory Shopify for sync tests: shop info, orders with search, sort and paging.

    Shops are keyed by domain; `fail` maps a domain to a fixed response (e.g. a 401).
    """

    def __init__(self) -> None:
        self.shops: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[int, dict[str, Any]]] = {}
        self.fail: dict[str, httpx.Response] = {}
        self.fail_created_since: set[str] = set()  # an orders search from this instant answers 503
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.scopes: dict[str, set[str]] = {}  # per shop; default read_orders + read_all_orders

    def add_shop(self, domain: str, tz: str, currency: str = "USD") -> None:
        self.shops[domain] = {"ianaTimezone": tz, "currencyCode": currency, "myshopifyDomain": domain}
        self.orders.setdefault(domain, {})

    def put(self, domain: str, node: dict[str, Any]) -> None:
        self.orders[domain][int(node["legacyResourceId"])] = node

    def orders_requests(self, domain: str | None = None) -> list[dict[str, Any]]:
        return [v for d, v in self.requests if (domain is None or d == domain) and "first" in v]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        domain = request.url.host
        body = json.loads(request.content)
        variables = body.get("variables") or {}
        self.requests.append((domain, variables))
        if domain in self.fail:
            return self.fail[domain]
        if domain not in self.shops:
            return httpx.Response(404, json={"errors": "Not Found"})
        if any(
            f"created_at:>='{since}'" in (variables.get("query") or "") for since in self.fail_created_since
        ):
            return httpx.Response(503, text="<html>Service Unavailable</html>")
        shop = self.shops[domain]
        if body["query"].startswith("query ShopInfo"):
            return ok({"shop": shop}, requested=1, actual=1)
        if body["query"].startswith("query AccessScopes"):
            granted = self.scopes.get(domain, {"read_orders", "read_all_orders"})
            handles = [{"handle": h} for h in sorted(granted)]
            return ok({"currentAppInstallation": {"accessScopes": handles}}, requested=1, actual=1)
        nodes = list(self.orders[domain].values())
        for field_name, op, value in _TERM.findall(variables.get("query") or ""):
            key = "createdAt" if field_name == "created_at" else "updatedAt"
            nodes = [n for n in nodes if (n[key] >= value if op == ">=" else n[key] < value)]
        sort = "createdAt" if variables["sortKey"] == "CREATED_AT" else "updatedAt"
        nodes.sort(key=lambda n: (n[sort], int(n["legacyResourceId"])))
        start = int(variables.get("after") or 0)
        first = int(variables["first"])
        page = nodes[start : start + first]
        has_next = start + first < len(nodes)
        data = {
            "shop": {"ianaTimezone": shop["ianaTimezone"], "currencyCode": shop["currencyCode"]},
            "orders": {
                "pageInfo": {"hasNextPage": has_next, "endCursor": str(start + first) if has_next else None},
                "nodes": [json.loads(json.dumps(n)) for n in page],
            },
        }
        return ok(data, requested=2 + first, actual=2 + len(page))


def grant_all_scopes(monkeypatch: Any) -> None:
    """`adspipe connect shopify` reads the app's scopes from the shop; for CLI tests about other
    things (fake shops that exist nowhere), the shop grants read_orders and read_all_orders."""

    def granted(shop_domain: str, token: str, client: ShopifyClient | None = None) -> connect.ScopeCheck:
        return connect.ScopeCheck(frozenset({"read_orders", "read_all_orders"}))

    monkeypatch.setattr(connect, "check_scopes", granted)
