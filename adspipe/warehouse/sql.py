"""Small SQL building blocks that must behave the same on Postgres and SQLite."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from adspipe.warehouse.types import MONEY_SCALE, Money


def money_ratio(
    dialect: str,
    numerator: Any,
    denominator: Any,
    *,
    decimals: int = 4,
    numerator_is_money: bool = True,
    denominator_is_money: bool = True,
) -> sa.ColumnElement[Any]:
    """`numerator / denominator` rounded to `decimals` (half away from zero), NULL when the
    denominator is 0 or NULL, typed as Money.

    On SQLite a Money column holds units of 1/10,000, so the raw values are rescaled around the
    division and the result is written back in those units.
    """
    if dialect != "sqlite":
        return sa.type_coerce(
            sa.func.round(sa.cast(numerator, sa.Numeric) / sa.func.nullif(denominator, 0), decimals), Money()
        )
    factor = 10**MONEY_SCALE
    num = sa.cast(numerator, sa.Float) / (factor if numerator_is_money else 1)
    den = sa.cast(sa.func.nullif(denominator, 0), sa.Float) / (factor if denominator_is_money else 1)
    # Round twice: to the wanted decimals, then to an integer count of units (avoids 12.35*10^4
    # landing on 123499.999…).
    scaled = sa.func.round(sa.func.round(num / den, decimals) * factor)
    return sa.type_coerce(sa.cast(scaled, sa.BigInteger), Money())
