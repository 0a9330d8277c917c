"""What every ad platform's mart writer shares: one account's facts summed per date, the shape of
its rows of `daily_ad_metrics` (store, platform, ad account, date)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa


def fact_day_sums(
    fact: sa.Table, account_column: str, account_id: str | sa.BindParameter[Any],
    dates: Sequence[date] | sa.BindParameter[Any], *,
    purchases: str = "purchases", purchase_value: str = "purchase_value",
) -> sa.Select[tuple[object, ...]]:  # fmt: skip
    """One row per date of the account's facts: `ads` (rows), `spend`, `impressions`, `clicks`,
    `purchases` and `purchase_value` (the platform's own columns for those two). `account_id` and
    `dates` may be parameters (an expanding one for the dates) of a statement built once."""
    f = fact
    return (
        sa.select(
            f.c.date,
            sa.func.count().label("ads"),
            sa.func.sum(f.c.spend).label("spend"),
            sa.func.sum(f.c.impressions).label("impressions"),
            sa.func.sum(f.c.clicks).label("clicks"),
            sa.func.sum(f.c[purchases]).label("purchases"),
            sa.func.sum(f.c[purchase_value]).label("purchase_value"),
        )
        .where(
            f.c[account_column] == account_id,
            f.c.date.in_(dates if isinstance(dates, sa.BindParameter) else list(dates)),
        )
        .group_by(f.c.date)
    )
