"""One Shopify unit of work: orders written in one open transaction, committed with their marts.

A unit is the pages its job groups (`shopify_fresh`: one page; `sync_days`: one local day; the
7-day fill: the pages up to a day boundary, see `sync.fill_connection`). Rows are written as they
arrive, in batches of `settings.WRITE_BATCH_ORDERS` (few statements, bounded memory), and the
marts of every date the unit touched are rebuilt once, just before its commit: each commit leaves
facts and marts that agree, and a failure rolls the whole unit back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from types import TracebackType
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.marts.daily_summary import rebuild_daily_summary
from adspipe.shopify import load, settings
from adspipe.shopify.client import ShopInfo
from adspipe.shopify.transforms import OrderRows
from adspipe.warehouse import cursors
from adspipe.warehouse.connections import Connection
from adspipe.warehouse.sync_runs import Coverage

if TYPE_CHECKING:
    from adspipe.shopify.sync import ShopRun


class Unit:
    """Use as a context manager: leaving it with an exception rolls back what is not committed."""

    def __init__(
        self,
        engine: Engine,
        connection: Connection,
        shop: ShopInfo,
        result: ShopRun,
        *,
        skip_unchanged: bool,
        whole_days: Coverage | None = None,
        batch_orders: int = settings.WRITE_BATCH_ORDERS,
        assume_new: bool = False,
    ) -> None:
        self.engine, self.connection, self.shop, self.result = engine, connection, shop, result
        self.skip_unchanged, self.whole_days, self.batch_orders = skip_unchanged, whole_days, batch_orders
        # The fill of a new shop: orders are COPY'd without first reading which are stored, until
        # one turns out to be stored (a re-run); from then on every batch takes the checked path.
        self.assume_new = assume_new
        self._db: sa.Connection | None = None
        self._pending: list[OrderRows] = []
        self._encoded: list[load.EncodedOrders] = []  # see `add_encoded`
        self._read = 0
        self._written = 0
        self._dates: set[date] = set()
        self.first_date: date | None = None  # order dates the unit has read (the fill's day boundary)
        self.last_date: date | None = None

    def __enter__(self) -> Unit:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._db is not None:
            self._db.rollback()  # only reached with an uncommitted unit (commit() closes it)
            self._db.close()
            self._db = None

    def add(self, rows: Sequence[OrderRows]) -> None:
        """Take a page's rows; written to the open transaction once a batch is full."""
        self._pending.extend(rows)
        self._note([row.order_date for row in rows])

    def add_encoded(self, page: load.EncodedOrders) -> None:
        """Take a page encoded for COPY (the fill of a new shop, see `load.write_encoded_orders`);
        its rows take the checked path should the COPY not do."""
        self._encoded.append(page)
        self._note([row.order_date for row in page.rows])

    def _note(self, dates: list[date]) -> None:
        self._read += len(dates)
        if dates:
            low, high = min(dates), max(dates)
            self.first_date = low if self.first_date is None else min(self.first_date, low)
            self.last_date = high if self.last_date is None else max(self.last_date, high)
        if len(self._pending) + sum(len(p.rows) for p in self._encoded) >= self.batch_orders:
            self._flush()

    def _open(self) -> sa.Connection:
        if self._db is None:
            self._db = self.engine.connect()
            self._db.begin()
        return self._db

    def _flush(self) -> None:
        if self._encoded:
            pages, self._encoded = self._encoded, []
            written = (
                load.write_encoded_orders(self._open(), self.connection.account_id, pages)
                if self.assume_new
                else None
            )
            if written is not None and written.assumed_new_failed:
                self.assume_new = False
            if written is not None and not written.assumed_new_failed:
                self._written += written.written
                self._dates |= written.dates
            else:
                self._pending.extend(row for page in pages for row in page.rows)
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        written = load.write_orders(
            self._open(), self.connection.account_id, rows, skip_unchanged=self.skip_unchanged,
            assume_new=self.assume_new,
        )  # fmt: skip
        if written.assumed_new_failed:
            self.assume_new = False
        self._written += written.written
        self._dates |= written.dates

    def commit(self, *, cursor: datetime | None = None, rebuild_dates: Iterable[date] = ()) -> None:
        """Write what is pending, rebuild the touched dates' marts, move the cursor, commit.

        `whole_days`: mart rows only for these dates (see `sync.covered`); facts regardless.
        """
        self._flush()
        dates = {
            d
            for d in self._dates | set(rebuild_dates)
            if self.whole_days is None or self.whole_days.covers(d)
        }
        if dates or cursor is not None:
            db = self._open()
            if dates:
                self.result.mart_rows += load.rebuild_shopify_metrics(
                    db,
                    store_id=self.connection.store_id,
                    shop_domain=self.connection.account_id,
                    timezone=self.shop.timezone,
                    currency=self.shop.currency,
                    dates=dates,
                )
                rebuild_daily_summary(db, [self.connection.store_id], dates)
            if cursor is not None:
                cursors.advance_cursor(db, self.connection.connection_id, cursors.SHOPIFY_UPDATED_AT, cursor)
        if self._db is not None:
            self._db.commit()
            self._db.close()
            self._db = None
        if cursor is not None:
            self.result.cursor_after = max(cursor, self.result.cursor_after or cursor)
        self.result.orders_read += self._read
        self.result.orders_written += self._written
        self.result.dates |= dates
        self._read = self._written = 0
        self._dates = set()
        self.first_date = self.last_date = None
