"""Rows already in `COPY`'s text format: encoded wherever there is a free core, written in the
transaction that owns them.

Turning rows into COPY bytes (each value through its column's bind processor — JSON payloads
serialized, money quantized — then psycopg's formatter) is most of the Python work of a load.
`encode` is a pure function, so it can run in a worker process (`adspipe.workers`) while the
loader's own process talks to the API and to Postgres; `copy_encoded` then only ships the bytes.
The bytes are the ones `cursor.copy().write_row` sends for the same rows: the same processors
(those of SQLAlchemy's psycopg dialect, which the warehouse engine uses) and the same formatter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg._copy_base import TextFormatter  # psycopg's own row formatter (C in psycopg-binary)
from psycopg.adapt import Transformer
from sqlalchemy.dialects.postgresql import psycopg as pg_psycopg
from sqlalchemy.engine import Connection

from adspipe import jsonio
from adspipe.warehouse import schema

# As the warehouse engine's connections (see db.get_engine): JSON serialized by jsonio.dumps.
_DIALECT = pg_psycopg.dialect(json_serializer=jsonio.dumps)


@dataclass(frozen=True)
class CopyData:
    """Rows of one table in COPY text format (`columns` in order)."""

    table: str
    columns: tuple[str, ...]
    data: bytes
    rows: int


def encode(table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> CopyData:
    """COPY text for `rows` (dicts with the same keys, columns of `table`)."""
    if not rows:
        return CopyData(table.name, (), b"", 0)
    columns = tuple(rows[0])
    processors = [table.c[c].type.bind_processor(_DIALECT) for c in columns]
    formatter = TextFormatter(Transformer())
    out = bytearray()
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"rows for {table.name} must all have the same columns")
        out += formatter.write_row(
            [p(row[c]) if p else row[c] for c, p in zip(columns, processors, strict=True)]
        )
    out += formatter.end()
    return CopyData(table.name, columns, bytes(out), len(rows))


def _check_identifiers(part: CopyData) -> None:
    """The table and column names go into the COPY statement: only the schema's own."""
    table = schema.metadata.tables.get(part.table)
    if table is None or any(c not in table.c for c in part.columns):
        raise ValueError(f"not a warehouse table and its columns: {part.table!r} {part.columns!r}")


def copy_encoded(conn: Connection, parts: Sequence[CopyData]) -> bool:
    """COPY encoded rows straight into their tables, inside a savepoint of the caller's
    transaction. False, with nothing written, when a key is already stored (the savepoint rolls
    back): the caller then writes the same rows its checked way. Postgres only."""
    if conn.dialect.name != "postgresql":
        raise ValueError("encoded COPY needs Postgres")
    raw = conn.connection.driver_connection
    assert raw is not None
    try:
        with conn.begin_nested():
            for part in parts:
                if not part.rows:
                    continue
                _check_identifiers(part)
                quoted = ", ".join(f'"{c}"' for c in part.columns)
                with raw.cursor() as cur, cur.copy(f'COPY "{part.table}" ({quoted}) FROM STDIN') as copy:
                    copy.write(part.data)
    except psycopg.errors.UniqueViolation:
        return False
    return True
