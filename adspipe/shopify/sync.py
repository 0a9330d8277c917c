"""The Shopify jobs in plain Python (no Dagster): `shopify_7d_fill`, `shopify_fresh`, and one day.

Every page is one unit, committed in ONE transaction: raw upsert, then facts, then the marts
(`daily_shopify_metrics`, `daily_summary`) of the local dates that page touched, then (fresh)
the cursor. A crash therefore leaves whole pages, with marts that agree with their facts, and a
cursor that never covers uncommitted data.

- `shopify_7d_fill`: orders created since the local midnight of the date of now − 7 days (a
  superset of the seed's `created_at >= now − 7d`, so that the first local date of the window is
  a whole day in the marts, not a partial one), sorted by CREATED_AT. Sets the cursor to the
  latest `updatedAt` it read when there is none yet.
- `shopify_fresh`: orders with `updated_at >= cursor` sorted by UPDATED_AT (with no cursor yet:
  since now − 7 days); orders equal to the stored version are no change. Stops at its time budget
  after a committed page; the next run continues from the cursor.
- `sync_days`: local dates of each shop, one unit per day (the partitioned assets, backfills).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe import clock
from adspipe.clock import parse_instant
from adspipe.counters import DayStats, SyncStats
from adspipe.errors import DayUnavailable
from adspipe.marts import connections as store_changes
from adspipe.platform.engine import ConnectionRun, SyncResult, commit_days, run_connections
from adspipe.shopify import bulk_read, load, queries, settings
from adspipe.shopify.client import (
    OrdersPage,
    ShopCallStats,
    ShopifyClient,
    ShopInfo,
    ShopSession,
    TimeBudgetExceeded,
    version_mismatch_message,
)
from adspipe.shopify.platform import SPEC
from adspipe.shopify.scopes import check_scopes, missing_all_orders_error, oldest_readable_day
from adspipe.shopify.transforms import OrderRows, local_date, local_midnight, order_rows
from adspipe.shopify.unit import Unit
from adspipe.streams import read_ahead
from adspipe.warehouse import cursors
from adspipe.warehouse.connections import Connection
from adspipe.warehouse.sync_runs import Coverage, coverage


class FillIncomplete(Exception):
    """The fill hit its time budget before reading the whole window; committed pages stay."""


@dataclass
class ShopRun(ConnectionRun):
    """What one shop's sync did: Dagster metadata and materializations are built from it."""

    shop: ShopInfo | None = None
    orders_read: int = 0
    orders_written: int = 0
    mart_rows: int = 0
    dates: set[date] = field(default_factory=set)
    calls: ShopCallStats = field(default_factory=ShopCallStats)
    cursor_before: datetime | None = None
    cursor_after: datetime | None = None
    stopped_at_budget: bool = False
    totals: dict[date, load.DayTotals] = field(default_factory=dict)

    def committed(self) -> set[date]:
        return self.dates


ShopifyResult = SyncResult[ShopRun]


def fill_window(now: datetime, timezone: str) -> tuple[date, date]:
    return local_date(now - settings.FILL_LOOKBACK, timezone), local_date(now, timezone)


def _commit(
    engine: Engine,
    connection: Connection,
    shop: ShopInfo,
    nodes: Sequence[dict[str, Any]],
    result: ShopRun,
    *,
    skip_unchanged: bool,
    advance_cursor: bool,
    rebuild_dates: Iterable[date] = (),
    whole_days: Coverage | None = None,
) -> list[date]:
    """One page (fresh) or one day (sync_days) as one unit: raw, facts, marts, then the cursor.

    Returns the committed orders' local dates (one per order)."""
    rows = _rows(connection, shop, nodes)
    with Unit(engine, connection, shop, result, skip_unchanged=skip_unchanged, whole_days=whole_days) as unit:
        unit.add(rows)
        cursor = max((r.updated_at for r in rows), default=None) if advance_cursor else None
        unit.commit(cursor=cursor, rebuild_dates=rebuild_dates)
    return [r.order_date for r in rows]


def _calls(stats: ShopCallStats) -> DayStats:
    return DayStats(
        pages=stats.pages, api_calls=stats.api_calls, throttled=stats.throttled, retries=stats.retries,
        throttle_wait_s=stats.throttled_wait_s, pace_wait_s=stats.pace_wait_s,
    )  # fmt: skip


def _charge(result: ShopRun, dates: Sequence[date], calls: DayStats) -> None:
    """A page's orders count for their dates; its calls for the earliest date it holds."""
    for day in dates:
        result.day_stats.setdefault(day, DayStats()).rows += 1
    if dates:
        result.day_stats[min(dates)].add(calls)


def _rows(connection: Connection, shop: ShopInfo, nodes: Iterable[dict[str, Any]]) -> list[OrderRows]:
    return [
        order_rows(node, shop_domain=connection.account_id, connection_id=connection.connection_id,
                   store_id=connection.store_id, timezone=shop.timezone, shop_currency=shop.currency)
        for node in nodes
    ]  # fmt: skip


def _start(
    engine: Engine, client: ShopifyClient, connection: Connection, budget_s: float
) -> tuple[ShopSession, float]:
    deadline = client.monotonic() + budget_s
    return client.session(connection.account_id, connection.token(), deadline=deadline), deadline


def _store_shop(engine: Engine, connection: Connection, shop: ShopInfo, result: ShopRun) -> None:
    with engine.begin() as db:
        store_changes.set_account_info(
            db, connection.connection_id, timezone=shop.timezone, currency=shop.currency
        )
    result.shop = shop


def _finish(engine: Engine, result: ShopRun, session: ShopSession, stats: SyncStats) -> None:
    result.calls = session.stats
    stats.api_version = session.stats.api_version
    stats.api_version_served = session.stats.api_version_served
    stats.rows += result.orders_written
    stats.api_calls += session.stats.api_calls
    stats.throttled += session.stats.throttled
    stats.throttle_wait_s += session.stats.throttle_wait_s  # throttle answers and pacing
    stats.dates |= result.dates
    if result.dates:
        with engine.connect() as db:
            result.totals = load.mart_totals(db, result.connection.store_id, result.dates)


def fill_connection(
    engine: Engine, client: ShopifyClient, connection: Connection, now: datetime, stats: SyncStats,
    result: ShopRun, *, budget_s: float = settings.FILL_TIME_BUDGET_S,
) -> None:  # fmt: skip
    session, deadline = _start(engine, client, connection, budget_s)
    try:
        shop = session.shop_info()
        _store_shop(engine, connection, shop, result)
        check_scopes(session)  # the 7-day window never needs read_all_orders
        window = fill_window(now, shop.timezone)
        result.window = window  # the sync_runs window, once the shop's time zone is known
        since = local_midnight(window[0], shop.timezone)
        latest: datetime | None = None

        def encoded() -> Iterator[tuple[OrdersPage, load.EncodedOrders, DayStats]]:
            seen = _calls(session.stats)  # the reading thread makes every call: its deltas are the pages'
            for page in session.orders(queries.search_since("created_at", since), "CREATED_AT"):
                counters = _calls(session.stats)
                calls, seen = counters.minus(seen), counters
                yield page, load.encode_orders(_rows(connection, shop, page.orders)), calls

        # Pages are read ahead (one API request at a time), transformed and encoded for COPY in
        # the reading thread while earlier pages are written. A unit is the pages up to the
        # one that starts a later local date (pages come in CREATED_AT order, so the dates before
        # it are whole): marts are rebuilt once a day, not once a page.
        pages = read_ahead(encoded(), depth=8, name=f"shopify-read-{connection.connection_id}")
        try:
            with Unit(engine, connection, shop, result, skip_unchanged=False, assume_new=True) as unit:
                started = client.monotonic()
                for page, encoded_page, calls in pages:
                    unit.add_encoded(encoded_page)
                    _charge(result, [r.order_date for r in encoded_page.rows], calls)
                    if encoded_page.rows:
                        newest = max(r.updated_at for r in encoded_page.rows)
                        latest = max(newest, latest or newest)
                    if not page.has_next_page:
                        break
                    now_s = client.monotonic()
                    if unit.first_date != unit.last_date or now_s - started >= settings.FILL_UNIT_MAX_S:
                        unit.commit()
                        started = now_s
                    if now_s >= deadline:
                        unit.commit()
                        raise TimeBudgetExceeded("time budget reached between pages")
                unit.commit()
        except TimeBudgetExceeded:
            raise FillIncomplete(
                f"{connection.account_id}: the 7-day fill reached its {budget_s:g} s time budget after "
                f"{result.orders_read} orders; what was read is committed; run the fill again to finish"
            ) from None
        finally:
            pages.close()
        if latest is not None:
            with engine.begin() as db:
                cursors.set_cursor_if_empty(db, connection.connection_id, cursors.SHOPIFY_UPDATED_AT, latest)
            with engine.connect() as db:
                result.cursor_after = cursors.get_datetime_cursor(
                    db, connection.connection_id, cursors.SHOPIFY_UPDATED_AT
                )
    finally:
        _finish(engine, result, session, stats)


def covered(db: sa.Connection, connection_id: int) -> Coverage | None:
    """The local dates a fill or a partition range read whole for this connection (None: none yet).

    shopify_fresh sees an old order again when it is refunded or edited; the other orders of its
    date may never have been read, so a mart row rebuilt for that date would hold a fraction of the
    day. Dates outside the coverage get facts but no mart row (a backfill of those days builds them
    whole).
    """
    return coverage(db, settings.JOB_FILL, settings.JOB_PARTITIONS).get(connection_id)


def fresh_connection(
    engine: Engine, client: ShopifyClient, connection: Connection, now: datetime, stats: SyncStats,
    result: ShopRun, *, budget_s: float = settings.FRESH_TIME_BUDGET_S,
) -> None:  # fmt: skip
    with engine.connect() as db:
        result.cursor_before = cursors.get_datetime_cursor(
            db, connection.connection_id, cursors.SHOPIFY_UPDATED_AT
        )
        whole_days = covered(db, connection.connection_id)
    result.cursor_after = result.cursor_before
    since = result.cursor_before or now - settings.FRESH_DEFAULT_LOOKBACK
    session, deadline = _start(engine, client, connection, budget_s)
    try:
        pages = session.orders(queries.search_since("updated_at", since), "UPDATED_AT")
        seen = _calls(session.stats)
        try:
            for page in pages:
                counters = _calls(session.stats)
                calls, seen = counters.minus(seen), counters
                if result.shop is None:
                    _store_shop(engine, connection, page.shop, result)
                dates = _commit(
                    engine,
                    connection,
                    page.shop,
                    page.orders,
                    result,
                    skip_unchanged=True,
                    advance_cursor=True,
                    whole_days=whole_days,
                )
                _charge(result, dates, calls)
                if page.has_next_page and client.monotonic() >= deadline:
                    result.stopped_at_budget = True
                    break
        except TimeBudgetExceeded:
            result.stopped_at_budget = True
        finally:
            pages.close()
    finally:
        _finish(engine, result, session, stats)


def days_connection(
    engine: Engine, client: ShopifyClient, connection: Connection, days: Sequence[date], stats: SyncStats,
    result: ShopRun, *, now: datetime, budget_s: float | None = None,
) -> None:  # fmt: skip
    """Local dates of one shop, oldest first, each its own unit: every page of the day, one commit.
    `budget_s`: the range's time budget (default: RANGE_DAY_TIME_BUDGET_S per day).

    The day's mart row is rebuilt even when the day has no orders, so a stale row cannot survive.
    Without read_all_orders, a date older than 60 days fails alone, unread and unwritten.
    """
    budget = budget_s if budget_s is not None else settings.RANGE_DAY_TIME_BUDGET_S * max(1, len(days))
    session, _ = _start(engine, client, connection, budget)
    try:
        shop = session.shop_info()
        _store_shop(engine, connection, shop, result)
        oldest = oldest_readable_day(check_scopes(session), now, shop.timezone)
        # Days older than the fresh window may come from one bulk operation (bulk_read.plan_bulk).
        bulk = bulk_read.for_range(engine, session, connection.connection_id, shop, days, now, oldest)

        def paged(day: date) -> list[dict[str, Any]]:
            start = local_midnight(day, shop.timezone)
            end = local_midnight(day + timedelta(days=1), shop.timezone)
            search = (
                f"{queries.search_since('created_at', start)} AND {queries.search_before('created_at', end)}"
            )
            nodes = [n for page in session.orders(search, "CREATED_AT") for n in page.orders]
            # The search bounds are whole seconds: keep exactly the orders of this local date.
            return [n for n in nodes if local_date(_instant(n, "createdAt"), shop.timezone) == day]

        def fetch(day: date) -> tuple[list[dict[str, Any]], DayStats]:
            if oldest is not None and day < oldest:
                raise DayUnavailable(missing_all_orders_error(day, oldest))
            before = _calls(session.stats)
            nodes = bulk.read(day, paged) if bulk is not None else paged(day)
            return nodes, _calls(session.stats).minus(before)

        def write(day: date, fetched: tuple[list[dict[str, Any]], DayStats]) -> None:
            nodes, calls = fetched
            _commit(
                engine, connection, shop, nodes, result,
                skip_unchanged=False, advance_cursor=False, rebuild_dates=[day],
            )  # fmt: skip
            day_stats = result.day_stats.setdefault(day, DayStats())  # a day with no order too
            day_stats.add(calls)
            day_stats.rows += len(nodes)

        try:
            commit_days(result, sorted(days), fetch, write, job=settings.JOB_PARTITIONS)
        finally:
            if bulk is not None:
                bulk.close(all_committed=not set(bulk.days) & set(result.failed_days))
    finally:
        _finish(engine, result, session, stats)


def _instant(node: dict[str, Any], field_name: str = "updatedAt") -> datetime:
    return parse_instant(str(node[field_name]))


Work = Callable[[ShopRun, SyncStats], None]


def _run(
    engine: Engine, job: str, connection_id: int | None, work: Work, *,
    window: Callable[[Connection], tuple[date, date] | None], dagster_run_id: str | None,
    log: Callable[[str], None] | None,
) -> ShopifyResult:  # fmt: skip
    warned: set[tuple[str, str]] = set()

    def warn_version(run: ShopRun) -> None:
        calls = run.calls
        if log and calls.version_mismatch and calls.api_version and calls.api_version_served:
            pair = (calls.api_version, calls.api_version_served)
            if pair not in warned:  # once per run, not once per shop
                warned.add(pair)
                log(f"{job}: {version_mismatch_message(*pair)}")

    # Each connection gets its own sync_runs row and window (its own time zone).
    return run_connections(
        engine, SPEC.name, job, ShopRun, work, connection_id=connection_id, window=window,
        dagster_run_id=dagster_run_id, log=log, after_each=warn_version, settle_window=True,
    )  # fmt: skip


def _seed_job(
    job: str, connect: Callable[..., None], budget_s: float, engine: Engine, client: ShopifyClient, now: datetime,
    connection_id: int | None, dagster_run_id: str | None, log: Callable[[str], None] | None,
) -> ShopifyResult:  # fmt: skip
    """A seed job: `connect` (the fill or the fresh pass) for each connection, within `budget_s`."""

    def work(run: ShopRun, stats: SyncStats) -> None:
        connect(engine, client, run.connection, now, stats, run, budget_s=budget_s)

    return _run(
        engine, job, connection_id, work, dagster_run_id=dagster_run_id, log=log, window=lambda c: None
    )


def shopify_7d_fill(
    engine: Engine, client: ShopifyClient, now: datetime, *, connection_id: int | None = None,
    time_budget_s: float | None = None, dagster_run_id: str | None = None, log: Callable[[str], None] | None = None,
) -> ShopifyResult:  # fmt: skip
    budget = time_budget_s or settings.FILL_TIME_BUDGET_S
    return _seed_job(
        settings.JOB_FILL, fill_connection, budget, engine, client, now, connection_id, dagster_run_id, log
    )


def shopify_fresh(
    engine: Engine, client: ShopifyClient, now: datetime, *, connection_id: int | None = None,
    time_budget_s: float | None = None, dagster_run_id: str | None = None, log: Callable[[str], None] | None = None,
) -> ShopifyResult:  # fmt: skip
    budget = time_budget_s or settings.FRESH_TIME_BUDGET_S
    return _seed_job(
        settings.JOB_FRESH, fresh_connection, budget, engine, client, now, connection_id, dagster_run_id, log
    )


def sync_days(
    engine: Engine, client: ShopifyClient, days: list[date], *, connection_id: int | None = None,
    now: datetime | None = None, dagster_run_id: str | None = None, log: Callable[[str], None] | None = None,
) -> ShopifyResult:  # fmt: skip
    """A partition range: every day its own unit (own calls, own commit), oldest first. `now`
    (default: `adspipe.clock.now()`) decides which dates are past Shopify's 60-day window."""
    ordered = sorted(days)
    at = now or clock.now()

    def work(run: ShopRun, stats: SyncStats) -> None:
        days_connection(engine, client, run.connection, ordered, stats, run, now=at)

    return _run(
        engine, settings.JOB_PARTITIONS, connection_id, work, dagster_run_id=dagster_run_id, log=log,
        window=lambda c: (ordered[0], ordered[-1]) if ordered else None,
    )  # fmt: skip
