"""daily_summary partition metadata: MER per currency only over stores whose own MER is defined."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.marts.metadata import read_day
from adspipe.warehouse.schema import daily_ad_metrics, daily_summary, stores

DAY = date(2026, 11, 28)


def _summary(
    store_id: int, currency: str, net: str, spend: str, mer: str | None, **flags: bool
) -> dict[str, Any]:
    return dict(
        store_id=store_id, date=DAY, currency=currency, orders=10, gross_revenue=Decimal(net), refunds=Decimal(0),
        net_revenue=Decimal(net), aov=None, spend=Decimal(spend), impressions=0, clicks=0, purchases=0,
        purchase_value=Decimal(0), roas=None, mer=None if mer is None else Decimal(mer),
        currency_mismatch=flags.get("ccy", False), timezone_mismatch=flags.get("tz", False),
    )  # fmt: skip


def _ads(store_id: int, account: str, currency: str, spend: str, account_spend: str) -> dict[str, Any]:
    return dict(
        store_id=store_id, ad_account_id=account, date=DAY, currency=currency, timezone="UTC", ads=1,
        spend=Decimal(spend), impressions=0, clicks=0, purchases=0, purchase_value=Decimal(0),
        account_spend=Decimal(account_spend), spend_gap=Decimal(0), roas=None,
    )  # fmt: skip


def test_mer_per_currency_leaves_out_a_store_whose_ad_account_is_in_another_currency(engine: Engine) -> None:
    now = datetime(2026, 11, 29, tzinfo=UTC)
    with engine.begin() as db:
        db.execute(sa.insert(stores), [{"store_id": i, "name": n, "created_at": now}
                                        for i, n in ((1, "Pioneer"), (2, "Lumen"), (3, "Tide"))])  # fmt: skip
        db.execute(sa.insert(daily_summary), [
            _summary(1, "USD", "7039.05", "1022.42", "6.8848"),           # USD shop, USD ads: MER defined
            _summary(2, "NZD", "4505.62", "656.69", None, ccy=True),      # NZD shop, USD ads: no MER
            _summary(3, "USD", "1000.00", "100.00", None, tz=True),       # USD, other time zone: no MER
        ])  # fmt: skip
        # Meta's rows of daily_ad_metrics (daily_meta_metrics is a view since migration 0004).
        db.execute(sa.insert(daily_ad_metrics), [
            {**_ads(1, "act_1", "USD", "1022.42", "1022.42"), "platform": "meta"},
            {**_ads(2, "act_2", "USD", "656.69", "656.69"), "platform": "meta"},
            {**_ads(3, "act_3", "USD", "100.00", "120.00"), "platform": "meta"},
        ])  # fmt: skip
    with engine.connect() as db:
        meta = read_day(db, DAY).metadata()
    # Spend is the ad accounts' currency: all three USD accounts.
    assert meta["spend_USD"] == 1779.11
    # MER over Pioneer alone: Lumen's USD spend earns NZD revenue, Tide's day is another zone's.
    assert meta["mer_USD"] == round(7039.05 / 1022.42, 4) == 6.8847
    assert "mer_NZD" not in meta
