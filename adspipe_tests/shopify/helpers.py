"""Helpers for the Shopify tests: a checksum of every table, mart and cursor reads, and the
scope check stubbed for CLI tests about other things."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.shopify import connect
from adspipe.shopify.client import ShopifyClient
from adspipe.warehouse import cursors, schema

# sync_runs is a log (one new row per run); everything else must be byte-identical after a re-run.
CHECKSUM_EXCLUDED = {"sync_runs"}


def canonical(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return value


def table_digests(engine: Engine) -> dict[str, str]:
    """Per table: a SHA-256 of its rows ordered by primary key."""
    out: dict[str, str] = {}
    with engine.connect() as conn:
        for table in schema.metadata.sorted_tables:
            if table.name in CHECKSUM_EXCLUDED:
                continue
            rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            digest = hashlib.sha256()
            for row in rows:
                digest.update(json.dumps([canonical(v) for v in row], default=str).encode())
                digest.update(b"\n")
            out[table.name] = f"{len(rows)}:{digest.hexdigest()[:16]}"
    return out


def mart(engine: Engine, store_id: int) -> dict[date, dict[str, Any]]:
    m = schema.daily_shopify_metrics
    with engine.connect() as conn:
        rows = conn.execute(sa.select(m).where(m.c.store_id == store_id).order_by(m.c.date)).all()
    return {r.date: dict(r._mapping) for r in rows}


def summary(engine: Engine, store_id: int) -> dict[date, dict[str, Any]]:
    s = schema.daily_summary
    with engine.connect() as conn:
        rows = conn.execute(sa.select(s).where(s.c.store_id == store_id).order_by(s.c.date)).all()
    return {r.date: dict(r._mapping) for r in rows}


def cursor(engine: Engine, connection_id: int) -> datetime | None:
    with engine.connect() as conn:
        return cursors.get_datetime_cursor(conn, connection_id, cursors.SHOPIFY_UPDATED_AT)


def facts(engine: Engine, shop_domain: str) -> dict[int, dict[str, Any]]:
    f = schema.fact_orders
    with engine.connect() as conn:
        rows = conn.execute(sa.select(f).where(f.c.shop_domain == shop_domain)).all()
    return {r.order_id: dict(r._mapping) for r in rows}


def sync_runs(engine: Engine, job: str | None = None) -> list[dict[str, Any]]:
    r = schema.sync_runs
    query = sa.select(r).order_by(r.c.sync_run_id)
    if job:
        query = query.where(r.c.job == job)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def grant_all_scopes(monkeypatch: Any) -> None:
    """`adspipe connect shopify` reads the app's scopes from the shop; for CLI tests about other
    things (fake shops that exist nowhere), the shop grants read_orders and read_all_orders."""

    def granted(shop_domain: str, token: str, client: ShopifyClient | None = None) -> connect.ScopeCheck:
        return connect.ScopeCheck(frozenset({"read_orders", "read_all_orders"}))

    monkeypatch.setattr(connect, "check_scopes", granted)
