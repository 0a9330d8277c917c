"""Every GraphQL document the Shopify client sends, validated against Shopify's published schema.

The documents are captured from the client itself — a real fill, fresh run, partition range,
scope read and line-items completion against the simulator — with their real variables and
search strings. Each is validated with graphql-core against the Admin API introspection Shopify
publishes for the pinned version (`admin_<version>.json.gz` in the npm package @shopify/dev-mcp,
fetched and checksum-verified by vendor_npm). The simulator's own schema is a hand-written
subset; this is the check that the subset did not drift from Shopify's.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from graphql import GraphQLSchema, OperationDefinitionNode, build_client_schema, parse, validate
from graphql.execution.values import get_variable_values
from sqlalchemy.engine import Engine

from adspipe.shopify import bulk, connect, settings, sync
from adspipe.shopify.client import ShopifyClient
from adspipe_tests.clocks import FakeClock
from adspipe_tests.contracts.vendor_npm import NpmPackage, member_or_skip
from adspipe_tests.faults.harness import TOKEN_ENV, local_today, register
from adspipe_tests.simulator_fixtures import FIXED_NOW, TOKEN, RunningSimulator

# Pinned artefact: bump the version and its integrity together (docs/architecture.md, "Contract tests").
DEV_MCP = NpmPackage(
    "@shopify/dev-mcp",
    "1.16.0",
    "sha512-tqgRnK7sQhjew+htxtleTH23nXB5fZcsrhWgEkomsorGXvLOB2mh2upwZm8uzuTDNTZnqtLMe64yIwh6s2awtw==",
)
SEARCH_TERM = r"(created_at|updated_at):(>=|<)'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ'"
QUOTED_SEARCH = re.compile(rf"^{SEARCH_TERM}( AND {SEARCH_TERM})*$")
SHOP = "pioneer-botanicals.myshopify.com"

Sent = tuple[str, dict[str, Any]]  # (document, variables)
# The warehouse only stores what the client reads here: SQLite is enough.
pytestmark = pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def admin_schema() -> GraphQLSchema:
    path = member_or_skip(DEV_MCP, f"package/dist/data/admin_{settings.DEFAULT_API_VERSION}.json.gz")
    with gzip.open(path) as f:
        introspection = json.load(f)
    return build_client_schema(introspection.get("data", introspection))


class Recording(httpx.BaseTransport):
    """Real HTTP to the simulator, keeping every GraphQL body the client sent."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.sent: list[Sent] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":  # (a bulk result's download is a plain GET)
            body = json.loads(request.content)
            self.sent.append((body["query"], body.get("variables") or {}))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def sent(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[Sent]]:
    """The client's documents from a fill, a fresh run, a 2-day range, a 10-day range of old days
    (a bulk operation, polled and cancelled once), the connect scope read and line-items
    completions (one line item inline: the simulator's orders have up to four)."""
    vt = FakeClock()
    running = make_simulator(now=FIXED_NOW, monotonic=vt.monotonic, stores=1)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    world = register(engine, running.sim, meta=False)
    recording = Recording()
    client = ShopifyClient(line_items_per_order=1, page_size=100)
    client.with_transport(recording, sleep=vt.sleep, monotonic=vt.monotonic)
    ok = [
        sync.shopify_7d_fill(engine, client, FIXED_NOW),
        sync.shopify_fresh(engine, client, FIXED_NOW + timedelta(hours=1)),
    ]
    today = local_today(FIXED_NOW, world.timezones[SHOP])
    ok.append(
        sync.sync_days(engine, client, [today - timedelta(days=9), today - timedelta(days=8)], now=FIXED_NOW)
    )
    old = [today - timedelta(days=n) for n in range(30, 20, -1)]  # the bulk path (bulk_read.plan_bulk)
    ok.append(sync.sync_days(engine, client, old, now=FIXED_NOW))
    session = client.session(SHOP, TOKEN)
    runner = bulk.BulkRun(
        session,
        engine,
        world.shops[SHOP].connection_id,
        "contract",
        bulk.orders_document("created_at:>='2026-01-01T00:00:00Z'"),
    )
    started = runner._new()
    runner.cancel(started.id)
    for result in ok:
        assert [o.status for o in result.report.outcomes] == ["success"], result.report.outcomes
    assert connect.check_scopes(SHOP, TOKEN, client).warnings == []
    yield recording.sent


def _operation(document: str) -> OperationDefinitionNode:
    (op,) = [d for d in parse(document).definitions if isinstance(d, OperationDefinitionNode)]
    return op


def problems(schema: GraphQLSchema, document: str, variables: dict[str, Any]) -> list[str]:
    """What Shopify's schema says is wrong with one request: the document, then its variables
    coerced against the operation's variable definitions, then the search strings' form."""
    errors = [e.message for e in validate(schema, parse(document))]
    if errors:
        return errors
    coerced = get_variable_values(schema, _operation(document).variable_definitions or (), variables)
    if isinstance(coerced, list):
        return [e.message for e in coerced]
    search = variables.get("query")
    if search is not None and not QUOTED_SEARCH.match(str(search)):
        return [f"search string not in the quoted form: {search!r}"]
    inner = variables.get("document")  # bulkOperationRunQuery's query: a document of its own
    if inner is not None:
        found = [e.message for e in validate(schema, parse(str(inner)))]
        searches = re.findall(r'orders\(query: "([^"]*)"', str(inner))
        found += [
            f"bulk search not in the quoted form: {s!r}" for s in searches if not QUOTED_SEARCH.match(s)
        ]
        return found or ([] if searches else ["bulk query without a search"])
    return []


def test_every_document_the_client_sends_is_valid_for_the_pinned_version(
    admin_schema: GraphQLSchema, sent: list[Sent]
) -> None:
    names = {(_operation(doc).name.value if _operation(doc).name else "") for doc, _ in sent}  # type: ignore[union-attr]
    assert names == {
        "ShopInfo", "AccessScopes", "Orders", "OrderLineItems",
        "BulkOrders", "BulkOperation", "RecentBulkOperations", "BulkOperationCancel",
    }, names  # fmt: skip
    searches = {str(v["query"]) for _, v in sent if "query" in v}
    assert any(" AND created_at:<'" in s for s in searches) and any(
        s.startswith("updated_at:>='") for s in searches
    )
    assert any(v.get("lineItems") == 1 for _, v in sent)  # the inline count went as a variable
    for document, variables in sent:
        assert problems(admin_schema, document, variables) == [], (document[:60], variables)


def test_a_renamed_field_fails_validation(admin_schema: GraphQLSchema, sent: list[Sent]) -> None:
    document, variables = next((d, v) for d, v in sent if d.startswith("query Orders"))
    broken = document.replace("totalPriceSet", "totalPriceSett", 1)
    assert broken != document
    found = problems(admin_schema, broken, variables)
    assert any("totalPriceSett" in p for p in found), found


def test_a_wrong_variable_type_fails(admin_schema: GraphQLSchema, sent: list[Sent]) -> None:
    document, variables = next((d, v) for d, v in sent if d.startswith("query OrderLineItems"))
    # A value of the wrong type for the declared variable...
    found = problems(admin_schema, document, variables | {"first": "two hundred"})
    assert any("$first" in p and "Int" in p for p in found), found
    # ...and a variable declared with a type its position does not accept.
    declared_wrong = document.replace("$first: Int!", "$first: String!", 1)
    found = problems(admin_schema, declared_wrong, variables | {"first": "250"})
    assert any("$first" in p and "String!" in p for p in found), found


def test_an_unquoted_search_string_fails(admin_schema: GraphQLSchema, sent: list[Sent]) -> None:
    document, variables = next((d, v) for d, v in sent if d.startswith("query Orders"))
    unquoted = str(variables["query"]).replace("'", "")
    found = problems(admin_schema, document, variables | {"query": unquoted})
    assert found == [f"search string not in the quoted form: {unquoted!r}"]


def test_deprecated_shop_plan_display_name_is_not_used(admin_schema: GraphQLSchema, sent: list[Sent]) -> None:
    plan = admin_schema.type_map["ShopPlan"]
    assert plan.fields["displayName"].deprecation_reason  # type: ignore[union-attr]
    assert all("displayName" not in document.replace("publicDisplayName", "") for document, _ in sent)


def test_bulk_documents_use_the_pinned_versions_polling_and_a_valid_inner_query(
    admin_schema: GraphQLSchema, sent: list[Sent]
) -> None:
    # Polled by id: currentBulkOperation is deprecated in the pinned version.
    root = admin_schema.query_type
    assert root is not None and root.fields["currentBulkOperation"].deprecation_reason
    assert all("currentBulkOperation" not in document for document, _ in sent)
    assert any("bulkOperation(id: $id)" in document for document, _ in sent)
    # Every status and error code the schema defines is one the client names.
    statuses = set(admin_schema.type_map["BulkOperationStatus"].values)  # type: ignore[attr-defined]
    assert statuses == {*bulk.ACTIVE, "COMPLETED", *bulk.RESTARTABLE}
    codes = set(admin_schema.type_map["BulkOperationUserErrorCode"].values)  # type: ignore[attr-defined]
    assert codes == {"INVALID", *bulk.BUSY_CODES}
    document, variables = next((d, v) for d, v in sent if d.startswith("mutation BulkOrders"))
    assert problems(admin_schema, document, variables) == []
    broken = str(variables["document"]).replace("lineItems {", "lineItemz {", 1)
    assert any("lineItemz" in p for p in problems(admin_schema, document, variables | {"document": broken}))
    unquoted = str(variables["document"]).replace("'", "")
    assert problems(admin_schema, document, variables | {"document": unquoted})[0].startswith(
        "bulk search not in the quoted form"
    )
