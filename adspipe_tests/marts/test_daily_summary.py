"""daily_summary: Shopify and Meta side by side, ratios exact, mismatches NULL, stale rows removed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.marts.daily_summary import rebuild_daily_summary
from adspipe.warehouse import connections as conns
from adspipe.warehouse import schema
from adspipe.warehouse.upsert import upsert_rows

D1, D2 = date(2026, 3, 1), date(2026, 3, 2)


def _setup(engine: Engine, monkeypatch: pytest.MonkeyPatch, *, acct_currency: str, acct_tz: str) -> int:
    monkeypatch.setenv("T", "token-value")
    with engine.begin() as conn:
        shop, _ = conns.connect(
            conn, store="S", platform="shopify", account_id="s.myshopify.com", token_env="T"
        )
        acct, _ = conns.connect(conn, store="S", platform="meta", account_id="act_1", token_env="T")
        conns.set_account_info(conn, shop.connection_id, timezone="America/New_York", currency="USD")
        conns.set_account_info(conn, acct.connection_id, timezone=acct_tz, currency=acct_currency)
        upsert_rows(conn, schema.daily_shopify_metrics, [
            {"store_id": shop.store_id, "date": D1, "shop_domain": "s.myshopify.com", "currency": "USD",
             "timezone": "America/New_York", "orders": 3, "gross_revenue": Decimal("100.00"),
             "refunds": Decimal("10.01"), "net_revenue": Decimal("89.99"), "aov": Decimal("33.33"),
             "new_customers": 2, "returning_customers": 1},
        ])  # fmt: skip
        upsert_rows(conn, schema.daily_ad_metrics, [
            {"store_id": shop.store_id, "platform": "meta", "ad_account_id": "act_1", "date": d, "currency": acct_currency,
             "timezone": acct_tz, "ads": 2, "spend": Decimal("30.00"), "impressions": 1000, "clicks": 10,
             "purchases": 4, "purchase_value": Decimal("120.50"), "account_spend": Decimal("31.00"),
             "spend_gap": Decimal("1.00"), "roas": None}
            for d in (D1, D2)
        ])  # fmt: skip
    return shop.store_id


def _summary(engine: Engine) -> dict[date, dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(schema.daily_summary).order_by(schema.daily_summary.c.date)).all()
    return {r.date: dict(r._mapping) for r in rows}


def test_summary_joins_both_sides_with_exact_ratios(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    store_id = _setup(engine, monkeypatch, acct_currency="USD", acct_tz="America/New_York")
    with engine.begin() as conn:
        rebuild_daily_summary(conn, [store_id], [D1, D2])
    got = _summary(engine)
    assert set(got) == {D1, D2}
    d1 = got[D1]
    assert (d1["orders"], d1["gross_revenue"], d1["refunds"], d1["net_revenue"]) == (
        3, Decimal("100.00"), Decimal("10.01"), Decimal("89.99"),
    )  # fmt: skip
    assert (d1["spend"], d1["impressions"], d1["clicks"], d1["purchases"]) == (Decimal("30.00"), 1000, 10, 4)
    assert d1["roas"] == Decimal("4.0167")  # 120.50 / 30 = 4.01666… → 4.0167
    # MER over the account-level spend (every ad), not the status-filtered ad-level 30.00:
    assert d1["mer"] == Decimal("2.9029")  # 89.99 / 31.00 = 2.90290… → 2.9029
    assert d1["currency_mismatch"] is False and d1["timezone_mismatch"] is False
    # A date with spend but no orders: zeros on the Shopify side, MER 0.
    d2 = got[D2]
    assert d2["orders"] == 0 and d2["net_revenue"] == Decimal("0") and d2["spend"] == Decimal("30.00")
    assert d2["roas"] == Decimal("4.0167")


def test_mer_falls_back_to_ad_level_spend_without_an_account_level_row(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_id = _setup(engine, monkeypatch, acct_currency="USD", acct_tz="America/New_York")
    with engine.begin() as conn:
        conn.execute(
            sa.update(schema.daily_ad_metrics)
            .where(schema.daily_ad_metrics.c.date == D1)
            .values(account_spend=None, spend_gap=None)
        )
        rebuild_daily_summary(conn, [store_id], [D1])
    assert _summary(engine)[D1]["mer"] == Decimal("2.9997")  # 89.99 / 30.00


@pytest.mark.parametrize(("currency", "tz"), [("EUR", "America/New_York"), ("USD", "Europe/Berlin")])
def test_mismatch_sets_flag_and_null_mer(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, currency: str, tz: str
) -> None:
    store_id = _setup(engine, monkeypatch, acct_currency=currency, acct_tz=tz)
    with engine.begin() as conn:
        rebuild_daily_summary(conn, [store_id], [D1])
    d1 = _summary(engine)[D1]
    assert d1["mer"] is None
    assert d1["currency_mismatch"] is (currency != "USD")
    assert d1["timezone_mismatch"] is (tz != "America/New_York")
    assert d1["roas"] == Decimal("4.0167")  # one account, one currency: ROAS is still meaningful


def test_rebuild_is_idempotent_and_drops_vanished_dates(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_id = _setup(engine, monkeypatch, acct_currency="USD", acct_tz="America/New_York")
    with engine.begin() as conn:
        rebuild_daily_summary(conn, [store_id], [D1, D2])
    first = _summary(engine)
    with engine.begin() as conn:
        rebuild_daily_summary(conn, [store_id], [D1, D2])
    assert _summary(engine) == first
    with engine.begin() as conn:
        conn.execute(sa.delete(schema.daily_ad_metrics).where(schema.daily_ad_metrics.c.date == D2))
        rebuild_daily_summary(conn, [store_id], [D2])
    assert set(_summary(engine)) == {D1}
