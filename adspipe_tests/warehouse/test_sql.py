"""warehouse/sql.py: the ratios every mart rounds the same way on both dialects."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.warehouse.sql import money_ratio
from adspipe.warehouse.types import Money


@pytest.mark.parametrize(
    ("numerator", "denominator", "decimals", "expected"),
    [
        # AOV: 2,275.95 over 30 orders is 75.865, a tie: half up (away from zero), as metrics.md says.
        (Decimal("2275.95"), 30, 2, Decimal("75.87")),
        (Decimal("2275.65"), 30, 2, Decimal("75.86")),  # 75.855: also up
        (Decimal("1.2345"), 1, 3, Decimal("1.235")),
        (Decimal("10.00"), 3, 4, Decimal("3.3333")),
        (Decimal("10.00"), 0, 2, None),  # no denominator: NULL, never a division error
    ],
)
def test_money_ratio_rounds_half_up_on_both_dialects(
    engine: Engine, numerator: Decimal, denominator: int, decimals: int, expected: Decimal | None
) -> None:
    num = sa.literal(numerator, Money())
    with engine.connect() as conn:
        got = conn.execute(
            sa.select(
                money_ratio(
                    engine.dialect.name,
                    num,
                    sa.literal(denominator),
                    decimals=decimals,
                    denominator_is_money=False,
                )
            )  # fmt: skip
        ).scalar_one()
    assert got == expected
