"""Small SQL building blocks that must behave the same on Postgres and SQLite."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

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


def one_of(column: Any, values: Sequence[Any], dialect: str) -> sa.ColumnElement[bool]:
    """`column IN values`. On Postgres one array parameter (`= ANY(:values)`): one placeholder
    instead of one per value, so the statement is the same text whatever the count (SQLAlchemy's
    and psycopg's caches hit, the server parses one parameter). Elsewhere an IN list."""
    if dialect == "postgresql":
        return column == sa.any_(sa.literal(list(values), postgresql.ARRAY(column.type)))
    return column.in_(list(values))


def chunked(values: Sequence[Any], dialect: str, size: int = 500) -> Iterator[Sequence[Any]]:
    """`values` in pieces an IN list can hold (SQLite's parameter limit); Postgres takes the
    whole list at once as one array parameter."""
    if dialect == "postgresql":
        size = max(len(values), 1)
    for start in range(0, len(values), size):
        yield values[start : start + size]
