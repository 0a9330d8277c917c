"""What is left of the Shopify test doubles (the simulator is the fake world; see
adspipe_tests/shopify/conftest.py `scripted_shop`):

- `Script` / `client_with`: a transport-level script (httpx.MockTransport) for the client tests
  whose failure is below HTTP (a read timeout, a dropped or refused connection), which no server
  can answer on cue;
- `FakeShopify`: the in-memory shop of test_sync's hand-made order scenarios (windows, DST days,
  test and cancelled orders, customers' first orders), whose search, sort and paging run over
  orders the test puts in; the simulator cannot yet hold hand-made orders in its world.

The payload builders (orders, money, costs, error bodies) live in `payloads`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx

from adspipe.shopify.client import ShopifyClient
from adspipe_tests.clocks import FakeClock
from adspipe_tests.shopify.payloads import data_body, error_body

TOKEN = "shpat_supersecret0123456789"
SHOP = "acme.myshopify.com"


def ok(data: dict[str, Any], **cost_kwargs: Any) -> httpx.Response:
    return httpx.Response(200, json=data_body(data, **cost_kwargs))


def graphql_error(
    code: str, message: str = "error", *, with_cost: dict[str, Any] | None = None
) -> httpx.Response:
    return httpx.Response(200, json=error_body(code, message, with_cost=with_cost))


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
