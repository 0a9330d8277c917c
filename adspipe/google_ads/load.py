"""Warehouse writes for one Google Ads customer and day; the caller runs them in ONE transaction.

A day is replaced, not merged: the ad-level query returns every ad with metrics that day (every
status: a removed ad keeps the spend it had), so the answer is the whole day. Delete-then-insert
inside the day's transaction keeps every reader on either the old day or the new one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection as Db

from adspipe.google_ads.settings import PLATFORM
from adspipe.google_ads.tables import fact_google_ads_daily
from adspipe.google_ads.transforms import AdFact, AdRow
from adspipe.platform.ad_metrics import fact_day_sums
from adspipe.warehouse.schema import daily_ad_metrics
from adspipe.warehouse.sql import money_ratio
from adspipe.warehouse.upsert import insert_new_rows

_MICROS = Decimal(1_000_000)


def conversions_micros(conversions: Decimal) -> int:
    """Conversions (6 decimals) as exact millionths; finer is refused, never rounded."""
    micros = conversions * _MICROS
    if micros != micros.to_integral_value():
        raise ValueError(f"conversions {conversions} have more than 6 decimals")
    return int(micros)


def raw_rows(
    *, customer_id: str, connection_id: int, day: date, rows: Sequence[AdRow], fetched_at: datetime
) -> list[dict[str, Any]]:
    """The `google_ads_raw` rows of one (customer, day): one per ad, the row as the API typed it."""
    out = []
    for row in rows:
        payload = {**asdict(row), "day": row.day.isoformat()}
        out.append({
            "customer_id": customer_id, "ad_id": row.ad_id, "date": day, "connection_id": connection_id,
            "payload": payload, "fetched_at": fetched_at,
        })  # fmt: skip
    return out


def fact_rows(facts: Sequence[AdFact], *, store_id: int, connection_id: int) -> list[dict[str, Any]]:
    return [
        {
            "customer_id": f.customer_id,
            "ad_id": f.ad_id,
            "date": f.day,
            "store_id": store_id,
            "connection_id": connection_id,
            "campaign_id": f.campaign_id,
            "ad_group_id": f.ad_group_id,
            "status": f.status,
            "currency": f.currency,
            "spend": f.spend,
            "impressions": f.impressions,
            "clicks": f.clicks,
            "conversions_micros": conversions_micros(f.conversions),
            "conversions_value": f.conversions_value,
        }  # fmt: skip
        for f in facts
    ]


def replace_day(
    db: Db, table: sa.Table, customer_id: str, day: date, rows: Sequence[Mapping[str, Any]]
) -> int:
    """Make `table`'s (customer, day) rows exactly `rows`."""
    for row in rows:
        if row["date"] != day or row["customer_id"] != customer_id:
            raise ValueError(
                f"{table.name} row for {row['customer_id']} {row['date']} filed under {customer_id} {day}"
            )
    db.execute(sa.delete(table).where(table.c.customer_id == customer_id, table.c.date == day))
    insert_new_rows(db, [(table, rows)])
    return len(rows)


def rebuild_google_ads_metrics(
    db: Db, *, store_id: int, customer_id: str, dates: Sequence[date], timezone: str | None,
    currency: str | None,
) -> int:  # fmt: skip
    """Google Ads' `daily_ad_metrics` rows (platform 'google_ads') for (customer, dates), from facts.

    `purchases` is the day's conversions rounded half even to a whole number (the mart's column is
    an integer; the exact fractional figure is in fact_google_ads_daily); `purchase_value` is the
    conversions value. No account-level cross-check: the query counts every ad of any status, so
    `account_spend` and `spend_gap` stay NULL (daily_summary's MER then uses the ad-level spend).
    """
    dates_ = sorted(set(dates))
    if not dates_:
        return 0
    dam = daily_ad_metrics
    agg = fact_day_sums(
        fact_google_ads_daily, "customer_id", customer_id, dates_,
        purchases="conversions_micros", purchase_value="conversions_value",
    )  # fmt: skip
    rows = list(db.execute(agg))
    # Rounded in Python (exact Decimals), then one upsert over the literal rows.
    values = [
        {
            "store_id": store_id,
            "platform": PLATFORM,
            "ad_account_id": customer_id,
            "date": r.date,
            "currency": currency,
            "timezone": timezone,
            "ads": int(r.ads),
            "spend": r.spend,
            "impressions": int(r.impressions),
            "clicks": int(r.clicks),
            "purchases": int((Decimal(int(r.purchases)) / _MICROS).to_integral_value()),
            "purchase_value": r.purchase_value,
            "account_spend": None,
            "spend_gap": None,
        }  # fmt: skip
        for r in rows
    ]
    db.execute(
        sa.delete(dam).where(
            dam.c.platform == PLATFORM, dam.c.ad_account_id == customer_id, dam.c.date.in_(dates_)
        )
    )
    if values:
        insert_new_rows(db, [(dam, values)])
        # ROAS in SQL, as Meta's rows compute it (the same rounding on both dialects).
        db.execute(
            sa.update(dam)
            .where(dam.c.platform == PLATFORM, dam.c.ad_account_id == customer_id, dam.c.date.in_(dates_))
            .values(roas=money_ratio(db.dialect.name, dam.c.purchase_value, dam.c.spend))
        )
    return len(values)
