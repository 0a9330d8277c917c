"""The bad-input catalogue's Shopify cases, on the simulator (docs/reliability.md).

Scenario: a 7-day fill commits both shops' orders as they stood at SHOP_FILLED; by SHOP_NOW orders
have arrived and older ones were refunded or cancelled, and `shopify_fresh` runs with the west
shop's orders requests answering badly (scripted answers, key "<shop> Orders"). Whatever the
answer, the east shop syncs every change (figures from the simulator's truth), and the west shop
either adapts and syncs, or fails with the message while its raw rows, facts, marts and cursor
stay exactly as the fill left them. Hand-made orders are the bodies of scripted answers, stated
here with the payload builders.
"""

from __future__ import annotations

import json
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from adspipe.shopify import sync as shopify_sync
from adspipe.shopify.client import ShopifyClient
from adspipe.simulator.compare import orders_differences
from adspipe.simulator.scripted import Repeat
from adspipe.simulator.scripted import answer as scripted_answer
from adspipe.warehouse import connections as conns
from adspipe.warehouse import cursors
from adspipe_tests.reliability.conftest import EAST, SHOP_FILLED, SHOP_NOW, WEST, ShopEnv, sqlite_only
from adspipe_tests.reliability.helpers import (
    connection_row,
    counts,
    dialects,
    dump_table,
    last_sync_run,
    rows_where,
)
from adspipe_tests.shopify.payloads import cost, data_body, error_answer, order, orders_data

WEST_ORDERS = f"{WEST} Orders"  # the scripted-answer key of the west shop's orders requests


def _west_state(env: ShopEnv) -> dict[str, Any]:
    engine, west = env.engine, env.west
    return {
        "raw": [r for r in dump_table(engine, "shopify_orders_raw") if r[0] == WEST],
        "facts": [r for r in dump_table(engine, "fact_orders") if r[0] == WEST],
        "mart": [r for r in dump_table(engine, "daily_shopify_metrics") if r[0] == west.store_id],
        "summary": [r for r in dump_table(engine, "daily_summary") if r[0] == west.store_id],
        "cursors": [r for r in dump_table(engine, "sync_cursors") if r[0] == west.connection_id],
    }


def _seed(env: ShopEnv) -> dict[str, Any]:
    """The fill at SHOP_FILLED, then the clock at SHOP_NOW; the west shop's state after the fill."""
    assert env.fill().report.failed == []
    env.at(SHOP_NOW)
    return _west_state(env)


def _cursor(engine: Engine, connection_id: int) -> datetime:
    with engine.connect() as db:
        found = cursors.get_datetime_cursor(db, connection_id, cursors.SHOPIFY_UPDATED_AT)
    assert found is not None
    return found


def _window(env: ShopEnv, shop: str) -> tuple[date, date]:
    """The fill's first local date (at SHOP_FILLED) and the shop's local today."""
    store = env.running.sim.world.store_by_domain(shop)
    since = shopify_sync.fill_window(SHOP_FILLED, store.timezone)[0]
    return since, shopify_sync.fill_window(env.now(), store.timezone)[1]


def _synced(env: ShopEnv, shop: str, cursor_before: datetime) -> None:
    """The shop's facts are the truth now: every order of the fill's window, and every older one
    updated since the cursor the fresh run started from; nothing else; amounts equal."""
    since, until = _window(env, shop)
    truth = env.running.sim.truth.orders(shop, since - timedelta(days=15), until)
    want = {o.order_id for o in truth if o.local_date >= since or o.updated_at >= cursor_before}
    got = {r["order_id"] for r in rows_where(env.engine, "fact_orders", shop_domain=shop)}
    assert got == want and len(want) > 20
    rows, diffs = orders_differences(env.engine, env.running.sim.truth, shop, since, until)
    assert (rows > 20, diffs) == (True, [])


def _fresh_and_check_east(env: ShopEnv) -> shopify_sync.ShopifyResult:
    east_cursor = _cursor(env.engine, env.east.connection_id)
    result = env.fresh()
    (east,) = [o for o in result.report.outcomes if o.connection.connection_id == env.east.connection_id]
    assert east.status == "success", east.error
    _synced(env, EAST, east_cursor)
    return result


def _west_outcome(env: ShopEnv, result: shopify_sync.ShopifyResult) -> Any:
    (west,) = [o for o in result.report.outcomes if o.connection.connection_id == env.west.connection_id]
    return west


THROTTLED_COST = cost(requested=252, actual=None, available=10, maximum=2000, rate=100)
ACCESS_DENIED_TEXT = "Access denied for orders field. Required access: `read_orders` access scope."

SHOPIFY_REFUSALS = [
    ("http-401", scripted_answer(401, {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}),
     "failed", f"Shopify rejected the access token for {WEST} (HTTP 401): the app must be re-authorized for this shop"),
    ("http-404", scripted_answer(404, {"errors": "Not Found"}),
     "failed", f"shop not found: {WEST} (HTTP 404); check the shop domain of the connection"),
    ("http-403", scripted_answer(403, {"errors": "Forbidden"}),
     "failed", f"{WEST}: HTTP 403: forbidden"),
    ("http-402", scripted_answer(402, {"errors": "Unavailable Shop"}),
     "failed", f"{WEST}: HTTP 402: the shop is frozen (payment required)"),
    ("access-denied", error_answer("ACCESS_DENIED", ACCESS_DENIED_TEXT),
     "failed", f"{WEST}: access denied: the app is missing the read_orders scope; re-install or re-authorize it with read_orders"),
    ("malformed-json", scripted_answer(200, "<html><body>Bad gateway</body></html>"),
     "failed", f"TransientApiError: {WEST}: malformed JSON body (HTTP 200) (gave up after 5 attempts)"),
    ("json-not-object", scripted_answer(200, [{"data": {}}]),
     "failed", f"TransientApiError: {WEST}: malformed body: not a JSON object (gave up after 5 attempts)"),
    ("no-data", scripted_answer(200, {"extensions": {"cost": cost()}}),
     "failed", f"TransientApiError: {WEST}: malformed body: no data (gave up after 5 attempts)"),
    ("missing-page-info", scripted_answer(200, data_body({"shop": {"ianaTimezone": "America/Los_Angeles", "currencyCode": "USD"}, "orders": {"nodes": []}})),
     "failed", f"PermanentApiError: {WEST}: unexpected orders answer (missing 'pageInfo')"),
    ("unknown-graphql-error", error_answer("BAD_USER_INPUT", "Field 'ordres' doesn't exist on type 'QueryRoot'"),
     "failed", f"PermanentApiError: {WEST}: GraphQL error: Field 'ordres' doesn't exist on type 'QueryRoot'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("warehouse_url", "case", "answer", "status", "message"),
    dialects(SHOPIFY_REFUSALS, {"http-401", "malformed-json"}),
    indirect=["warehouse_url"],
)
def test_shopify_refusal_fails_the_shop_with_its_message_and_keeps_its_data(
    shop_env: ShopEnv, case: str, answer: Any, status: str, message: str
) -> None:
    env = shop_env
    before = _seed(env)
    env.script(WEST_ORDERS, Repeat(answer))
    result = _fresh_and_check_east(env)
    west = _west_outcome(env, result)
    assert west.status == status
    assert message in west.error, west.error
    run = last_sync_run(env.engine, env.west.connection_id)
    assert (run["status"], run["error"]) == (status, west.error)
    assert _west_state(env) == before  # the new orders not half-written; the cursor did not move
    assert env.orders_requests(WEST)[-1].status == answer[0]  # the scripted answer was served
    expected = "needs_reauth" if case == "http-401" else "active"
    assert connection_row(env.engine, env.west.connection_id)["status"] == expected
    if case == "http-401":
        assert connection_row(env.engine, env.west.connection_id)["status_reason"] == (
            f"Shopify rejected the access token for {WEST} (HTTP 401): the app must be re-authorized for this shop"
        )
        assert "re-authorize it: export a valid token and run `adspipe connect` again" in west.error


THROTTLES = [
    ("throttled", error_answer("THROTTLED", "Throttled", with_cost=THROTTLED_COST)),
    ("http-429", scripted_answer(429, {"errors": "Exceeded 2 calls per second"}, {"Retry-After": "5"})),
]


@sqlite_only()
@pytest.mark.parametrize(("case", "answer"), THROTTLES, ids=[c[0] for c in THROTTLES])
def test_shopify_throttled_without_end_stops_cleanly_and_keeps_the_cursor(
    shop_env: ShopEnv, case: str, answer: Any
) -> None:
    """shopify_fresh stops at its 45 s time budget (the next run continues: success, no progress,
    the throttling counted); the 7-day fill, with 300 s, gives up after 21 throttled answers."""
    env = shop_env
    before = _seed(env)
    env.script(WEST_ORDERS, Repeat(answer))
    result = _fresh_and_check_east(env)
    west = _west_outcome(env, result)
    (shop,) = [s for s in result.runs if s.connection.connection_id == env.west.connection_id]
    assert (west.status, west.error, shop.stopped_at_budget) == ("success", None, True)
    run = last_sync_run(env.engine, env.west.connection_id)
    assert run["status"] == "success" and run["throttled"] >= 10 and run["rows"] == 0
    assert _west_state(env) == before
    env.at(SHOP_NOW + timedelta(minutes=30))
    fill = env.fill(connection_id=env.west.connection_id)
    (outcome,) = fill.report.outcomes
    assert outcome.status == "rate_limited"
    assert outcome.error is not None and outcome.error.startswith(
        f"{WEST}: still throttled after 21 attempts"
    )
    assert outcome.error.endswith("s waited); the next run continues")
    assert last_sync_run(env.engine, env.west.connection_id)["status"] == "rate_limited"
    assert _west_state(env) == before


READ_TIMEOUT_S = 1.0


def _slower_than_the_read_timeout() -> None:
    """A scripted entry: the answer comes after the client's read timeout (then the real one)."""
    time.sleep(READ_TIMEOUT_S * 2.5)


SHOPIFY_ADAPTS = [
    ("max-cost-exceeded", [error_answer("MAX_COST_EXCEEDED", "Query cost is 25100, which exceeds the single query max cost limit (1000).")],
     {"first": 125, "throttled": 0}),
    ("throttled-once", [error_answer("THROTTLED", "Throttled", with_cost=THROTTLED_COST)], {"first": 250, "throttled": 1}),
    ("http-503-twice", [scripted_answer(503, "<html>Service Unavailable</html>")] * 2, {"first": 250, "throttled": 0}),
    ("malformed-json-once", [scripted_answer(200, '{"data": {"orders": ', {"content-type": "application/json"})],
     {"first": 250, "throttled": 0}),
    ("timeout-once", [_slower_than_the_read_timeout], {"first": 250, "throttled": 0}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("warehouse_url", "case", "answers", "expect"),
    dialects(SHOPIFY_ADAPTS, {"max-cost-exceeded"}),
    indirect=["warehouse_url"],
)
def test_shopify_answer_the_client_adapts_to_then_the_sync_completes(
    shop_env: ShopEnv, case: str, answers: list[Any], expect: dict[str, int]
) -> None:
    env = shop_env
    _seed(env)
    if case == "timeout-once":
        env.client = ShopifyClient(
            endpoint_template=env.client.endpoint_template, read_timeout_s=READ_TIMEOUT_S
        )
        env.client.with_transport(sleep=env.clock.sleep, monotonic=env.clock.monotonic)
    west_cursor, mark = _cursor(env.engine, env.west.connection_id), env.mark()
    env.script(WEST_ORDERS, *answers)
    result = _fresh_and_check_east(env)
    assert _west_outcome(env, result).status == "success"
    _synced(env, WEST, west_cursor)
    searches = env.orders_requests(WEST, after=mark)
    assert len(searches) >= 1 + len(answers)  # every scripted answer served, then the real ones
    assert searches[-1].variables["first"] == expect["first"]  # MAX_COST_EXCEEDED: half the size
    run = last_sync_run(env.engine, env.west.connection_id)
    assert (run["status"], run["throttled"], run["error"]) == ("success", expect["throttled"], None)
    since, until = _window(env, WEST)
    latest = max(o.updated_at for o in env.running.sim.truth.orders(WEST, since - timedelta(days=15), until))
    cursor = rows_where(env.engine, "sync_cursors", connection_id=env.west.connection_id)[0]["value"]
    assert cursor == latest.strftime("%Y-%m-%dT%H:%M:%S.%fZ") and latest > west_cursor


# -- Order payloads: missing, extra and wrongly typed fields --------------------------------------


def _without(node: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k not in keys}


def _amount(node: dict[str, Any], value: Any) -> dict[str, Any]:
    return {**node, "totalPriceSet": {"shopMoney": {"amount": value, "currencyCode": "USD"}}}


# Created at 08:00 and 12:30 on 9 March in Los Angeles (the west shop's time zone).
ORDER_2 = order(2, created="2026-03-09T16:00:00Z", total="20.00")
ORDER_4 = order(4, created="2026-03-09T20:30:00Z", total="40.00")


def _page(*nodes: dict[str, Any]) -> Any:
    """A scripted orders page with these nodes (the last page)."""
    return scripted_answer(200, data_body(orders_data(list(nodes), tz="America/Los_Angeles")))


BAD_ORDERS = [
    ("missing-total", _without(ORDER_4, "totalPriceSet"),
     f"BadOrderPayload: order #1004 ({WEST}): totalPriceSet is missing"),
    ("missing-created-at", _without(ORDER_4, "createdAt"),
     f"BadOrderPayload: order #1004 ({WEST}): createdAt is missing"),
    ("missing-ids", _without(ORDER_4, "id", "legacyResourceId"), "BadOrderPayload: order without id"),
    ("amount-null", _amount(ORDER_4, None),
     f"BadOrderPayload: order #1004 ({WEST}): totalPriceSet.shopMoney.amount is not an amount"),
    ("amount-text", _amount(ORDER_4, "abc"),
     f"BadOrderPayload: order #1004 ({WEST}): totalPriceSet.shopMoney.amount is not an amount"),
    ("amount-float-artefact", _amount(ORDER_4, 0.1 + 0.2),
     f"BadOrderPayload: order #1004 ({WEST}): totalPriceSet 0.30000000000000004 is not an amount with <= 4 decimals"),
    ("amount-infinite", _amount(ORDER_4, "Infinity"),
     f"BadOrderPayload: order #1004 ({WEST}): totalPriceSet Infinity is not an amount with <= 4 decimals"),
    ("created-at-number", {**ORDER_4, "createdAt": 1773068400},
     f"BadOrderPayload: order #1004 ({WEST}): createdAt 1773068400 is not an ISO-8601 instant"),
    ("customer-id-text", {**ORDER_4, "customer": {"id": "gid://shopify/Customer/abc"}},
     "BadOrderPayload: not a Shopify id: 'gid://shopify/Customer/abc'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("warehouse_url", "case", "node", "message"),
    dialects(BAD_ORDERS, {"missing-total"}),
    indirect=["warehouse_url"],
)
def test_shopify_unreadable_order_fails_its_page_whole_and_names_the_field(
    shop_env: ShopEnv, case: str, node: dict[str, Any], message: str
) -> None:
    """A wrong row is worse than a failed page: the page with the bad order (a good order 2 and
    the bad one) is not written at all, the cursor stays, the error names the order and the field."""
    env = shop_env
    before = _seed(env)
    env.script(WEST_ORDERS, _page(ORDER_2, node))
    result = _fresh_and_check_east(env)
    west = _west_outcome(env, result)
    assert west.status == "failed"
    assert west.error == message
    assert _west_state(env) == before


ACCEPTED_ORDERS = [
    ("extra-fields", {**ORDER_4, "note": "gift'; DROP TABLE fact_orders; --", "newApiField": {"x": [1, 2]}},
     Decimal("40.00")),
    ("amount-json-number", _amount(ORDER_4, 40.5), Decimal("40.5")),
    ("amount-json-integer", _amount(ORDER_4, 41), Decimal("41")),
    ("missing-optional-fields", _without(ORDER_4, "totalRefundedSet", "subtotalPriceSet", "customer", "lineItems",
                                        "cancelledAt", "displayFinancialStatus"), Decimal("40.00")),
]  # fmt: skip


@sqlite_only()
@pytest.mark.parametrize(("case", "node", "total"), ACCEPTED_ORDERS, ids=[c[0] for c in ACCEPTED_ORDERS])
def test_shopify_order_with_extra_fields_or_numbers_is_read_exactly(
    shop_env: ShopEnv, case: str, node: dict[str, Any], total: Decimal
) -> None:
    """The fresh search answers this one order (a scripted page); 9 March's mart is the fill's
    orders of that day (the truth as of SHOP_FILLED) plus this one."""
    env = shop_env
    _seed(env)
    env.script(WEST_ORDERS, _page(node))
    result = _fresh_and_check_east(env)
    assert _west_outcome(env, result).status == "success"
    (fact,) = rows_where(env.engine, "fact_orders", shop_domain=WEST, order_id=4)
    assert fact["total_price"] == total and fact["net_revenue"] == total
    (raw,) = rows_where(env.engine, "shopify_orders_raw", shop_domain=WEST, order_id=4)
    assert raw["payload"] == json.loads(json.dumps(node))  # kept verbatim, extra fields included
    march_9 = date(2026, 3, 9)
    (truth,) = env.running.sim.truth.shopify_daily(WEST, march_9, march_9, at=SHOP_FILLED)
    (mart,) = [m for m in rows_where(env.engine, "daily_shopify_metrics", store_id=env.west.store_id)
               if m["date"] == march_9]  # fmt: skip
    assert truth.orders > 0
    assert (mart["orders"], mart["net_revenue"]) == (truth.orders + 1, truth.net_revenue + total)


# -- Empty, huge and future days ------------------------------------------------------------------


@pytest.mark.parametrize("warehouse_url", ["sqlite", "postgres"], indirect=True)
def test_shopify_huge_page_is_written_once_and_whole(shop_env: ShopEnv) -> None:
    """A shop answering 1,200 orders in ONE page (ignoring `first`: 250) is read and written whole."""
    env = shop_env
    nodes = [
        order(n, created=f"2026-03-0{4 + n % 5}T{10 + n % 12:02d}:{n % 60:02d}:00Z", total="1.25", customer=n)
        for n in range(1, 1201)
    ]
    env.script(
        WEST_ORDERS, Repeat(scripted_answer(200, data_body(orders_data(nodes), requested=252, actual=252)))
    )
    result = env.fill(connection_id=env.west.connection_id)
    assert result.report.failed == []
    assert [r.variables["first"] for r in env.orders_requests(WEST)] == [250]  # one request, one page
    assert counts(env.engine)["fact_orders"] == 1200 and counts(env.engine)["shopify_orders_raw"] == 1200
    marts = rows_where(env.engine, "daily_shopify_metrics", store_id=env.west.store_id)
    assert sum(m["orders"] for m in marts) == 1200
    assert sum(m["net_revenue"] for m in marts) == Decimal("1500.00")


@sqlite_only()
def test_shopify_empty_day_and_future_day_are_no_error_and_no_stale_row(shop_env: ShopEnv) -> None:
    """A day without orders (the shop answers none: a scripted empty page) and a day after the
    shop's local today sync without error: the sync_runs row lists the days, and the mart has no
    row for them (docs: a date without any facts has no row) — never a stale one. The other days
    of the range are untouched."""
    env = shop_env
    march_5 = date(2026, 3, 5)
    first = env.sync_days([march_5], connection_id=env.west.connection_id)
    assert first.report.failed == []
    (truth,) = env.running.sim.truth.shopify_daily(WEST, march_5, march_5)
    (mart,) = rows_where(env.engine, "daily_shopify_metrics", store_id=env.west.store_id)
    assert (mart["date"], mart["orders"], mart["net_revenue"]) == (march_5, truth.orders, truth.net_revenue)
    before = _west_state(env)
    env.script(WEST_ORDERS, _page())
    empty = [date(2026, 3, 6), date(2026, 3, 11)]  # 11 March is after the shop's today (9 March)
    result = env.sync_days(empty, connection_id=env.west.connection_id)
    assert result.report.failed == []
    run = last_sync_run(env.engine, env.west.connection_id)
    assert (run["status"], run["rows"], run["error"], run["dates"]) == (
        "success",
        0,
        None,
        ["2026-03-06", "2026-03-11"],
    )
    assert _west_state(env) == before
    assert [m["date"] for m in rows_where(env.engine, "daily_shopify_metrics")] == [march_5]


# -- A connection disconnected in the middle of a run ---------------------------------------------


@pytest.mark.parametrize("token_revoked", [False, True], ids=["token-kept", "token-revoked"])
@pytest.mark.parametrize("warehouse_url", ["sqlite", "postgres"], indirect=True)
def test_shopify_connection_disconnected_between_two_days(shop_env: ShopEnv, token_revoked: bool) -> None:
    """The west connection is disconnected when its 6 March request arrives (a scripted entry
    that runs then); with the token revoked, that request and every later one answer 401."""
    env = shop_env
    rejected = scripted_answer(401, {"errors": "[API] Invalid API key or access token"})

    def disconnect() -> Any:
        with env.engine.begin() as conn:
            conns.disconnect(conn, env.west.connection_id)
        if token_revoked:
            env.script(WEST, Repeat(rejected))
            return rejected
        return None

    env.script(WEST_ORDERS, None, disconnect)
    days = [date(2026, 3, 5), date(2026, 3, 6), date(2026, 3, 7)]
    result = env.sync_days(days)
    searches = [r.variables["query"] for r in env.orders_requests(WEST)]
    assert [q[: len("created_at:>='2026-03-05")] for q in searches[:2]] == [
        "created_at:>='2026-03-05",
        "created_at:>='2026-03-06",
    ]  # the disconnect came with the 6 March request
    outcomes = {o.connection.connection_id: o for o in result.report.outcomes}
    assert outcomes[env.east.connection_id].status == "success"
    connection = connection_row(env.engine, env.west.connection_id)
    assert (connection["status"], connection["status_reason"]) == ("disconnected", "disconnected by user")
    west_days = [
        m["date"] for m in rows_where(env.engine, "daily_shopify_metrics", store_id=env.west.store_id)
    ]
    west_orders = {r["order_id"] for r in rows_where(env.engine, "fact_orders", shop_domain=WEST)}
    truth = env.running.sim.truth
    if token_revoked:
        assert outcomes[env.west.connection_id].status == "failed"
        assert f"Shopify rejected the access token for {WEST} (HTTP 401)" in (
            outcomes[env.west.connection_id].error or ""
        )
        assert (west_days, west_orders) == (
            days[:1],
            {o.order_id for o in truth.orders(WEST, days[0], days[0])},
        )
    else:
        assert outcomes[env.west.connection_id].status == "success"
        assert (west_days, west_orders) == (days, {o.order_id for o in truth.orders(WEST, days[0], days[-1])})
    assert west_orders
    mark = env.mark()
    nxt = env.sync_days([date(2026, 3, 8)])
    assert [o.connection.account_id for o in nxt.report.outcomes] == [EAST]
    assert env.requests(WEST, after=mark) == [] and env.requests(EAST, after=mark)
