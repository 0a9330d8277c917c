"""Encoded COPY: the bytes `encode` builds store exactly what COPY of the rows stores; a stored
key rolls the COPY back to its savepoint; only the schema's tables and columns are named."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.warehouse import connections as conns
from adspipe.warehouse import schema
from adspipe.warehouse.copydata import CopyData, copy_encoded, encode
from adspipe.warehouse.upsert import _copy_into

ODD_PAYLOAD: dict[str, Any] = {
    "tab\there": "line\nbreak\r\\back\\slash",
    "unicode": "Zürich — 東京 😀",
    "quote": 'say "hi"',
    "nested": [{"n": 1}, {"f": 1.5, "none": None, "yes": True}],
    "big": 2**70,  # beyond 64 bits: jsonio falls back to json.dumps, exactly
    "empty": "",
}


def _rows(connection_id: int) -> list[dict[str, Any]]:
    t = datetime(2026, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    return [
        {
            "shop_domain": "s.myshopify.com",
            "order_id": 10**12 + i,
            "connection_id": connection_id,
            "order_date": date(2026, 3, 1),
            "created_at": t + timedelta(microseconds=i),
            "updated_at": t.astimezone(UTC),
            "payload": {**ODD_PAYLOAD, "i": i} if i % 2 else {"\\N": "\\N", "i": i},
        }
        for i in range(250)
    ]


@pytest.fixture
def pg(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> tuple[Engine, int]:
    if engine.dialect.name != "postgresql":
        pytest.skip("COPY is Postgres's")
    monkeypatch.setenv("TEST_TOKEN", "x" * 10)
    with engine.begin() as conn:
        connection, _ = conns.connect(
            conn, store="s", platform="shopify", account_id="s.myshopify.com", token_env="TEST_TOKEN"
        )
    return engine, connection.connection_id


def _stored(engine: Engine) -> list[tuple[Any, ...]]:
    raw = schema.shopify_orders_raw
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(raw).order_by(raw.c.order_id))]


def test_encoded_rows_store_exactly_what_copy_of_the_rows_stores(pg: tuple[Engine, int]) -> None:
    engine, cid = pg
    rows, raw = _rows(cid), schema.shopify_orders_raw
    with engine.begin() as conn:
        _copy_into(conn, raw.name, raw, list(rows[0]), rows)
    by_rows = _stored(engine)
    with engine.begin() as conn:
        conn.execute(sa.delete(raw))
        assert copy_encoded(conn, [encode(raw, rows)]) is True
    assert _stored(engine) == by_rows
    assert len(by_rows) == 250
    payload = {r[1]: r[-1] for r in by_rows}  # order_id → payload (the last column)
    assert payload[10**12 + 1] == {**ODD_PAYLOAD, "i": 1} and payload[10**12] == {"\\N": "\\N", "i": 0}


def test_a_stored_key_rolls_the_copy_back_and_keeps_the_transaction(pg: tuple[Engine, int]) -> None:
    engine, cid = pg
    rows, raw, fact = _rows(cid), schema.shopify_orders_raw, schema.fact_orders
    with engine.begin() as conn:
        conn.execute(sa.insert(raw), [rows[100]])
    with engine.begin() as conn:
        conn.execute(sa.update(raw).values(payload={"kept": True}))  # before the failing COPY
        assert copy_encoded(conn, [encode(raw, rows[:100]), encode(raw, rows[100:])]) is False
    stored = _stored(engine)
    assert len(stored) == 1 and stored[0][-1] == {"kept": True}  # nothing of the COPY, the update kept
    with engine.begin() as conn:
        assert copy_encoded(conn, [encode(raw, rows[:100]), encode(fact, [])]) is True
    assert len(_stored(engine)) == 101


def test_only_the_schemas_tables_and_columns_are_named(pg: tuple[Engine, int]) -> None:
    engine, _ = pg
    with engine.begin() as conn, pytest.raises(ValueError, match="not a warehouse table"):
        copy_encoded(conn, [CopyData('x"; DROP TABLE fact_orders; --', ("a",), b"1\n", 1)])
    with engine.begin() as conn, pytest.raises(ValueError, match="not a warehouse table"):
        copy_encoded(conn, [CopyData("fact_orders", ("order_id\") FROM PROGRAM 'id' --",), b"1\n", 1)])


def test_encode_refuses_uneven_rows_and_unknown_columns() -> None:
    raw = schema.shopify_orders_raw
    rows = _rows(1)
    with pytest.raises(ValueError, match="same columns"):
        encode(raw, [rows[0], {k: v for k, v in rows[1].items() if k != "payload"}])
    with pytest.raises(KeyError):
        encode(raw, [{**rows[0], "not_a_column": 1}])
    empty = encode(raw, [])
    assert (empty.rows, empty.data) == (0, b"")
    assert encode(raw, rows[:3]).data.count(b"\n") == 3  # one line per row (newlines in values escaped)


def test_sqlite_is_refused(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("the SQLite half")
    with engine.begin() as conn, pytest.raises(ValueError, match="needs Postgres"):
        copy_encoded(conn, [encode(schema.fact_orders, [])])
