"""Meta ads: lifetimes with changing effective status, and daily delivery with late conversions.

Each ad account has `slots` ad slots. A slot runs one ad at a time: an ad lives 20–150 days
(ACTIVE, with a few PAUSED stretches), then ends as ARCHIVED, CAMPAIGN_PAUSED, DELETED, PAUSED or
ADSET_PAUSED and the next ad of the slot starts. An `AdDay` is one ad's final delivery on one local date of the
account; its conversions arrive at their own instants, at most 7 days after the day ends.
`ad_day_as_of` reads it as of an instant: today is pro rata of the local day elapsed, conversions
count once they have arrived, future days have nothing. Status changes happen at local midnight.

Attribution: a conversion is a 1-day view-through one when `_is_view` says so and it arrived by
the end of the next local day; every other conversion is click-through (all arrive within 7
days): it is in 7d_click and 28d_click, and in 1d_click when it arrived by the end of the next
local day. So the account's default window (7-day click or 1-day view) counts every conversion.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from adspipe.simulator.util import local_day_bounds, rng

if TYPE_CHECKING:
    from adspipe.simulator.world import AccountSpec

CONVERSION_WINDOW_S = 7 * 86400
# CAMPAIGN_PAUSED takes the top of what was ARCHIVED's share, so every other ad keeps its status.
FINAL_STATUSES = (("ARCHIVED", 0.4), ("CAMPAIGN_PAUSED", 0.1), ("DELETED", 0.15), ("PAUSED", 0.25),
                  ("ADSET_PAUSED", 0.10))  # fmt: skip
VIEW_SHARE_PCT = 15  # about this share of conversions that arrive within a day are view-through
DAY_S = 86400
AD_THEMES = ("Spring Sale", "Bestsellers", "New Arrivals", "Gift Guide", "UGC Video", "Carousel",
             "Retargeting", "Lookalike", "Founder Story", "Bundle Offer", "Free Shipping", "Reviews")  # fmt: skip


@dataclass(frozen=True, slots=True)
class AdLife:
    ad_id: str
    slot: int
    gen: int
    adset: int  # index into the account's adsets
    name: str
    start: int  # first local date ordinal
    end: int  # last local date ordinal it can deliver
    pauses: tuple[tuple[int, int], ...]  # inclusive ordinal ranges without delivery (status PAUSED)
    final_status: str
    budget_cents: int

    def delivers_on(self, day: int) -> bool:
        if day < self.start or day > self.end:
            return False
        return not any(a <= day <= b for a, b in self.pauses)

    def status_on(self, today: int) -> str | None:
        """Effective status when the local date is `today`; None before the ad exists."""
        if today < self.start:
            return None
        if today > self.end:
            return self.final_status
        return "ACTIVE" if self.delivers_on(today) else "PAUSED"


@dataclass(frozen=True, slots=True)
class AdDay:
    ad: AdLife
    day: int
    spend_cents: int
    impressions: int
    clicks: int
    reach: int
    link_clicks: int
    landing_page_views: int
    add_to_cart: int
    add_to_cart_cents: int
    conversions: tuple[tuple[int, int, bool], ...]  # (arrival epoch s, value cents, seen by the pixel)
    has_omni: bool


@dataclass(frozen=True, slots=True)
class AdDayView:
    """An ad's row for one date as of an instant (only when it has impressions)."""

    ad: AdLife
    day: int
    spend_cents: int
    impressions: int
    clicks: int
    reach: int
    link_clicks: int
    landing_page_views: int
    add_to_cart: int
    add_to_cart_cents: int
    purchases: int
    purchase_cents: int
    pixel_purchases: int
    pixel_purchase_cents: int
    has_omni: bool
    # per attribution window: (purchases, cents, pixel purchases, pixel cents) of the 1-day
    # view-through conversions and of the 1-day click-through ones (see the module docstring)
    view_1d: tuple[int, int, int, int] = (0, 0, 0, 0)
    click_1d: tuple[int, int, int, int] = (0, 0, 0, 0)

    def window(self, name: str) -> tuple[int, int, int, int]:
        """(purchases, cents, pixel purchases, pixel cents) attributed in one window."""
        if name == "1d_view":
            return self.view_1d
        if name == "1d_click":
            return self.click_1d
        if name in ("7d_click", "28d_click"):
            v = self.view_1d
            return (self.purchases - v[0], self.purchase_cents - v[1], self.pixel_purchases - v[2],
                    self.pixel_purchase_cents - v[3])  # fmt: skip
        return (0, 0, 0, 0)  # 1d_ev: the simulated ads are not video


def _is_view(arrival: int, value: int) -> bool:
    """Deterministic (no random draw, so the world stays what it was): a fixed share is view-through."""
    return (arrival * 7 + value) % 100 < VIEW_SHARE_PCT


class AdTimeline:
    """The ads of one account over time, extended lazily per slot."""

    def __init__(self, account: AccountSpec, seed: int) -> None:
        self.account = account
        self.seed = seed
        self._lock = threading.Lock()
        self._slots: list[list[AdLife]] = [[] for _ in range(account.slots)]

    def _extend(self, slot: int, day: int) -> list[AdLife]:
        lives = self._slots[slot]
        if lives and lives[-1].end >= day:
            return lives
        with self._lock:
            acct = self.account
            while not lives or lives[-1].end < day:
                gen = len(lives)
                r = rng(self.seed, "ad", acct.index, slot, gen)
                # the first ad of a slot starts within 60 days of the account; later ones follow
                start = acct.start + r.randrange(0, 60) if gen == 0 else lives[-1].end + 1 + r.randrange(0, 4)
                life = r.randint(20, 150)
                end = start + life - 1
                pauses = []
                for _ in range(r.choice((0, 0, 1, 1, 2))):
                    a = start + r.randrange(3, max(4, life - 8))
                    pauses.append((a, min(end - 1, a + r.randint(1, 6))))
                x, final = r.random(), "ARCHIVED"
                for status, weight in FINAL_STATUSES:
                    if x < weight:
                        final = status
                        break
                    x -= weight
                n_adsets = len(acct.adsets)
                adset = (slot + gen) % n_adsets
                name = f"{AD_THEMES[(slot + 3 * gen) % len(AD_THEMES)]} {slot + 1}.{gen + 1}"
                budget = int(acct.budget_cents * math.exp(r.gauss(0.0, 0.45)))
                ad_id = str(acct.ad_id_base + slot * 10_000 + gen)
                lives.append(AdLife(ad_id, slot, gen, adset, name, start, end, tuple(sorted(pauses)), final,
                                    max(300, budget)))  # fmt: skip
        return lives

    def lives_on(self, day: int) -> list[AdLife]:
        """The ad of each slot whose lifetime covers `day` (delivering or paused)."""
        out = []
        for slot in range(self.account.slots):
            lives = self._extend(slot, day)
            lo, hi = 0, len(lives) - 1
            while lo < hi:  # first life with end >= day
                mid = (lo + hi) // 2
                if lives[mid].end >= day:
                    hi = mid
                else:
                    lo = mid + 1
            life = lives[lo]
            if life.start <= day <= life.end:
                out.append(life)
        return out


def generate_ad_days(account: AccountSpec, timeline: AdTimeline, seed: int, day: int) -> tuple[AdDay, ...]:
    """Final delivery of every ad of the account that delivers on a local date (sorted by ad id)."""
    if day < account.start:
        return ()
    start, end = local_day_bounds(account.timezone, day)
    span = end - start
    out = []
    for life in timeline.lives_on(day):
        if not life.delivers_on(day):
            continue
        r = rng(seed, "adday", account.index, life.ad_id, day)
        spend = max(50, int(life.budget_cents * min(1.6, max(0.4, r.gauss(1.0, 0.18)))))
        cpm = account.cpm_cents * math.exp(r.gauss(0.0, 0.2))
        impressions = max(1, int(spend * 1000 / cpm))
        clicks = int(impressions * account.ctr_bp / 10_000 * math.exp(r.gauss(0.0, 0.25)))
        reach = max(1, int(impressions / (1.05 + 0.5 * r.random())))
        link_clicks = int(clicks * (0.7 + 0.25 * r.random()))
        lpv = int(link_clicks * (0.55 + 0.3 * r.random()))
        expected = clicks * account.cvr_bp / 10_000
        purchases = _poisson(r, expected)
        conversions = []
        for _ in range(purchases):
            click_at = start + r.random() * span
            lag = CONVERSION_WINDOW_S * r.random() ** 3
            arrival = min(int(click_at + lag), end + CONVERSION_WINDOW_S)
            value = max(500, int(account.aov_cents * math.exp(r.gauss(0.0, 0.35))))
            conversions.append((arrival, value, r.random() < 0.85))
        conversions.sort()
        atc = purchases * 2 + _poisson(r, expected * 1.5)
        atc_value = atc * account.aov_cents * 9 // 10
        has_omni = r.random() >= 0.12
        out.append(AdDay(life, day, spend, impressions, clicks, reach, link_clicks, lpv, atc, atc_value,
                         tuple(conversions), has_omni))  # fmt: skip
    out.sort(key=lambda a: int(a.ad.ad_id))
    return tuple(out)


def ad_day_as_of(ad_day: AdDay, timezone: str, now: float) -> AdDayView | None:
    """The row as of `now`: None for a future day or no impressions yet; today is pro rata."""
    start, end = local_day_bounds(timezone, ad_day.day)
    if now <= start:
        return None
    if now >= end:
        num, den = 1, 1
    else:
        num, den = int(now - start), end - start
    impressions = ad_day.impressions * num // den
    if impressions <= 0:
        return None
    purchases = purchase_cents = pixel = pixel_cents = 0
    view = [0, 0, 0, 0]
    click = [0, 0, 0, 0]
    next_day_end = end + DAY_S
    for arrival, value, seen in ad_day.conversions:
        if arrival > now:
            break
        purchases += 1
        purchase_cents += value
        if seen:
            pixel += 1
            pixel_cents += value
        if arrival <= next_day_end:
            split = view if _is_view(arrival, value) else click
            split[0] += 1
            split[1] += value
            if seen:
                split[2] += 1
                split[3] += value
    return AdDayView(
        ad_day.ad, ad_day.day, ad_day.spend_cents * num // den, impressions, ad_day.clicks * num // den,
        max(1, ad_day.reach * num // den), ad_day.link_clicks * num // den,
        ad_day.landing_page_views * num // den, ad_day.add_to_cart * num // den,
        ad_day.add_to_cart_cents * num // den, purchases, purchase_cents, pixel, pixel_cents, ad_day.has_omni,
        (view[0], view[1], view[2], view[3]), (click[0], click[1], click[2], click[3]),
    )  # fmt: skip


def _poisson(r: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(r.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= r.random()
        if p <= limit:
            return k
        k += 1
