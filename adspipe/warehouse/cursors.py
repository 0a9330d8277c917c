"""Cursors that only move forward, enforced by the UPDATE's own WHERE (no read-then-write race)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adspipe.warehouse.schema import sync_cursors
from adspipe.warehouse.upsert import dialect_insert

SHOPIFY_UPDATED_AT = "last_synced_order_updated_at"
META_WINDOW_END = "meta_last_window_end"


def cursor_value(value: datetime | date | str) -> str:
    """Normalise so that byte order equals time order."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("cursor datetimes must be timezone-aware")
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def advance_cursor(conn: Connection, connection_id: int, key: str, value: datetime | date | str) -> bool:
    """Set the cursor to `value` unless the stored value is already higher; True if it moved."""
    normalised = cursor_value(value)
    stmt = dialect_insert(conn, sync_cursors).values(
        connection_id=connection_id, cursor_key=key, value=normalised, updated_at=datetime.now(UTC)
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["connection_id", "cursor_key"],
        set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
        where=sync_cursors.c.value < stmt.excluded.value,
    )
    # RETURNING, not rowcount: drivers disagree on rowcount for upserts.
    return conn.execute(stmt.returning(sync_cursors.c.value)).first() is not None


def set_cursor_if_empty(conn: Connection, connection_id: int, key: str, value: datetime | date | str) -> bool:
    """Write the cursor only when none exists (the 7-day fills' rule)."""
    stmt = dialect_insert(conn, sync_cursors).values(
        connection_id=connection_id, cursor_key=key, value=cursor_value(value), updated_at=datetime.now(UTC)
    )
    return conn.execute(stmt.on_conflict_do_nothing().returning(sync_cursors.c.value)).first() is not None


def get_cursor(conn: Connection, connection_id: int, key: str) -> str | None:
    return conn.execute(
        sa.select(sync_cursors.c.value).where(
            sync_cursors.c.connection_id == connection_id, sync_cursors.c.cursor_key == key
        )
    ).scalar_one_or_none()


def get_datetime_cursor(conn: Connection, connection_id: int, key: str) -> datetime | None:
    value = get_cursor(conn, connection_id, key)
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def get_date_cursor(conn: Connection, connection_id: int, key: str) -> date | None:
    value = get_cursor(conn, connection_id, key)
    return date.fromisoformat(value) if value else None
