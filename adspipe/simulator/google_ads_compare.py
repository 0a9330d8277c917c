"""Compare the warehouse's Google Ads rows, and daily_summary's spend and MER over every ad
platform, with the simulator's truth (like `compare.meta_differences`; the demo and the
acceptance test use it). Each function returns (rows compared, differences)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.google_ads.tables import fact_google_ads_daily
from adspipe.simulator.compare import summary_rows
from adspipe.simulator.google_ads_world import GadsRow, GadsWorld
from adspipe.simulator.truth import Truth
from adspipe.warehouse.schema import daily_ad_metrics

_MICROS = Decimal(1_000_000)


def _days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=i) for i in range((until - since).days + 1)]


def google_truth(world: GadsWorld, customer_id: str, day: date, at: datetime) -> dict[str, GadsRow]:
    return world.truth(customer_id, day, at.timestamp())


def google_ads_differences(
    engine: Engine, world: GadsWorld, customer_id: str, since: date, until: date, *, at: datetime
) -> tuple[int, list[str]]:
    """fact_google_ads_daily per ad and the customer's daily_ad_metrics row per date vs the truth:
    spend to the cent, conversions exactly (fractional), conversions value, clicks, impressions."""
    diffs: list[str] = []
    compared = 0
    f, dam = fact_google_ads_daily, daily_ad_metrics
    with engine.connect() as db:
        for day in _days(since, until):
            compared += 1
            want = google_truth(world, customer_id, day, at)
            got = {
                r.ad_id: r
                for r in db.execute(sa.select(f).where(f.c.customer_id == customer_id, f.c.date == day))
            }
            if got.keys() != want.keys():
                diffs.append(f"{customer_id} {day}: ads {sorted(got)} != truth {sorted(want)}")
            for ad_id in got.keys() & want.keys():
                g, w = got[ad_id], want[ad_id]
                pairs = {
                    "spend": (g.spend, w.spend), "conversions": (Decimal(g.conversions_micros) / _MICROS, w.conversions),
                    "conversions_value": (g.conversions_value, w.conversions_value),
                    "clicks": (g.clicks, w.clicks), "impressions": (g.impressions, w.impressions),
                    "status": (g.status, w.status),
                }  # fmt: skip
                diffs += [
                    f"{customer_id} {day} ad {ad_id} {k}: {a} != {b}" for k, (a, b) in pairs.items() if a != b
                ]
            row = db.execute(
                sa.select(dam).where(
                    dam.c.platform == "google_ads", dam.c.ad_account_id == customer_id, dam.c.date == day
                )
            ).first()
            spend = sum((w.spend for w in want.values()), Decimal(0))
            value = sum((w.conversions_value for w in want.values()), Decimal(0))
            if row is None:
                if want:
                    diffs.append(f"{customer_id} {day}: no daily_ad_metrics row")
                continue
            if (row.spend, row.purchase_value, row.ads) != (spend, value, len(want)):
                diffs.append(
                    f"{customer_id} {day}: daily_ad_metrics spend/value/ads {row.spend}/{row.purchase_value}/"
                    f"{row.ads} != truth {spend}/{value}/{len(want)}"
                )
    return compared, diffs


def _ratio(num: Decimal, den: Decimal) -> Decimal | None:
    return (num / den).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP) if den else None


def summary_spend_differences(
    engine: Engine, truth: Truth, world: GadsWorld, store_names: Iterable[str], since: date, until: date,
    *, at: datetime,
) -> tuple[int, list[str]]:  # fmt: skip
    """daily_summary spend and MER per store-day vs the truth over Meta and Google Ads: spend is
    Meta's ad-level spend plus Google's, MER net revenue / (Meta account-level spend + Google spend)."""
    diffs: list[str] = []
    compared = 0
    by_store = {c.store_index: c for c in world.customers}
    with engine.connect() as db:
        for name in store_names:
            spec = truth.store(name)
            customer = by_store.get(spec.index)
            rows = summary_rows(db, name, since, until)
            metas = [truth.meta_daily(a, since, until, at=at) for a in spec.accounts]
            for i, shop in enumerate(truth.store_daily(name, since, until, at=at)):
                compared += 1
                google = (
                    sum(
                        (r.spend for r in google_truth(world, customer.customer_id, shop.date, at).values()),
                        Decimal(0),
                    )
                    if customer
                    else Decimal(0)
                )
                spend = shop.spend + google
                account_spend = sum((m[i].account_spend for m in metas), Decimal(0)) + google
                mer = (
                    None
                    if shop.currency_mismatch or shop.timezone_mismatch
                    else _ratio(shop.net_revenue, account_spend)
                )
                got = rows.get(shop.date)
                if got is None:
                    diffs.append(f"{name} {shop.date}: no daily_summary row")
                    continue
                if got.spend != spend:
                    diffs.append(f"{name} {shop.date} spend: warehouse {got.spend} != truth {spend}")
                if got.mer != mer:
                    diffs.append(f"{name} {shop.date} mer: warehouse {got.mer} != truth {mer}")
    return compared, diffs
