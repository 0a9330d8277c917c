"""Ad platforms are rows (migration 0004): daily_ad_metrics per platform and account, daily_summary
over every ad platform, daily_summary_platform per platform; the old table's rows all kept."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.marts.daily_summary import rebuild_daily_summary
from adspipe.warehouse import connections as conns
from adspipe.warehouse import db, schema
from adspipe.warehouse.upsert import upsert_rows

D1, D2 = date(2026, 3, 1), date(2026, 3, 2)


def _ads(
    store_id: int, platform: str, account: str, day: date, currency: str, **figures: Any
) -> dict[str, Any]:
    return {"store_id": store_id, "platform": platform, "ad_account_id": account, "date": day,
            "currency": currency, "timezone": "America/New_York", "ads": 1, "impressions": 100, "clicks": 5,
            "spend_gap": None, "roas": None, **figures}  # fmt: skip


def _store(engine: Engine, monkeypatch: pytest.MonkeyPatch, google_currency: str) -> int:
    monkeypatch.setenv("T", "token-value")
    with engine.begin() as conn:
        shop, _ = conns.connect(
            conn, store="S", platform="shopify", account_id="s.myshopify.com", token_env="T"
        )
        meta, _ = conns.connect(conn, store="S", platform="meta", account_id="act_1", token_env="T")
        google, _ = conns.connect(
            conn, store="S", platform="google_ads", account_id="123-456-7890", token_env="T"
        )
        for c, currency in ((shop, "USD"), (meta, "USD"), (google, google_currency)):
            conns.set_account_info(conn, c.connection_id, timezone="America/New_York", currency=currency)
        upsert_rows(conn, schema.daily_shopify_metrics, [
            {"store_id": shop.store_id, "date": D1, "shop_domain": "s.myshopify.com", "currency": "USD",
             "timezone": "America/New_York", "orders": 3, "gross_revenue": Decimal("100.00"),
             "refunds": Decimal("10.01"), "net_revenue": Decimal("89.99"), "aov": Decimal("33.33"),
             "new_customers": 2, "returning_customers": 1},
        ])  # fmt: skip
        upsert_rows(conn, schema.daily_ad_metrics, [
            _ads(shop.store_id, "meta", "act_1", d, "USD", spend=Decimal("30.00"), purchases=4,
                 purchase_value=Decimal("120.50"), account_spend=Decimal("31.00"))
            for d in (D1, D2)
        ] + [
            # no account-level spend: MER counts its ad-level spend
            _ads(shop.store_id, "google_ads", "123-456-7890", D1, google_currency, spend=Decimal("20.00"),
                 purchases=1, purchase_value=Decimal("50.00"), account_spend=None),
        ])  # fmt: skip
        rebuild_daily_summary(conn, [shop.store_id], [D1, D2])
    return shop.store_id


def _shares(engine: Engine) -> list[tuple[Any, ...]]:
    dsp = schema.daily_summary_platform
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.select(dsp.c.date, dsp.c.platform, dsp.c.accounts, dsp.c.spend, dsp.c.purchases,
                          dsp.c.purchase_value, dsp.c.roas).order_by(dsp.c.date, dsp.c.platform)
            )
        ]  # fmt: skip


def test_every_ad_platform_adds_to_spend_and_mer_and_keeps_its_own_roas(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store(engine, monkeypatch, google_currency="USD")
    with engine.connect() as conn:
        rows = {r.date: r for r in conn.execute(sa.select(schema.daily_summary))}
    d1 = rows[D1]
    assert (d1.spend, d1.impressions, d1.clicks, d1.purchases, d1.purchase_value) == (
        Decimal("50.00"), 200, 10, 5, Decimal("170.50"),
    )  # fmt: skip
    assert d1.roas == Decimal("3.4100")  # blended: 170.50 / 50.00
    assert d1.mer == Decimal(
        "1.7645"
    )  # 89.99 / (31.00 Meta account-level + 20.00 Google ad-level) = 1.76451…
    # D2 has spend and no shop row: no revenue to divide, MER NULL
    assert (rows[D2].spend, rows[D2].roas, rows[D2].mer) == (Decimal("30.00"), Decimal("4.0167"), None)
    assert _shares(engine) == [
        (D1, "google_ads", 1, Decimal("20.00"), 1, Decimal("50.00"), Decimal("2.5000")),
        (D1, "meta", 1, Decimal("30.00"), 4, Decimal("120.50"), Decimal("4.0167")),
        (D2, "meta", 1, Decimal("30.00"), 4, Decimal("120.50"), Decimal("4.0167")),
    ]


def test_an_ad_platform_in_another_currency_flags_the_store_and_keeps_its_own_roas(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store(engine, monkeypatch, google_currency="EUR")
    with engine.connect() as conn:
        d1 = conn.execute(sa.select(schema.daily_summary).where(schema.daily_summary.c.date == D1)).one()
    assert d1.currency_mismatch is True and d1.roas is None and d1.mer is None
    assert [(s[1], s[6]) for s in _shares(engine) if s[0] == D1] == [
        ("google_ads", Decimal("2.5000")), ("meta", Decimal("4.0167")),
    ]  # fmt: skip


def test_migration_0004_moves_every_meta_row_and_keeps_the_old_name_as_a_view(warehouse_url: str) -> None:
    engine = db.get_engine(warehouse_url)
    db.upgrade(engine, "0003")
    old = sa.table("daily_meta_metrics", *(sa.column(c) for c in ("store_id", "ad_account_id", "date", "currency",
                   "timezone", "ads", "spend", "impressions", "clicks", "purchases", "purchase_value",
                   "account_spend", "spend_gap", "roas")))  # fmt: skip
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO stores (store_id, name, created_at) VALUES (7, 'S', '2026-03-01')"))
        conn.execute(sa.insert(old), [
            {"store_id": 7, "ad_account_id": f"act_{n}", "date": D1, "currency": "USD", "timezone": "UTC",
             "ads": n, "spend": 10_000 * n if conn.dialect.name == "sqlite" else n, "impressions": n,
             "clicks": n, "purchases": n, "purchase_value": 0, "account_spend": None, "spend_gap": None,
             "roas": None}
            for n in (1, 2)
        ])  # fmt: skip
    db.upgrade(engine)
    with engine.connect() as conn:
        moved = conn.execute(
            sa.select(schema.daily_ad_metrics.c.platform, schema.daily_ad_metrics.c.ad_account_id,
                      schema.daily_ad_metrics.c.spend).order_by(schema.daily_ad_metrics.c.ad_account_id)
        ).all()  # fmt: skip
        viewed = conn.execute(
            sa.select(schema.daily_meta_metrics.c.ad_account_id, schema.daily_meta_metrics.c.spend).order_by(
                schema.daily_meta_metrics.c.ad_account_id
            )
        ).all()
    assert [tuple(r) for r in moved] == [("meta", "act_1", Decimal("1")), ("meta", "act_2", Decimal("2"))]
    assert [tuple(r) for r in viewed] == [("act_1", Decimal("1")), ("act_2", Decimal("2"))]
    with engine.begin() as conn:  # the CHECK now admits google_ads
        connection, _ = conns.connect(conn, store="S", platform="google_ads", account_id="1", token_env="T")
    assert connection.platform == "google_ads"
    with engine.begin() as conn:  # a downgrade refuses to drop google_ads connections silently
        conns.disconnect(conn, connection.connection_id)
        conn.execute(sa.delete(schema.connections).where(schema.connections.c.platform == "google_ads"))
    db.downgrade(engine, "0003")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(old)).scalar_one() == 2
