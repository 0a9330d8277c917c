"""Shopify orders: generated per (store, local day) on demand, and read "as of now".

An `Order` holds everything that will ever happen to it (its refunds and its cancellation, each at
its own time, at most `MAX_EVENT_DELAY_S` after the order). `OrderView` is the order as of an
instant: events after that instant are invisible, and `updated` is the latest visible event.
Money is integer cents of the shop currency; `pres_rate_ppm` converts to the presentment currency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from adspipe.simulator.util import EPOCH_DAY, local_day_bounds, rng

if TYPE_CHECKING:
    from adspipe.simulator.world import StoreSpec

MAX_EVENT_DELAY_S = 10 * 86400  # refunds and cancellations arrive 0–10 days after the order
ORDER_ID_DAY_STRIDE = 100_000  # order id = shop base + day number × stride + index within the day
MAX_ORDERS_PER_DAY = 9_999
CANCEL_REASONS = ("CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "OTHER", "STAFF")
WEEKDAY_FACTOR = (1.0, 0.95, 0.95, 1.0, 1.1, 1.2, 1.15)  # Monday … Sunday
TAGS = ("gift", "subscription", "vip", "wholesale", "repeat")


@dataclass(frozen=True, slots=True)
class LineItem:
    id: int
    product: int  # index in the store's catalog
    title: str
    sku: str
    quantity: int
    unit_cents: int
    discount_cents: int  # over the whole line

    @property
    def original_total(self) -> int:
        return self.unit_cents * self.quantity

    @property
    def discounted_total(self) -> int:
        return self.unit_cents * self.quantity - self.discount_cents


@dataclass(frozen=True, slots=True)
class RefundLine:
    id: int
    line_index: int
    quantity: int
    subtotal_cents: int


@dataclass(frozen=True, slots=True)
class Refund:
    id: int
    time: int  # epoch seconds
    amount_cents: int
    lines: tuple[RefundLine, ...]


@dataclass(frozen=True, slots=True)
class Order:
    id: int
    number: int
    created: int  # epoch seconds, UTC
    day: int  # local date ordinal in the shop's zone
    test: bool
    customer_id: int | None
    source_name: str
    tags: tuple[str, ...]
    lines: tuple[LineItem, ...]
    subtotal_cents: int  # after discounts
    discount_cents: int
    shipping_cents: int
    tax_cents: int
    total_cents: int
    paid: bool  # False: payment pending (never captured)
    pres_currency: str
    pres_rate_ppm: int  # presentment amount = shop amount × ppm / 1e6
    refunds: tuple[Refund, ...]
    cancel_time: int | None
    cancel_reason: str | None
    fulfilled: bool

    def pres(self, cents: int) -> int:
        if self.pres_rate_ppm == 1_000_000:
            return cents
        return (cents * self.pres_rate_ppm + 500_000) // 1_000_000


class OrderView:
    """An order as of `now` (epoch seconds)."""

    __slots__ = ("cancelled", "order", "refunded", "refunds", "updated")

    def __init__(self, order: Order, now: float) -> None:
        self.order = order
        self.refunds = tuple(r for r in order.refunds if r.time <= now)
        self.refunded = sum(r.amount_cents for r in self.refunds)
        self.cancelled = order.cancel_time is not None and order.cancel_time <= now
        updated = order.created
        for r in self.refunds:
            updated = max(updated, r.time)
        if self.cancelled and order.cancel_time is not None:
            updated = max(updated, order.cancel_time)
        self.updated = updated

    @property
    def financial_status(self) -> str:
        o = self.order
        if not o.paid:
            return "VOIDED" if self.cancelled else "PENDING"
        if self.refunded <= 0:
            return "PAID"
        if self.refunded >= o.total_cents:
            return "REFUNDED"
        return "PARTIALLY_REFUNDED"

    @property
    def fulfillment_status(self) -> str:
        if self.cancelled:
            return "UNFULFILLED"
        return "FULFILLED" if self.order.fulfilled else "UNFULFILLED"

    @property
    def net_payment(self) -> int:
        return (self.order.total_cents if self.order.paid else 0) - self.refunded

    @property
    def current_total(self) -> int:
        return max(0, self.order.total_cents - self.refunded)


def day_number(day_ordinal: int) -> int:
    return day_ordinal - EPOCH_DAY


def order_day_from_id(store: StoreSpec, order_id: int) -> int | None:
    offset = order_id - store.order_id_base
    if offset < 0:
        return None
    return offset // ORDER_ID_DAY_STRIDE + EPOCH_DAY


def daily_count(store: StoreSpec, seed: int, day: int) -> int:
    if day < store.opened:
        return 0
    r = rng(seed, "order-count", store.index, day)
    weekday = WEEKDAY_FACTOR[(day - 1) % 7]  # date.fromordinal(1) is a Monday
    season = 1.0 + 0.15 * math.sin(2 * math.pi * (day % 365) / 365.0)
    noise = min(1.5, max(0.6, r.gauss(1.0, 0.12)))
    return min(MAX_ORDERS_PER_DAY, max(0, round(store.orders_per_day * weekday * season * noise)))


def generate_day(store: StoreSpec, seed: int, day: int) -> tuple[Order, ...]:
    """Every order created on one local date of the store (sorted by createdAt, then id)."""
    n = daily_count(store, seed, day)
    if n == 0:
        return ()
    r = rng(seed, "orders", store.index, day)
    start, end = local_day_bounds(store.timezone, day)
    span = end - start
    times = sorted(start + int(r.random() * span) for _ in range(n))
    dayno = day_number(day)
    catalog = store.catalog
    n_products = len(catalog)
    rate_ppm = store.pres_rate_ppm(seed, day)
    out = []
    for k, created in enumerate(times):
        oid = store.order_id_base + dayno * ORDER_ID_DAY_STRIDE + k
        x = r.random()
        customer: int | None
        if x < 0.05:
            customer = None
        elif x < 0.40:
            customer = store.customer_id_base + r.randrange(store.customer_pool)
        else:
            customer = store.customer_id_base + store.customer_pool + dayno * ORDER_ID_DAY_STRIDE + k
        x = r.random()
        source = "web" if x < 0.85 else ("pos" if x < 0.92 else "shopify_draft_order")
        n_lines = 1 if (x := r.random()) < 0.55 else (2 if x < 0.80 else (3 if x < 0.92 else 4))
        products = r.sample(range(n_products), n_lines)
        x = r.random()
        pct = 20 if x < 0.05 else (10 if x < 0.25 else 0)
        lines = []
        for j, p in enumerate(products):
            title, sku, price = catalog[p]
            q = r.random()
            qty = 1 if q < 0.8 else (2 if q < 0.95 else 3)
            disc = price * qty * pct // 100
            lines.append(LineItem(oid * 10 + j, p, title, sku, qty, price, disc))
        subtotal = sum(li.discounted_total for li in lines)
        discount = sum(li.discount_cents for li in lines)
        shipping = 0 if subtotal >= store.free_shipping_cents else store.shipping_cents
        if store.tax_included:
            tax = (subtotal + shipping) * store.tax_bp // (10_000 + store.tax_bp)
            total = subtotal + shipping
        else:
            tax = (subtotal + shipping) * store.tax_bp // 10_000
            total = subtotal + shipping + tax
        test = r.random() < 0.015
        paid = r.random() >= 0.03
        pres_currency, ppm = store.currency, 1_000_000
        if store.alt_currency and r.random() < 0.10:
            pres_currency, ppm = store.alt_currency, rate_ppm
        refunds: list[Refund] = []
        cancel_time: int | None = None
        cancel_reason: str | None = None
        x = r.random()
        if x < 0.03:
            cancel_time = created + int(r.random() * MAX_EVENT_DELAY_S)
            cancel_reason = r.choice(CANCEL_REASONS)
            if paid:
                refunds.append(_full_refund(oid, 0, cancel_time, total, lines, ()))
        elif x < 0.11 and paid:
            t1 = created + int(r.random() * MAX_EVENT_DELAY_S)
            if r.random() < 0.6:  # one unit of one line back
                j = r.randrange(len(lines))
                li = lines[j]
                unit = li.discounted_total // li.quantity
                amount = unit if store.tax_included else unit + unit * store.tax_bp // 10_000
                rl = RefundLine(oid * 100 + j, j, 1, unit)
                refunds.append(Refund(oid * 10, t1, amount, (rl,)))
                if r.random() < 0.2:
                    t2 = t1 + int(r.random() * (created + MAX_EVENT_DELAY_S - t1))
                    refunds.append(_full_refund(oid, 1, t2, total - amount, lines, ((j, 1),)))
            else:
                refunds.append(_full_refund(oid, 0, t1, total, lines, ()))
        tags = tuple(t for t in TAGS if r.random() < 0.06)
        fulfilled = r.random() < 0.9
        number = 1000 + (day - store.opened) * (MAX_ORDERS_PER_DAY + 1) + k + 1
        out.append(
            Order(oid, number, created, day, test, customer, source, tags, tuple(lines), subtotal, discount,
                  shipping, tax, total, paid, pres_currency, ppm, tuple(refunds), cancel_time, cancel_reason,
                  fulfilled)
        )  # fmt: skip
    return tuple(out)


def _full_refund(
    oid: int,
    r_index: int,
    time: int,
    amount: int,
    lines: list[LineItem],
    already: tuple[tuple[int, int], ...],
) -> Refund:
    taken = dict(already)
    rid = oid * 10 + r_index
    rls = []
    for j, li in enumerate(lines):
        qty = li.quantity - taken.get(j, 0)
        if qty > 0:
            unit = li.discounted_total // li.quantity
            rls.append(RefundLine(rid * 10 + j, j, qty, unit * qty))
    return Refund(rid, time, amount, tuple(rls))
