"""What one committed Meta day costs the warehouse: a fixed count of statements, each compiled once
per engine (P9's per-connection cost with no latency is mostly this, times the days re-read), and
the cached statements still write each account's and day's own figures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.engine.default import DefaultDialect

from adspipe.counters import SyncStats
from adspipe.meta import load, transforms, unit
from adspipe.meta.client import AccountInfo
from adspipe.warehouse import connections as conns
from adspipe.warehouse.schema import daily_meta_metrics, daily_summary, daily_summary_platform

DAY = date(2026, 3, 4)
NOW = datetime(2026, 3, 6, 12, tzinfo=UTC)
# A committed day: raw (delete, insert), facts (delete, insert), the account-level spend read,
# Meta's daily_ad_metrics (upsert, delete of dates gone), daily_summary (upsert, platform shares
# delete and insert, delete of pairs gone).
STATEMENTS_PER_DAY = 11


@dataclass
class Executed:
    statements: list[str] = field(default_factory=list)
    compiled: list[str] = field(default_factory=list)  # statements that missed the compiled cache


@contextmanager
def executed(engine: Engine) -> Iterator[Executed]:
    seen = Executed()

    def record(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        seen.statements.append(statement)
        if context.cache_hit != DefaultDialect.CACHE_HIT:
            seen.compiled.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def _connect(engine: Engine, account: str) -> conns.Connection:
    with engine.begin() as db:
        found, _ = conns.connect(db, store="S", platform="meta", account_id=account, token_env="TOK")
        conns.set_account_info(db, found.connection_id, timezone="Europe/Berlin", currency="EUR")
    return found


def _ad(ad_id: str, spend: str, value: str, day: date) -> dict[str, Any]:
    return {
        "ad_id": ad_id, "adset_id": "s1", "campaign_id": "c1", "account_currency": "EUR", "spend": spend,
        "impressions": "100", "clicks": "3", "reach": "90", "date_start": day.isoformat(), "date_stop": day.isoformat(),
        "actions": [{"action_type": "omni_purchase", "value": "1"}],
        "action_values": [{"action_type": "omni_purchase", "value": value}],
    }  # fmt: skip


def _commit(
    engine: Engine,
    connection: conns.Connection,
    day: date,
    ads: list[dict[str, Any]],
    account_spend: str | None,
) -> unit.DayResult:
    """One day through `unit.write_day`, the transaction meta_fresh commits per day."""
    account_rows = [] if account_spend is None else [{"spend": account_spend, "date_start": day.isoformat()}]
    facts = [
        transforms.fact_row(row, ad_account_id=connection.account_id, store_id=connection.store_id,
                            connection_id=connection.connection_id, currency="EUR",
                            purchase_type="omni_purchase", fallbacks=["purchase"])
        for row in ads
    ]  # fmt: skip
    raw = load.raw_rows(
        ad_account_id=connection.account_id, connection_id=connection.connection_id, day=day, ad_rows=ads,
        account_rows=account_rows, fetched_at=NOW,
    )  # fmt: skip
    prepared = unit.PreparedDay(ads, account_rows, raw, facts, pages=1)
    info = AccountInfo(connection.account_id, "Europe/Berlin", "EUR", None)
    return unit.write_day(engine, connection, info, day, prepared, stats=SyncStats())


def test_a_committed_day_runs_a_fixed_count_of_statements_compiled_once(engine: Engine) -> None:
    first, second = _connect(engine, "act_1"), _connect(engine, "act_2")
    # Warm-up: a day of one ad and a day of two (one row or many parameter sets: two shapes).
    earlier = DAY - timedelta(days=1)
    _commit(engine, first, earlier, [_ad("v", "1.00", "2.00", earlier)], "1.00")
    _commit(
        engine, first, earlier, [_ad("v", "1.00", "2.00", earlier), _ad("w", "1.00", "2.00", earlier)], "2.00"
    )

    with executed(engine) as later:
        _commit(
            engine, first, DAY, [_ad("a", "10.10", "50.05", DAY), _ad("b", "0.33", "19.99", DAY)], "15.43"
        )
        _commit(engine, second, DAY, [_ad("c", "2.00", "3.00", DAY)], "2.50")

    assert len(later.statements) == 2 * STATEMENTS_PER_DAY
    # The same shapes again: every statement came from the compiled cache.
    assert later.compiled == []


def test_cached_statements_write_each_account_and_day_its_own_figures(engine: Engine) -> None:
    first, second = _connect(engine, "act_1"), _connect(engine, "act_2")
    _commit(engine, first, DAY, [_ad("a", "10.10", "50.05", DAY), _ad("b", "0.33", "19.99", DAY)], "15.43")
    _commit(engine, second, DAY, [_ad("c", "2.00", "3.00", DAY)], None)
    _commit(
        engine, second, DAY + timedelta(days=1), [_ad("c", "4.00", "1.00", DAY + timedelta(days=1))], "5.00"
    )

    m = daily_meta_metrics.c
    with engine.connect() as db:
        metrics = db.execute(
            sa.select(m.ad_account_id, m.date, m.ads, m.spend, m.purchase_value, m.account_spend, m.spend_gap, m.roas)
            .order_by(m.ad_account_id, m.date)
        ).all()  # fmt: skip
        s = daily_summary.c
        summary = db.execute(sa.select(s.date, s.spend, s.purchase_value, s.roas).order_by(s.date)).all()
        p = daily_summary_platform.c
        shares = db.execute(sa.select(p.date, p.platform, p.accounts, p.spend).order_by(p.date)).all()
    assert [tuple(r) for r in metrics] == [
        ("act_1", DAY, 2, Decimal("10.43"), Decimal("70.04"), Decimal("15.43"), Decimal("5.00"), Decimal("6.7152")),
        ("act_2", DAY, 1, Decimal("2.00"), Decimal("3.00"), None, None, Decimal("1.5")),
        ("act_2", DAY + timedelta(days=1), 1, Decimal("4.00"), Decimal("1.00"), Decimal("5.00"), Decimal("1.00"),
         Decimal("0.25")),
    ]  # fmt: skip
    assert [tuple(r) for r in summary] == [
        (DAY, Decimal("12.43"), Decimal("73.04"), Decimal("5.8761")),
        (DAY + timedelta(days=1), Decimal("4.00"), Decimal("1.00"), Decimal("0.25")),
    ]
    assert [tuple(r) for r in shares] == [
        (DAY, "meta", 2, Decimal("12.43")),
        (DAY + timedelta(days=1), "meta", 1, Decimal("4.00")),
    ]


@pytest.mark.parametrize("account_spend", [None, "9.99"])
def test_a_day_committed_again_unchanged_leaves_every_table_as_it_was(
    engine: Engine, account_spend: str | None
) -> None:
    connection = _connect(engine, "act_1")
    ads = [_ad("a", "10.10", "50.05", DAY)]
    _commit(engine, connection, DAY, ads, account_spend)
    tables = [
        "meta_insights_raw",
        "fact_meta_daily",
        "daily_ad_metrics",
        "daily_summary",
        "daily_summary_platform",
    ]

    def snapshot() -> dict[str, list[tuple[Any, ...]]]:
        with engine.connect() as db:
            return {
                t: sorted(tuple(map(str, r)) for r in db.execute(sa.text(f"SELECT * FROM {t}")))
                for t in tables
            }

    before = snapshot()
    _commit(engine, connection, DAY, ads, account_spend)
    assert snapshot() == before
    assert all(before[t] for t in tables)
