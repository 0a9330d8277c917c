"""Day replacement and the Meta mart, on SQLite and Postgres: exact money, gone ads disappear."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.meta import load, transforms
from adspipe.warehouse import connections as conns
from adspipe.warehouse import copydata
from adspipe.warehouse.schema import daily_meta_metrics, fact_meta_daily, meta_insights_raw

DAY = date(2026, 3, 4)
NOW = datetime(2026, 3, 6, 12, tzinfo=UTC)


@pytest.fixture
def acct(engine: Engine) -> conns.Connection:
    with engine.begin() as db:
        found, _ = conns.connect(db, store="S", platform="meta", account_id="act_1", token_env="TOK")
        conns.set_account_info(db, found.connection_id, timezone="Europe/Berlin", currency="EUR")
    return found


def _ad(ad_id: str, spend: str, purchases: str = "0", value: str = "0", day: date = DAY) -> dict[str, Any]:
    return {
        "ad_id": ad_id, "adset_id": "s1", "campaign_id": "c1", "account_currency": "EUR", "spend": spend,
        "impressions": "100", "clicks": "3", "reach": "90", "date_start": day.isoformat(), "date_stop": day.isoformat(),
        "actions": [{"action_type": "omni_purchase", "value": purchases}],
        "action_values": [{"action_type": "omni_purchase", "value": value}],
    }  # fmt: skip


def _write(
    engine: Engine,
    acct: conns.Connection,
    ads: list[dict[str, Any]],
    account_spend: str | None,
    day: date = DAY,
) -> None:
    account_rows = (
        []
        if account_spend is None
        else [{"spend": account_spend, "date_start": day.isoformat(), "date_stop": day.isoformat()}]
    )
    facts = [
        transforms.fact_row(r, ad_account_id="act_1", store_id=acct.store_id, connection_id=acct.connection_id,
                            currency="EUR", purchase_type="omni_purchase", fallbacks=["purchase"])
        for r in ads
    ]  # fmt: skip
    with engine.begin() as db:
        raw = load.raw_rows(ad_account_id="act_1", connection_id=acct.connection_id, day=day, ad_rows=ads,
                            account_rows=account_rows, fetched_at=NOW)  # fmt: skip
        load.write_raw_day(db, ad_account_id="act_1", day=day, rows=raw)
        load.replace_facts_day(db, ad_account_id="act_1", day=day, facts=facts)
        load.rebuild_meta_metrics(db, store_id=acct.store_id, ad_account_id="act_1", dates=[day],
                                  timezone="Europe/Berlin", currency="EUR")  # fmt: skip


def _metrics(engine: Engine) -> list[tuple[Any, ...]]:
    m = daily_meta_metrics.c
    with engine.connect() as db:
        return [
            tuple(r)
            for r in db.execute(
                sa.select(m.date, m.ads, m.spend, m.purchases, m.purchase_value, m.account_spend, m.spend_gap, m.roas,
                          m.currency, m.timezone).order_by(m.date)
            )
        ]  # fmt: skip


def _ids(engine: Engine, table: sa.Table) -> list[tuple[Any, ...]]:
    with engine.connect() as db:
        cols = [table.c.ad_id, table.c.date] + ([table.c.level] if "level" in table.c else [])
        return sorted(tuple(r) for r in db.execute(sa.select(*cols)))


def test_a_day_is_replaced_whole_and_the_mart_carries_the_account_level_gap(
    engine: Engine, acct: conns.Connection
) -> None:
    _write(
        engine, acct, [_ad("a", "10.10", "2", "50.05"), _ad("b", "0.33", "1", "19.99")], account_spend="15.43"
    )
    assert _metrics(engine) == [
        (
            DAY,
            2,
            Decimal("10.43"),
            3,
            Decimal("70.04"),
            Decimal("15.43"),
            Decimal("5.00"),
            Decimal("6.7152"),
            "EUR",
            "Europe/Berlin",
        )
    ]
    # Ad `a` was archived since: the re-pull no longer returns it, so it leaves raw, facts and mart.
    _write(engine, acct, [_ad("b", "0.33", "1", "19.99")], account_spend="15.43")
    assert _ids(engine, meta_insights_raw) == [("", DAY, "account"), ("b", DAY, "ad")]
    assert _ids(engine, fact_meta_daily) == [("b", DAY)]
    assert _metrics(engine) == [
        (
            DAY,
            1,
            Decimal("0.33"),
            1,
            Decimal("19.99"),
            Decimal("15.43"),
            Decimal("15.10"),
            Decimal("60.5758"),
            "EUR",
            "Europe/Berlin",
        )
    ]
    # Re-running the same answer changes nothing.
    before = _metrics(engine)
    _write(engine, acct, [_ad("b", "0.33", "1", "19.99")], account_spend="15.43")
    assert _metrics(engine) == before


def test_account_only_day_zero_spend_and_empty_day(engine: Engine, acct: conns.Connection) -> None:
    other = date(2026, 3, 5)
    # Every ad filtered out, the account still spent: a row with the full gap and no ROAS.
    _write(engine, acct, [], account_spend="7.25")
    # Ads with no spend: ROAS is NULL, no account row means no cross-check figure.
    _write(engine, acct, [_ad("c", "0.00", day=other)], account_spend=None, day=other)
    assert _metrics(engine) == [
        (DAY, 0, Decimal(0), 0, Decimal(0), Decimal("7.25"), Decimal("7.25"), None, "EUR", "Europe/Berlin"),
        (other, 1, Decimal(0), 0, Decimal(0), None, None, None, "EUR", "Europe/Berlin"),
    ]
    # Nothing at all any more on DAY: the mart row goes too.
    _write(engine, acct, [], account_spend=None)
    assert [r[0] for r in _metrics(engine)] == [other]


def test_large_day_round_trips_exactly(engine: Engine, acct: conns.Connection) -> None:
    # Enough rows for the batched (and on Postgres COPY) path; sums stay exact to the cent.
    ads = [_ad(f"ad{i}", f"{i}.{i % 100:02d}", str(i % 3), f"{i % 7}.5") for i in range(1, 451)]
    _write(engine, acct, ads, account_spend="999999.99")
    spend = sum((Decimal(a["spend"]) for a in ads), Decimal(0))
    value = sum((Decimal(a["action_values"][0]["value"]) for a in ads), Decimal(0))
    (row,) = _metrics(engine)
    assert row[1:7] == (
        450,
        spend,
        sum(i % 3 for i in range(1, 451)),
        value,
        Decimal("999999.99"),
        Decimal("999999.99") - spend,
    )
    with engine.connect() as db:
        payload = db.execute(
            sa.select(meta_insights_raw.c.payload).where(meta_insights_raw.c.ad_id == "ad7")
        ).scalar_one()
    assert payload == ads[6]


def test_facts_for_another_day_are_refused(engine: Engine, acct: conns.Connection) -> None:
    fact = transforms.fact_row(_ad("a", "1.00", day=date(2026, 3, 5)), ad_account_id="act_1", store_id=acct.store_id,
                               connection_id=acct.connection_id, currency="EUR", purchase_type="omni_purchase", fallbacks=[])  # fmt: skip
    with (
        engine.begin() as db,
        pytest.raises(ValueError, match="fact row for act_1 2026-03-05 filed under act_1 2026-03-04"),
    ):
        load.replace_facts_day(db, ad_account_id="act_1", day=DAY, facts=[fact])


def test_an_encoded_day_replaces_the_day_and_a_repeated_ad_falls_back_to_the_upsert(
    engine: Engine, acct: conns.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's path on Postgres: a day's rows arrive encoded for COPY (see copydata). Stored rows
    equal those of the row path; an ad Meta sent twice makes the COPY fail on its key and the
    day goes in through the upsert (its last row); rows and encoding that disagree are refused."""
    ads = [_ad(f"{i}", f"{i}.25") for i in range(300)]
    shipped: list[str] = []
    real = load.copy_encoded
    monkeypatch.setattr(
        load, "copy_encoded", lambda db, parts: shipped.append(parts[0].table) or real(db, parts)
    )

    def replace(day_ads: list[dict[str, Any]]) -> None:
        facts = [
            transforms.fact_row(r, ad_account_id="act_1", store_id=acct.store_id, connection_id=acct.connection_id,
                                currency="EUR", purchase_type="omni_purchase", fallbacks=["purchase"])
            for r in day_ads
        ]  # fmt: skip
        raw = load.raw_rows(ad_account_id="act_1", connection_id=acct.connection_id, day=DAY, ad_rows=day_ads,
                            account_rows=[], fetched_at=NOW)  # fmt: skip
        with engine.begin() as db:
            load.write_raw_day(
                db, ad_account_id="act_1", day=DAY, rows=raw, encoded=copydata.encode(meta_insights_raw, raw)
            )
            load.replace_facts_day(db, ad_account_id="act_1", day=DAY, facts=facts,
                                   encoded=copydata.encode(fact_meta_daily, facts))  # fmt: skip

    _write(engine, acct, ads[:5], None)  # yesterday's version of the day, by the row path
    replace(ads)
    postgres = engine.dialect.name == "postgresql"
    assert shipped == (["meta_insights_raw", "fact_meta_daily"] if postgres else [])
    with engine.connect() as db:
        spend = dict(db.execute(sa.select(fact_meta_daily.c.ad_id, fact_meta_daily.c.spend)).all())
    assert len(spend) == 300 and spend["299"] == Decimal("299.25")
    assert _ids(engine, meta_insights_raw) == sorted((f"{i}", DAY, "ad") for i in range(300))

    replace([*ads[:250], _ad("7", "1.00")])  # ad 7 twice: its last row wins, the rest of the day is gone
    with engine.connect() as db:
        spend = dict(db.execute(sa.select(fact_meta_daily.c.ad_id, fact_meta_daily.c.spend)).all())
    assert len(spend) == 250 and spend["7"] == Decimal("1.00") and spend["249"] == Decimal("249.25")
    assert len(_ids(engine, meta_insights_raw)) == 250

    raw = load.raw_rows(ad_account_id="act_1", connection_id=acct.connection_id, day=DAY, ad_rows=ads,
                        account_rows=[], fetched_at=NOW)  # fmt: skip
    with engine.begin() as db, pytest.raises(ValueError, match="encoded rows"):
        load.write_raw_day(
            db, ad_account_id="act_1", day=DAY, rows=raw, encoded=copydata.encode(meta_insights_raw, raw[:10])
        )
