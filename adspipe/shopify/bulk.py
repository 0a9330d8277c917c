"""Shopify bulk query operations for history: one `bulkOperationRunQuery` per run's range.

Admin API 2026-10 (the pinned version) facts this module relies on (see docs/architecture.md):
- an operation is polled by id with `bulkOperation(id:)`; `currentBulkOperation` is deprecated in
  this version and names only the app's most recent operation, which cannot tell ours apart when
  several run;
- `BulkOperationStatus`: CREATED, RUNNING, COMPLETED, CANCELING, CANCELED, FAILED (with
  `errorCode` ACCESS_DENIED, INTERNAL_SERVER_ERROR or TIMEOUT), EXPIRED (the result is gone);
- from 2026-01 an app runs up to five bulk queries per shop at once; past that the mutation answers
  `userErrors[].code` LIMIT_REACHED (OPERATION_IN_PROGRESS before 2026-01);
- the result is a JSONL file at a signed `url` (null when nothing matched) that expires: a fresh
  URL comes with every read of the operation; the operation itself EXPIRES 7 days after it
  completed.

What each outcome does (`BulkRun.result`):
- COMPLETED: its url is returned (re-read for a fresh one when the download is refused);
- FAILED ACCESS_DENIED: `PermanentApiError` naming the scope (like a paged ACCESS_DENIED);
- FAILED TIMEOUT / INTERNAL_SERVER_ERROR, CANCELED, EXPIRED: a new operation, up to
  `settings.BULK_MAX_STARTS` in all; then `BulkUnavailable` (the caller pages those days);
- LIMIT_REACHED / OPERATION_IN_PROGRESS: wait `BULK_LIMIT_WAIT_S` and try again, up to
  `BULK_LIMIT_WAIT_MAX_S`; then `BulkUnavailable`;
- still not finished after `BULK_POLL_TIMEOUT_S`: cancelled, then `BulkUnavailable`.

The operation's id is remembered in `sync_cursors` (key `shopify_bulk:<first>:<last>`, per range)
as soon as Shopify returns it, so a run killed while polling or downloading finds it again and
reuses it (same query text) instead of starting a second one; operations running with the same
query text are found through `bulkOperations` too (a kill between the mutation and the write).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.errors import PermanentApiError, TransientApiError
from adspipe.shopify import queries, settings
from adspipe.shopify.client import ShopSession
from adspipe.warehouse.schema import sync_cursors
from adspipe.warehouse.upsert import dialect_insert

logger = logging.getLogger(__name__)

OPERATION_FIELDS = (
    "id status errorCode objectCount rootObjectCount fileSize url partialDataUrl createdAt completedAt query"
)
RUN_MUTATION = f"""
mutation BulkOrders($document: String!) {{
  bulkOperationRunQuery(query: $document, groupObjects: true) {{
    bulkOperation {{ {OPERATION_FIELDS} }}
    userErrors {{ code field message }}
  }}
}}
""".strip()
POLL_QUERY = f"""
query BulkOperation($id: ID!) {{
  bulkOperation(id: $id) {{ {OPERATION_FIELDS} }}
}}
""".strip()
RECENT_QUERY = f"""
query RecentBulkOperations {{
  bulkOperations(first: 10, query: "operation_type:query", sortKey: CREATED_AT, reverse: true) {{
    nodes {{ {OPERATION_FIELDS} }}
  }}
}}
""".strip()
CANCEL_MUTATION = f"""
mutation BulkOperationCancel($id: ID!) {{
  bulkOperationCancel(id: $id) {{
    bulkOperation {{ {OPERATION_FIELDS} }}
    userErrors {{ field message }}
  }}
}}
""".strip()
ACTIVE = ("CREATED", "RUNNING", "CANCELING")
RESTARTABLE = ("CANCELED", "EXPIRED", "FAILED")
BUSY_CODES = ("LIMIT_REACHED", "OPERATION_IN_PROGRESS")


def orders_document(search: str) -> str:
    """The bulk query: every order of the search with its line items (a nested connection: one
    JSONL line each, with `__parentId`) and refunds (a list: inside the order's line)."""
    return f"""
{{
  orders(query: {json.dumps(search)}, sortKey: CREATED_AT) {{
    edges {{
      node {{
{queries.ORDER_SCALARS}
lineItems {{ edges {{ node {{ {queries.LINE_ITEM_FIELDS} }} }} }}
{queries.REFUNDS}
      }}
    }}
  }}
}}
""".strip()


class BulkUnavailable(TransientApiError):
    """The bulk path could not read the range this time; the caller pages its days instead."""


@dataclass(frozen=True)
class Operation:
    id: str
    status: str
    error_code: str | None
    object_count: int
    url: str | None
    query: str

    @classmethod
    def parse(cls, node: dict[str, Any]) -> Operation:
        return cls(
            id=str(node["id"]),
            status=str(node["status"]),
            error_code=node.get("errorCode"),
            object_count=int(node.get("objectCount") or 0),
            url=node.get("url"),
            query=str(node.get("query") or ""),
        )


# -- the remembered operation (sync_cursors, no schema change) --------------------------------------


def memory_key(first: date, last: date) -> str:
    return f"shopify_bulk:{first.isoformat()}:{last.isoformat()}"


def remembered(engine: Engine, connection_id: int, key: str) -> str | None:
    with engine.connect() as db:
        return db.execute(
            sa.select(sync_cursors.c.value).where(
                sync_cursors.c.connection_id == connection_id, sync_cursors.c.cursor_key == key
            )
        ).scalar_one_or_none()


def remember(engine: Engine, connection_id: int, key: str, operation_id: str | None) -> None:
    """Store (or, with None, forget) the range's operation id; it is an id, not a forward cursor."""
    with engine.begin() as db:
        if operation_id is None:
            db.execute(
                sa.delete(sync_cursors).where(
                    sync_cursors.c.connection_id == connection_id, sync_cursors.c.cursor_key == key
                )
            )
            return
        stmt = dialect_insert(db, sync_cursors).values(
            connection_id=connection_id, cursor_key=key, value=operation_id, updated_at=datetime.now(UTC)
        )
        db.execute(
            stmt.on_conflict_do_update(
                index_elements=["connection_id", "cursor_key"],
                set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
            )
        )


# -- one range's operation ----------------------------------------------------------------------------


class BulkRun:
    """Start (or find again), poll and finish one bulk query for one range of one shop."""

    def __init__(
        self, session: ShopSession, engine: Engine, connection_id: int, key: str, document: str,
        *, log: Callable[[str], None] | None = None,
    ) -> None:  # fmt: skip
        self.session, self.engine, self.connection_id, self.key = session, engine, connection_id, key
        self.document = document
        self.log = log or logger.info
        self.client = session.client
        self.started = 0  # operations this run created
        self.reused: str | None = None  # the id of an operation found again, when one was

    # the API calls

    def _get(self, operation_id: str) -> Operation | None:
        data = self.session.execute(POLL_QUERY, {"id": operation_id}, cost_key=("bulk_poll", "", 0))
        node = data.get("bulkOperation")
        return Operation.parse(node) if isinstance(node, dict) else None

    def _start(self) -> Operation | str:
        """The new operation, or the userErrors code that refused it."""
        data = self.session.execute(RUN_MUTATION, {"document": self.document}, cost_key=("bulk_run", "", 0))
        payload = data.get("bulkOperationRunQuery") or {}
        errors = payload.get("userErrors") or []
        if errors:
            code = str(errors[0].get("code") or "")
            if code in BUSY_CODES:
                return code
            messages = "; ".join(str(e.get("message")) for e in errors)
            raise PermanentApiError(
                f"{self.session.shop_domain}: bulkOperationRunQuery refused: {code} {messages}"
            )
        operation = Operation.parse(payload["bulkOperation"])
        self.started += 1
        remember(self.engine, self.connection_id, self.key, operation.id)
        return operation

    def cancel(self, operation_id: str) -> None:
        self.session.execute(CANCEL_MUTATION, {"id": operation_id}, cost_key=("bulk_cancel", "", 0))

    def _twins(self) -> list[Operation]:
        """Recent operations running our query, newest first."""
        data = self.session.execute(RECENT_QUERY, {}, cost_key=("bulk_recent", "", 0))
        found = [Operation.parse(node) for node in (data.get("bulkOperations") or {}).get("nodes") or []]
        return [o for o in found if o.query == self.document and o.status in ("CREATED", "RUNNING")]

    def _found_again(self) -> Operation | None:
        """The operation a killed run left for this range (remembered, or running with our query)."""
        known = remembered(self.engine, self.connection_id, self.key)
        if known:
            operation = self._get(known)
            if operation is not None and operation.query == self.document:
                return operation
        for operation in self._twins():
            remember(self.engine, self.connection_id, self.key, operation.id)
            return operation
        return None

    def _cancel_twins(self, ours: str) -> None:
        """A mutation retried after its answer was lost (a dropped connection) started an operation
        nobody polls: cancel every other one running our query, so none is left to hold a slot."""
        for twin in self._twins():
            if twin.id != ours:
                self.cancel(twin.id)

    # the lifecycle

    def _new(self) -> Operation:
        waited = 0.0
        while True:
            retried = self.session.stats.retries
            started = self._start()
            if isinstance(started, Operation):
                if self.session.stats.retries > retried:
                    self._cancel_twins(started.id)
                return started
            if waited >= settings.BULK_LIMIT_WAIT_MAX_S:
                raise BulkUnavailable(
                    f"{self.session.shop_domain}: no bulk operation slot after {waited:g} s ({started}); "
                    "the range is read page by page"
                )
            self.client.sleep(settings.BULK_LIMIT_WAIT_S)
            waited += settings.BULK_LIMIT_WAIT_S

    def _wait(self, operation: Operation) -> Operation:
        """Poll until the operation leaves CREATED/RUNNING/CANCELING (backoff up to the max interval)."""
        deadline = self.client.monotonic() + settings.BULK_POLL_TIMEOUT_S
        interval = settings.BULK_POLL_INTERVAL_S
        while operation.status in ACTIVE:
            if self.client.monotonic() + interval > deadline:
                if operation.status != "CANCELING":
                    self.cancel(operation.id)
                remember(self.engine, self.connection_id, self.key, None)
                raise BulkUnavailable(
                    f"{self.session.shop_domain}: bulk operation {operation.id} still {operation.status} after "
                    f"{settings.BULK_POLL_TIMEOUT_S:g} s ({operation.object_count} objects); cancelled, "
                    "the range is read page by page"
                )
            self.client.sleep(interval)
            interval = min(settings.BULK_POLL_MAX_INTERVAL_S, interval * 1.5)
            found = self._get(operation.id)
            if found is None:
                raise BulkUnavailable(f"{self.session.shop_domain}: bulk operation {operation.id} vanished")
            operation = found
        return operation

    def result(self, *, fresh: bool = False) -> str | None:
        """The COMPLETED operation's result URL (None: nothing matched). `fresh`: a new URL for the
        operation this run already completed (the previous one expired)."""
        operation = None if fresh else self._found_again()
        if operation is not None:
            self.reused = operation.id
        elif fresh and (known := remembered(self.engine, self.connection_id, self.key)):
            operation = self._get(known)
        while True:
            if operation is None:
                if self.started >= settings.BULK_MAX_STARTS:
                    remember(self.engine, self.connection_id, self.key, None)
                    raise BulkUnavailable(
                        f"{self.session.shop_domain}: {self.started} bulk operations did not complete; "
                        "the range is read page by page"
                    )
                operation = self._new()
            operation = self._wait(operation)
            if operation.status == "COMPLETED":
                return operation.url
            if operation.status == "FAILED" and operation.error_code == "ACCESS_DENIED":
                remember(self.engine, self.connection_id, self.key, None)
                raise PermanentApiError(
                    f"{self.session.shop_domain}: bulk operation {operation.id} failed: ACCESS_DENIED: the app "
                    f"is missing the {settings.ORDERS_SCOPE} (and {settings.ALL_ORDERS_SCOPE}) scope"
                )
            why = f"{operation.status} {operation.error_code or ''}".strip()
            self.log(f"{self.session.shop_domain}: bulk operation {operation.id} ended {why}; starting again")
            operation = None

    def finished(self) -> None:
        """Every day of the range committed: forget the operation."""
        remember(self.engine, self.connection_id, self.key, None)


class UrlRefused(Exception):
    """The signed result URL was refused (expired): read the operation again for a fresh one."""


def stream_lines(session: ShopSession, url: str) -> Iterator[bytes]:
    """The result file's lines, streamed (never the whole file in memory). A 401/403/404/410 is
    `UrlRefused`; other failures are `TransientApiError` (the caller downloads again)."""
    client = session.client
    try:
        with client.http().stream("GET", url) as response:
            if response.status_code in (401, 403, 404, 410):
                raise UrlRefused(f"HTTP {response.status_code}")
            if response.status_code != 200:
                raise TransientApiError(f"bulk result download: HTTP {response.status_code}")
            for line in response.iter_lines():
                if line:
                    yield line.encode()
    except httpx.HTTPError as exc:
        raise TransientApiError(f"bulk result download: {type(exc).__name__}: {exc}") from None
