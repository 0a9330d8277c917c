"""Realistic API answers for the benchmarks, served in-process with no latency.

`ShopifyApi` and `MetaApi` are `httpx.MockTransport` handlers: the real `ShopifyClient` /
`MetaClient` send their real requests and parse real JSON bodies, but nothing crosses a socket and
the "server" costs next to nothing (pages are rendered once, up front, or — for the memory
benchmark — one at a time on demand and dropped). Orders look like the Admin API's answer to
`adspipe.shopify.queries.ORDERS_QUERY` (1–4 line items, some refunds, some test and cancelled
orders, ~1.6 kB of JSON each); insights rows look like Meta's `level=ad` answer (actions and
action_values with duplicate purchase types, every number a string).
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx

SHOP = "bench.myshopify.com"
_SEARCH_RE = re.compile(r"created_at:(>=|<)'([0-9T:Z-]+)'")
SHOP_TZ = "America/New_York"
ACCOUNT = "act_1000"


def _money(cents: int, currency: str = "USD") -> dict[str, Any]:
    return {"shopMoney": {"amount": f"{cents // 100}.{cents % 100:02d}", "currencyCode": currency}}


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def order_node(i: int, created: datetime) -> dict[str, Any]:
    """Order number `i` (ids count from 5,000,000,000), created at `created`."""
    order_id = 5_000_000_000 + i
    lines = []
    subtotal = 0
    for k in range(1 + i % 4):
        unit = 1500 + (i * 7 + k * 13) % 6000
        quantity = 1 + (i + k) % 3
        discount = unit * quantity // 10 if (i + k) % 5 == 0 else 0
        subtotal += unit * quantity - discount
        lines.append(
            {
                "id": f"gid://shopify/LineItem/{order_id * 10 + k}",
                "quantity": quantity,
                "sku": f"SKU-{(i * 31 + k) % 500:04d}",
                "title": f"Product {(i * 31 + k) % 500}",
                "originalUnitPriceSet": _money(unit),
                "discountedTotalSet": _money(unit * quantity - discount),
            }
        )
    shipping = 0 if subtotal > 7500 else 499
    tax = subtotal * 725 // 10_000
    total = subtotal + shipping + tax
    refunded = total // 4 if i % 20 == 7 else 0
    cancelled = i % 100 in (10, 11, 12)
    updated = created + timedelta(minutes=2 + (60 if refunded or cancelled else 0))
    customer = (
        None if i % 20 == 3 else (1_000_000 + (i * 7919) % (i // 3 + 1) if i % 10 < 3 else 2_000_000 + i)
    )
    return {
        "id": f"gid://shopify/Order/{order_id}",
        "legacyResourceId": str(order_id),
        "name": f"#{1001 + i}",
        "createdAt": _iso(created),
        "updatedAt": _iso(updated),
        "processedAt": _iso(created),
        "cancelledAt": _iso(created + timedelta(hours=1)) if cancelled else None,
        "cancelReason": "CUSTOMER" if cancelled else None,
        "displayFinancialStatus": "PARTIALLY_REFUNDED" if refunded else "PAID",
        "currencyCode": "USD",
        "test": i % 100 == 42,
        "totalPriceSet": _money(total),
        "subtotalPriceSet": _money(subtotal),
        "totalDiscountsSet": _money(sum(0 for _ in lines)),
        "totalTaxSet": _money(tax),
        "totalShippingPriceSet": _money(shipping),
        "totalRefundedSet": _money(refunded),
        "customer": None if customer is None else {"id": f"gid://shopify/Customer/{customer}"},
        "lineItems": {"pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": lines},
        "refunds": (
            [
                {
                    "id": f"gid://shopify/Refund/{order_id}",
                    "createdAt": _iso(updated),
                    "totalRefundedSet": _money(refunded),
                }
            ]
            if refunded
            else []
        ),
    }


def order_time(i: int, total: int, start: datetime, span: timedelta) -> datetime:
    """Order `i` of `total`, spread evenly over [start, start + span)."""
    return start + span * (i / total)


class ShopifyApi:
    """The Admin GraphQL endpoint for one shop holding `total` orders created in [start, start+span).

    The page to answer is the `after` cursor (an order index). Pages are rendered up front
    (`prerender=True`, the throughput benchmark) or on demand (the memory benchmark). Every answer
    reports a full cost bucket, so the client never paces: the API costs nothing here.
    """

    def __init__(
        self,
        total: int,
        start: datetime,
        span: timedelta,
        *,
        page_size: int = 250,
        prerender: bool = True,
        searchable: bool = False,
    ) -> None:
        self.total, self.start, self.span, self.page_size = total, start, span, page_size
        self.searchable = searchable  # honour created_at bounds (pages rendered on demand)
        self.requests = 0
        self._pages: dict[int, bytes] = {}
        self._lock = threading.Lock()
        if prerender:
            for first in range(0, total, page_size):
                self._pages[first] = self._render(first, page_size)

    def _cost(self, requested: int) -> dict[str, Any]:
        return {
            "requestedQueryCost": requested,
            "actualQueryCost": requested,
            "throttleStatus": {"maximumAvailable": 1e9, "currentlyAvailable": 1e9, "restoreRate": 1e6},
        }

    def index_at(self, instant: datetime) -> int:
        """The first order index created at or after `instant`."""
        share = (instant - self.start) / self.span
        return max(0, min(self.total, math.ceil(share * self.total)))

    def bounds(self, search: str) -> tuple[int, int]:
        """Order index range [low, high) of a `created_at:>='…' AND created_at:<'…'` search."""
        low, high = 0, self.total
        for op, value in _SEARCH_RE.findall(search or ""):
            instant = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            if op == ">=":
                low = max(low, self.index_at(instant))
            else:
                high = min(high, self.index_at(instant))
        return low, max(low, high)

    def _render(self, first: int, size: int, end: int | None = None) -> bytes:
        end = self.total if end is None else end
        last = min(end, first + size)
        nodes = [order_node(i, order_time(i, self.total, self.start, self.span)) for i in range(first, last)]
        body = {
            "data": {
                "shop": {"ianaTimezone": SHOP_TZ, "currencyCode": "USD"},
                "orders": {
                    "pageInfo": {"hasNextPage": last < end, "endCursor": str(last)},
                    "nodes": nodes,
                },
            },
            "extensions": {"cost": self._cost(2 + size)},
        }
        return json.dumps(body).encode()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests += 1
        doc = json.loads(request.content)
        query: str = doc["query"]
        if "ShopInfo" in query:
            body = {
                "data": {"shop": {"ianaTimezone": SHOP_TZ, "currencyCode": "USD", "myshopifyDomain": SHOP}},
                "extensions": {"cost": self._cost(1)},
            }
            return httpx.Response(200, json=body)
        if "AccessScopes" in query:  # read before every fill and range (the app's granted scopes)
            scopes = [{"handle": "read_orders"}, {"handle": "read_all_orders"}]
            body = {
                "data": {"currentAppInstallation": {"accessScopes": scopes}},
                "extensions": {"cost": self._cost(1)},
            }
            return httpx.Response(200, json=body)
        variables = doc.get("variables") or {}
        size = int(variables.get("first") or self.page_size)
        if self.searchable:
            low, high = self.bounds(str(variables.get("query") or ""))
            first = int(variables.get("after") or low)
            return httpx.Response(
                200, content=self._render(first, size, high), headers={"Content-Type": "application/json"}
            )
        first = int(variables.get("after") or 0)
        page = self._pages.get(first) if size == self.page_size else None
        if page is None:
            page = self._render(first, size)
        return httpx.Response(200, content=page, headers={"Content-Type": "application/json"})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def insights_row(day: date, ad: int) -> dict[str, Any]:
    """One `level=ad` insights row of ad number `ad` on `day` (numbers as strings, like Meta)."""
    seed = ad * 131 + day.toordinal()
    spend = 500 + seed % 20_000
    purchases = seed % 7
    value = purchases * (2500 + seed % 4000)
    actions = [
        {"action_type": "link_click", "value": str(10 + seed % 90)},
        {"action_type": "omni_purchase", "value": str(purchases)},
        {"action_type": "purchase", "value": str(purchases)},
        {"action_type": "offsite_conversion.fb_pixel_purchase", "value": str(purchases)},
    ]
    values = [
        {"action_type": "omni_purchase", "value": f"{value / 100:.2f}"},
        {"action_type": "purchase", "value": f"{value / 100:.2f}"},
    ]
    return {
        "ad_id": str(23_850_000_000_000 + ad),
        "adset_id": str(23_840_000_000_000 + ad // 10),
        "campaign_id": str(23_830_000_000_000 + ad // 100),
        "account_currency": "USD",
        "spend": f"{spend / 100:.2f}",
        "impressions": str(1000 + seed % 50_000),
        "clicks": str(10 + seed % 900),
        "reach": str(800 + seed % 40_000),
        "actions": actions,
        "action_values": values,
        "date_start": day.isoformat(),
        "date_stop": day.isoformat(),
    }


class MetaApi:
    """The Graph API for one ad account with `ads` ads delivering every day (pages rendered once
    per (day, level, offset, limit) and kept)."""

    def __init__(self, ads: int, *, base_url: str = "http://graph.bench", timezone: str = SHOP_TZ) -> None:
        self.ads, self.base_url, self.timezone = ads, base_url, timezone
        self.requests = 0
        self._pages: dict[tuple[str, str, int, int], bytes] = {}
        self._lock = threading.Lock()

    def render(self, day: date, level: str, offset: int, limit: int, path: str) -> bytes:
        if level == "account":
            rows: list[dict[str, Any]] = [
                {
                    "account_currency": "USD",
                    "spend": f"{self.ads * 110:.2f}",
                    "impressions": str(self.ads * 25_000),
                    "clicks": str(self.ads * 400),
                    "date_start": day.isoformat(),
                    "date_stop": day.isoformat(),
                }
            ]
            body: dict[str, Any] = {"data": rows, "paging": {}}
        else:
            end = min(self.ads, offset + limit)
            body = {"data": [insights_row(day, ad) for ad in range(offset, end)], "paging": {}}
            if end < self.ads:
                query = {"level": level, "day": day.isoformat(), "after": str(end), "limit": str(limit)}
                body["paging"] = {"next": f"{self.base_url}{path}?{urlencode(query)}"}
        return json.dumps(body).encode()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests += 1
        path = request.url.path
        params = {k: v[0] for k, v in parse_qs(request.url.query.decode()).items()}
        if not path.endswith("/insights"):
            body = {"id": ACCOUNT, "timezone_name": self.timezone, "currency": "USD", "name": "Bench"}
            return httpx.Response(200, json=body)
        if "time_range" in params:
            day = date.fromisoformat(json.loads(params["time_range"])["since"])
        else:
            day = date.fromisoformat(params["day"])
        level = params.get("level", "ad")
        offset, limit = int(params.get("after", 0)), int(params.get("limit", 500))
        key = (day.isoformat(), level, offset, limit)
        page = self._pages.get(key)
        if page is None:
            page = self._pages[key] = self.render(day, level, offset, limit, path)
        return httpx.Response(200, content=page, headers={"Content-Type": "application/json"})

    def prerender(self, days: list[date], limit: int, path: str) -> None:
        for day in days:
            self._pages[(day.isoformat(), "account", 0, limit)] = self.render(day, "account", 0, limit, path)
            for offset in range(0, self.ads, limit):
                self._pages[(day.isoformat(), "ad", offset, limit)] = self.render(
                    day, "ad", offset, limit, path
                )

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


Handler = Callable[[httpx.Request], httpx.Response]
