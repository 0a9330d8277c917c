"""Shared tools for the reliability suites: warehouse dumps, Meta error answers for the
simulator's scripted answers, and a Shopify fake that misbehaves on cue.

The Shopify fake extends the platform tests' `FakeShopify` by subclassing: a queue of scripted
answers per shop, and a hook called before an answer (to disconnect a connection in the middle
of a run). The Meta cases use the simulator's scripted answers (simulator/scripted.py) instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.warehouse import schema
from adspipe_tests.shopify.fakes import FakeShopify
from adspipe_tests.shopify.helpers import canonical

Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]

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


class ScriptedShopify(FakeShopify):
    """FakeShopify plus scripted answers: `script[domain]` is a queue of answers (a response, or a
    callable of the request) used for that shop's orders requests before the in-memory shop
    answers; `always[domain]` answers every orders request; `before_orders` runs first."""

    def __init__(self) -> None:
        super().__init__()
        self.script: dict[str, list[Answer]] = {}
        self.always: dict[str, Answer] = {}
        self.before_orders: Callable[[str, dict[str, Any]], None] | None = None
        self.served: list[tuple[str, dict[str, Any]]] = []

    def answer_normally(self, request: httpx.Request) -> httpx.Response:
        return super().__call__(request)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        domain = request.url.host
        body = json.loads(request.content)
        variables = body.get("variables") or {}
        if "first" in variables:
            self.served.append((domain, variables))
            if self.before_orders is not None:
                self.before_orders(domain, variables)
            answer: Answer | None = None
            if self.script.get(domain):
                answer = self.script[domain].pop(0)
            elif domain in self.always:
                answer = self.always[domain]
            if answer is not None:
                self.requests.append((domain, variables))
                return answer(request) if callable(answer) else answer
        return super().__call__(request)


def meta_error(
    status: int, code: int, message: str, subcode: int | None = None
) -> tuple[int, dict[str, Any]]:
    """A Graph API error answer (status, body), for the simulator's scripted answers."""
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Ab1"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return status, {"error": error}
