"""The simulated world, deterministic from a seed: stores, shops, ad accounts, orders and ads.

Stores and accounts are built eagerly (they are few). Orders and ad delivery are generated per
(entity, local day) on demand from `rng(seed, entity, day)` and kept in a bounded LRU cache, so a
year of a 1,000-orders-a-day shop never sits in memory at once and day D never depends on which
days were generated first.

The first three stores follow templates so that every seed has a shop west of UTC, one east of
it and one far east (all with DST changes except Brisbane), one store with two ad accounts (one
in another time zone), one with one account, and one whose account bills in another currency.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Generic, TypeVar

from adspipe.simulator.ads import AdDay, AdTimeline, generate_ad_days
from adspipe.simulator.orders import ORDER_ID_DAY_STRIDE, Order, generate_day
from adspipe.simulator.util import EPOCH_DAY, rng, stable_int

WEST = (("America/Los_Angeles", "USD"), ("America/Denver", "USD"), ("America/Chicago", "USD"),
        ("America/New_York", "USD"), ("America/Toronto", "CAD"))  # fmt: skip
EAST = (("Europe/Berlin", "EUR"), ("Europe/Paris", "EUR"), ("Europe/Amsterdam", "EUR"),
        ("Europe/Madrid", "EUR"), ("Europe/Vienna", "EUR"))  # fmt: skip
FAR_EAST = (("Australia/Sydney", "AUD"), ("Australia/Melbourne", "AUD"), ("Pacific/Auckland", "NZD"))
EXTRA = (("Europe/London", "GBP"), ("Asia/Kolkata", "INR"), ("Asia/Singapore", "SGD"),
         ("America/Sao_Paulo", "BRL"), ("Europe/Stockholm", "SEK"), ("Australia/Brisbane", "AUD"))  # fmt: skip
# currency → (units per USD, tax basis points, tax included in prices, alternative presentment currency)
CURRENCIES: dict[str, tuple[float, int, bool, str]] = {
    "USD": (1.0, 725, False, "CAD"), "CAD": (1.36, 1300, False, "USD"), "EUR": (0.92, 1900, True, "GBP"),
    "GBP": (0.79, 2000, True, "EUR"), "AUD": (1.52, 1000, True, "NZD"), "NZD": (1.65, 1500, True, "AUD"),
    "INR": (83.0, 1800, True, "USD"), "SGD": (1.35, 900, True, "USD"), "BRL": (5.0, 0, False, "USD"),
    "SEK": (10.5, 2500, True, "EUR"),
}  # fmt: skip
PLANS = ("Basic", "Shopify", "Advanced", "Shopify Plus")
FIRST_WORDS = ("Juniper", "Cobalt", "Maple", "Harbor", "Atlas", "Willow", "Ember", "Summit", "Coral", "Fern",
               "Orchid", "Granite", "Lumen", "Pioneer", "Saffron", "Tidal", "Nordlicht", "Kestrel")  # fmt: skip
SECOND_WORDS = ("Goods", "Outfitters", "Coffee", "Apparel", "Botanicals", "Supply", "Studio", "Kitchen",
                "Cycles", "Candles", "Skincare", "Ceramics")  # fmt: skip
PRODUCT_ADJ = (
    "Classic",
    "Organic",
    "Everyday",
    "Deluxe",
    "Mini",
    "Travel",
    "Signature",
    "Vintage",
    "Eco",
    "Pro",
)
PRODUCT_NOUN = ("Mug", "Tee", "Hoodie", "Candle", "Serum", "Tote", "Notebook", "Blend", "Bottle", "Cap",
                "Socks", "Planter", "Soap", "Scarf", "Journal", "Bowl")  # fmt: skip

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SizedLRU(Generic[K, V]):
    """A thread-safe LRU cache bounded by the total size of its values."""

    def __init__(self, budget: int, size: Callable[[V], int]) -> None:
        self._budget = budget
        self._size = size
        self._used = 0
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
                return value
        value = make()
        with self._lock:
            if key not in self._data:
                self._data[key] = value
                self._used += self._size(value) + 1
                while self._used > self._budget and len(self._data) > 1:
                    _, old = self._data.popitem(last=False)
                    self._used -= self._size(old) + 1
        return value


@dataclass
class AccountSpec:
    index: int
    store_index: int
    account_id: str  # digits
    name: str
    timezone: str
    currency: str
    start: int  # first local date ordinal with ads
    slots: int
    campaigns: tuple[tuple[str, str], ...]  # (id, name)
    adsets: tuple[tuple[str, str, int], ...]  # (id, name, campaign index)
    cpm_cents: int
    ctr_bp: int
    cvr_bp: int
    aov_cents: int
    budget_cents: int
    ad_id_base: int
    business_id: str
    attribution_window_days: int = 7
    account_status: int = 1

    @property
    def id(self) -> str:
        return f"act_{self.account_id}"


@dataclass
class StoreSpec:
    index: int
    name: str
    slug: str
    shop_id: int
    timezone: str
    currency: str
    plan: str
    opened: int  # first local date ordinal with orders
    orders_per_day: int
    order_id_base: int
    customer_id_base: int
    customer_pool: int
    catalog: tuple[tuple[str, str, int], ...]  # (title, sku, price cents)
    free_shipping_cents: int
    shipping_cents: int
    tax_bp: int
    tax_included: bool
    alt_currency: str | None
    alt_rate_ppm: int
    accounts: list[AccountSpec] = field(default_factory=list)

    @property
    def domain(self) -> str:
        return f"{self.slug}.myshopify.com"

    def pres_rate_ppm(self, seed: int, day: int) -> int:
        wobble = 1.0 + 0.02 * math.sin(day / 30.0 + self.index)
        return int(self.alt_rate_ppm * wobble)


class World:
    def __init__(
        self,
        seed: int = 1,
        stores: int = 3,
        *,
        orders_per_day: int | None = None,
        ads_per_account: int | None = None,
        cache_orders: int = 150_000,
        cache_ad_days: int = 150_000,
    ) -> None:
        if stores < 1:
            raise ValueError("a world needs at least one store")
        self.seed = seed
        self.stores: list[StoreSpec] = []
        self.accounts: list[AccountSpec] = []
        used_slugs: set[str] = set()
        for i in range(stores):
            store = self._make_store(i, orders_per_day, used_slugs)
            self.stores.append(store)
            for tz, ccy in self._account_plan(i, store):
                acct = self._make_account(len(self.accounts), store, tz, ccy, ads_per_account)
                store.accounts.append(acct)
                self.accounts.append(acct)
        self._by_domain = {s.domain: s for s in self.stores}
        self._by_account = {a.account_id: a for a in self.accounts}
        self._timelines = {a.index: AdTimeline(a, seed) for a in self.accounts}
        self._orders: SizedLRU[tuple[int, int], tuple[Order, ...]] = SizedLRU(cache_orders, len)
        self._ad_days: SizedLRU[tuple[int, int], tuple[AdDay, ...]] = SizedLRU(cache_ad_days, len)

    # ---- construction -------------------------------------------------------------------------
    def _make_store(self, i: int, orders_per_day: int | None, used: set[str]) -> StoreSpec:
        seed = self.seed
        r = rng(seed, "store", i)
        pool = (WEST, EAST, FAR_EAST)[i] if i < 3 else (WEST + EAST + FAR_EAST + EXTRA)
        tz, ccy = pool[r.randrange(len(pool))]
        name = f"{r.choice(FIRST_WORDS)} {r.choice(SECOND_WORDS)}"
        slug = name.lower().replace(" ", "-")
        while slug in used:
            slug = f"{slug}-{r.randrange(10, 99)}"
        used.add(slug)
        plan = ("Advanced", "Basic", "Shopify Plus")[i] if i < 3 else r.choice(PLANS)
        scale, tax_bp, included, alt = CURRENCIES[ccy]
        catalog = []
        for k in range(40):
            usd = math.exp(r.gauss(math.log(32.0), 0.55))
            units = max(1, round(usd * scale))
            cents = units * 100 - (1 if r.random() < 0.7 else 100) if units > 1 else 99
            title = (
                f"{PRODUCT_ADJ[r.randrange(len(PRODUCT_ADJ))]} {PRODUCT_NOUN[r.randrange(len(PRODUCT_NOUN))]}"
            )
            catalog.append((title, f"{slug[:3].upper()}-{k + 1:04d}", cents))
        opd = orders_per_day if orders_per_day is not None else r.randint(20, 60)
        id_var = stable_int(seed, "order-ids", i) % 900
        return StoreSpec(
            index=i, name=name, slug=slug, shop_id=60_000_000_000 + stable_int(seed, "shop", i) % 9_000_000_000,
            timezone=tz, currency=ccy, plan=plan, opened=date(2019, 1, 1).toordinal() + r.randrange(365),
            orders_per_day=opd, order_id_base=5_000_000_000_000 + id_var * 10_000_000_000,
            customer_id_base=7_000_000_000_000 + id_var * 10_000_000_000,
            customer_pool=max(100, opd * 20), catalog=tuple(catalog),
            free_shipping_cents=int(75 * scale) * 100, shipping_cents=int(6.99 * scale * 100),
            tax_bp=tax_bp, tax_included=included, alt_currency=alt,
            alt_rate_ppm=int(CURRENCIES[alt][0] / scale * 1_000_000),
        )  # fmt: skip

    def _account_plan(self, i: int, store: StoreSpec) -> list[tuple[str, str]]:
        tz, ccy = store.timezone, store.currency
        if i == 0:
            other = "America/New_York" if tz != "America/New_York" else "America/Chicago"
            return [(tz, ccy), (other, ccy)]
        if i == 1:
            return [(tz, ccy)]
        if i == 2:
            return [(tz, "USD" if ccy != "USD" else "EUR")]
        r = rng(self.seed, "store-accounts", i)
        out = []
        for _ in range(r.choice((0, 1, 1, 2))):
            x = r.random()
            if x < 0.15:
                out.append(("America/New_York" if tz != "America/New_York" else "Europe/London", ccy))
            elif x < 0.3:
                out.append((tz, "USD" if ccy != "USD" else "EUR"))
            else:
                out.append((tz, ccy))
        return out

    def _make_account(
        self, index: int, store: StoreSpec, tz: str, ccy: str, ads_per_account: int | None
    ) -> AccountSpec:
        r = rng(self.seed, "account", index)
        digits = str(10**14 + stable_int(self.seed, "act", index) % (9 * 10**14))
        scale = CURRENCIES[ccy][0]
        n_campaigns = r.randint(2, 4)
        base = 120_200_000_000_000_000 + (stable_int(self.seed, "ad-ids", index) % 90) * 10**14
        campaigns = tuple(
            (
                str(base + c),
                f"{r.choice(('Prospecting', 'Retargeting', 'Brand', 'Sale', 'Evergreen'))} {c + 1}",
            )
            for c in range(n_campaigns)
        )
        adsets = []
        for c in range(n_campaigns):
            for s in range(r.randint(1, 3)):
                adsets.append((str(base + 10**9 + c * 100 + s), f"{campaigns[c][1]} / Audience {s + 1}", c))
        slots = ads_per_account if ads_per_account is not None else r.randint(8, 20)
        return AccountSpec(
            index=index, store_index=store.index, account_id=digits, name=f"{store.name} Ads {index + 1}",
            timezone=tz, currency=ccy, start=store.opened + r.randint(30, 200), slots=slots,
            campaigns=campaigns, adsets=tuple(adsets),
            cpm_cents=int(r.uniform(9.0, 18.0) * scale * 100), ctr_bp=r.randint(90, 200),
            cvr_bp=r.randint(150, 400), aov_cents=int(r.uniform(45.0, 90.0) * scale * 100),
            budget_cents=int(r.uniform(15.0, 60.0) * scale * 100), ad_id_base=base + 2 * 10**9,
            business_id=str(10**14 + stable_int(self.seed, "business", store.index) % (9 * 10**14)),
        )  # fmt: skip

    # ---- lookups ------------------------------------------------------------------------------
    def store_by_domain(self, domain: str) -> StoreSpec | None:
        return self._by_domain.get(domain.lower())

    def account_by_id(self, account: str) -> AccountSpec | None:
        return self._by_account.get(account.removeprefix("act_"))

    def orders_on(self, store: StoreSpec, day: int) -> tuple[Order, ...]:
        """Every order created on a local date of the shop (all of them, regardless of "now")."""
        return self._orders.get_or_make((store.index, day), lambda: generate_day(store, self.seed, day))

    def order_by_id(self, store: StoreSpec, order_id: int) -> Order | None:
        offset = order_id - store.order_id_base
        if offset < 0:
            return None
        day_no, k = divmod(offset, ORDER_ID_DAY_STRIDE)

        orders = self.orders_on(store, day_no + EPOCH_DAY)
        return orders[k] if k < len(orders) else None

    def ad_days_on(self, account: AccountSpec, day: int) -> tuple[AdDay, ...]:
        """Final delivery of the account's delivering ads on a local date (sorted by ad id)."""
        timeline = self._timelines[account.index]
        return self._ad_days.get_or_make(
            (account.index, day), lambda: generate_ad_days(account, timeline, self.seed, day)
        )

    def timeline(self, account: AccountSpec) -> AdTimeline:
        return self._timelines[account.index]

    def describe(self) -> dict[str, Any]:
        """Stores, shop domains, ad account ids, time zones and currencies (for `adspipe connect`)."""
        return {
            "seed": self.seed,
            "stores": [
                {
                    "name": s.name,
                    "shop_domain": s.domain,
                    "timezone": s.timezone,
                    "currency": s.currency,
                    "plan": s.plan,
                    "orders_per_day": s.orders_per_day,
                    "ad_accounts": [
                        {
                            "id": a.id,
                            "account_id": a.account_id,
                            "name": a.name,
                            "timezone": a.timezone,
                            "currency": a.currency,
                            "ads": a.slots,
                            "attribution_window_days": a.attribution_window_days,
                        }
                        for a in s.accounts
                    ],
                }
                for s in self.stores
            ],
        }
