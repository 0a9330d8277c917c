"""Every data check with a passing and a failing case, on SQLite and Postgres."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.checks import rules
from adspipe.counters import SyncStats
from adspipe.marts.daily_summary import rebuild_daily_summary
from adspipe.warehouse import connections as conns
from adspipe.warehouse import cursors, schema
from adspipe.warehouse.sync_runs import finish_sync_run, start_sync_run
from adspipe.warehouse.upsert import upsert_rows

D = date(2026, 3, 1)
T = datetime(2026, 3, 1, 15, tzinfo=UTC)


@pytest.fixture
def world(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """One store with a shop (2 orders, one a test order) and an ad account (2 ads), marts built."""
    monkeypatch.setenv("TOK", "token-value")
    with engine.begin() as db:
        shop, _ = conns.connect(
            db, store="S", platform="shopify", account_id="s.myshopify.com", token_env="TOK"
        )
        acct, _ = conns.connect(db, store="S", platform="meta", account_id="act_1", token_env="TOK")
        conns.set_account_info(db, shop.connection_id, timezone="UTC", currency="USD")
        conns.set_account_info(db, acct.connection_id, timezone="UTC", currency="USD")
        for oid, test in ((1, False), (2, True)):
            upsert_rows(
                db,
                schema.shopify_orders_raw,
                [
                    {
                        "shop_domain": "s.myshopify.com",
                        "order_id": oid,
                        "connection_id": shop.connection_id,
                        "order_date": D,
                        "created_at": T,
                        "updated_at": T + timedelta(minutes=oid),
                        "payload": {"id": oid},
                    }
                ],
            )
            upsert_rows(
                db,
                schema.fact_orders,
                [
                    {
                        "shop_domain": "s.myshopify.com",
                        "order_id": oid,
                        "store_id": shop.store_id,
                        "connection_id": shop.connection_id,
                        "order_name": f"#{oid}",
                        "order_date": D,
                        "created_at": T,
                        "updated_at": T + timedelta(minutes=oid),
                        "cancelled_at": None,
                        "financial_status": "PAID",
                        "currency": "USD",
                        "total_price": Decimal("50.00"),
                        "subtotal_price": None,
                        "total_discounts": None,
                        "total_tax": None,
                        "total_shipping": None,
                        "total_refunded": Decimal("5.00"),
                        "net_revenue": Decimal("45.00"),
                        "customer_id": None,
                        "line_item_count": 1,
                        "is_test": test,
                    }
                ],
            )
        upsert_rows(
            db,
            schema.daily_shopify_metrics,
            [
                {
                    "store_id": shop.store_id,
                    "date": D,
                    "shop_domain": "s.myshopify.com",
                    "currency": "USD",
                    "timezone": "UTC",
                    "orders": 1,
                    "gross_revenue": Decimal("50.00"),
                    "refunds": Decimal("5.00"),
                    "net_revenue": Decimal("45.00"),
                    "aov": Decimal("50.00"),
                    "new_customers": None,
                    "returning_customers": None,
                }
            ],
        )
        for ad in ("a1", "a2"):
            upsert_rows(
                db,
                schema.meta_insights_raw,
                [
                    {
                        "ad_account_id": "act_1",
                        "level": "ad",
                        "ad_id": ad,
                        "date": D,
                        "connection_id": acct.connection_id,
                        "payload": {"ad_id": ad},
                        "fetched_at": T,
                    }
                ],
            )
            upsert_rows(
                db,
                schema.fact_meta_daily,
                [
                    {
                        "ad_account_id": "act_1",
                        "ad_id": ad,
                        "date": D,
                        "store_id": shop.store_id,
                        "connection_id": acct.connection_id,
                        "adset_id": "s",
                        "campaign_id": "c",
                        "currency": "USD",
                        "spend": Decimal("10.00"),
                        "impressions": 100,
                        "clicks": 5,
                        "reach": 80,
                        "purchases": 1,
                        "purchase_value": Decimal("30.00"),
                    }
                ],
            )
        upsert_rows(db, schema.daily_ad_metrics, [{
            "store_id": shop.store_id, "platform": "meta", "ad_account_id": "act_1", "date": D, "currency": "USD", "timezone": "UTC",
            "ads": 2, "spend": Decimal("20.00"), "impressions": 200, "clicks": 10, "purchases": 2,
            "purchase_value": Decimal("60.00"), "account_spend": Decimal("20.00"), "spend_gap": Decimal("0.00"),
            "roas": Decimal("3.0000"),
        }])  # fmt: skip
        rebuild_daily_summary(db, [shop.store_id], [D])
    return {"shop": shop.connection_id, "acct": acct.connection_id, "store": shop.store_id}


def _run(engine: Engine, check: str) -> rules.CheckOutcome:
    with engine.connect() as db:
        return rules.ALL_CHECKS[check](db)


def test_all_checks_pass_on_a_consistent_warehouse(engine: Engine, world: dict[str, int]) -> None:
    with engine.connect() as db:
        outcomes = rules.run_all(db, T, {"shopify": timedelta(minutes=15), "meta": timedelta(hours=1)})
    failing = {o.name: o.problems for o in outcomes if not o.passed}
    assert failing == {
        "freshness": [
            "s.myshopify.com: no successful shopify_fresh sync yet",
            "act_1: no successful meta_fresh sync yet",
        ]
    }


def test_shopify_parity_fails_on_a_raw_row_without_fact(engine: Engine, world: dict[str, int]) -> None:
    assert _run(engine, "shopify_raw_fact_parity").passed
    with engine.begin() as db:
        db.execute(sa.delete(schema.fact_orders).where(schema.fact_orders.c.order_id == 2))
    outcome = _run(engine, "shopify_raw_fact_parity")
    assert not outcome.passed and outcome.severity == "ERROR"
    assert outcome.problems == ["s.myshopify.com 2026-03-01: raw 2 vs fact 1"]


def test_meta_parity_fails_on_a_fact_without_raw(engine: Engine, world: dict[str, int]) -> None:
    assert _run(engine, "meta_raw_fact_parity").passed
    with engine.begin() as db:
        db.execute(sa.delete(schema.meta_insights_raw).where(schema.meta_insights_raw.c.ad_id == "a2"))
    outcome = _run(engine, "meta_raw_fact_parity")
    assert not outcome.passed and outcome.problems == ["act_1 2026-03-01: raw 1 vs fact 2"]


def test_summary_check_catches_a_wrong_number(engine: Engine, world: dict[str, int]) -> None:
    assert _run(engine, "summary_matches_facts").passed
    with engine.begin() as db:
        db.execute(sa.update(schema.daily_summary).values(net_revenue=Decimal("44.99"), clicks=11))
    outcome = _run(engine, "summary_matches_facts")
    assert not outcome.passed and outcome.severity == "ERROR"
    assert outcome.problems == [
        f"store {world['store']} 2026-03-01: net_revenue 44.9900 != 45.0000, clicks 11 != 10"
    ]


def test_summary_check_does_not_expect_marts_before_a_shops_first_whole_day_sync(
    engine: Engine, world: dict[str, int]
) -> None:
    # A fill that read whole days from the day after D: D's order fact (from a later refund seen by
    # shopify_fresh) has no mart row on purpose; the check must not call that missing.
    with engine.begin() as db:
        db.execute(sa.delete(schema.daily_summary))
        (shop_connection,) = db.execute(
            sa.select(schema.connections.c.connection_id).where(schema.connections.c.platform == "shopify")
        ).scalars()
        run = start_sync_run(db, job="shopify_7d_fill", connection_id=shop_connection,
                             window_start=D + timedelta(days=1), window_end=D + timedelta(days=7))  # fmt: skip
        finish_sync_run(db, run, status="success", stats=SyncStats())
        db.execute(sa.delete(schema.fact_meta_daily))
    assert _run(engine, "summary_matches_facts").passed
    # A fill that covered D: the same missing row is an error.
    with engine.begin() as db:
        run = start_sync_run(
            db, job="shopify_7d_fill", connection_id=shop_connection, window_start=D, window_end=D
        )
        finish_sync_run(db, run, status="success", stats=SyncStats())
    outcome = _run(engine, "summary_matches_facts")
    assert outcome.problems == [f"store {world['store']} {D}: missing from daily_summary"]


def test_spend_cross_check_warns_with_the_missing_amount(engine: Engine, world: dict[str, int]) -> None:
    assert _run(engine, "meta_spend_cross_check").passed
    with engine.begin() as db:
        db.execute(
            sa.update(schema.daily_ad_metrics).values(
                account_spend=Decimal("27.25"), spend_gap=Decimal("7.25")
            )
        )
    outcome = _run(engine, "meta_spend_cross_check")
    assert not outcome.passed and outcome.severity == "WARN"
    assert outcome.metadata["missing_spend"] == 7.25
    assert outcome.problems == ["act_1 2026-03-01: account-level spend exceeds ad-level by 7.2500"]


def test_cursor_ahead_is_an_error_and_behind_a_warning(engine: Engine, world: dict[str, int]) -> None:
    newest = T + timedelta(minutes=2)
    with engine.begin() as db:
        cursors.advance_cursor(db, world["shop"], cursors.SHOPIFY_UPDATED_AT, newest)
    assert _run(engine, "cursor_consistency").passed
    with engine.begin() as db:
        upsert_rows(db, schema.shopify_orders_raw, [{
            "shop_domain": "s.myshopify.com", "order_id": 3, "connection_id": world["shop"], "order_date": D,
            "created_at": T, "updated_at": newest + timedelta(hours=1), "payload": {"id": 3},
        }])  # fmt: skip
    behind = _run(engine, "cursor_consistency")
    assert (
        not behind.passed
        and behind.severity == "WARN"
        and "1:00:00 behind committed data" in behind.problems[0]
    )
    with engine.begin() as db:
        cursors.advance_cursor(db, world["shop"], cursors.SHOPIFY_UPDATED_AT, newest + timedelta(days=1))
    ahead = _run(engine, "cursor_consistency")
    assert (
        not ahead.passed and ahead.severity == "ERROR" and "is ahead of committed data" in ahead.problems[0]
    )


EVERY = {"shopify": timedelta(minutes=15), "meta": timedelta(hours=1)}


def test_freshness_within_twice_the_schedule(engine: Engine, world: dict[str, int]) -> None:
    with engine.begin() as db:
        for job, cid in (("shopify_fresh", world["shop"]), ("meta_fresh", world["acct"])):
            finish_sync_run(
                db, start_sync_run(db, job=job, connection_id=cid), status="success", stats=SyncStats()
            )
    with engine.connect() as db:
        now = datetime.now(UTC)
        ok = rules.freshness(
            db,
            now + timedelta(minutes=29),
            EVERY,
        )
        late = rules.freshness(
            db,
            now + timedelta(minutes=31),
            EVERY,
        )
    assert ok.passed
    assert not late.passed and late.problems[0].startswith("s.myshopify.com: last shopify_fresh success")
    assert len(late.problems) == 1  # meta's 2-hour allowance still holds


def test_freshness_names_a_platform_without_a_schedule(engine: Engine, world: dict[str, int]) -> None:
    """A platform the registry gives no period is reported, never judged by another platform's."""
    with engine.begin() as db:
        for job, cid in (("shopify_fresh", world["shop"]), ("meta_fresh", world["acct"])):
            finish_sync_run(
                db, start_sync_run(db, job=job, connection_id=cid), status="success", stats=SyncStats()
            )
    with engine.connect() as db:
        outcome = rules.freshness(db, datetime.now(UTC), {"shopify": timedelta(minutes=15)})
    assert outcome.problems == ["act_1: no fresh schedule known for platform meta"]


def test_currency_and_timezone_mismatch(engine: Engine, world: dict[str, int]) -> None:
    assert _run(engine, "currency_timezone_match").passed
    with engine.begin() as db:
        conns.set_account_info(db, world["acct"], timezone="Europe/Berlin", currency="EUR")
    outcome = _run(engine, "currency_timezone_match")
    assert not outcome.passed and outcome.severity == "WARN"
    assert outcome.problems == [
        "act_1 spends in EUR, shop s.myshopify.com sells in USD: MER is NULL",
        "act_1 reports days in Europe/Berlin, shop s.myshopify.com in UTC: MER is NULL",
    ]


def test_checks_command_exits_non_zero_on_an_error(engine: Engine, world: dict[str, int]) -> None:
    from click.testing import CliRunner

    from adspipe.cli import main

    ok = CliRunner().invoke(main, ["checks", "run"])
    assert ok.exit_code == 0, ok.output
    assert "PASS  summary_matches_facts" in ok.output and "WARN  freshness" in ok.output
    assert CliRunner().invoke(main, ["checks", "run", "--strict"]).exit_code == 1  # freshness warns
    with engine.begin() as db:
        db.execute(sa.update(schema.daily_summary).values(orders=7))
    bad = CliRunner().invoke(main, ["checks", "run"])
    assert bad.exit_code == 1
    assert "ERROR summary_matches_facts" in bad.output and "orders 7 != 1" in bad.output
    assert bad.output.strip().endswith("error: data checks failed")
