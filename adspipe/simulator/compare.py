"""Compare the warehouse with the simulator's ground truth (the demo, the end-to-end and fault
suites): the same questions a data engineer asks of a sync — is every number right, per store,
account and date?

Each function returns the number of rows compared and a list of human-readable differences;
an empty list means the warehouse equals the truth.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.simulator.truth import Truth
from adspipe.warehouse.schema import (
    daily_meta_metrics,
    daily_shopify_metrics,
    daily_summary,
    fact_meta_daily,
    fact_orders,
    stores,
)

SUMMARY_FIELDS = ("orders", "gross_revenue", "refunds", "net_revenue", "spend", "impressions", "clicks",
                  "purchases", "purchase_value", "roas", "mer", "currency_mismatch", "timezone_mismatch")  # fmt: skip


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return bool(a == b)
    if isinstance(a, Decimal | int | float) and isinstance(b, Decimal | int | float):
        return Decimal(str(a)) == Decimal(str(b))
    return bool(a == b)


def summary_rows(db: sa.Connection, store_name: str, since: date, until: date) -> dict[date, Any]:
    """A store's daily_summary rows for since..until, by date."""
    return {
        r.date: r
        for r in db.execute(
            sa.select(daily_summary)
            .join(stores, stores.c.store_id == daily_summary.c.store_id)
            .where(stores.c.name == store_name, daily_summary.c.date.between(since, until))
        )
    }


def summary_differences(
    engine: Engine,
    truth: Truth,
    store_names: Iterable[str],
    since: date,
    until: date,
    *,
    at: datetime | None = None,
    fields: Iterable[str] = SUMMARY_FIELDS,
) -> tuple[int, list[str]]:
    """daily_summary vs the truth for each store and date since..until (a missing row differs);
    `fields`: the columns compared (the demo compares the ad figures over every platform apart)."""
    diffs: list[str] = []
    compared = 0
    with engine.connect() as db:
        for name in store_names:
            rows = summary_rows(db, name, since, until)
            for want in truth.store_daily(name, since, until, at=at):
                compared += 1
                got = rows.get(want.date)
                if got is None:
                    diffs.append(f"{name} {want.date}: no daily_summary row")
                    continue
                for field in fields:
                    if not _same(getattr(got, field), getattr(want, field)):
                        diffs.append(
                            f"{name} {want.date} {field}: warehouse {getattr(got, field)} != truth {getattr(want, field)}"
                        )
    return compared, diffs


def orders_differences(
    engine: Engine, truth: Truth, shop_domain: str, since: date, until: date, *, at: datetime | None = None
) -> tuple[int, list[str]]:
    """fact_orders vs the truth, order by order: nothing missing, nothing extra, amounts equal."""
    want = {o.order_id: o for o in truth.orders(shop_domain, since, until, at=at)}
    with engine.connect() as db:
        got = {
            int(r.order_id): r
            for r in db.execute(
                sa.select(fact_orders).where(
                    fact_orders.c.shop_domain == shop_domain, fact_orders.c.order_date.between(since, until)
                )
            )
        }
    diffs = [f"{shop_domain}: order {i} missing" for i in sorted(want.keys() - got.keys())]
    diffs += [f"{shop_domain}: order {i} not in the truth" for i in sorted(got.keys() - want.keys())]
    for order_id in sorted(want.keys() & got.keys()):
        w, g = want[order_id], got[order_id]
        for ours, theirs in (
            ("total_price", "total"),
            ("net_revenue", "net_revenue"),
            ("order_date", "local_date"),
        ):
            if not _same(getattr(g, ours), getattr(w, theirs)):
                diffs.append(
                    f"{shop_domain}: order {order_id} {ours}: {getattr(g, ours)} != {getattr(w, theirs)}"
                )
    return len(want), diffs


SHOPIFY_METRIC_FIELDS = ("orders", "gross_revenue", "refunds", "net_revenue", "aov", "currency")


def shopify_metrics_differences(
    engine: Engine, truth: Truth, shop_domain: str, since: date, until: date, *, at: datetime | None = None
) -> tuple[int, list[str]]:
    """daily_shopify_metrics vs the truth per local date since..until, to the cent (a missing row
    differs unless the truth has no orders that day)."""
    diffs: list[str] = []
    with engine.connect() as db:
        rows = {
            r.date: r
            for r in db.execute(
                sa.select(daily_shopify_metrics).where(
                    daily_shopify_metrics.c.shop_domain == shop_domain,
                    daily_shopify_metrics.c.date.between(since, until),
                )
            )
        }
    wanted = truth.shopify_daily(shop_domain, since, until, at=at)
    for want in wanted:
        got = rows.get(want.date)
        if got is None:
            if want.orders:
                diffs.append(f"{shop_domain} {want.date}: no daily_shopify_metrics row")
            continue
        for field in SHOPIFY_METRIC_FIELDS:
            if not _same(getattr(got, field), getattr(want, field)):
                diffs.append(
                    f"{shop_domain} {want.date} {field}: warehouse {getattr(got, field)} != truth {getattr(want, field)}"
                )
    return len(wanted), diffs


def meta_differences(
    engine: Engine, truth: Truth, account_id: str, since: date, until: date, *, at: datetime | None = None,
    statuses: tuple[str, ...] | None = None, windows: tuple[str, ...] | None = None,
) -> tuple[int, list[str]]:  # fmt: skip
    """fact_meta_daily per ad and daily_meta_metrics per date vs the truth for one ad account
    (`statuses` / `windows`: the connection's filter and attribution windows; None: defaults)."""
    diffs: list[str] = []
    compared = 0
    with engine.connect() as db:
        for day in truth.meta_daily(account_id, since, until, at=at, statuses=statuses, windows=windows):
            compared += 1
            ads = {
                r.ad_id: r
                for r in db.execute(
                    sa.select(fact_meta_daily).where(
                        fact_meta_daily.c.ad_account_id == account_id, fact_meta_daily.c.date == day.date
                    )
                )
            }
            want_ads = {
                a.ad_id: a for a in truth.ads(account_id, day.date, at=at, statuses=statuses, windows=windows)
            }
            if ads.keys() != want_ads.keys():
                diffs.append(f"{account_id} {day.date}: ads {sorted(ads)} != truth {sorted(want_ads)}")
            for ad_id in ads.keys() & want_ads.keys():
                for field in ("spend", "impressions", "clicks", "purchases", "purchase_value"):
                    if not _same(getattr(ads[ad_id], field), getattr(want_ads[ad_id], field)):
                        diffs.append(f"{account_id} {day.date} ad {ad_id} {field}: "
                                     f"{getattr(ads[ad_id], field)} != {getattr(want_ads[ad_id], field)}")  # fmt: skip
            metrics = db.execute(
                sa.select(daily_meta_metrics).where(
                    daily_meta_metrics.c.ad_account_id == account_id, daily_meta_metrics.c.date == day.date
                )
            ).first()
            if metrics is None:
                if day.impressions or day.account_spend:
                    diffs.append(f"{account_id} {day.date}: no daily_meta_metrics row")
                continue
            for field in ("spend", "purchases", "purchase_value", "account_spend", "spend_gap"):
                if not _same(getattr(metrics, field), getattr(day, field)):
                    diffs.append(
                        f"{account_id} {day.date} {field}: {getattr(metrics, field)} != {getattr(day, field)}"
                    )
    return compared, diffs
