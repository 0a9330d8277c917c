"""Warehouse foundations on SQLite and Postgres: migrations, upserts, money, cursors, sync_runs."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.counters import SyncStats
from adspipe.platform import registry
from adspipe.warehouse import connections as conns
from adspipe.warehouse import cursors, db, schema
from adspipe.warehouse import upsert as upsert_module
from adspipe.warehouse.sync_runs import finish_sync_run, start_sync_run
from adspipe.warehouse.upsert import insert_new_rows, upsert_rows


def _store_and_connection(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("TEST_TOKEN", "x" * 10)
    with engine.begin() as conn:
        connection, _ = conns.connect(
            conn, store="s", platform="shopify", account_id="s.myshopify.com", token_env="TEST_TOKEN"
        )
    return connection.connection_id


def _tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def test_migrations_upgrade_noop_downgrade_roundtrip(warehouse_url: str) -> None:
    engine = db.get_engine(warehouse_url)
    assert _tables(engine) == set()
    db.upgrade(engine)
    assert _tables(engine) == set(schema.ALL_TABLES)
    assert db.current_revision(engine) == db.head_revision(engine)
    db.upgrade(engine)  # a second run is a no-op
    assert db.current_revision(engine) == db.head_revision(engine)
    db.downgrade(engine, "base")
    assert _tables(engine) == set()
    assert db.current_revision(engine) is None
    db.ensure_schema(engine)
    assert _tables(engine) == set(schema.ALL_TABLES)


def test_schema_matches_metadata(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), schema.metadata) == []


def _raw_row(connection_id: int, order_id: int, payload: dict[str, object]) -> dict[str, object]:
    t = datetime(2026, 3, 1, 12, tzinfo=UTC)
    return {
        "shop_domain": "s.myshopify.com",
        "order_id": order_id,
        "connection_id": connection_id,
        "order_date": date(2026, 3, 1),
        "created_at": t,
        "updated_at": t,
        "payload": payload,
    }


def test_upsert_same_key_updates_in_place(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    cid = _store_and_connection(engine, monkeypatch)
    with engine.begin() as conn:
        upsert_rows(conn, schema.shopify_orders_raw, [_raw_row(cid, 1, {"v": 1})])
        upsert_rows(conn, schema.shopify_orders_raw, [_raw_row(cid, 1, {"v": 2})])
        rows = conn.execute(
            sa.select(schema.shopify_orders_raw.c.order_id, schema.shopify_orders_raw.c.payload)
        ).all()
    assert [(r.order_id, r.payload) for r in rows] == [(1, {"v": 2})]


def test_upsert_10k_rows_in_batched_statements(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    cid = _store_and_connection(engine, monkeypatch)
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO SHOPIFY_ORDERS_RAW"):
            statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        with engine.begin() as conn:
            written = upsert_rows(
                conn, schema.shopify_orders_raw, (_raw_row(cid, i, {"i": i}) for i in range(10_000))
            )
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert written == 10_000
    assert 1 <= len(statements) <= 20, f"{len(statements)} statements for 10,000 rows"
    with engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(schema.shopify_orders_raw)).scalar() == 10_000
        )


def test_new_rows_go_in_by_copy_and_a_concurrent_insert_falls_back_to_the_upsert(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """insert_new_rows: rows the caller found absent are COPY'd; if another writer inserted one
    of them meanwhile, the savepoint rolls back and the rows are upserted: no error, no duplicate,
    the new values win, and the rest of the transaction is intact."""
    cid = _store_and_connection(engine, monkeypatch)
    raw = schema.shopify_orders_raw
    upserted: list[int] = []

    def spy(conn: sa.Connection, table: sa.Table, rows: list[dict[str, object]]) -> int:
        upserted.append(len(rows))
        return upsert_rows(conn, table, rows)

    monkeypatch.setattr(upsert_module, "upsert_rows", spy)
    with engine.begin() as conn:
        insert_new_rows(conn, [(raw, [_raw_row(cid, i, {"v": 1}) for i in range(300)])])
    # Postgres: COPY straight in, no upsert; SQLite: the upsert.
    assert upserted == ([] if engine.dialect.name == "postgresql" else [300])
    with engine.begin() as conn:
        conn.execute(sa.insert(raw), [_raw_row(cid, 300, {"v": "other writer"})])  # before our batch lands
        insert_new_rows(conn, [(raw, [_raw_row(cid, i, {"v": 2}) for i in range(300, 600)])])
        insert_new_rows(conn, [(raw, [])])
    with engine.connect() as conn:
        rows = {r.order_id: r.payload for r in conn.execute(sa.select(raw.c.order_id, raw.c.payload))}
    assert upserted[-1] == 300  # the conflicting batch went through the upsert
    assert len(rows) == 600
    assert rows[0] == {"v": 1} and rows[300] == {"v": 2} and rows[599] == {"v": 2}


def test_money_is_exact_decimal_round_trip(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    cid = _store_and_connection(engine, monkeypatch)
    t = datetime(2026, 3, 1, tzinfo=UTC)
    row = {
        "shop_domain": "s.myshopify.com", "order_id": 1, "store_id": 1, "connection_id": cid,
        "order_name": "#1", "order_date": t.date(), "created_at": t, "updated_at": t, "cancelled_at": None,
        "financial_status": "PAID", "currency": "USD", "total_price": Decimal("0.10") + Decimal("0.20"),
        "subtotal_price": Decimal("99999999999999.9999"), "total_discounts": None, "total_tax": None,
        "total_shipping": None, "total_refunded": Decimal("0"), "net_revenue": Decimal("0.30"),
        "customer_id": None, "line_item_count": 1, "is_test": False,
    }  # fmt: skip
    with engine.begin() as conn:
        upsert_rows(conn, schema.fact_orders, [row, {**row, "order_id": 2, "total_price": Decimal("0.20")}])
        got = conn.execute(
            sa.select(schema.fact_orders.c.total_price, schema.fact_orders.c.subtotal_price).where(
                schema.fact_orders.c.order_id == 1
            )
        ).one()
        total = conn.execute(
            sa.select(
                sa.type_coerce(
                    sa.func.sum(schema.fact_orders.c.total_price), schema.fact_orders.c.total_price.type
                )
            )
        ).scalar_one()
    assert got.total_price == Decimal("0.30") and isinstance(got.total_price, Decimal)
    assert got.subtotal_price == Decimal("99999999999999.9999")
    assert total == Decimal("0.50")
    with pytest.raises(sa.exc.StatementError, match="more than 4 decimals"), engine.begin() as conn:
        upsert_rows(conn, schema.fact_orders, [{**row, "total_price": Decimal("0.00001")}])


def test_cursor_ignores_lower_values(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    cid = _store_and_connection(engine, monkeypatch)
    t = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with engine.begin() as conn:
        assert cursors.advance_cursor(conn, cid, cursors.SHOPIFY_UPDATED_AT, t)
        assert not cursors.advance_cursor(conn, cid, cursors.SHOPIFY_UPDATED_AT, t - timedelta(seconds=1))
        assert not cursors.advance_cursor(conn, cid, cursors.SHOPIFY_UPDATED_AT, t)
        assert cursors.get_datetime_cursor(conn, cid, cursors.SHOPIFY_UPDATED_AT) == t
        assert cursors.advance_cursor(conn, cid, cursors.SHOPIFY_UPDATED_AT, t + timedelta(microseconds=1))
        assert not cursors.set_cursor_if_empty(conn, cid, cursors.SHOPIFY_UPDATED_AT, t + timedelta(days=9))
        assert cursors.get_datetime_cursor(conn, cid, cursors.SHOPIFY_UPDATED_AT) == t + timedelta(
            microseconds=1
        )
        assert cursors.set_cursor_if_empty(conn, cid, cursors.META_WINDOW_END, date(2026, 3, 1))
        assert not cursors.advance_cursor(conn, cid, cursors.META_WINDOW_END, date(2026, 2, 28))
        assert cursors.get_date_cursor(conn, cid, cursors.META_WINDOW_END) == date(2026, 3, 1)


@pytest.mark.parametrize("warehouse_url", ["postgres"], indirect=True)
def test_cursor_race_ends_at_highest_value_on_postgres(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = _store_and_connection(engine, monkeypatch)
    base = datetime(2026, 3, 1, tzinfo=UTC)
    values = [base + timedelta(seconds=i) for i in range(400)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(chunk: list[datetime]) -> None:
        try:
            barrier.wait()
            for value in chunk:
                with engine.begin() as conn:
                    cursors.advance_cursor(conn, cid, cursors.SHOPIFY_UPDATED_AT, value)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    # One thread climbs, the other descends from the top: they cross in the middle.
    threads = [
        threading.Thread(target=worker, args=(values[::2],)),
        threading.Thread(target=worker, args=(values[::-2],)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with engine.connect() as conn:
        assert cursors.get_datetime_cursor(conn, cid, cursors.SHOPIFY_UPDATED_AT) == values[-1]


def test_sync_run_start_and_finish(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    cid = _store_and_connection(engine, monkeypatch)
    with engine.begin() as conn:
        run_id = start_sync_run(conn, job="shopify_fresh", connection_id=cid, dagster_run_id="abc")
        stats = SyncStats(
            rows=5, api_calls=2, throttled=1, throttle_wait_s=1.25, dates={date(2026, 3, 2), date(2026, 3, 1)}
        )
        finish_sync_run(
            conn, run_id, status="failed", stats=stats,
            error="boom access_token=EAAsecretsecret shpat_abcdefgh12 TOPSECRET", secrets=["TOPSECRET"],
            patterns=registry.token_patterns(),
        )  # fmt: skip
        row = conn.execute(sa.select(schema.sync_runs)).one()._mapping
    assert row["status"] == "failed" and row["rows"] == 5 and row["api_calls"] == 2 and row["throttled"] == 1
    assert row["throttle_wait_s"] == pytest.approx(1.25)
    assert row["dates"] == ["2026-03-01", "2026-03-02"]
    assert row["dagster_run_id"] == "abc" and row["finished_at"] is not None
    assert (
        "EAAsecret" not in row["error"]
        and "shpat_abcdefgh12" not in row["error"]
        and "TOPSECRET" not in row["error"]
    )
    with pytest.raises(ValueError), engine.begin() as conn:
        finish_sync_run(conn, run_id, status="weird", stats=stats)


@pytest.mark.parametrize("use_copy", [True, False])
def test_large_batches_round_trip_exactly_and_update(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, use_copy: bool
) -> None:
    """The COPY fast path (Postgres, ≥200 rows) and the VALUES path store the same values."""
    cid = _store_and_connection(engine, monkeypatch)
    t = datetime(2026, 3, 1, 23, 59, 59, 123456, tzinfo=UTC)

    def row(i: int, bump: Decimal) -> dict[str, object]:
        return {
            "shop_domain": "s.myshopify.com", "order_id": i, "store_id": 1, "connection_id": cid,
            "order_name": f"#{i} 'quoted' \\ tab\t", "order_date": date(2026, 3, 1), "created_at": t,
            "updated_at": t + timedelta(seconds=i), "cancelled_at": None if i % 2 else t, "financial_status": None,
            "currency": "USD", "total_price": Decimal("0.01") * i + bump, "subtotal_price": None,
            "total_discounts": Decimal("-1.5"), "total_tax": None, "total_shipping": None,
            "total_refunded": Decimal("0"), "net_revenue": Decimal("0.0001"), "customer_id": 2**40 + i,
            "line_item_count": i, "is_test": i % 3 == 0,
        }  # fmt: skip

    with engine.begin() as conn:
        assert (
            upsert_rows(conn, schema.fact_orders, (row(i, Decimal(0)) for i in range(300)), use_copy=use_copy)
            == 300
        )
        # Duplicate keys inside one batch: the last one wins instead of a conflict error.
        upsert_rows(
            conn,
            schema.fact_orders,
            [row(i, Decimal("1000")) for i in range(250)] + [row(5, Decimal("7"))],
            use_copy=use_copy,
        )
    with engine.connect() as conn:
        got = {r.order_id: r for r in conn.execute(sa.select(schema.fact_orders))}
    assert len(got) == 300
    assert got[5].total_price == Decimal("7.05") and got[6].total_price == Decimal("1000.06")
    assert got[299].total_price == Decimal("2.99") and got[299].net_revenue == Decimal("0.0001")
    assert got[7].order_name == "#7 'quoted' \\ tab\t" and got[7].customer_id == 2**40 + 7
    assert got[4].cancelled_at == t and got[3].cancelled_at is None and got[3].is_test and not got[4].is_test
    assert got[10].updated_at == t + timedelta(seconds=10) and got[0].total_discounts == Decimal("-1.5")


def test_a_killed_runs_open_record_is_closed_by_the_next_start(engine: Engine) -> None:
    with engine.begin() as conn:
        killed = start_sync_run(conn, job="shopify_fresh", connection_id=None)
        recent = start_sync_run(conn, job="shopify_fresh", connection_id=None)  # still legitimately running
        other_job = start_sync_run(conn, job="meta_fresh", connection_id=None)
        conn.execute(
            sa.update(schema.sync_runs)
            .where(schema.sync_runs.c.sync_run_id.in_([killed, other_job]))
            .values(started_at=datetime.now(UTC) - timedelta(hours=7))
        )
        start_sync_run(conn, job="shopify_fresh", connection_id=None)
        rows = {
            r.sync_run_id: r
            for r in conn.execute(sa.select(schema.sync_runs).order_by(schema.sync_runs.c.sync_run_id))
        }
    assert (rows[killed].status, rows[killed].finished_at is not None) == ("failed", True)
    assert rows[killed].error.startswith("abandoned:")
    assert rows[recent].status == "running"
    assert rows[other_job].status == "running"  # another job's record is that job's to close


def test_postgres_sessions_run_without_jit_and_keep_the_urls_options(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("a Postgres session setting")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SHOW jit")).scalar() == "off"
        # The test URL carries its own `options` (a per-test schema t_…): still in force.
        assert str(conn.execute(sa.text("SELECT current_schema()")).scalar()).startswith("t_")


def test_token_shapes_come_from_the_platform_specs() -> None:
    """The warehouse masks only generic secret shapes; each platform's token shape is its spec's."""
    from adspipe.platform.secrets import sanitize
    from adspipe.warehouse.sync_runs import sanitize_error

    message = "shop said shpat_abcdefgh12, meta said EAAabcdefgh12, url postgresql://u:pw@h/db"
    assert (
        sanitize_error(message)
        == "shop said shpat_abcdefgh12, meta said EAAabcdefgh12, url postgresql://u:***@h/db"
    )
    assert sanitize(message) == "shop said shpat_***, meta said EAA***, url postgresql://u:***@h/db"
    assert {spec.name for spec in registry.platforms() if spec.token_patterns} == {
        "shopify",
        "meta",
        "google_ads",
    }
    google = "access ya29.a0AfB_byC-xyz refresh 1//0gAbCdEfGhIj-kl"
    assert sanitize(google) == "access ya29.*** refresh 1//***"
