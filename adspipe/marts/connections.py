"""Connection changes that move the marts: a store's daily_summary flags follow its live connections.

The warehouse's `connections` module only writes the connections table (it knows no mart); every
caller that changes which accounts a store has, or their currency or time zone, goes through here
so the store's existing `daily_summary` rows are rebuilt with the new flags.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection as DbConnection

from adspipe.marts.daily_summary import rebuild_daily_summary
from adspipe.warehouse import connections as conns
from adspipe.warehouse.connections import Connection
from adspipe.warehouse.schema import daily_summary


def refresh_store_summary(conn: DbConnection, store_id: int) -> None:
    """Rebuild the store's existing `daily_summary` rows: their currency / time-zone mismatch flags
    (and so ROAS / MER) follow the store's live connections, which just changed. Without this, a
    date no job touches again would keep the flags of before (e.g. a Shopify-only day of a store
    whose ad account's time zone became known later)."""
    dates = list(
        conn.execute(sa.select(daily_summary.c.date).where(daily_summary.c.store_id == store_id)).scalars()
    )
    if dates:
        rebuild_daily_summary(conn, [store_id], dates)


def connect(conn: DbConnection, **kwargs: Any) -> tuple[Connection, bool]:
    """`warehouse.connections.connect`, then the flags of the store it is in and of the store it
    left (a re-activated or moved account)."""
    before = conns.find_connection(conn, platform=kwargs["platform"], account_id=kwargs["account_id"])
    connection, created = conns.connect(conn, **kwargs)
    for store_id in {connection.store_id, before.store_id if before else None} - {None}:
        refresh_store_summary(conn, int(store_id))  # type: ignore[arg-type]
    return connection, created


def disconnect(conn: DbConnection, connection_id: int) -> Connection:
    found = conns.disconnect(conn, connection_id)
    refresh_store_summary(conn, found.store_id)
    return found


def set_account_info(conn: DbConnection, connection_id: int, *, timezone: str, currency: str) -> None:
    """Store the time zone and currency read from the platform; a change refreshes the flags."""
    changed = conns.set_account_info(conn, connection_id, timezone=timezone, currency=currency)
    if changed is not None:
        refresh_store_summary(conn, changed)
