"""`POST {base}/shopify/{shop}/admin/api/{version}/graphql.json`: the Shopify Admin GraphQL API.

In order: unknown shop → 404 `{"errors":"Not Found"}`; missing, unknown or revoked
`X-Shopify-Access-Token` → 401 with the string `errors`; unreadable body → 400; parse and
validation errors → 200 with Shopify-worded `errors`; requested cost above the single-query
maximum → 200 MAX_COST_EXCEEDED (no `extensions.cost`); bucket short of the requested cost →
200 THROTTLED (no `data`); `orders`/`order` on a shop without the scope → 200 ACCESS_DENIED with
`data: null`; otherwise the data, `extensions.cost` and any `extensions.search` warnings.

Versions: a version whose support ended (by `adspipe.shopify.settings.SUPPORT_ENDS` and the
simulated clock), or an unknown one, is served silently by the oldest supported version, and
`X-Shopify-API-Version` names the version that served it. A query selecting a `@deprecated` field
gets `X-Shopify-API-Deprecated-Reason`. Each shop's access scopes are `read_orders` and
`read_all_orders` unless the fault knobs take them away (`currentAppInstallation.accessScopes`);
without `read_all_orders` orders created more than 60 days before now are absent.

The leaky bucket is per (token, shop), sized 20 × the plan's restore rate (api-facts.md). It
refills with real elapsed time (an injectable monotonic clock), not the simulated clock, so a
benchmark measures the real pacing of a client. A query is admitted when the bucket holds its
requested cost; afterwards requested − actual is given back.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from graphql import GraphQLObjectType

from adspipe.shopify.settings import DEPRECATED_REASON_HEADER, SUPPORT_ENDS, VERSION_HEADER
from adspipe.simulator.faults import Faults
from adspipe.simulator.gql import Compiler, Field, QueryError, run
from adspipe.simulator.scripted import encoded, next_answer, shopify_keys
from adspipe.simulator.shopify_bulk import BulkOperations, with_bulk
from adspipe.simulator.shopify_resolvers import RESOLVERS, Ctx, ExecError
from adspipe.simulator.shopify_schema import CostFunction, CostNode, default_cost, schema
from adspipe.simulator.util import stable_int
from adspipe.simulator.world import StoreSpec, World

TOKEN_HEADER = "x-shopify-access-token"
READ_ORDERS_WINDOW = timedelta(days=60)
MUTATIONS = ("bulkOperationRunQuery", "bulkOperationCancel")
MUTATION_COST = 10  # a mutation's cost (shopify.dev/docs/api/usage/limits)
READ_ORDERS, READ_ALL_ORDERS = "read_orders", "read_all_orders"
DEPRECATION_DOCS = "https://shopify.dev/api/usage/versioning#deprecation-practices"
# Restore rate (points per second) per plan; the bucket holds 20 × that (api-facts.md).
RESTORE_RATES = {
    "Basic": 100.0,
    "Shopify": 100.0,
    "Advanced": 200.0,
    "Shopify Plus": 1000.0,
    "Enterprise": 2000.0,
}
BAD_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
DOCS_RATE = "https://shopify.dev/api/usage/rate-limits"
MAX_COST_MESSAGE = (
    "Query cost is {cost}, which exceeds the single query max cost limit ({max}).\n\n"
    "See https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\n"
    "cost of a query is calculated.\n\n"
    "To query larger amounts of data with fewer limits, bulk operations should be used instead.\n"
    "See https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n"
)


@dataclass
class ApiResponse:
    """One answer before faults are applied; `outcome` feeds the request counters."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    outcome: str = "ok"  # ok | throttled | auth | not_found | denied | bad_request | error
    account: str = ""


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class Bucket:
    maximum: float
    rate: float
    available: float
    at: float  # monotonic seconds of `available`

    def refill(self, now: float, maximum: float, rate: float) -> None:
        self.available = min(maximum, self.available + max(0.0, now - self.at) * self.rate)
        self.maximum, self.rate, self.at = maximum, rate, now


def supported_versions(today: date, support_ends: Mapping[str, date | None] = SUPPORT_ENDS) -> list[str]:
    """The versions still supported on `today`, oldest first."""
    return sorted(v for v, end in support_ends.items() if end is None or end > today)


def served_version(asked: str, today: date) -> str:
    """The version that answers a request for `asked`: itself while supported, else the oldest
    supported one (Shopify's silent fall-forward)."""
    supported = supported_versions(today)
    if asked in supported or not supported:
        return asked
    return supported[0]


def deprecated_fields(fields: Iterable[Field], parent: GraphQLObjectType) -> list[str]:
    """`Type.field` of every selected field marked `@deprecated` in the schema."""
    out: list[str] = []
    for f in fields:
        definition = parent.fields.get(f.name)
        if definition is not None and definition.deprecation_reason:
            out.append(f"{parent.name}.{f.name}")
        if f.sub:
            child = schema().type_map.get(f.type_name)
            if isinstance(child, GraphQLObjectType):
                out.extend(deprecated_fields(f.sub, child))
    return out


def cost_tree(fields: Iterable[Field], weights: Mapping[str, int] | None = None) -> list[CostNode]:
    out = []
    for f in fields:
        if f.sub is None:
            out.append(CostNode(f.cost_path, "scalar"))
            continue
        first = f.args.get("first", f.args.get("last"))
        if f.type_name.endswith("Connection"):
            kind = "connection"
        elif f.is_list and first is not None:
            kind = "list"
        else:
            kind, first = "object", None
        weight = (weights or {}).get(f.type_name, 1)
        out.append(CostNode(f.cost_path, kind, first, cost_tree(f.sub, weights), weight))
    return out


class ShopifyApi:
    def __init__(
        self,
        world: World,
        faults: Faults,
        now: Callable[[], float],
        *,
        tokens: Iterable[str] | None = ("sim-token",),
        cost_fn: CostFunction = default_cost,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.world = world
        self.faults = faults
        self.now = now  # simulated epoch seconds
        self.tokens = None if tokens is None else set(tokens)
        self.cost_fn = cost_fn
        self.monotonic = monotonic
        self.compiler = Compiler(schema(), with_bulk(RESOLVERS))
        self.bulk = BulkOperations(faults, monotonic, self.compiler)
        self._buckets: dict[tuple[str, str], Bucket] = {}
        self._lock = threading.Lock()
        self._seq = 0

    def plan(self, store: StoreSpec) -> str:
        return self.faults.shopify_plan or store.plan

    def bucket_shape(self, store: StoreSpec) -> tuple[float, float]:
        """(maximumAvailable, restoreRate) of the store's plan, scaled by the fault knob."""
        rate = RESTORE_RATES.get(self.plan(store), 100.0) * self.faults.shopify_bucket_scale
        return 20.0 * rate, rate

    def token_ok(self, token: str) -> bool:
        if not token or token in self.faults.revoked_tokens:
            return False
        return self.tokens is None or token in self.tokens

    def _request_id(self) -> str:
        with self._lock:
            self._seq += 1
            n = self._seq
        return f"{stable_int(self.world.seed, 'shopify-request', n):016x}"

    def handle(
        self, shop: str, version: str, headers: Mapping[str, str], body: bytes, base: str = ""
    ) -> ApiResponse:
        store = self.world.store_by_domain(shop if "." in shop else f"{shop}.myshopify.com")
        request_id = self._request_id()
        today = datetime.fromtimestamp(self.now(), UTC).date()
        base_headers = {VERSION_HEADER: served_version(version, today), "X-Request-Id": request_id}
        if store is None:
            return ApiResponse(404, dumps({"errors": "Not Found"}), base_headers, "not_found", shop)
        account = store.domain
        token = headers.get(TOKEN_HEADER, "").strip()
        if not self.token_ok(token):
            return ApiResponse(401, dumps({"errors": BAD_TOKEN}), base_headers, "auth", account)
        scripted = next_answer(self.faults.shopify_scripted, *shopify_keys(account, body))
        if scripted is not None:
            return ApiResponse(*encoded(scripted, base_headers), account)

        def answer(payload: dict[str, Any], outcome: str = "ok") -> ApiResponse:
            return ApiResponse(200, dumps(payload), base_headers, outcome, account)

        try:
            request = json.loads(body or b"null")
            query = request["query"] if isinstance(request, dict) else None
            if not isinstance(query, str) or not query.strip():
                raise ValueError("no query")
            variables = request.get("variables") or {}
            if not isinstance(variables, dict):
                raise ValueError("variables must be an object")
        except (ValueError, KeyError, TypeError):
            missing = {"errors": {"query": "Required parameter missing or invalid"}}
            return ApiResponse(400, dumps(missing), base_headers, "bad_request", account)
        try:
            plan = self.compiler.compile(query, request.get("operationName"), variables)
        except QueryError as exc:
            return answer({"errors": exc.errors}, "bad_request")

        deprecated = deprecated_fields(plan, self.compiler.schema.query_type)  # type: ignore[arg-type]
        if deprecated:
            base_headers[DEPRECATED_REASON_HEADER] = f"{', '.join(deprecated)} ({DEPRECATION_DOCS})"
        tree = cost_tree(plan, {"LineItemConnection": self.faults.shopify_line_item_cost})
        requested = int(self.cost_fn(tree, None))
        if any(f.name in MUTATIONS for f in plan):
            requested = MUTATION_COST
        if requested > self.faults.shopify_max_cost:
            error = {
                "message": MAX_COST_MESSAGE.format(cost=requested, max=self.faults.shopify_max_cost),
                "extensions": {
                    "code": "MAX_COST_EXCEEDED",
                    "cost": requested,
                    "maxCost": self.faults.shopify_max_cost,
                },
            }
            return answer({"errors": [error]}, "bad_request")

        maximum, rate = self.bucket_shape(store)
        with self._lock:
            key = (token, store.domain)
            bucket = self._buckets.get(key)
            mono = self.monotonic()
            if bucket is None:
                bucket = self._buckets[key] = Bucket(maximum, rate, maximum, mono)
            bucket.refill(mono, maximum, rate)
            admitted = bucket.available >= requested
            if admitted:
                bucket.available -= requested
            left = bucket.available

        def cost(actual: int | None, available: float) -> dict[str, Any]:
            status = {
                "maximumAvailable": maximum,
                "currentlyAvailable": math.floor(available),
                "restoreRate": rate,
            }
            return {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": status}

        if not admitted:
            error = {"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": DOCS_RATE}}
            return answer({"errors": [error], "extensions": {"cost": cost(None, left)}}, "throttled")

        selected = {f.name for f in plan}
        if selected & {"orders", "order"} and self._missing_scope(store):
            actual = 1
            left = self._give_back(key, requested - actual)
            name = "orders" if "orders" in selected else "order"
            error = {
                "message": f"Access denied for {name} field. Required access: `read_orders` access scope.",
                "locations": [],
                "path": [name],
                "extensions": {
                    "code": "ACCESS_DENIED",
                    "documentation": "https://shopify.dev/api/usage/access-scopes",
                    "requiredAccess": "`read_orders` access scope.",
                },
            }
            return answer(
                {"data": None, "errors": [error], "extensions": {"cost": cost(actual, left)}}, "denied"
            )

        now = int(self.now())
        scopes = self.scopes(store)
        visible_from = None
        if READ_ALL_ORDERS not in scopes:
            visible_from = now - int(READ_ORDERS_WINDOW.total_seconds())
        ctx = Ctx(
            self.world, store, now, visible_from, self.faults.shopify_unquoted_misparse, self.plan(store),
            scopes, bulk=self.bulk, base=base, api_version=base_headers[VERSION_HEADER],
        )  # fmt: skip
        try:
            data: dict[str, Any] | None = run(plan, None, ctx)
            errors: list[dict[str, Any]] = []
        except ExecError as exc:
            data = None
            failure: dict[str, Any] = {
                "message": str(exc),
                "locations": _locations(exc.field),
                "path": [exc.field.key],
            }
            if exc.code:
                failure["extensions"] = {"code": exc.code}
            errors = [failure]
        actual = min(requested, int(self.cost_fn(tree, ctx.sizes)))
        left = self._give_back(key, requested - actual)
        payload: dict[str, Any] = {}
        if errors:
            payload["errors"] = errors
        payload["data"] = data
        extensions: dict[str, Any] = {"cost": cost(actual, left)}
        if ctx.search:
            extensions["search"] = ctx.search
        payload["extensions"] = extensions
        return answer(payload, "error" if errors else "ok")

    def _give_back(self, key: tuple[str, str], points: int) -> float:
        with self._lock:
            bucket = self._buckets[key]
            bucket.available = min(bucket.maximum, bucket.available + max(0, points))
            return bucket.available

    def _missing_scope(self, store: StoreSpec) -> bool:
        return _listed(store, self.faults.shopify_missing_scope_shops)

    def scopes(self, store: StoreSpec) -> tuple[str, ...]:
        """The app's access scopes on the shop (read_all_orders comes with read_orders only)."""
        if self._missing_scope(store):
            return ()
        if not self.faults.shopify_read_all_orders or _listed(
            store, self.faults.shopify_no_read_all_orders_shops
        ):
            return (READ_ORDERS,)
        return (READ_ORDERS, READ_ALL_ORDERS)

    def bucket_state(self) -> list[dict[str, Any]]:
        """The buckets as of now (admin/stats); tokens are not shown, only a short hash."""
        out = []
        with self._lock:
            mono = self.monotonic()
            for (token, shop), b in sorted(self._buckets.items(), key=lambda kv: kv[0][1]):
                level = min(b.maximum, b.available + max(0.0, mono - b.at) * b.rate)
                token_ref = f"{stable_int('token', token) % 10**6:06d}"
                out.append(
                    {"shop": shop, "token_ref": token_ref, "available": round(level, 1), "maximum": b.maximum}
                )
        return out


def _listed(store: StoreSpec, shops: Iterable[str]) -> bool:
    names = {s.lower() for s in shops}
    return store.domain in names or store.slug in names


def _locations(f: Field) -> list[dict[str, int]]:
    loc = f.node.loc
    if loc is None or loc.source is None:
        return []
    from graphql.language.location import get_location

    where = get_location(loc.source, loc.start)
    return [{"line": where.line, "column": where.column}]
