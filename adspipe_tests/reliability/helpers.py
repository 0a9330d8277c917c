"""Shared tools for the reliability suites: warehouse dumps, the dialects of a case, Meta error
answers for the simulator's scripted answers (simulator/scripted.py)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.warehouse import schema
from adspipe_tests.shopify.helpers import canonical

# Tables a failed or refused operation may legitimately touch: sync_runs is the log of attempts
# (one new row per run, by design) and connections changes status on a rejected token.
LOG_TABLES = {"sync_runs"}


def dump_table(engine: Engine, name: str, *, exclude: frozenset[str] = frozenset()) -> list[tuple[Any, ...]]:
    """Every row of a warehouse table ordered by its primary key, canonical values (Decimal as
    normalised text, datetimes ISO, JSON with sorted keys) so that equal data dumps equal."""
    table = schema.table_or_view(name)
    columns = [c for c in table.columns if c.name not in exclude]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*columns).order_by(*table.primary_key.columns)).all()
    return [tuple(canonical(v) for v in row) for row in rows]


def snapshot(engine: Engine, *, skip: set[str] = LOG_TABLES) -> dict[str, list[tuple[Any, ...]]]:
    """All rows of all schema tables but the log tables."""
    return {t.name: dump_table(engine, t.name) for t in schema.metadata.sorted_tables if t.name not in skip}


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in schema.metadata.sorted_tables
        }


def rows_where(engine: Engine, name: str, **equals: Any) -> list[dict[str, Any]]:
    table = schema.table_or_view(name)
    query = sa.select(table).order_by(*table.primary_key.columns)
    for column, value in equals.items():
        query = query.where(table.c[column] == value)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def connection_row(engine: Engine, connection_id: int) -> dict[str, Any]:
    (row,) = rows_where(engine, "connections", connection_id=connection_id)
    return row


def last_sync_run(engine: Engine, connection_id: int) -> dict[str, Any]:
    return rows_where(engine, "sync_runs", connection_id=connection_id)[-1]


def set_status(engine: Engine, connection_id: int, status: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.update(schema.connections)
            .where(schema.connections.c.connection_id == connection_id)
            .values(status=status)
        )


def dialects(cases: list[tuple[Any, ...]], both: set[str]) -> list[Any]:
    """(warehouse_url, *case) params: every case on SQLite, the transactional ones on Postgres too."""
    out = []
    for case in cases:
        for dialect in ("sqlite", "postgres") if case[0] in both else ("sqlite",):
            out.append(pytest.param(dialect, *case, id=f"{dialect}-{case[0]}"))
    return out


def meta_error(
    status: int, code: int, message: str, subcode: int | None = None
) -> tuple[int, dict[str, Any]]:
    """A Graph API error answer (status, body), for the simulator's scripted answers."""
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Ab1"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return status, {"error": error}
