"""Shopify bulk query operations: `bulkOperationRunQuery`, `bulkOperation(id:)`, `bulkOperations`,
`bulkOperationCancel`, and the JSONL result at a signed URL that expires.

An operation's status follows the (injectable) monotonic clock: CREATED for
`Faults.shopify_bulk_start_s`, RUNNING while `objectCount` grows at `Faults.shopify_bulk_objects_per_s`
objects (orders + line items) per second, then COMPLETED, or the terminal state the next entry of
`Faults.shopify_bulk_outcomes` names (FAILED with TIMEOUT / INTERNAL_SERVER_ERROR, CANCELED,
EXPIRED). A shop without `read_orders` gets FAILED / ACCESS_DENIED. `bulkOperationCancel` goes
CANCELING then CANCELED. A shop runs at most `Faults.shopify_bulk_concurrency` bulk queries at
once (0: by version, 5 from 2026-01, 1 before: LIMIT_REACHED / OPERATION_IN_PROGRESS). Each read
of a COMPLETED operation signs its `url` anew, valid `Faults.shopify_bulk_url_ttl_s` (then 403);
`Faults.shopify_bulk_retention_s` after completion the operation is EXPIRED and has no `url`.

The result is generated when downloaded, line by line, from the world as of the operation's
creation (truth is unchanged): each order is a line, each of its line items a line with
`__parentId`, right after it (`groupObjects: true`) or after a block of orders (`false`, as
Shopify does not promise adjacency then). Nested lists (`refunds`) stay inside their order's line.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from adspipe.simulator.faults import Faults
from adspipe.simulator.gql import Compiler, Field, QueryError, Resolvers, run
from adspipe.simulator.shopify_resolvers import CONNECTION, EDGE, Ctx, Page, iter_orders
from adspipe.simulator.shopify_search import parse_search
from adspipe.simulator.util import iso_z

GID = "gid://shopify/BulkOperation/"
ACTIVE = ("CREATED", "RUNNING", "CANCELING")
CANCEL_S = 0.5  # CANCELING → CANCELED
GROUP_FALSE_BLOCK = 50  # orders written before their children when groupObjects is false
FIVE_FROM = "2026-01"
COUNT_WAIT_S = 5.0


@dataclass
class Operation:
    n: int
    shop: str
    query: str
    group: bool
    ctx: Ctx  # the shop as of creation (its `now` is the data's snapshot)
    created_mono: float
    created_at: int  # simulated epoch seconds
    objects: int
    roots: int
    outcome: str  # "" completes; FAILED:<code>, CANCELED, EXPIRED
    plan: list[Field] = field(default_factory=list)
    cancel_mono: float | None = None
    rate: float = 1.0  # objects per second, as set when the operation was created
    counted_mono: float | None = None  # when the count of its objects was known (CREATED until then)
    counted: threading.Event = field(default_factory=threading.Event)

    @property
    def gid(self) -> str:
        return f"{GID}{self.n}"


class BulkOperations:
    def __init__(self, faults: Faults, monotonic: Callable[[], float], compiler: Compiler) -> None:
        self.faults = faults
        self.monotonic = monotonic
        self.compiler = compiler
        self.ops: dict[int, Operation] = {}
        self.downloads = 0  # result files served (a test's "downloaded again" check)
        self._lock = threading.Lock()

    # ---- the status machine ----------------------------------------------------------------------

    def _run_s(self, op: Operation) -> float:
        return op.objects / max(op.rate, 1e-9)

    def _started(self, op: Operation) -> float:
        """When it leaves CREATED: after the start delay and once its objects are counted. A read
        waits up to COUNT_WAIT_S (real) for the count, so that on a virtual clock, which can race
        ahead of the counting thread, a small operation still starts deterministically."""
        if op.counted_mono is None:
            op.counted.wait(COUNT_WAIT_S)
        start = op.created_mono + self.faults.shopify_bulk_start_s
        return max(start, op.counted_mono) if op.counted_mono is not None else float("inf")

    def state(self, op: Operation) -> tuple[str, float]:
        """(status, monotonic seconds when the operation reached it)."""
        start = self._started(op)
        done = start + self._run_s(op)
        now = self.monotonic()
        if op.cancel_mono is not None and op.cancel_mono < done:
            ended = op.cancel_mono + CANCEL_S
            return ("CANCELED", ended) if now >= ended else ("CANCELING", op.cancel_mono)
        if now < start:  # (also while its objects are being counted)
            return "CREATED", op.created_mono
        if op.outcome == "CANCELED" and now >= (start + done) / 2:
            return "CANCELED", (start + done) / 2
        if now < done:
            return "RUNNING", start
        if op.outcome.startswith("FAILED"):
            return "FAILED", done
        if op.outcome == "EXPIRED" or now >= done + self.faults.shopify_bulk_retention_s:
            return "EXPIRED", done
        return "COMPLETED", done

    def view(self, op: Operation, base: str) -> dict[str, Any]:
        status, since = self.state(op)
        now = self.monotonic()
        processed = op.objects if status in ("COMPLETED", "EXPIRED") else 0
        if status in ("RUNNING", "CANCELING", "CANCELED", "FAILED"):
            start = self._started(op)
            processed = min(op.objects, int((min(now, since) - start) * op.rate))
            processed = max(0, processed if status == "RUNNING" else min(processed, op.objects))
        epoch = op.created_at + int(since - op.created_mono)
        url = None
        if status == "COMPLETED" and op.objects:
            expires = int((now + self.faults.shopify_bulk_url_ttl_s) * 1000)
            url = f"{base}/shopify-bulk/{op.n}.jsonl?expires={expires}"
        return {
            "id": op.gid,
            "status": status,
            "errorCode": op.outcome.split(":", 1)[1] if status == "FAILED" else None,
            "createdAt": iso_z(op.created_at),
            "completedAt": iso_z(epoch) if status in ("COMPLETED", "EXPIRED", "FAILED", "CANCELED") else None,
            "objectCount": str(processed),
            "rootObjectCount": str(min(op.roots, processed)),
            "fileSize": str(op.objects * 400) if url else None,
            "url": url,
            "partialDataUrl": None,
            "query": op.query,
            "type": "QUERY",
        }

    def limit(self, version: str) -> tuple[int, str]:
        if self.faults.shopify_bulk_concurrency > 0:
            return self.faults.shopify_bulk_concurrency, "LIMIT_REACHED"
        return (5, "LIMIT_REACHED") if version >= FIVE_FROM else (1, "OPERATION_IN_PROGRESS")

    # ---- the API ---------------------------------------------------------------------------------

    def run_query(self, ctx: Ctx, query: str, group: bool) -> dict[str, Any]:
        def refused(code: str, message: str) -> dict[str, Any]:
            return {
                "bulkOperation": None,
                "userErrors": [{"code": code, "field": ["query"], "message": message}],
            }

        try:
            plan = self.compiler.compile(query, None, {})
        except QueryError as exc:
            return refused("INVALID", f"Invalid bulk query: {exc}")
        orders = [f for f in plan if f.name == "orders"]
        if len(plan) != 1 or not orders:
            return refused(
                "INVALID", "Bulk queries must contain one top-level connection field (orders here)."
            )
        maximum, code = self.limit(ctx.api_version)
        with self._lock:
            running = [
                o for o in self.ops.values() if o.shop == ctx.store.domain and self.state(o)[0] in ACTIVE
            ]
            if len(running) >= maximum:
                return refused(
                    code,
                    f"A bulk query operation for this app and shop is already in progress: {running[0].gid}.",
                )
            outcome = self.faults.shopify_bulk_outcomes.pop(0) if self.faults.shopify_bulk_outcomes else ""
            if "read_orders" not in ctx.scopes:
                outcome = "FAILED:ACCESS_DENIED"
            snapshot = replace(ctx, sizes={}, search=[])
            op = Operation(len(self.ops) + 1, ctx.store.domain, query, group, snapshot, self.monotonic(),
                           ctx.now, 0, 0, outcome, plan, rate=self.faults.shopify_bulk_objects_per_s)  # fmt: skip
            self.ops[op.n] = op
        # Counting a year of orders takes a while: not in the request (CREATED until it is done).
        threading.Thread(target=self._count, args=(op, orders[0]), daemon=True, name=f"bulk-{op.n}").start()
        return {"bulkOperation": self.view(op, ctx.base), "userErrors": []}

    def _count(self, op: Operation, orders: Field) -> None:
        op.roots, op.objects = _count(op.ctx, orders)
        op.counted_mono = self.monotonic()
        op.counted.set()

    def cancel(self, ctx: Ctx, gid: str) -> dict[str, Any]:
        op = self._find(ctx, gid)
        if op is None:
            return {"bulkOperation": None, "userErrors": [{"code": None, "field": ["id"], "message": "Bulk operation does not exist"}]}  # fmt: skip
        if self.state(op)[0] not in ("CREATED", "RUNNING"):
            status = self.state(op)[0].lower()
            message = f"A bulk operation cannot be canceled when it is {status}"
            return {"bulkOperation": self.view(op, ctx.base), "userErrors": [{"code": None, "field": None, "message": message}]}  # fmt: skip
        op.cancel_mono = self.monotonic()
        return {"bulkOperation": self.view(op, ctx.base), "userErrors": []}

    def _find(self, ctx: Ctx, gid: str) -> Operation | None:
        tail = str(gid).removeprefix(GID)
        op = self.ops.get(int(tail)) if tail.isdigit() else None
        return op if op is not None and op.shop == ctx.store.domain else None

    def get(self, ctx: Ctx, gid: str) -> dict[str, Any] | None:
        op = self._find(ctx, gid)
        return None if op is None else self.view(op, ctx.base)

    def listing(self, ctx: Ctx, f: Field) -> Page:
        """`bulkOperations(first:, query: "status:running operation_type:query")`, newest first."""
        terms = dict(t.split(":", 1) for t in str(f.args.get("query") or "").split() if ":" in t)
        found = []
        for op in sorted(self.ops.values(), key=lambda o: -o.n):
            status = self.state(op)[0]
            if op.shop != ctx.store.domain or terms.get("status", status.lower()) != status.lower():
                continue
            if terms.get("operation_type", "query") != "query":
                continue
            found.append(self.view(op, ctx.base))
        count = int(f.args.get("first") or f.args.get("last") or 50)
        chosen = found[:count]
        keys = [(int(v["id"].removeprefix(GID)), int(v["id"].removeprefix(GID))) for v in chosen]
        return Page(chosen, keys, has_next=len(found) > count, has_prev=False)

    # ---- the result file ---------------------------------------------------------------------------

    def result(self, name: str, expires_ms: str) -> tuple[int, Iterator[bytes] | bytes]:
        """(HTTP status, body): the JSONL lines, or a storage-style error for an expired or unknown URL."""
        tail = name.removesuffix(".jsonl")
        op = self.ops.get(int(tail)) if tail.isdigit() else None
        if op is None or self.state(op)[0] != "COMPLETED":
            return 404, b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchKey</Code></Error>"
        try:
            expired = self.monotonic() * 1000 > int(expires_ms)
        except ValueError:
            expired = True
        if expired:
            return 403, (
                b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>ExpiredToken</Code>"
                b"<Message>The provided token has expired.</Message></Error>"
            )
        with self._lock:
            self.downloads += 1
        return 200, _chunks(self.lines(op), delay_s=self.faults.shopify_bulk_chunk_delay_s)

    def lines(self, op: Operation) -> Iterator[bytes]:
        orders = op.plan[0]
        node_fields = _node_fields(orders)
        own = [f for f in node_fields if not f.type_name.endswith("Connection")]
        nested = [(f, _node_fields(f)) for f in node_fields if f.type_name.endswith("Connection")]
        held: list[bytes] = []
        for i, view in enumerate(_orders(op.ctx, orders)):
            data = run(own, view, op.ctx)
            yield _line(data)
            gid = f"gid://shopify/Order/{view.order.id}"
            children = [
                _line({**run(sub, (view.order, li), op.ctx), "__parentId": gid})
                for f, sub in nested
                if f.name == "lineItems"
                for li in view.order.lines
            ]
            if op.group:
                yield from children
            else:
                held.extend(children)
                if (i + 1) % GROUP_FALSE_BLOCK == 0:
                    yield from held
                    held = []
        yield from held


def _chunks(lines: Iterator[bytes], size: int = 1 << 16, delay_s: float = 0.0) -> Iterator[bytes]:
    """Lines in chunks of about `size` bytes (a write per line would make the transfer crawl)."""
    buffer: list[bytes] = []
    held = 0
    for line in lines:
        buffer.append(line)
        held += len(line)
        if held >= size:
            yield b"".join(buffer)
            if delay_s:
                time.sleep(delay_s)  # a slow link (the generator runs in a worker thread)
            buffer, held = [], 0
    if buffer:
        yield b"".join(buffer)


def _line(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def _node_fields(connection: Field) -> list[Field]:
    """The node selection of a connection field (`edges { node {…} }` or `nodes {…}`)."""
    for f in connection.sub or []:
        if f.name == "nodes":
            return f.sub or []
        if f.name == "edges":
            for g in f.sub or []:
                if g.name == "node":
                    return g.sub or []
    return []


def _orders(ctx: Ctx, orders: Field) -> Iterator[Any]:
    flt = parse_search(orders.args.get("query"), ctx.store.timezone, unquoted_misparse=ctx.unquoted_misparse)
    sort = {"CREATED_AT": "created", "UPDATED_AT": "updated"}.get(str(orders.args.get("sortKey")), "id")
    return iter_orders(ctx, flt, sort, bool(orders.args.get("reverse")), None)


def _count(ctx: Ctx, orders: Field) -> tuple[int, int]:
    roots = objects = 0
    with_lines = any(f.name == "lineItems" for f in _node_fields(orders))
    for view in _orders(ctx, orders):
        roots += 1
        objects += 1 + (len(view.order.lines) if with_lines else 0)
    return roots, objects


def with_bulk(resolvers: Resolvers) -> Resolvers:
    """The shop API's resolvers plus the bulk operations' (Ctx.bulk answers them)."""
    query_root = {
        **resolvers["QueryRoot"],
        "bulkOperation": lambda _, f, c: c.bulk.get(c, f.args["id"]),
        "bulkOperations": lambda _, f, c: c.bulk.listing(c, f),
    }
    plain = {name: (lambda key: lambda v, f, c: v[key])(name) for name in (
        "id", "status", "errorCode", "createdAt", "completedAt", "objectCount", "rootObjectCount",
        "fileSize", "url", "partialDataUrl", "query", "type")}  # fmt: skip
    return {
        **resolvers,
        "QueryRoot": query_root,
        "Mutation": {
            "bulkOperationRunQuery": lambda _, f, c: c.bulk.run_query(
                c, f.args["query"], f.args["groupObjects"]
            ),
            "bulkOperationCancel": lambda _, f, c: c.bulk.cancel(c, f.args["id"]),
        },
        "BulkOperation": plain,
        "BulkOperationConnection": CONNECTION,
        "BulkOperationEdge": EDGE,
        "BulkOperationRunQueryPayload": {
            "bulkOperation": lambda p, f, c: p["bulkOperation"],
            "userErrors": lambda p, f, c: p["userErrors"],
        },  # fmt: skip
        "BulkOperationCancelPayload": {
            "bulkOperation": lambda p, f, c: p["bulkOperation"],
            "userErrors": lambda p, f, c: p["userErrors"],
        },  # fmt: skip
        "BulkOperationUserError": {
            k: (lambda key: lambda e, f, c: e[key])(k) for k in ("code", "field", "message")
        },
    }
