"""A partition range's days read through one bulk operation, handed to the per-day loop.

`plan_bulk` decides which days of a range take the bulk path (see docs/performance.md). `BulkDays`
runs the range's operation (adspipe.shopify.bulk) on the first day the loop asks for, streams the
JSONL result line by line, puts every order back together with its line items (`__parentId`
lines, right after their order: the query asks `groupObjects: true`), shapes it exactly as the
orders query returns it (`queries.ORDER_KEYS`; `lineItems` complete, `pageInfo` closed) and spills
it to a per-local-day file on disk. `nodes(day)` then hands the loop one day's orders, in the
paged path's order (createdAt, id), and `sync.days_connection` commits them through the same
transforms, COPY path and per-day units as a paged day: a bulk day and a paged day are the same
rows. Memory holds one order and one day at a time, never the file.

A failure the bulk path cannot get past (`BulkUnavailable`) makes `covers(day)` false: the loop
then pages those days. An expired result URL is answered by re-reading the operation for a
fresh URL (`BULK_MAX_DOWNLOADS` downloads in all), then by a new operation.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe import jsonio
from adspipe import settings as app_settings
from adspipe.clock import parse_instant
from adspipe.errors import TransientApiError
from adspipe.shopify import bulk, queries, settings
from adspipe.shopify.client import ShopInfo, ShopSession
from adspipe.shopify.transforms import local_date, local_midnight, order_id_of
from adspipe.warehouse.schema import fact_orders

OPEN_FILES = 16  # per-day spill files kept open at once


class BulkFormatError(TransientApiError):
    """A JSONL line that does not fit (a child before its order): the range is paged instead."""


def plan_bulk(
    days: Sequence[date], *, today: date, orders_per_day: float, mode: str | None = None
) -> list[date]:
    """The days of a range read through one bulk operation (the rest are paged).

    `never`: none. `always`: all. `auto`: all of them when the range's estimated paged cost passes
    `settings.bulk_min_cost()`; else the days older than the fresh window (today − FILL_LOOKBACK,
    which the fill and shopify_fresh keep current by paging), when there are at least
    `BULK_MIN_DAYS` of them: a bulk operation's fixed latency (creation, polling) is not worth
    one or two days."""
    chosen = mode or app_settings.shopify_bulk_mode()
    if chosen == "never" or not days:
        return []
    if chosen == "always":
        return sorted(days)
    estimate = len(days) * orders_per_day * settings.PAGED_POINTS_PER_ORDER
    if estimate >= app_settings.shopify_bulk_min_cost(settings.BULK_MIN_COST_POINTS):
        return sorted(days)
    old = sorted(d for d in days if d < today - settings.FILL_LOOKBACK)
    return old if len(old) >= settings.BULK_MIN_DAYS else []


def recent_orders_per_day(engine: Engine, connection_id: int, today: date) -> float:
    """The connection's orders per day over its last stored week (0 when none are stored yet)."""
    since = today - timedelta(days=7)
    with engine.connect() as db:
        count = db.execute(
            sa.select(sa.func.count()).where(
                fact_orders.c.connection_id == connection_id, fact_orders.c.order_date >= since
            )
        ).scalar_one()
    return int(count) / 7.0


def assemble(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """Orders from the JSONL lines: each order line followed by its line items' lines."""
    current: dict[str, Any] | None = None
    items: list[dict[str, Any]] = []
    for raw in lines:
        obj = jsonio.loads(raw)
        parent = obj.pop("__parentId", None)
        if parent is None:
            if current is not None:
                yield _shaped(current, items)
            current, items = obj, []
            continue
        if current is None or parent != current.get("id"):
            raise BulkFormatError(f"bulk result: a line item of {parent} does not follow its order")
        items.append(obj)
    if current is not None:
        yield _shaped(current, items)


def _shaped(order: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    """The order as the orders query returns it once every line item is read."""
    line_items = {"pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": items}
    return {key: line_items if key == "lineItems" else order.get(key) for key in queries.ORDER_KEYS}


class Spill:
    """Orders appended to one file per local date (a temporary directory), read back per day."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="adspipe-bulk-"))
        self._open: OrderedDict[date, IO[bytes]] = OrderedDict()
        self.orders = 0

    def _path(self, day: date) -> Path:
        return self.root / f"{day.isoformat()}.jsonl"

    def add(self, day: date, node: dict[str, Any]) -> None:
        handle = self._open.pop(day, None)
        if handle is None:
            handle = self._path(day).open("ab")
            if len(self._open) >= OPEN_FILES:
                self._open.popitem(last=False)[1].close()
        self._open[day] = handle
        handle.write(json.dumps(node, separators=(",", ":"), ensure_ascii=False).encode() + b"\n")
        self.orders += 1

    def flush(self) -> None:
        for handle in self._open.values():
            handle.close()
        self._open.clear()

    def day(self, day: date) -> list[dict[str, Any]]:
        self.flush()
        path = self._path(day)
        if not path.exists():
            return []
        with path.open("rb") as f:
            return [jsonio.loads(line) for line in f if line.strip()]

    def close(self) -> None:
        self.flush()
        shutil.rmtree(self.root, ignore_errors=True)


class BulkDays:
    """The bulk part of one connection's range: read once, then handed out a day at a time."""

    def __init__(
        self, session: ShopSession, engine: Engine, connection_id: int, shop: ShopInfo, days: Sequence[date],
        *, log: Callable[[str], None] | None = None,
    ) -> None:  # fmt: skip
        self.session, self.shop = session, shop
        self.days = sorted(days)
        first, last = self.days[0], self.days[-1]
        start, end = (
            local_midnight(first, shop.timezone),
            local_midnight(last + timedelta(days=1), shop.timezone),
        )
        search = f"{queries.search_since('created_at', start)} AND {queries.search_before('created_at', end)}"
        self.run = bulk.BulkRun(
            session,
            engine,
            connection_id,
            bulk.memory_key(first, last),
            bulk.orders_document(search),
            log=log,
        )
        self.log = log
        self.spill: Spill | None = None
        self.unavailable: str | None = None  # why the bulk path gave up (its days are paged)
        self.downloads = 0

    def covers(self, day: date) -> bool:
        return self.unavailable is None and day in self.days

    def nodes(self, day: date) -> list[dict[str, Any]]:
        """The day's orders (the first call reads the whole range). `BulkUnavailable` → page it."""
        if self.spill is None:
            try:
                self.spill = self._read()
            except bulk.BulkUnavailable as exc:
                self.unavailable = str(exc)
                if self.log:
                    self.log(str(exc))
                raise
        nodes = self.spill.day(day)
        nodes.sort(key=lambda n: (parse_instant(str(n["createdAt"])), order_id_of(n)))
        return nodes

    def _read(self) -> Spill:
        url = self.run.result()
        wanted = set(self.days)
        for _ in range(settings.BULK_MAX_DOWNLOADS):
            spill = Spill()
            try:
                if url is not None:
                    for node in assemble(bulk.stream_lines(self.session, url)):
                        day = local_date(parse_instant(str(node["createdAt"])), self.shop.timezone)
                        if day in wanted:  # the search bounds are whole seconds
                            spill.add(day, node)
                self.downloads += 1
                return spill
            except bulk.UrlRefused:
                spill.close()
                url = self.run.result(fresh=True)
            except (TransientApiError, ValueError) as exc:
                spill.close()
                if isinstance(exc, BulkFormatError):
                    raise bulk.BulkUnavailable(str(exc)) from None
                url = self.run.result(fresh=True)
        raise bulk.BulkUnavailable(
            f"{self.session.shop_domain}: the bulk result could not be downloaded in "
            f"{settings.BULK_MAX_DOWNLOADS} tries; the range is read page by page"
        )

    def close(self, *, all_committed: bool) -> None:
        if self.spill is not None:
            self.spill.close()
        if all_committed and self.unavailable is None and self.spill is not None:
            self.run.finished()

    def read(self, day: date, paged: Callable[[date], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """The day's orders from the bulk result, or `paged(day)` when the bulk path gave up."""
        if self.covers(day):
            try:
                return self.nodes(day)
            except bulk.BulkUnavailable:
                pass  # logged once; this day and the rest of the range are paged
        return paged(day)


def for_range(
    engine: Engine, session: ShopSession, connection_id: int, shop: ShopInfo, days: Sequence[date],
    now: datetime, oldest: date | None, *, log: Callable[[str], None] | None = None,
) -> BulkDays | None:  # fmt: skip
    """The bulk reader of a range's days (`plan_bulk`), or None when every day is paged. Days
    Shopify hides without read_all_orders (before `oldest`) are left to the per-day check."""
    readable = [d for d in days if oldest is None or d >= oldest]
    today = local_date(now, shop.timezone)
    mode = app_settings.shopify_bulk_mode()
    rate = recent_orders_per_day(engine, connection_id, today) if mode == "auto" and readable else 0.0
    chosen = plan_bulk(readable, today=today, orders_per_day=rate, mode=mode)
    return BulkDays(session, engine, connection_id, shop, chosen, log=log) if chosen else None
