"""`daily_summary`: per store and local date, the shop and every ad platform side by side, with
ROAS and MER; `daily_summary_platform`: each ad platform's share (spend, purchases, ROAS).

Spend, purchases and ROAS add every ad platform's accounts (`daily_ad_metrics`); ROAS divides the
ad-level purchase value by the ad-level spend (the same ads); MER divides the shop's net revenue by
the account-level spend, which counts every ad, of every platform (docs/metrics.md).

Rebuilt set-based for the (store, date) pairs a job touched: one upsert from a SELECT over the
store mart and `daily_ad_metrics`, the per-platform rows replaced, then a delete of pairs that no
longer have any source rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adspipe.platform import registry
from adspipe.warehouse.schema import (
    connections,
    daily_ad_metrics,
    daily_shopify_metrics,
    daily_summary,
    daily_summary_platform,
)
from adspipe.warehouse.sql import money_ratio
from adspipe.warehouse.upsert import upsert_from_select


def _mismatch_flags() -> sa.Subquery:
    """Per store: does any live ad account, of any ad platform, differ from the shop in currency /
    time zone?"""
    shop = connections.alias("shop")
    acct = connections.alias("acct")

    def flag(column: str) -> sa.ColumnElement[Any]:
        differs = sa.and_(
            acct.c[column].is_not(None), shop.c[column].is_not(None), acct.c[column] != shop.c[column]
        )
        return sa.func.max(sa.case((differs, 1), else_=0))

    return (
        sa.select(
            shop.c.store_id,
            flag("currency").label("currency_mismatch"),
            flag("timezone").label("timezone_mismatch"),
        )
        .select_from(
            shop.join(
                acct,
                sa.and_(
                    acct.c.store_id == shop.c.store_id,
                    # every platform that is not a store's is an ad platform
                    acct.c.platform.not_in([spec.name for spec in registry.of_kind("store")]),
                    acct.c.status != "disconnected",
                ),
            )
        )
        .where(
            shop.c.platform.in_([spec.name for spec in registry.of_kind("store")]),
            shop.c.status != "disconnected",
        )
        .group_by(shop.c.store_id)
        .subquery("flags")
    )


def rebuild_daily_summary(conn: Connection, store_ids: Iterable[int], dates: Iterable[date]) -> int:
    """Recompute `daily_summary` for every (store, date) in store_ids × dates; returns rows written."""
    stores_ = sorted(set(store_ids))
    dates_ = sorted(set(dates))
    if not stores_ or not dates_:
        return 0
    dialect = conn.dialect.name
    dsm, dmm = daily_shopify_metrics, daily_ad_metrics

    keys = sa.union(
        sa.select(dsm.c.store_id, dsm.c.date).where(dsm.c.store_id.in_(stores_), dsm.c.date.in_(dates_)),
        sa.select(dmm.c.store_id, dmm.c.date).where(dmm.c.store_id.in_(stores_), dmm.c.date.in_(dates_)),
    ).subquery("keys")
    meta = (
        sa.select(
            dmm.c.store_id,
            dmm.c.date,
            sa.func.sum(dmm.c.spend).label("spend"),
            sa.func.sum(dmm.c.impressions).label("impressions"),
            sa.func.sum(dmm.c.clicks).label("clicks"),
            sa.func.sum(dmm.c.purchases).label("purchases"),
            sa.func.sum(dmm.c.purchase_value).label("purchase_value"),
            # MER's denominator: the account-level spend (every ad, whatever the ad-level status
            # filter kept); a day without the account-level row falls back to its ad-level spend.
            sa.func.sum(sa.func.coalesce(dmm.c.account_spend, dmm.c.spend)).label("account_spend"),
            sa.func.count(sa.distinct(dmm.c.currency)).label("currencies"),
        )
        .where(dmm.c.store_id.in_(stores_), dmm.c.date.in_(dates_))
        .group_by(dmm.c.store_id, dmm.c.date)
        .subquery("meta")
    )
    flags = _mismatch_flags()
    zero = sa.literal(0)
    spend = sa.func.coalesce(meta.c.spend, zero)
    net = sa.func.coalesce(dsm.c.net_revenue, zero)
    currency_mm = sa.func.coalesce(flags.c.currency_mismatch, zero) == 1
    timezone_mm = sa.func.coalesce(flags.c.timezone_mismatch, zero) == 1
    roas = sa.case(
        (meta.c.currencies > 1, sa.null()),
        else_=money_ratio(dialect, meta.c.purchase_value, meta.c.spend),
    )
    mer = sa.case(
        (sa.or_(currency_mm, timezone_mm), sa.null()),
        else_=money_ratio(dialect, dsm.c.net_revenue, meta.c.account_spend),
    )
    select = sa.select(
        keys.c.store_id,
        keys.c.date,
        dsm.c.currency,
        sa.func.coalesce(dsm.c.orders, zero),
        sa.func.coalesce(dsm.c.gross_revenue, zero),
        sa.func.coalesce(dsm.c.refunds, zero),
        net,
        dsm.c.aov,
        spend,
        sa.func.coalesce(meta.c.impressions, zero),
        sa.func.coalesce(meta.c.clicks, zero),
        sa.func.coalesce(meta.c.purchases, zero),
        sa.func.coalesce(meta.c.purchase_value, zero),
        roas,
        mer,
        currency_mm,
        timezone_mm,
    ).select_from(
        keys.outerjoin(dsm, sa.and_(dsm.c.store_id == keys.c.store_id, dsm.c.date == keys.c.date))
        .outerjoin(meta, sa.and_(meta.c.store_id == keys.c.store_id, meta.c.date == keys.c.date))
        .outerjoin(flags, flags.c.store_id == keys.c.store_id)
    )
    columns = [
        "store_id", "date", "currency", "orders", "gross_revenue", "refunds", "net_revenue", "aov",
        "spend", "impressions", "clicks", "purchases", "purchase_value", "roas", "mer",
        "currency_mismatch", "timezone_mismatch",
    ]  # fmt: skip
    written = upsert_from_select(conn, daily_summary, select, columns)
    _rebuild_platform_shares(conn, stores_, dates_)
    # Pairs whose sources are gone (e.g. a day whose only orders were deleted) must not linger.
    conn.execute(
        sa.delete(daily_summary).where(
            daily_summary.c.store_id.in_(stores_),
            daily_summary.c.date.in_(dates_),
            ~sa.exists().where(
                dsm.c.store_id == daily_summary.c.store_id, dsm.c.date == daily_summary.c.date
            ),
            ~sa.exists().where(
                dmm.c.store_id == daily_summary.c.store_id, dmm.c.date == daily_summary.c.date
            ),
        )
    )
    return written


def _rebuild_platform_shares(conn: Connection, stores_: list[int], dates_: list[date]) -> None:
    """Each ad platform's spend, purchases, purchase value and ROAS per store and date (NULL ROAS
    when its accounts mix currencies): rows, so a new ad platform needs no new column."""
    dam, dsp = daily_ad_metrics, daily_summary_platform
    conn.execute(sa.delete(dsp).where(dsp.c.store_id.in_(stores_), dsp.c.date.in_(dates_)))
    spend, value = sa.func.sum(dam.c.spend), sa.func.sum(dam.c.purchase_value)
    shares = (
        sa.select(
            dam.c.store_id,
            dam.c.date,
            dam.c.platform,
            sa.func.count().label("accounts"),
            spend.label("spend"),
            sa.func.sum(dam.c.purchases).label("purchases"),
            value.label("purchase_value"),
            sa.case(
                (sa.func.count(sa.distinct(dam.c.currency)) > 1, sa.null()),
                else_=money_ratio(conn.dialect.name, value, spend),
            ).label("roas"),
        )
        .where(dam.c.store_id.in_(stores_), dam.c.date.in_(dates_))
        .group_by(dam.c.store_id, dam.c.date, dam.c.platform)
    )
    columns = ["store_id", "date", "platform", "accounts", "spend", "purchases", "purchase_value", "roas"]
    conn.execute(sa.insert(dsp).from_select(columns, shares))
