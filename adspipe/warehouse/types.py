"""Column types that behave the same on Postgres and SQLite.

SQLite has no exact decimal type: a NUMERIC column there silently becomes a float. Money is
therefore stored on SQLite as an integer count of 1/10,000 units (so SUM stays exact), and as
NUMERIC(18,4) on Postgres. Python always sees `Decimal`. Timestamps are stored as UTC and always
come back timezone-aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

MONEY_SCALE = 4
_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)
_FACTOR = 10**MONEY_SCALE


class Money(TypeDecorator[Decimal]):
    """An exact amount with up to 4 decimals; more decimals are refused, never rounded away."""

    impl = sa.Numeric(18, MONEY_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.BigInteger())
        return dialect.type_descriptor(sa.Numeric(18, MONEY_SCALE, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
        exact = amount.quantize(_QUANTUM)
        if exact != amount:
            raise ValueError(f"amount {amount} has more than {MONEY_SCALE} decimals")
        if dialect.name == "sqlite":
            return int(exact * _FACTOR)
        return exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            # Set-based SQL may hand back a float for a ratio; integers are the exact path.
            if isinstance(value, float):
                return (Decimal(repr(value)) / _FACTOR).quantize(_QUANTUM)
            return (Decimal(int(value)) / _FACTOR).quantize(_QUANTUM)
        return Decimal(value).quantize(_QUANTUM)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both dialects (SQLite would otherwise return naive values)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware (UTC) datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSON payloads: JSONB on Postgres, JSON text on SQLite.
Payload = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

# Cursor values are normalised text compared byte-wise: "C" collation on Postgres, where a
# locale collation could ignore punctuation and misorder ISO timestamps; SQLite is binary already.
CursorText = sa.String(64).with_variant(sa.String(64, collation="C"), "postgresql")
