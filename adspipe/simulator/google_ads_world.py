"""Google Ads in the simulated world: one customer per store, its ads, their daily metrics, the truth.

Each store gets one Google Ads customer (10-digit id) in the store's time zone and currency,
derived from the seed like the Meta accounts. Ad lifetimes reuse `ads.AdTimeline` (ad groups
are its ad sets, with Google-sized ids), so an ad runs, pauses and ends; Meta's final statuses map
to Google's: ACTIVE → ENABLED, PAUSED / ADSET_PAUSED / CAMPAIGN_PAUSED → PAUSED, ARCHIVED / DELETED
→ REMOVED. The API reports an ad's status *now*, while its past days keep their metrics.

An ad's day has cost in whole cents (micros = cents × 10,000), impressions, clicks and
conversions with data-driven fractional credit (thousandths) and a value in cents, each arriving
at its own instant up to `CONVERSION_LAG_S` (30 days, Google's default click-through window)
after the click: past days' conversions change for a month. `truth()` is exact (Decimals).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from adspipe.simulator.ads import AdLife, AdTimeline, _poisson
from adspipe.simulator.util import local_day_bounds, local_ordinal, rng, stable_int
from adspipe.simulator.world import CURRENCIES, AccountSpec, SizedLRU, StoreSpec, World

CONVERSION_LAG_S = 30 * 86400
INDEX_BASE = 100_000  # AdTimeline's random keys stay apart from the Meta accounts'
CREDITS_MILLI = (1000, 1000, 1000, 750, 667, 500, 500, 333, 250)  # data-driven attribution shares
STATUS = {"ACTIVE": "ENABLED", "PAUSED": "PAUSED", "ADSET_PAUSED": "PAUSED", "CAMPAIGN_PAUSED": "PAUSED",
          "ARCHIVED": "REMOVED", "DELETED": "REMOVED"}  # fmt: skip
MICROS_PER_CENT = 10_000


@dataclass(frozen=True)
class GadsCustomer:
    index: int
    store_index: int
    customer_id: str  # 10 digits
    name: str
    time_zone: str
    currency: str
    managed: bool  # reachable only through the manager (login-customer-id)
    spec: AccountSpec  # the lifetimes' parameters (ad groups = ad sets)


@dataclass(frozen=True, slots=True)
class GadsAdDay:
    ad: AdLife
    day: int
    cost_cents: int
    impressions: int
    clicks: int
    conversions: tuple[tuple[int, int, int], ...]  # (arrival epoch s, credit thousandths, value cents)


@dataclass(frozen=True)
class GadsRow:
    """One ad's metrics on one local date as of an instant (what the API reports)."""

    customer: GadsCustomer
    campaign_id: str
    ad_group_id: str
    ad_id: str
    status: str  # now
    day: date
    cost_micros: int
    impressions: int
    clicks: int
    conversions_milli: int
    conversions_value_cents: int

    @property
    def conversions(self) -> Decimal:
        return Decimal(self.conversions_milli) / 1000

    @property
    def conversions_value(self) -> Decimal:
        return Decimal(self.conversions_value_cents) / 100

    @property
    def spend(self) -> Decimal:
        return Decimal(self.cost_micros) / 1_000_000

    def is_zero(self) -> bool:
        return not (self.cost_micros or self.impressions or self.clicks or self.conversions_milli)


def _customer(world: World, store: StoreSpec) -> GadsCustomer:
    seed, i = world.seed, store.index
    r = rng(seed, "gads-customer", i)
    customer_id = str(10**9 + stable_int(seed, "gads-id", i) % (9 * 10**9))
    base = 10**10 + (stable_int(seed, "gads-ids", i) % 90) * 10**8
    n_campaigns = r.randint(2, 3)
    campaigns = tuple((str(base + c), f"Search {c + 1}") for c in range(n_campaigns))
    ad_groups = tuple(
        (str(base * 10 + c * 100 + g), f"Search {c + 1} / Group {g + 1}", c)
        for c in range(n_campaigns)
        for g in range(r.randint(1, 3))
    )
    scale = CURRENCIES[store.currency][0]
    spec = AccountSpec(
        index=INDEX_BASE + i, store_index=i, account_id=customer_id, name=f"{store.name} Google Ads",
        timezone=store.timezone, currency=store.currency, start=store.opened + r.randint(20, 120),
        slots=r.randint(6, 12), campaigns=campaigns, adsets=ad_groups, cpm_cents=int(r.uniform(20, 40) * scale * 100),
        ctr_bp=r.randint(300, 700), cvr_bp=r.randint(200, 500), aov_cents=int(r.uniform(45, 90) * scale * 100),
        budget_cents=int(r.uniform(10, 40) * scale * 100), ad_id_base=base * 100, business_id="",
    )  # fmt: skip
    return GadsCustomer(i, i, customer_id, spec.name, store.timezone, store.currency, i % 2 == 1, spec)


def generate_day(customer: GadsCustomer, timeline: AdTimeline, seed: int, day: int) -> tuple[GadsAdDay, ...]:
    """Final metrics of every ad of the customer that delivers on a local date (sorted by ad id)."""
    spec = customer.spec
    if day < spec.start:
        return ()
    start, end = local_day_bounds(spec.timezone, day)
    out = []
    for life in timeline.lives_on(day):
        if not life.delivers_on(day):
            continue
        r = rng(seed, "gads-day", customer.index, life.ad_id, day)
        cost = max(30, int(life.budget_cents * min(1.6, max(0.4, r.gauss(1.0, 0.2)))))
        impressions = max(1, int(cost * 1000 / (spec.cpm_cents * math.exp(r.gauss(0.0, 0.2)))))
        clicks = int(impressions * spec.ctr_bp / 10_000 * math.exp(r.gauss(0.0, 0.25)))
        conversions = []
        for _ in range(_poisson(r, clicks * spec.cvr_bp / 10_000)):
            click_at = start + r.random() * (end - start)
            arrival = int(click_at + CONVERSION_LAG_S * r.random() ** 3)
            credit = CREDITS_MILLI[r.randrange(len(CREDITS_MILLI))]
            value = max(500, int(spec.aov_cents * math.exp(r.gauss(0.0, 0.35)))) * credit // 1000
            conversions.append((arrival, credit, value))
        conversions.sort()
        out.append(GadsAdDay(life, day, cost, impressions, clicks, tuple(conversions)))
    out.sort(key=lambda a: int(a.ad.ad_id))
    return tuple(out)


class GadsWorld:
    """The customers of a `World` and their metrics as of any instant."""

    def __init__(self, world: World, cache_days: int = 50_000) -> None:
        self.world = world
        self.customers = [_customer(world, s) for s in world.stores]
        self.manager_id = str(10**9 + stable_int(world.seed, "gads-manager") % (9 * 10**9))
        self._by_id = {c.customer_id: c for c in self.customers}
        self._timelines = {c.index: AdTimeline(c.spec, world.seed) for c in self.customers}
        self._days: SizedLRU[tuple[int, int], tuple[GadsAdDay, ...]] = SizedLRU(cache_days, len)

    def customer(self, customer_id: str) -> GadsCustomer | None:
        return self._by_id.get(customer_id.replace("-", ""))

    def ad_days(self, customer: GadsCustomer, day: int) -> tuple[GadsAdDay, ...]:
        timeline = self._timelines[customer.index]
        return self._days.get_or_make(
            (customer.index, day), lambda: generate_day(customer, timeline, self.world.seed, day)
        )

    def rows(self, customer: GadsCustomer, day: date, now: float) -> list[GadsRow]:
        """The ad rows of a local date as of `now` (today pro rata; all-zero rows left out)."""
        ordinal = day.toordinal()
        start, end = local_day_bounds(customer.time_zone, ordinal)
        if now <= start:
            return []
        num, den = (1, 1) if now >= end else (int(now - start), end - start)
        today = local_ordinal(customer.time_zone, now)
        spec = customer.spec
        out = []
        for ad_day in self.ad_days(customer, ordinal):
            arrived = [(c, v) for at, c, v in ad_day.conversions if at <= now]
            life = ad_day.ad
            ad_group = spec.adsets[life.adset]
            row = GadsRow(
                customer, spec.campaigns[ad_group[2]][0], ad_group[0], life.ad_id,
                STATUS[life.status_on(today) or "ACTIVE"], day,
                ad_day.cost_cents * num // den * MICROS_PER_CENT, ad_day.impressions * num // den,
                ad_day.clicks * num // den, sum(c for c, _ in arrived), sum(v for _, v in arrived),
            )  # fmt: skip
            if not row.is_zero():
                out.append(row)
        return out

    def truth(self, customer_id: str, day: date, now: float) -> dict[str, GadsRow]:
        """Ground truth: every ad's row of a local date as of `now`, by ad id."""
        customer = self.customer(customer_id)
        if customer is None:
            raise KeyError(f"no Google Ads customer {customer_id}")
        return {r.ad_id: r for r in self.rows(customer, day, now)}

    def describe(self) -> list[dict[str, object]]:
        return [
            {"customer_id": c.customer_id, "name": c.name, "time_zone": c.time_zone, "currency": c.currency,
             "store": self.world.stores[c.store_index].name, "managed_by": self.manager_id if c.managed else None}
            for c in self.customers
        ]  # fmt: skip
