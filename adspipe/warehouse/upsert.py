"""Dialect-aware, batched upserts: `INSERT … ON CONFLICT (primary key) DO UPDATE`.

Postgres batches of at least `COPY_MIN_ROWS` rows go through `COPY` into a temporary staging
table and one set-based `INSERT … SELECT … ON CONFLICT` from it: the rows cross the wire in
COPY's format instead of as bind parameters (bench/bench_load.py: ~1.4x executemany; a multi-row VALUES
statement was 16x slower still, its compilation dominating). Smaller batches, and SQLite, execute one compiled
`INSERT … ON CONFLICT` with the whole batch of parameter sets (executemany). Never one statement
per row.

Every upsert goes through `OnConflictInsert`, which SQLAlchemy's compiled cache can hold: the
dialects' own ON CONFLICT inserts have no cache key, so each execution compiled them again (about
a fifth of a small day's write in meta_fresh, P9).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import islice
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.visitors import InternalTraversal

# Bind-parameter ceilings: Postgres 65,535 per statement, SQLite 32,766 (3.32+).
_MAX_PARAMS = {"postgresql": 60_000, "sqlite": 30_000}
DEFAULT_BATCH_ROWS = 1_000
COPY_MIN_ROWS = 200


def dialect_insert(conn: Connection, table: sa.Table) -> Any:
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"upsert is not implemented for dialect {name!r}")


def _on_conflict(stmt: Any, columns: Sequence[str], key: Sequence[str]) -> Any:
    updates = {c: stmt.excluded[c] for c in columns if c not in key}
    if not updates:
        return stmt.on_conflict_do_nothing(index_elements=list(key))
    return stmt.on_conflict_do_update(index_elements=list(key), set_=updates)


class OnConflictInsert(Executable, ClauseElement):
    """`INSERT INTO table (columns) [SELECT …] ON CONFLICT (key) DO UPDATE SET` every non-key
    column (DO NOTHING when all are key), in the connection's dialect; without `select`, VALUES
    from the parameter sets it is executed with.

    Its cache key is the table, the columns, the key and the SELECT's own cache key (its bound
    values are extracted as in any cached statement), so SQLAlchemy compiles each shape once per
    engine and substitutes the values on every later execution.
    """

    __visit_name__ = "adspipe_on_conflict_insert"
    inherit_cache = False  # the cache key is `_traverse_internals`, below
    _traverse_internals = [
        ("table", InternalTraversal.dp_clauseelement),
        ("columns", InternalTraversal.dp_string_list),
        ("key", InternalTraversal.dp_string_list),
        ("select", InternalTraversal.dp_clauseelement),
    ]
    # What SQLCompiler reads off an INSERT it compiles (the rendered statement is one).
    _inline = False
    _return_defaults = False

    def __init__(
        self,
        table: sa.Table,
        columns: Sequence[str],
        key: Sequence[str],
        select: sa.Select[Any] | None = None,
    ) -> None:
        self.table, self.columns, self.key, self.select = table, list(columns), list(key), select


@compiles(OnConflictInsert)
def _compile_on_conflict_insert(element: OnConflictInsert, compiler: SQLCompiler, **kw: Any) -> str:
    name = compiler.dialect.name
    if name not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"upsert is not implemented for dialect {name!r}")
    stmt = (postgresql.insert if name == "postgresql" else sqlite.insert)(element.table)
    if element.select is not None:
        stmt = stmt.from_select(element.columns, element.select)
    return compiler.process(_on_conflict(stmt, element.columns, element.key), **kw)


def _key(table: sa.Table, key: Sequence[str] | None) -> list[str]:
    return list(key) if key else [c.name for c in table.primary_key.columns]


def _dedupe(batch: list[dict[str, Any]], key: Sequence[str]) -> list[dict[str, Any]]:
    """Last row wins per key: one statement may not update the same row twice."""
    by_key = {tuple(row[k] for k in key): row for row in batch}
    return list(by_key.values()) if len(by_key) != len(batch) else batch


def upsert_rows(
    conn: Connection,
    table: sa.Table,
    rows: Iterable[Mapping[str, Any]],
    *,
    key: Sequence[str] | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    use_copy: bool = True,
) -> int:
    """Upsert rows in batches (never one statement per row); returns the number of rows sent.

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
        batch = _dedupe(batch, key_cols)
        if use_copy and conn.dialect.name == "postgresql" and len(batch) >= COPY_MIN_ROWS:
            _copy_upsert(conn, table, columns, key_cols, batch)
        else:
            # One compiled statement, many parameter sets: the driver batches them (executemany).
            conn.execute(OnConflictInsert(table, columns, key_cols), batch)
        total += len(batch)


def _processors(
    conn: Connection, table: sa.Table, columns: Sequence[str]
) -> list[Callable[[Any], Any] | None]:
    return [table.c[c].type.bind_processor(conn.dialect) for c in columns]


def _copy_into(
    conn: Connection, target: str, table: sa.Table, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]
) -> None:
    """COPY rows (dicts with `columns`) into `target`, a table shaped like `table`."""
    quoted = ", ".join(f'"{c}"' for c in columns)
    processors = _processors(conn, table, columns)
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur, cur.copy(f'COPY "{target}" ({quoted}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([p(row[c]) if p else row[c] for c, p in zip(columns, processors, strict=True)])


def _copy_upsert(
    conn: Connection, table: sa.Table, columns: list[str], key: list[str], batch: list[dict[str, Any]]
) -> None:
    staging = f"_stage_{table.name}"
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        # LIKE copies the column types (not the constraints); lives until the transaction ends.
        cur.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{staging}" (LIKE "{table.name}") ON COMMIT DROP')
        cur.execute(f'TRUNCATE "{staging}"')
    _copy_into(conn, staging, table, columns, batch)
    stage = sa.table(staging, *(sa.column(c) for c in columns))
    select = sa.select(*(stage.c[c] for c in columns))
    conn.execute(OnConflictInsert(table, columns, key, select))


def copy_applies(conn: Connection, rows: int) -> bool:
    """Whether rows are written with COPY: on Postgres, from `COPY_MIN_ROWS` rows."""
    return conn.dialect.name == "postgresql" and rows >= COPY_MIN_ROWS


def copy_new_rows(conn: Connection, parts: Sequence[tuple[sa.Table, Sequence[Mapping[str, Any]]]]) -> bool:
    """COPY rows straight into their tables inside a savepoint (see `copy_applies`). False, with
    nothing written, when a key is already stored (the savepoint rolls back) or when COPY does
    not apply: the caller then upserts."""
    parts = [(table, rows) for table, rows in parts if rows]
    if not copy_applies(conn, sum(len(rows) for _, rows in parts)):
        return False
    try:
        with conn.begin_nested():
            for table, rows in parts:
                _copy_into(conn, table.name, table, list(rows[0]), rows)
    except psycopg.errors.UniqueViolation:
        return False
    return True


def insert_new_rows(conn: Connection, parts: Sequence[tuple[sa.Table, Sequence[Mapping[str, Any]]]]) -> None:
    """Write rows whose keys the caller found absent earlier in this transaction.

    On Postgres they are COPY'd straight into their tables (no staging table, no conflict
    handling: the cost of a plain COPY). Should a concurrent writer have inserted one of them in
    the meantime, the savepoint rolls back and every part goes through `upsert_rows` instead, so
    the result is an upsert either way. Elsewhere, or for few rows, `upsert_rows`.
    """
    if copy_new_rows(conn, parts):
        return
    for table, rows in parts:
        if rows:
            upsert_rows(conn, table, rows)


def upsert_from_select(
    conn: Connection,
    table: sa.Table,
    select: sa.Select[Any],
    columns: Sequence[str],
    *,
    key: Sequence[str] | None = None,
) -> int:
    """`INSERT INTO table (columns) SELECT … ON CONFLICT (key) DO UPDATE` in one statement."""
    return rows_written(conn.execute(upsert_select_statement(table, select, columns, key=key)))


def upsert_select_statement(
    table: sa.Table, select: sa.Select[Any], columns: Sequence[str], *, key: Sequence[str] | None = None
) -> OnConflictInsert:
    """The statement `upsert_from_select` executes: built once, it can run again with new values
    for the SELECT's bound parameters."""
    # SQLite needs a WHERE in the SELECT of an upsert to parse ON CONFLICT unambiguously.
    return OnConflictInsert(table, columns, _key(table, key), select.where(sa.true()))


def rows_written(result: sa.CursorResult[Any]) -> int:
    """An upsert's count of rows inserted or updated (0 when the driver cannot tell)."""
    return max(result.rowcount or 0, 0)
