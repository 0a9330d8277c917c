"""Ground truth: what a correct pipeline must end with, as of an instant, straight from the world.

Computed from the world model (`Order`/`OrderView`, `AdDay`/`ad_day_as_of`), never from API
responses nor with the pipeline's transforms, following docs/metrics.md:

- Shopify, per store and local date (the date of `createdAt` in the shop's zone): an order is
  *counted* when it is not a test and not cancelled as of the instant; `orders`, `gross_revenue`
  (Σ total price), `refunds` (Σ refunded so far), `net_revenue` (gross − refunds) over counted
  orders; `aov` = gross / orders rounded half up to 2 decimals (NULL without orders). Every
  order created by the instant counts, also those older than the 60-day `read_orders` window.
- Meta, per ad account and date (the account's zone): the ads whose *current* effective status
  is in `statuses` (default None: every status, the pipeline's default filter; the seed's
  `("ACTIVE", "PAUSED")` drops ads archived, deleted or paused above the ad since), with
  impressions on that date as of the instant: Σ spend, impressions, clicks; `purchases` /
  `purchase_value` count ONE action type per ad (`omni_purchase` when present, else the pixel
  purchase type: the fallback order of metrics.md), in the account's default window, or with
  `windows` the sum over those windows (`AdDayView.window`); `account_spend` is every ad of the
  account whatever its status.
- Per store and date (`daily_summary`): the Shopify side plus the Meta side summed over the
  store's ad accounts, with ROAS (over the ad-level spend) and MER (over the account-level
  spend: every ad) at 4 decimals half up, NULL as metrics.md says.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from adspipe.simulator.ads import ad_day_as_of
from adspipe.simulator.clock import SimClock
from adspipe.simulator.orders import OrderView
from adspipe.simulator.util import cents_decimal, local_ordinal
from adspipe.simulator.world import AccountSpec, StoreSpec, World

DEFAULT_STATUSES: tuple[str, ...] | None = None  # every status: the pipeline's default filter
SEED_STATUSES = ("ACTIVE", "PAUSED")  # the filter of the seed, still a per-connection option


@dataclass(frozen=True)
class OrderFact:
    order_id: int
    name: str
    local_date: date
    created_at: datetime
    updated_at: datetime
    currency: str
    total: Decimal
    refunded: Decimal
    net_revenue: Decimal
    test: bool
    cancelled: bool
    counted: bool


@dataclass(frozen=True)
class ShopifyDay:
    shop_domain: str
    date: date
    currency: str
    orders: int
    gross_revenue: Decimal
    refunds: Decimal
    net_revenue: Decimal
    aov: Decimal | None


@dataclass(frozen=True)
class AdFact:
    ad_account_id: str  # act_…
    ad_id: str
    date: date
    status: str  # effective status as of the instant
    currency: str
    spend: Decimal
    impressions: int
    clicks: int
    purchases: int
    purchase_value: Decimal


@dataclass(frozen=True)
class MetaDay:
    ad_account_id: str
    date: date
    currency: str
    timezone: str
    spend: Decimal
    impressions: int
    clicks: int
    purchases: int
    purchase_value: Decimal
    account_spend: Decimal
    spend_gap: Decimal


@dataclass(frozen=True)
class StoreDay:
    store: str
    shop_domain: str
    date: date
    currency: str
    orders: int
    gross_revenue: Decimal
    refunds: Decimal
    net_revenue: Decimal
    aov: Decimal | None
    spend: Decimal
    impressions: int
    clicks: int
    purchases: int
    purchase_value: Decimal
    roas: Decimal | None
    mer: Decimal | None
    currency_mismatch: bool
    timezone_mismatch: bool


def _ratio(num: Decimal, den: Decimal, places: str, rounding: str) -> Decimal | None:
    return None if den == 0 else (num / den).quantize(Decimal(places), rounding=rounding)


class Truth:
    """Ground truth of one world; `at` defaults to the clock's "now"."""

    def __init__(self, world: World, clock: SimClock) -> None:
        self.world = world
        self.clock = clock

    def _at(self, at: datetime | None) -> float:
        return (at or self.clock.now()).timestamp()

    def store(self, ref: str | int | StoreSpec) -> StoreSpec:
        if isinstance(ref, StoreSpec):
            return ref
        if isinstance(ref, int):
            return self.world.stores[ref]
        found = self.world.store_by_domain(ref if "." in ref else f"{ref}.myshopify.com")
        found = found or next((s for s in self.world.stores if s.name == ref), None)
        if found is None:
            raise KeyError(f"no store {ref!r} in this world")
        return found

    def account(self, ref: str | AccountSpec) -> AccountSpec:
        if isinstance(ref, AccountSpec):
            return ref
        found = self.world.account_by_id(ref)
        if found is None:
            raise KeyError(f"no ad account {ref!r} in this world")
        return found

    # ---- Shopify ----------------------------------------------------------------------------

    def orders(
        self, store: str | int | StoreSpec, since: date, until: date, *, at: datetime | None = None
    ) -> list[OrderFact]:
        """Every order created by `at` on the local dates since..until (both included)."""
        spec, now = self.store(store), self._at(at)
        out = []
        for day in range(since.toordinal(), until.toordinal() + 1):
            for order in self.world.orders_on(spec, day):
                if order.created > now:
                    break  # a day's orders are sorted by creation time
                view = OrderView(order, now)
                total, refunded = cents_decimal(order.total_cents), cents_decimal(view.refunded)
                out.append(
                    OrderFact(
                        order.id, f"#{order.number}", date.fromordinal(day),
                        datetime.fromtimestamp(order.created, UTC), datetime.fromtimestamp(view.updated, UTC),
                        spec.currency, total, refunded, total - refunded, order.test, view.cancelled,
                        not order.test and not view.cancelled,
                    )
                )  # fmt: skip
        return out

    def shopify_daily(
        self, store: str | int | StoreSpec, since: date, until: date, *, at: datetime | None = None
    ) -> list[ShopifyDay]:
        """One row per local date since..until, zeros included."""
        spec = self.store(store)
        by_day: dict[date, list[OrderFact]] = {}
        for fact in self.orders(spec, since, until, at=at):
            if fact.counted:
                by_day.setdefault(fact.local_date, []).append(fact)
        out = []
        for i in range((until - since).days + 1):
            d = since + timedelta(days=i)
            facts = by_day.get(d, [])
            gross = sum((f.total for f in facts), Decimal("0.00"))
            refunds = sum((f.refunded for f in facts), Decimal("0.00"))
            aov = _ratio(gross, Decimal(len(facts)), "0.01", ROUND_HALF_UP)
            out.append(
                ShopifyDay(spec.domain, d, spec.currency, len(facts), gross, refunds, gross - refunds, aov)
            )
        return out

    # ---- Meta -------------------------------------------------------------------------------

    def ads(
        self,
        account: str | AccountSpec,
        day: date,
        *,
        at: datetime | None = None,
        statuses: tuple[str, ...] | None = DEFAULT_STATUSES,
        windows: tuple[str, ...] | None = None,
    ) -> list[AdFact]:
        """Per ad with impressions on `day` whose current status is in `statuses` (None: all);
        purchases in the account's default window, or summed over `windows`."""
        acct, now = self.account(account), self._at(at)
        today = local_ordinal(acct.timezone, now)
        out = []
        for ad_day in self.world.ad_days_on(acct, day.toordinal()):
            status = ad_day.ad.status_on(today) or "PENDING_REVIEW"
            if statuses is not None and status not in statuses:
                continue
            view = ad_day_as_of(ad_day, acct.timezone, now)
            if view is None:
                continue
            # ONE purchase type: omni_purchase when the row has it, else the pixel's count.
            if windows:
                splits = [view.window(w) for w in windows]
                purchases = sum(x[0] if view.has_omni else x[2] for x in splits)
                value = sum(x[1] if view.has_omni else x[3] for x in splits)
            else:
                purchases = view.purchases if view.has_omni else view.pixel_purchases
                value = view.purchase_cents if view.has_omni else view.pixel_purchase_cents
            out.append(
                AdFact(acct.id, ad_day.ad.ad_id, day, status, acct.currency, cents_decimal(view.spend_cents),
                       view.impressions, view.clicks, purchases, cents_decimal(value))
            )  # fmt: skip
        return out

    def meta_daily(
        self,
        account: str | AccountSpec,
        since: date,
        until: date,
        *,
        at: datetime | None = None,
        statuses: tuple[str, ...] | None = DEFAULT_STATUSES,
        windows: tuple[str, ...] | None = None,
    ) -> list[MetaDay]:
        """One row per date since..until (zeros included) for one ad account."""
        acct = self.account(account)
        out = []
        for i in range((until - since).days + 1):
            d = since + timedelta(days=i)
            ads = self.ads(acct, d, at=at, statuses=statuses, windows=windows)
            every = self.ads(acct, d, at=at, statuses=None)
            spend = sum((a.spend for a in ads), Decimal("0.00"))
            account_spend = sum((a.spend for a in every), Decimal("0.00"))
            out.append(
                MetaDay(acct.id, d, acct.currency, acct.timezone, spend, sum(a.impressions for a in ads),
                        sum(a.clicks for a in ads), sum(a.purchases for a in ads),
                        sum((a.purchase_value for a in ads), Decimal("0.00")), account_spend, account_spend - spend)
            )  # fmt: skip
        return out

    # ---- per store --------------------------------------------------------------------------

    def store_daily(
        self,
        store: str | int | StoreSpec,
        since: date,
        until: date,
        *,
        at: datetime | None = None,
        statuses: tuple[str, ...] | None = DEFAULT_STATUSES,
        windows: tuple[str, ...] | None = None,
    ) -> list[StoreDay]:
        spec = self.store(store)
        shop = self.shopify_daily(spec, since, until, at=at)
        metas = [
            self.meta_daily(a, since, until, at=at, statuses=statuses, windows=windows) for a in spec.accounts
        ]
        ccy_mm = any(a.currency != spec.currency for a in spec.accounts)
        tz_mm = any(a.timezone != spec.timezone for a in spec.accounts)
        out = []
        for i, s in enumerate(shop):
            days = [m[i] for m in metas]
            spend = sum((m.spend for m in days), Decimal("0.00"))
            value = sum((m.purchase_value for m in days), Decimal("0.00"))
            active = {m.currency for m in days if m.impressions or m.account_spend}
            roas = None if len(active) > 1 else _ratio(value, spend, "0.0001", ROUND_HALF_UP)
            # MER over the account-level spend: every ad, whatever the status filter kept.
            account_spend = sum((m.account_spend for m in days), Decimal("0.00"))
            mer = None if ccy_mm or tz_mm else _ratio(s.net_revenue, account_spend, "0.0001", ROUND_HALF_UP)
            out.append(
                StoreDay(spec.name, spec.domain, s.date, spec.currency, s.orders, s.gross_revenue, s.refunds,
                         s.net_revenue, s.aov, spend, sum(m.impressions for m in days), sum(m.clicks for m in days),
                         sum(m.purchases for m in days), value, roas, mer, ccy_mm, tz_mm)
            )  # fmt: skip
        return out


def to_json(rows: list[Any]) -> list[dict[str, Any]]:
    """Dataclass rows as JSON-ready dicts: dates ISO, money as strings (exact), ints as ints."""

    def plain(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%dT%H:%M:%SZ")
        if isinstance(value, date):
            return value.isoformat()
        return value

    return [{k: plain(v) for k, v in asdict(r).items()} for r in rows]
