"""Resolvers of the Shopify schema subset, and the orders connection (search, sort, cursors).

Orders are streamed day by day in sort order, so a page reads only the days it needs: every
order of local day d has `createdAt >= start(d)` and `updatedAt >= createdAt`, which bounds what
later days can still contribute (and `updatedAt <= createdAt + MAX_EVENT_DELAY_S` bounds it from
above for a reverse scan). Cursors are base64 JSON `{"last_id", "last_value"}` like Shopify's.
An order is visible when it was created by "now"; its fields are as of "now" (`OrderView`).
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from adspipe.simulator.gql import Field, Resolver, Resolvers
from adspipe.simulator.orders import MAX_EVENT_DELAY_S, ORDER_ID_DAY_STRIDE, LineItem, Order, OrderView
from adspipe.simulator.shopify_search import OrderFilter, parse_search
from adspipe.simulator.util import EPOCH_DAY, cents_shopify, iso_z, local_day_bounds, local_ordinal, zone
from adspipe.simulator.world import StoreSpec, World

MAX_PAGE = 250
SORT_VALUE = {"CREATED_AT": "created", "PROCESSED_AT": "created", "UPDATED_AT": "updated"}  # else: id


class ExecError(Exception):
    """An error while resolving a field: the answer is `data: null` plus this error."""

    def __init__(self, message: str, field: Field, code: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.code = code


@dataclass
class Ctx:
    world: World
    store: StoreSpec
    now: int  # epoch seconds
    visible_from: int | None  # the 60-day window without read_all_orders
    unquoted_misparse: bool
    plan: str  # the plan's display name (a Faults override wins over the world's)
    scopes: tuple[str, ...] = ()  # the access scopes the app holds on this shop
    sizes: dict[str, int] = field(default_factory=dict)  # actual item counts per cost path
    search: list[dict[str, Any]] = field(default_factory=list)  # extensions.search warnings
    bulk: Any = None  # the shop API's bulk operations (simulator/shopify_bulk.py)
    base: str = ""  # the server's base URL (result files are served there)
    api_version: str = ""  # the version that serves the request


@dataclass
class Page:
    items: list[Any]
    keys: list[tuple[int, int]]  # (last_id, last_value) per item; cursors are encoded on demand
    has_next: bool
    has_prev: bool

    def cursor(self, i: int) -> str | None:
        return encode_cursor(*self.keys[i]) if self.keys else None


def encode_cursor(last_id: int, last_value: int) -> str:
    raw = f'{{"last_id":{int(last_id)},"last_value":{int(last_value)}}}'
    return base64.b64encode(raw.encode()).decode()


def decode_cursor(cursor: str, f: Field) -> tuple[int, int]:
    try:
        data = json.loads(base64.b64decode(cursor.encode(), validate=True))
        return int(data["last_value"]), int(data["last_id"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise ExecError("Invalid cursor for current pagination sort.", f) from None


def _note(ctx: Ctx, f: Field, n: int) -> None:
    if f.cost_path:
        ctx.sizes[f.cost_path] = max(ctx.sizes.get(f.cost_path, 0), n)


def _page_args(f: Field) -> tuple[int, str | None, bool]:
    """(count, cursor, backwards) from first/after or last/before."""
    first, last = f.args.get("first"), f.args.get("last")
    if first is None and last is None:
        raise ExecError("you must provide one of first or last", f)
    count = first if first is not None else last
    assert count is not None
    if count < 0 or count > MAX_PAGE:
        raise ExecError(f"The page size must be between 0 and {MAX_PAGE} (got {count}).", f)
    if first is not None:
        return count, f.args.get("after"), False
    return count, f.args.get("before"), True


# ---- orders ----------------------------------------------------------------------------------


def _key(view: OrderView, sort: str) -> tuple[int, int]:
    o = view.order
    if sort == "created":
        return (o.created, o.id)
    if sort == "updated":
        return (view.updated, o.id)
    return (o.id, o.id)


def _first_id(store: StoreSpec, day: int) -> int:
    return store.order_id_base + (day - EPOCH_DAY) * ORDER_ID_DAY_STRIDE


def _day_of_id(store: StoreSpec, order_id: int) -> int:
    return max(0, order_id - store.order_id_base) // ORDER_ID_DAY_STRIDE + EPOCH_DAY


def iter_orders(
    ctx: Ctx, flt: OrderFilter, sort: str, descending: bool, after: tuple[int, int] | None
) -> Iterator[OrderView]:
    """Visible orders matching the filter, in (sort value, id) order, strictly after `after`."""
    store, tz, now = ctx.store, ctx.store.timezone, ctx.now
    lo = [store.opened]
    hi = [local_ordinal(tz, now)]
    created_lo = max(x for x in (flt.created.lo, ctx.visible_from, -(2**62)) if x is not None)
    if created_lo > -(2**62):
        lo.append(local_ordinal(tz, created_lo))
    if flt.updated.lo is not None:
        lo.append(local_ordinal(tz, flt.updated.lo - MAX_EVENT_DELAY_S))
    for bound in (flt.created.hi, flt.updated.hi):
        if bound is not None:
            hi.append(local_ordinal(tz, bound))
    if flt.ids.lo is not None:
        lo.append(_day_of_id(store, flt.ids.lo))
    if flt.ids.hi is not None:
        hi.append(_day_of_id(store, flt.ids.hi))
    if after is not None:  # skip whole days the cursor is already past
        value = after[0]
        if sort == "id":
            (hi if descending else lo).append(_day_of_id(store, value))
        elif descending:
            hi.append(local_ordinal(tz, value))
        else:
            lo.append(local_ordinal(tz, value - (MAX_EVENT_DELAY_S if sort == "updated" else 0)))
    first_day, last_day = max(lo), min(hi)
    if first_day > last_day or flt.created.empty or flt.updated.empty or flt.ids.empty:
        return
    sign = -1 if descending else 1
    heap: list[tuple[int, int, OrderView]] = []
    days = range(last_day, first_day - 1, -1) if descending else range(first_day, last_day + 1)
    for day in days:
        for order in ctx.world.orders_on(store, day):
            if order.created > now or not flt.created.holds(order.created) or not flt.ids.holds(order.id):
                continue
            if created_lo > order.created or (flt.test is not None and order.test != flt.test):
                continue
            view = OrderView(order, now)
            if not flt.updated.holds(view.updated):
                continue
            key = _key(view, sort)
            if after is not None and (key <= after if not descending else key >= after):
                continue
            heapq.heappush(heap, (sign * key[0], sign * key[1], view))
        # What later days (in scan order) can still contribute is bounded; emit what is final.
        if sort == "id":
            limit = sign * _first_id(store, day + 1) if not descending else sign * (_first_id(store, day) - 1)
        elif not descending:
            limit = local_day_bounds(tz, day + 1)[0]
        else:
            start = local_day_bounds(tz, day)[0]
            limit = -(start + MAX_EVENT_DELAY_S if sort == "updated" else start)
        while heap and heap[0][0] < limit:
            yield heapq.heappop(heap)[2]
    while heap:
        yield heapq.heappop(heap)[2]


def orders_page(ctx: Ctx, f: Field) -> Page:
    count, cursor, backwards = _page_args(f)
    sort = SORT_VALUE.get(str(f.args.get("sortKey") or "PROCESSED_AT"), "id")
    reverse = bool(f.args.get("reverse"))
    query = f.args.get("query")
    flt = parse_search(query, ctx.store.timezone, unquoted_misparse=ctx.unquoted_misparse)
    ctx.search.extend(flt.search_extension(str(query or "")))
    after = decode_cursor(cursor, f) if cursor else None
    items: list[OrderView] = []
    for view in iter_orders(ctx, flt, sort, reverse != backwards, after):
        items.append(view)
        if len(items) > count:
            break
    more = len(items) > count
    items = items[:count]
    if backwards:
        items.reverse()
    keys = [(v.order.id, _key(v, sort)[0]) for v in items]
    _note(ctx, f, len(items))
    if backwards:
        return Page(items, keys, has_next=cursor is not None, has_prev=more)
    return Page(items, keys, has_next=more, has_prev=cursor is not None)


def order_by_gid(ctx: Ctx, f: Field) -> OrderView | None:
    gid = str(f.args.get("id", ""))
    tail = gid.rsplit("/", 1)[-1]
    if not gid.startswith("gid://shopify/Order/") or not tail.isdigit():
        raise ExecError(f"Invalid global id '{gid}'", f, "argumentLiteralsIncompatible")
    order = ctx.world.order_by_id(ctx.store, int(tail))
    if order is None or order.id != int(tail) or order.created > ctx.now:
        return None
    if ctx.visible_from is not None and order.created < ctx.visible_from:
        return None
    return OrderView(order, ctx.now)


# ---- nested connections ------------------------------------------------------------------------


def line_items_page(view: OrderView, f: Field, ctx: Ctx) -> Page:
    count, cursor, backwards = _page_args(f)
    lines = list(view.order.lines)
    if bool(f.args.get("reverse")) != backwards:
        lines.reverse()
    start = 0
    if cursor:
        last = decode_cursor(cursor, f)[1]
        ids = [li.id for li in lines]
        start = ids.index(last) + 1 if last in ids else len(lines)
    chosen = lines[start : start + count]
    more = start + count < len(lines)
    if backwards:
        chosen.reverse()
    _note(ctx, f, len(chosen))
    items = [(view.order, li) for li in chosen]
    keys = [(li.id, li.id) for li in chosen]
    return Page(items, keys, has_next=more and not backwards, has_prev=start > 0 or (backwards and more))


def refunds_list(view: OrderView, f: Field, ctx: Ctx) -> list[Any]:
    refunds = list(view.refunds)
    first = f.args.get("first")
    if first is not None:
        refunds = refunds[:first]
    _note(ctx, f, len(refunds))
    return [(view.order, r) for r in refunds]


def refund_lines_page(obj: tuple[Order, Any], f: Field, ctx: Ctx) -> Page:
    order, refund = obj
    count, _, _ = _page_args(f)
    lines = refund.lines[:count]
    _note(ctx, f, len(lines))
    return Page([(order, rl) for rl in lines], [(rl.id, rl.id) for rl in lines], False, False)


# ---- field tables ------------------------------------------------------------------------------


def _bag(order: Order, store: StoreSpec, cents: int) -> tuple[int, str, int, str]:
    return (cents, store.currency, order.pres(cents), order.pres_currency)


def _shop_field(name: str) -> Any:
    def resolve(store: StoreSpec, f: Field, ctx: Ctx) -> Any:
        now = datetime.fromtimestamp(ctx.now, zone(store.timezone))
        offset = now.utcoffset()
        minutes = int(offset.total_seconds() // 60) if offset is not None else 0
        sign = "-" if minutes < 0 else "+"
        return {
            "id": f"gid://shopify/Shop/{store.shop_id}",
            "name": store.name,
            "email": f"owner@{store.domain}",
            "myshopifyDomain": store.domain,
            "url": f"https://{store.domain}",
            "ianaTimezone": store.timezone,
            "timezoneAbbreviation": now.tzname() or "UTC",
            "timezoneOffset": f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}",
            "timezoneOffsetMinutes": minutes,
            "currencyCode": store.currency,
            "enabledPresentmentCurrencies": [c for c in (store.currency, store.alt_currency) if c],
            "plan": ctx.store,
        }[name]

    return resolve


def _order_bag(cents: Callable[[OrderView], int]) -> Resolver:
    return lambda v, f, ctx: _bag(v.order, ctx.store, cents(v))


def _current_subtotal(v: OrderView) -> int:
    return max(0, v.order.subtotal_cents - sum(rl.subtotal_cents for r in v.refunds for rl in r.lines))


def _line_bag(cents: Callable[[LineItem], int]) -> Resolver:
    return lambda obj, f, ctx: _bag(obj[0], ctx.store, cents(obj[1]))


def _cancelled(v: OrderView) -> str | None:
    return iso_z(v.order.cancel_time) if v.cancelled and v.order.cancel_time is not None else None


CONNECTION = {
    "edges": lambda p, f, c: [(encode_cursor(*k), item) for k, item in zip(p.keys, p.items, strict=True)],
    "nodes": lambda p, f, c: p.items,
    "pageInfo": lambda p, f, c: p,
}


EDGE = {"cursor": lambda e, f, c: e[0], "node": lambda e, f, c: e[1]}

RESOLVERS: Resolvers = {
    "QueryRoot": {
        "shop": lambda _, f, c: c.store,
        "orders": lambda _, f, c: orders_page(c, f),
        "order": lambda _, f, c: order_by_gid(c, f),
        "currentAppInstallation": lambda _, f, c: c.scopes,
    },
    "AppInstallation": {
        "id": lambda scopes, f, c: f"gid://shopify/AppInstallation/{c.store.shop_id}",
        "accessScopes": lambda scopes, f, c: list(scopes),
    },
    "AccessScope": {
        "handle": lambda handle, f, c: handle,
        "description": lambda handle, f, c: f"Access to {handle.removeprefix('read_').replace('_', ' ')}",
    },
    "Shop": {name: _shop_field(name) for name in (
        "id", "name", "email", "myshopifyDomain", "url", "ianaTimezone", "timezoneAbbreviation",
        "timezoneOffset", "timezoneOffsetMinutes", "currencyCode", "enabledPresentmentCurrencies", "plan")},
    "ShopPlan": {
        "displayName": lambda s, f, c: c.plan,
        "publicDisplayName": lambda s, f, c: c.plan,
        "partnerDevelopment": lambda s, f, c: False,
        "shopifyPlus": lambda s, f, c: c.plan in ("Shopify Plus", "Enterprise"),
    },
    "MoneyBag": {
        "shopMoney": lambda b, f, c: (b[0], b[1]),
        "presentmentMoney": lambda b, f, c: (b[2], b[3]),
    },
    "MoneyV2": {"amount": lambda m, f, c: cents_shopify(m[0]), "currencyCode": lambda m, f, c: m[1]},
    "PageInfo": {
        "hasNextPage": lambda p, f, c: p.has_next,
        "hasPreviousPage": lambda p, f, c: p.has_prev,
        "startCursor": lambda p, f, c: p.cursor(0),
        "endCursor": lambda p, f, c: p.cursor(-1),
    },
    "OrderConnection": CONNECTION,
    "LineItemConnection": CONNECTION,
    "RefundLineItemConnection": CONNECTION,
    "OrderEdge": EDGE,
    "LineItemEdge": EDGE,
    "RefundLineItemEdge": EDGE,
    "Customer": {
        "id": lambda cid, f, c: f"gid://shopify/Customer/{cid}",
        "legacyResourceId": lambda cid, f, c: str(cid),
    },
    "Order": {
        "id": lambda v, f, c: f"gid://shopify/Order/{v.order.id}",
        "legacyResourceId": lambda v, f, c: str(v.order.id),
        "name": lambda v, f, c: f"#{v.order.number}",
        "email": lambda v, f, c: None if v.order.customer_id is None else f"c{v.order.customer_id}@example.com",
        "createdAt": lambda v, f, c: iso_z(v.order.created),
        "updatedAt": lambda v, f, c: iso_z(v.updated),
        "processedAt": lambda v, f, c: iso_z(v.order.created),
        "cancelledAt": lambda v, f, c: _cancelled(v),
        "cancelReason": lambda v, f, c: v.order.cancel_reason if v.cancelled else None,
        "closed": lambda v, f, c: v.cancelled,
        "closedAt": lambda v, f, c: _cancelled(v),
        "confirmed": lambda v, f, c: True,
        "test": lambda v, f, c: v.order.test,
        "sourceName": lambda v, f, c: v.order.source_name,
        "tags": lambda v, f, c: list(v.order.tags),
        "displayFinancialStatus": lambda v, f, c: v.financial_status,
        "displayFulfillmentStatus": lambda v, f, c: v.fulfillment_status,
        "currencyCode": lambda v, f, c: c.store.currency,
        "presentmentCurrencyCode": lambda v, f, c: v.order.pres_currency,
        "totalPriceSet": _order_bag(lambda v: v.order.total_cents),
        "subtotalPriceSet": _order_bag(lambda v: v.order.subtotal_cents),
        "totalDiscountsSet": _order_bag(lambda v: v.order.discount_cents),
        "totalTaxSet": _order_bag(lambda v: v.order.tax_cents),
        "totalShippingPriceSet": _order_bag(lambda v: v.order.shipping_cents),
        "totalRefundedSet": _order_bag(lambda v: v.refunded),
        "currentTotalPriceSet": _order_bag(lambda v: v.current_total),
        "currentSubtotalPriceSet": _order_bag(_current_subtotal),
        "netPaymentSet": _order_bag(lambda v: v.net_payment),
        "customer": lambda v, f, c: v.order.customer_id,
        "lineItems": line_items_page,
        "refunds": refunds_list,
    },
    "LineItem": {
        "id": lambda o, f, c: f"gid://shopify/LineItem/{o[1].id}",
        "name": lambda o, f, c: o[1].title,
        "title": lambda o, f, c: o[1].title,
        "sku": lambda o, f, c: o[1].sku,
        "quantity": lambda o, f, c: o[1].quantity,
        "currentQuantity": lambda o, f, c: o[1].quantity,
        "originalUnitPriceSet": _line_bag(lambda li: li.unit_cents),
        "originalTotalSet": _line_bag(lambda li: li.original_total),
        "discountedUnitPriceSet": _line_bag(lambda li: li.discounted_total // li.quantity),
        "discountedTotalSet": _line_bag(lambda li: li.discounted_total),
        "totalDiscountSet": _line_bag(lambda li: li.discount_cents),
    },
    "Refund": {
        "id": lambda o, f, c: f"gid://shopify/Refund/{o[1].id}",
        "legacyResourceId": lambda o, f, c: str(o[1].id),
        "createdAt": lambda o, f, c: iso_z(o[1].time),
        "updatedAt": lambda o, f, c: iso_z(o[1].time),
        "note": lambda o, f, c: None,
        "totalRefundedSet": lambda o, f, c: _bag(o[0], c.store, o[1].amount_cents),
        "refundLineItems": refund_lines_page,
    },
    "RefundLineItem": {
        "id": lambda o, f, c: f"gid://shopify/RefundLineItem/{o[1].id}",
        "lineItem": lambda o, f, c: (o[0], o[0].lines[o[1].line_index]),
        "quantity": lambda o, f, c: o[1].quantity,
        "restocked": lambda o, f, c: True,
        "priceSet": lambda o, f, c: _bag(o[0], c.store, o[1].subtotal_cents // o[1].quantity),
        "subtotalSet": lambda o, f, c: _bag(o[0], c.store, o[1].subtotal_cents),
    },
}  # fmt: skip
