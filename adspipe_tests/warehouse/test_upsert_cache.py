"""`OnConflictInsert` (under `upsert_rows` and `upsert_from_select`): the upsert SQLAlchemy can cache. Each shape (table, columns, key, SELECT)
compiles once per engine, and a cached statement writes the values it is executed with."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.engine.default import DefaultDialect

from adspipe.warehouse import connections as conns
from adspipe.warehouse import schema
from adspipe.warehouse.upsert import upsert_from_select, upsert_rows

T1, T2 = datetime(2026, 3, 1, 12, tzinfo=UTC), datetime(2026, 3, 2, 12, tzinfo=UTC)
CURSORS = schema.sync_cursors


def _connection(engine: Engine, monkeypatch: pytest.MonkeyPatch, account: str) -> int:
    monkeypatch.setenv("TEST_TOKEN", "x" * 10)
    with engine.begin() as conn:
        connection, _ = conns.connect(
            conn, store="s", platform="shopify", account_id=account, token_env="TEST_TOKEN"
        )
    return connection.connection_id


def _cursors(engine: Engine) -> list[tuple[object, ...]]:
    c = CURSORS.c
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(c.connection_id, c.cursor_key, c.value, c.updated_at).order_by(c.cursor_key)
        )
        return [tuple(r) for r in rows]


def test_each_shape_compiles_once_and_writes_the_values_it_runs_with(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = _connection(engine, monkeypatch, "a.myshopify.com")
    hits: list[bool] = []

    def record(
        conn: object, cursor: object, statement: str, params: object, context: Any, many: bool
    ) -> None:
        hits.append(context.cache_hit == DefaultDialect.CACHE_HIT)

    def select(key: str, value: str, at: datetime) -> sa.Select[tuple[object, ...]]:
        return sa.select(
            sa.literal(cid), sa.literal(key), sa.literal(value, CURSORS.c.value.type), sa.literal(at, CURSORS.c.updated_at.type)
        )  # fmt: skip

    columns = ["connection_id", "cursor_key", "value", "updated_at"]
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        with engine.begin() as conn:
            # The same SELECT shape twice, other values: the second run is a cache hit and writes its own.
            upsert_from_select(conn, CURSORS, select("k1", "2026-03-01", T1), columns)
            upsert_from_select(conn, CURSORS, select("k2", "2026-03-02", T2), columns)
            # The first row again: updated in place.
            upsert_from_select(conn, CURSORS, select("k1", "2026-03-05", T2), columns)
            # VALUES from parameter sets: one row, then many (two shapes), then one again.
            upsert_rows(
                conn,
                CURSORS,
                [{"connection_id": cid, "cursor_key": "k3", "value": "2026-03-03", "updated_at": T1}],
            )
            upsert_rows(conn, CURSORS, [
                {"connection_id": cid, "cursor_key": "k3", "value": "2026-03-04", "updated_at": T2},
                {"connection_id": cid, "cursor_key": "k4", "value": "2026-03-04", "updated_at": T2},
            ])  # fmt: skip
            upsert_rows(
                conn,
                CURSORS,
                [{"connection_id": cid, "cursor_key": "k4", "value": "2026-03-09", "updated_at": T1}],
            )
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert _cursors(engine) == [
        (cid, "k1", "2026-03-05", T2),
        (cid, "k2", "2026-03-02", T2),
        (cid, "k3", "2026-03-04", T2),
        (cid, "k4", "2026-03-09", T1),
    ]
    # Compiled: the SELECT shape once, one row once, many rows once; every other run a hit.
    assert hits == [False, True, True, False, False, True]
