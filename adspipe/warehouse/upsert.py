"""Dialect-aware, batched upserts: `INSERT … ON CONFLICT (primary key) DO UPDATE`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

# Bind-parameter ceilings: Postgres 65,535 per statement, SQLite 32,766 (3.32+).
_MAX_PARAMS = {"postgresql": 60_000, "sqlite": 30_000}
DEFAULT_BATCH_ROWS = 1_000


def dialect_insert(conn: Connection, table: sa.Table) -> Any:
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"upsert is not implemented for dialect {name!r}")


def _on_conflict(stmt: Any, table: sa.Table, columns: Sequence[str], key: Sequence[str]) -> Any:
    updates = {c: stmt.excluded[c] for c in columns if c not in key}
    if not updates:
        return stmt.on_conflict_do_nothing(index_elements=list(key))
    return stmt.on_conflict_do_update(index_elements=list(key), set_=updates)


def _key(table: sa.Table, key: Sequence[str] | None) -> list[str]:
    return list(key) if key else [c.name for c in table.primary_key.columns]


def upsert_rows(
    conn: Connection,
    table: sa.Table,
    rows: Iterable[Mapping[str, Any]],
    *,
    key: Sequence[str] | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> int:
    """Upsert rows in multi-row statements (one per batch, never one per row); returns the count.

    Every row must carry the same columns. Streams: `rows` may be a generator.
    """
    key_cols = _key(table, key)
    iterator = iter(rows)
    total = 0
    while True:
        first = next(iterator, None)
        if first is None:
            return total
        columns = list(first.keys())
        per_batch = max(1, min(batch_rows, _MAX_PARAMS.get(conn.dialect.name, 30_000) // len(columns)))
        batch = [dict(first), *(dict(r) for r in islice(iterator, per_batch - 1))]
        for row in batch:
            if row.keys() != first.keys():
                raise ValueError(f"rows for {table.name} must all have the same columns")
        stmt = _on_conflict(dialect_insert(conn, table).values(batch), table, columns, key_cols)
        conn.execute(stmt)
        total += len(batch)


def upsert_from_select(
    conn: Connection,
    table: sa.Table,
    select: sa.Select[Any],
    columns: Sequence[str],
    *,
    key: Sequence[str] | None = None,
) -> int:
    """`INSERT INTO table (columns) SELECT … ON CONFLICT (key) DO UPDATE` in one statement."""
    # SQLite needs a WHERE in the SELECT of an upsert to parse ON CONFLICT unambiguously.
    select = select.where(sa.true())
    stmt = dialect_insert(conn, table).from_select(list(columns), select)
    result = conn.execute(_on_conflict(stmt, table, columns, _key(table, key)))
    return max(result.rowcount or 0, 0)
