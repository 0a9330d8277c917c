"""Shopify Admin GraphQL contract (api-facts.md), through the handler without HTTP."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adspipe.shopify import queries, settings
from adspipe.simulator.faults import Faults
from adspipe.simulator.shopify_api import BAD_TOKEN
from adspipe.simulator.util import local_date
from adspipe_tests.clocks import FakeClock
from adspipe_tests.simulator.helpers import gql, make_sim, utc
from adspipe_tests.simulator_fixtures import FIXED_NOW, TOKEN

MONEY = re.compile(r"^-?\d+\.\d{1,2}$")
INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
SMALL = "query($q: String, $after: String, $first: Int = 250, $sort: OrderSortKeys = CREATED_AT, $rev: Boolean = false) { orders(first: $first, after: $after, query: $q, sortKey: $sort, reverse: $rev) { pageInfo { hasNextPage endCursor } edges { cursor node { id createdAt updatedAt test } } } }"


def read_all(sim: Any, shop: str, search: str | None, *, sort: str = "CREATED_AT", reverse: bool = False,
             first: int = 250) -> list[dict[str, Any]]:  # fmt: skip
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        response, body = gql(
            sim, shop, SMALL, {"q": search, "after": after, "first": first, "sort": sort, "rev": reverse}
        )
        assert response.status == 200 and "errors" not in body, body
        connection = body["data"]["orders"]
        nodes += [e["node"] for e in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes
        after = connection["pageInfo"]["endCursor"]
        assert after == connection["edges"][-1]["cursor"]


def window(start: datetime, end: datetime) -> str:
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return f"created_at:>='{start.strftime(fmt)}' AND created_at:<'{end.strftime(fmt)}'"


def test_client_query_contract_money_strings_and_cost() -> None:
    sim = make_sim()
    shop = sim.world.stores[0].domain
    variables = {"first": 50, "after": None, "query": queries.search_since("updated_at", FIXED_NOW - timedelta(days=3)),
                 "sortKey": "UPDATED_AT", "reverse": False}  # fmt: skip
    response, body = gql(sim, shop, queries.ORDERS_QUERY, variables)
    assert response.status == 200 and response.headers["X-Shopify-API-Version"] == settings.API_VERSION
    assert body["data"]["shop"] == {"ianaTimezone": "America/Los_Angeles", "currencyCode": "USD"}
    nodes = body["data"]["orders"]["nodes"]
    assert len(nodes) == 50
    for node in nodes:
        assert (
            re.match(r"^gid://shopify/Order/\d+$", node["id"]) and node["legacyResourceId"] == node["id"][20:]
        )
        assert INSTANT.match(node["createdAt"]) and INSTANT.match(node["updatedAt"])
        assert node["name"].startswith("#") and isinstance(node["test"], bool)
        for bag in ("totalPriceSet", "subtotalPriceSet", "totalTaxSet", "totalRefundedSet"):
            money = node[bag]["shopMoney"]
            assert (
                isinstance(money["amount"], str)
                and MONEY.match(money["amount"])
                and money["currencyCode"] == "USD"
            )
        assert isinstance(node["refunds"], list)
        assert {"pageInfo", "nodes"} <= node["lineItems"].keys() and node["lineItems"]["nodes"]
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] >= cost["actualQueryCost"] > 0
    assert cost["throttleStatus"] == {"maximumAvailable": 4000.0, "restoreRate": 200.0,
                                      "currentlyAvailable": cost["throttleStatus"]["currentlyAvailable"]}  # fmt: skip
    updated = [n["updatedAt"] for n in nodes]
    assert updated == sorted(updated)


def test_shop_time_zones_west_and_east_of_utc() -> None:
    sim = make_sim()
    q = "{ shop { ianaTimezone currencyCode myshopifyDomain timezoneOffsetMinutes plan { publicDisplayName shopifyPlus } } }"
    offsets = {}
    for store in sim.world.stores:
        _, body = gql(sim, store.domain, q)
        shop = body["data"]["shop"]
        assert shop["myshopifyDomain"] == store.domain and shop["plan"]["publicDisplayName"] == store.plan
        offsets[shop["ianaTimezone"]] = shop["timezoneOffsetMinutes"]
    assert offsets == {"America/Los_Angeles": -420, "Europe/Berlin": 120, "Pacific/Auckland": 720}


def test_search_quoted_unquoted_and_date_only() -> None:
    sim = make_sim()
    store = sim.world.stores[1]
    start, end = datetime(2026, 4, 10, tzinfo=UTC), datetime(2026, 4, 11, tzinfo=UTC)
    quoted = read_all(sim, store.domain, window(start, end))
    assert quoted and all(start <= utc(n["createdAt"]) < end for n in quoted)
    # Unquoted timestamps do not fail, but the lexer cuts them at the first colon: no filter left.
    unquoted = "created_at:>=2026-04-10T00:00:00Z AND created_at:<2026-04-11T00:00:00Z"
    response, body = gql(sim, store.domain, SMALL, {"q": unquoted, "first": 5})
    assert response.status == 200 and "errors" not in body
    assert body["extensions"]["search"][0]["warnings"]
    assert utc(body["data"]["orders"]["edges"][0]["node"]["createdAt"]) < start - timedelta(days=300)
    sim.faults.update(shopify_unquoted_misparse=False)
    assert read_all(sim, store.domain, unquoted) == quoted
    # A date-only value is a local date of the shop; an unknown field only warns.
    local = read_all(sim, store.domain, "created_at:>=2026-04-10 AND created_at:<2026-04-11 AND color:blue")
    assert local and {
        local_date(store.timezone, utc(n["createdAt"]).timestamp()).isoformat() for n in local
    } == {"2026-04-10"}


@pytest.mark.parametrize(("sort", "reverse"), [("CREATED_AT", False), ("UPDATED_AT", False), ("ID", True),
                                               ("UPDATED_AT", True)])  # fmt: skip
def test_paging_returns_every_order_once_in_order(sort: str, reverse: bool) -> None:
    sim = make_sim()
    shop = sim.world.stores[2].domain
    search = queries.search_since("updated_at", FIXED_NOW - timedelta(days=4))
    small = read_all(sim, shop, search, sort=sort, reverse=reverse, first=17)
    big = read_all(sim, shop, search, sort=sort, reverse=reverse)
    ids = [n["id"] for n in small]
    assert ids == [n["id"] for n in big] and len(set(ids)) == len(ids) > 100
    field = {"CREATED_AT": "createdAt", "UPDATED_AT": "updatedAt"}.get(sort)
    keys = [(n[field], int(n["id"][20:])) if field else int(n["id"][20:]) for n in small]
    assert keys == sorted(keys, reverse=reverse)  # type: ignore[type-var]
    since = FIXED_NOW - timedelta(days=4)
    assert all(since <= utc(n["updatedAt"]) <= FIXED_NOW for n in small)


def test_answers_are_as_of_the_clock() -> None:
    sim = make_sim()
    store = sim.world.stores[0]
    # an order refunded within the next three days
    refunded = next(
        f for f in sim.truth.orders(store, (FIXED_NOW - timedelta(days=3)).date(), FIXED_NOW.date(),
                                    at=FIXED_NOW + timedelta(days=3))
        if f.refunded and f.updated_at > FIXED_NOW and f.created_at < FIXED_NOW
    )  # fmt: skip
    q = "query($id: ID!) { order(id: $id) { updatedAt totalRefundedSet { shopMoney { amount } } } }"
    gid = f"gid://shopify/Order/{refunded.order_id}"
    _, before = gql(sim, store.domain, q, {"id": gid})
    assert utc(before["data"]["order"]["updatedAt"]) < FIXED_NOW
    sim.clock.advance(timedelta(days=3))
    _, after = gql(sim, store.domain, q, {"id": gid})
    assert utc(after["data"]["order"]["updatedAt"]) == refunded.updated_at
    assert after["data"]["order"]["totalRefundedSet"]["shopMoney"][
        "amount"
    ] == f"{refunded.refunded:f}".rstrip("0")
    # nothing created after "now" exists yet
    _, latest = gql(make_sim(), store.domain, SMALL, {"first": 1, "sort": "CREATED_AT", "rev": True})
    created = utc(latest["data"]["orders"]["edges"][0]["node"]["createdAt"])
    assert FIXED_NOW - timedelta(hours=3) < created <= FIXED_NOW


def test_bucket_throttled_is_http_200_and_restores_with_real_time() -> None:
    clock = FakeClock()
    sim = make_sim(faults=Faults(shopify_plan="Basic", shopify_bucket_scale=0.05), monotonic=clock)
    shop = sim.world.stores[0].domain
    variables = {"first": 250, "query": queries.search_since("created_at", FIXED_NOW - timedelta(days=2)),
                 "sortKey": "CREATED_AT", "after": None, "reverse": False}  # fmt: skip
    first, body = gql(sim, shop, queries.ORDERS_QUERY, variables)
    status = body["extensions"]["cost"]["throttleStatus"]
    assert status["maximumAvailable"] == 100.0 and status["restoreRate"] == 5.0
    requested = body["extensions"]["cost"]["requestedQueryCost"]
    assert status["currentlyAvailable"] < requested
    response, throttled = gql(sim, shop, queries.ORDERS_QUERY, variables)
    assert response.status == 200 and response.outcome == "throttled" and "data" not in throttled
    assert throttled["errors"][0]["message"] == "Throttled"
    assert throttled["errors"][0]["extensions"]["code"] == "THROTTLED"
    cost = throttled["extensions"]["cost"]
    assert cost["actualQueryCost"] is None and cost["requestedQueryCost"] == requested
    wait = (requested - cost["throttleStatus"]["currentlyAvailable"]) / cost["throttleStatus"]["restoreRate"]
    clock.now += wait + 0.5
    again, body = gql(sim, shop, queries.ORDERS_QUERY, variables)
    assert "errors" not in body and body["data"]["orders"]["nodes"]


def test_max_cost_exceeded_has_no_cost_extension() -> None:
    sim = make_sim()
    q = "{ orders(first: 250) { nodes { lineItems(first: 250) { nodes { id } } refunds(first: 250) { id refundLineItems(first: 250) { nodes { id } } } } } }"
    response, body = gql(sim, sim.world.stores[0].domain, q)
    assert response.status == 200 and "extensions" not in body and "data" not in body
    ext = body["errors"][0]["extensions"]
    assert ext["code"] == "MAX_COST_EXCEEDED" and ext["maxCost"] == 1000 and ext["cost"] > 1000
    assert body["errors"][0]["message"].startswith(f"Query cost is {ext['cost']}, which exceeds")


def test_401_404_and_access_denied() -> None:
    sim = make_sim()
    shop = sim.world.stores[0].domain
    q = "{ shop { name } }"
    for token in ("", "wrong-token"):
        response, body = gql(sim, shop, q, token=token)
        assert response.status == 401 and body == {"errors": BAD_TOKEN}
    sim.faults.update(revoked_tokens=["sim-token"])
    assert gql(sim, shop, q)[0].status == 401
    sim.faults.update(revoked_tokens=[])
    response, body = gql(sim, "no-such-shop.myshopify.com", q)
    assert response.status == 404 and body == {"errors": "Not Found"}
    sim.faults.update(shopify_missing_scope_shops=[shop])
    response, body = gql(sim, shop, SMALL, {"first": 1})
    assert response.status == 200 and body["data"] is None
    assert (
        body["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
        and "read_orders" in body["errors"][0]["message"]
    )
    assert gql(sim, shop, q)[1]["data"]["shop"]["name"]


def test_sixty_day_window_without_read_all_orders() -> None:
    sim = make_sim(stores=1, orders_per_day=3)
    shop = sim.world.stores[0].domain
    search = window(FIXED_NOW - timedelta(days=90), FIXED_NOW)
    everything = read_all(sim, shop, search)
    sim.faults.update(shopify_read_all_orders=False)
    recent = read_all(sim, shop, search)
    cutoff = FIXED_NOW - timedelta(days=60)
    assert min(utc(n["createdAt"]) for n in everything) < cutoff
    assert recent == [n for n in everything if utc(n["createdAt"]) >= cutoff] and recent


def test_invalid_queries_get_shopify_shaped_errors() -> None:
    sim = make_sim()
    shop = sim.world.stores[0].domain
    _, body = gql(sim, shop, "{ orders(first: 1) { nodes { colour } } }")
    error = body["errors"][0]
    assert error["message"] == "Field 'colour' doesn't exist on type 'Order'"
    assert error["extensions"]["code"] == "undefinedField" and error["locations"]
    _, body = gql(sim, shop, "{ orders(first: 1) { nodes { id }")
    assert body["errors"][0]["message"].startswith("Parse error on")
    _, body = gql(sim, shop, "{ orders { nodes { id } } }")
    assert body["errors"][0]["message"] == "you must provide one of first or last" and body["data"] is None
    _, body = gql(sim, shop, "query($n: Int!) { orders(first: $n) { nodes { id } } }", {"n": "ten"})
    assert body["errors"][0]["extensions"]["code"] == "INVALID_VARIABLE"
    response, body = gql(sim, shop, "{ orders(first: 1, sortKey: NEWEST) { nodes { id } } }")
    assert (
        response.status == 200 and body["errors"][0]["extensions"]["code"] == "argumentLiteralsIncompatible"
    )


def test_same_seed_same_bytes_other_seed_other_world() -> None:
    variables = {"first": 100, "after": None, "query": queries.search_since("updated_at", FIXED_NOW - timedelta(days=2)),
                 "sortKey": "UPDATED_AT", "reverse": False}  # fmt: skip
    answers = []
    for seed in (7, 7, 8):
        sim = make_sim(seed=seed)
        answers.append(gql(sim, sim.world.stores[0].domain, queries.ORDERS_QUERY, variables)[0].body)
    # the cost's currentlyAvailable is the only part that depends on (real) time
    strip = [re.sub(rb'"currentlyAvailable":\d+', b"", a) for a in answers]
    assert strip[0] == strip[1] and strip[0] != strip[2]


def test_an_unsupported_version_is_served_as_the_oldest_supported_one() -> None:
    # 2026-04-15: 2025-01 and 2025-04 have left support; 2025-07 is the oldest still supported.
    sim = make_sim()
    shop = sim.world.stores[0].domain
    body = json.dumps({"query": "{ shop { ianaTimezone } }"}).encode()
    headers = {"x-shopify-access-token": TOKEN}
    for asked, served in (("2025-01", "2025-07"), ("2025-04", "2025-07"), ("2025-07", "2025-07"),
                          (settings.API_VERSION, settings.API_VERSION)):  # fmt: skip
        response = sim.shopify.handle(shop, asked, headers, body)
        assert response.status == 200 and json.loads(response.body)["data"]["shop"]["ianaTimezone"]
        assert response.headers[settings.VERSION_HEADER] == served, asked


def test_deprecated_fields_are_named_in_the_deprecated_reason_header() -> None:
    sim = make_sim()
    shop = sim.world.stores[0].domain
    old, _ = gql(sim, shop, "{ shop { plan { displayName } } }")
    assert "ShopPlan.displayName" in old.headers[settings.DEPRECATED_REASON_HEADER]
    new, body = gql(sim, shop, "{ shop { plan { publicDisplayName } } }")
    assert settings.DEPRECATED_REASON_HEADER not in new.headers
    assert body["data"]["shop"]["plan"]["publicDisplayName"] == sim.world.stores[0].plan


def test_access_scopes_per_shop() -> None:
    sim = make_sim()
    a, b, c = (s.domain for s in sim.world.stores)
    sim.faults.update(shopify_no_read_all_orders_shops=[b], shopify_missing_scope_shops=[c])
    query = "{ currentAppInstallation { accessScopes { handle } } }"
    handles = {}
    for shop in (a, b, c):
        _, body = gql(sim, shop, query)
        handles[shop] = [s["handle"] for s in body["data"]["currentAppInstallation"]["accessScopes"]]
    assert handles == {a: ["read_orders", "read_all_orders"], b: ["read_orders"], c: []}
    # Without read_all_orders, orders created more than 60 days ago are absent (no error).
    old = FIXED_NOW - timedelta(days=70)
    search = window(old, old + timedelta(days=1))
    variables = {"first": 250, "query": search, "sortKey": "CREATED_AT"}
    orders_query = "query($first: Int!, $query: String, $sortKey: OrderSortKeys) { orders(first: $first, query: $query, sortKey: $sortKey) { nodes { id } } }"  # fmt: skip
    seen_a = gql(sim, a, orders_query, variables)[1]["data"]["orders"]["nodes"]
    seen_b = gql(sim, b, orders_query, variables)[1]
    assert len(seen_a) > 0 and seen_b["data"]["orders"]["nodes"] == [] and "errors" not in seen_b
