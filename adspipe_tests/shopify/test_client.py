"""The Shopify client against the simulator's shop: its real answers (shop info, a bad token, an
unknown shop, a missing scope) and scripted answers whose bodies and costs are stated here
(pacing, throttling, retries, errors, paging); what the client sent comes from the simulator's
request log. Failures below HTTP (a read timeout, a dropped connection, a refused connect) are a
transport-level script (httpx.MockTransport), not an API fake."""

from __future__ import annotations

import httpx
import pytest

from adspipe.clock import parse_instant
from adspipe.errors import AuthError, PermanentApiError, RateLimitExhausted, TransientApiError
from adspipe.shopify import queries
from adspipe.shopify.client import TimeBudgetExceeded
from adspipe.simulator.scripted import Repeat
from adspipe.simulator.scripted import answer as scripted_answer
from adspipe.simulator.util import credential_id
from adspipe_tests.clocks import FakeClock
from adspipe_tests.shopify.conftest import ScriptedShop
from adspipe_tests.shopify.fakes import SHOP, TOKEN, Script, client_with, ok
from adspipe_tests.shopify.payloads import cost, error_answer, ok_answer, order, orders_data
from adspipe_tests.simulator_fixtures import TOKEN as SIM_TOKEN

SHOP_DATA = {"shop": {"ianaTimezone": "Europe/Berlin", "currencyCode": "EUR", "myshopifyDomain": SHOP}}


def test_shop_info_posts_graphql_with_token_header_to_versioned_endpoint(scripted_shop: ScriptedShop) -> None:
    session = scripted_shop.session(api_version="2025-04")
    info = session.shop_info()
    store = scripted_shop.running.sim.world.stores[0]  # the simulator answers the fields asked for
    assert (info.timezone, info.currency) == (store.timezone, store.currency)
    (request,) = scripted_shop.requests()
    assert (request.account, request.endpoint, request.detail) == (scripted_shop.shop, "graphql", "2025-04")
    assert request.credential == credential_id(SIM_TOKEN)  # the X-Shopify-Access-Token header
    assert session.stats.api_calls == 1 and SIM_TOKEN not in repr(session)


def test_timeouts_are_explicit(scripted_shop: ScriptedShop) -> None:
    timeout = scripted_shop.client(connect_timeout_s=3, read_timeout_s=12).http().timeout
    assert (timeout.connect, timeout.read) == (3, 12)


def test_paces_until_bucket_holds_the_expected_cost(scripted_shop: ScriptedShop) -> None:
    # After the first page the bucket holds 40 of 2000 and restores 100/s; the same query cost 150.
    page1 = ok_answer(
        orders_data([order(1)], has_next=True, end_cursor="c1"), requested=150, actual=20, available=40
    )
    page2 = ok_answer(orders_data([order(2)]), requested=150, actual=20, available=1900)
    scripted_shop.script(page1, page2)
    session, clock = scripted_shop.session(), scripted_shop.clock
    pages = list(session.orders("created_at:>='2026-03-01T00:00:00Z'", "CREATED_AT"))
    assert [len(p.orders) for p in pages] == [1, 1]
    # (150 − 40 + 1 margin) / 100 = 1.11 s before the second request, nothing before the first.
    assert clock.sleeps == [pytest.approx(1.11)]
    assert session.stats.pace_wait_s == pytest.approx(1.11) and session.stats.throttled == 0
    assert scripted_shop.requests()[1].variables["after"] == "c1"
    assert (session.stats.requested_cost, session.stats.actual_cost, session.stats.pages) == (300, 40, 2)


def test_bucket_refill_over_elapsed_time_avoids_waiting(scripted_shop: ScriptedShop) -> None:
    page1 = ok_answer(orders_data([order(1)], has_next=True, end_cursor="c1"), requested=150, available=40)
    scripted_shop.script(page1, ok_answer(orders_data([])))
    pages = scripted_shop.session().orders("q", "CREATED_AT")
    next(pages)
    scripted_shop.clock.now += 2.0  # 40 + 2 s × 100/s = 240 ≥ 150
    list(pages)
    assert scripted_shop.clock.sleeps == []


def test_throttled_answer_waits_requested_minus_available_over_rate_and_retries(
    scripted_shop: ScriptedShop,
) -> None:
    throttled = error_answer(
        "THROTTLED", "Throttled", with_cost=cost(requested=862, actual=None, available=100)
    )
    scripted_shop.script(throttled, ok_answer(SHOP_DATA))
    session = scripted_shop.session()
    assert session.shop_info().currency == "EUR"
    assert scripted_shop.clock.sleeps == [pytest.approx((862 - 100 + 1) / 100)]
    assert session.stats.throttled == 1 and session.stats.throttle_wait_s == pytest.approx(7.63)
    assert session.stats.api_calls == 2 == len(scripted_shop.requests())


def test_throttled_past_the_cap_is_rate_limit_exhausted(scripted_shop: ScriptedShop) -> None:
    throttled = error_answer("THROTTLED", with_cost=cost(requested=500, actual=None, available=0))
    scripted_shop.script(Repeat(throttled))
    session = scripted_shop.session(max_throttle_retries=3)
    with pytest.raises(RateLimitExhausted, match="still throttled after 4 attempts"):
        session.shop_info()
    assert session.stats.throttled == 4 == len(scripted_shop.requests())


def test_http_429_counts_as_throttle_and_honours_retry_after(scripted_shop: ScriptedShop) -> None:
    scripted_shop.script(scripted_answer(429, "", {"Retry-After": "2.5"}), None)  # then the real answer
    session = scripted_shop.session()
    session.shop_info()
    assert scripted_shop.clock.sleeps == [2.5] and session.stats.throttled == 1


@pytest.mark.parametrize(
    "failure",
    [
        scripted_answer(503, "<html>busy</html>"),
        scripted_answer(502, ""),
        error_answer("INTERNAL_SERVER_ERROR", "Internal error"),
        scripted_answer(200, '{"data": {"shop": ', {"content-type": "application/json"}),
    ],
    ids=["503", "502", "internal", "malformed"],
)
def test_transient_failures_back_off_with_jitter_then_succeed(
    scripted_shop: ScriptedShop, failure: object
) -> None:
    scripted_shop.script(failure, failure, None)  # twice, then the shop's real answer
    session = scripted_shop.session(backoff_base_s=1.0, backoff_cap_s=1.5)
    assert session.shop_info().timezone == scripted_shop.running.sim.world.stores[0].timezone
    assert session.stats.retries == 2 and session.stats.api_calls == 3
    # Full jitter: uniform in [0, min(cap, base × 2^(n−1))].
    clock = scripted_shop.clock
    assert len(clock.sleeps) == 2 and 0 <= clock.sleeps[0] <= 1.0 and 0 <= clock.sleeps[1] <= 1.5


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("peer closed connection"),
        httpx.ConnectError("refused"),
    ],
    ids=["timeout", "dropped", "connect"],
)
def test_transport_failures_back_off_with_jitter_then_succeed(failure: Exception) -> None:
    """A transport-level script (httpx.MockTransport): the request fails below HTTP (the
    simulator's scripted answers cannot time out or drop one request on cue)."""
    script, clock = Script([failure, failure, ok(SHOP_DATA)]), FakeClock()
    session = client_with(script, clock, backoff_base_s=1.0, backoff_cap_s=1.5).session(SHOP, TOKEN)
    assert session.shop_info().timezone == "Europe/Berlin"
    assert session.stats.retries == 2 and session.stats.api_calls == 3
    assert len(clock.sleeps) == 2 and 0 <= clock.sleeps[0] <= 1.0 and 0 <= clock.sleeps[1] <= 1.5


def test_transient_failures_give_up_after_max_attempts_without_the_token(scripted_shop: ScriptedShop) -> None:
    scripted_shop.script(Repeat(scripted_answer(500, "")))
    session = scripted_shop.session(max_transient_retries=2)
    with pytest.raises(TransientApiError) as info:
        session.shop_info()
    assert str(info.value) == f"{scripted_shop.shop}: HTTP 500 (gave up after 3 attempts)"
    assert len(scripted_shop.requests()) == 3 and SIM_TOKEN not in str(info.value)


def test_401_is_auth_error_at_once_with_what_to_do(scripted_shop: ScriptedShop) -> None:
    """The simulator's own answer to a token it does not know."""
    wrong = "shpat_wrong0123456789"
    session = scripted_shop.session(token=wrong)
    with pytest.raises(AuthError, match="re-authorized") as info:
        session.shop_info()
    assert [r.status for r in scripted_shop.requests()] == [401] and scripted_shop.clock.sleeps == []
    assert scripted_shop.shop in str(info.value) and wrong not in str(info.value)


def test_404_is_shop_not_found(scripted_shop: ScriptedShop) -> None:
    """The simulator's own answer for a shop it does not have."""
    client = scripted_shop.client()
    with pytest.raises(PermanentApiError, match="shop not found: nope.myshopify.com"):
        client.session("nope.myshopify.com", SIM_TOKEN).shop_info()
    assert [r.status for r in scripted_shop.requests()] == [404]


@pytest.mark.parametrize(("status", "text"), [(402, "frozen"), (403, "forbidden"), (423, "locked")])
def test_other_4xx_are_permanent(scripted_shop: ScriptedShop, status: int, text: str) -> None:
    scripted_shop.script(scripted_answer(status, ""))
    with pytest.raises(PermanentApiError, match=text):
        scripted_shop.session().shop_info()
    assert [r.status for r in scripted_shop.requests()] == [status]


def test_access_denied_names_the_missing_scope(scripted_shop: ScriptedShop) -> None:
    """The simulator's own ACCESS_DENIED for a shop whose app lacks read_orders."""
    scripted_shop.running.sim.faults.update(shopify_missing_scope_shops={scripted_shop.shop})
    with pytest.raises(PermanentApiError, match="missing the read_orders scope"):
        list(scripted_shop.session().orders("q", "UPDATED_AT"))
    assert len(scripted_shop.requests()) == 1


def test_max_cost_exceeded_halves_the_page_and_keeps_it_small(scripted_shop: ScriptedShop) -> None:
    too_big = error_answer(
        "MAX_COST_EXCEEDED", "Query cost is 1262, which exceeds the single query max cost limit"
    )
    page1 = ok_answer(orders_data([order(1)], has_next=True, end_cursor="c1"))
    scripted_shop.script(too_big, page1, ok_answer(orders_data([order(2)])))
    pages = list(scripted_shop.session(page_size=250).orders("q", "CREATED_AT"))
    assert [r.variables["first"] for r in scripted_shop.requests()] == [250, 125, 125]
    assert [p.page_size for p in pages] == [125, 125]


def test_requested_cost_above_the_bucket_size_shrinks_the_page(scripted_shop: ScriptedShop) -> None:
    never = error_answer("THROTTLED", with_cost=cost(requested=2400, actual=None, available=2000))
    scripted_shop.script(never, ok_answer(orders_data([])))
    list(scripted_shop.session(page_size=200).orders("q", "CREATED_AT"))
    assert [r.variables["first"] for r in scripted_shop.requests()] == [200, 100]


def test_orders_query_sends_quoted_search_and_sort_key(scripted_shop: ScriptedShop) -> None:
    scripted_shop.script(ok_answer(orders_data([order(1)])))
    session = scripted_shop.session(page_size=50)
    search = queries.search_since("updated_at", parse_instant("2026-03-01T00:00:00.999Z"))
    pages = list(session.orders(search, "UPDATED_AT"))
    (request,) = scripted_shop.requests()
    assert request.variables == {
        "first": 50, "after": None, "query": "updated_at:>='2026-03-01T00:00:00Z'",
        "sortKey": "UPDATED_AT", "reverse": False,
    }  # fmt: skip
    assert pages[0].shop.timezone == "America/New_York"


def test_line_items_beyond_the_inline_page_are_fetched(scripted_shop: ScriptedShop) -> None:
    big = order(1, line_items=2)
    big["lineItems"]["pageInfo"] = {"hasNextPage": True, "endCursor": "li2"}
    more = {
        "order": {
            "lineItems": {
                "pageInfo": {"hasNextPage": False, "endCursor": "li5"},
                "nodes": [{"id": f"gid://shopify/LineItem/9{i}"} for i in range(3)],
            }
        }
    }
    scripted_shop.script(ok_answer(orders_data([big])), ok_answer(more))
    pages = list(scripted_shop.session().orders("q", "CREATED_AT"))
    assert len(pages[0].orders[0]["lineItems"]["nodes"]) == 5
    assert scripted_shop.requests()[1].variables == {
        "id": "gid://shopify/Order/1",
        "first": 250,
        "after": "li2",
    }


def test_a_wait_past_the_deadline_stops_cleanly(scripted_shop: ScriptedShop) -> None:
    throttled = error_answer("THROTTLED", with_cost=cost(requested=1000, actual=None, available=0))
    scripted_shop.script(throttled)
    clock = scripted_shop.clock
    session = scripted_shop.session(deadline=clock.now + 5)
    with pytest.raises(TimeBudgetExceeded):
        session.shop_info()
    assert clock.sleeps == [] and len(scripted_shop.requests()) == 1


def test_graphql_errors_without_known_code_are_permanent(scripted_shop: ScriptedShop) -> None:
    scripted_shop.script(
        scripted_answer(200, {"errors": [{"message": "Field 'nope' doesn't exist on type 'Order'"}]})
    )
    with pytest.raises(PermanentApiError, match="Field 'nope'"):
        scripted_shop.session().shop_info()


def test_search_terms_are_quoted_and_validated() -> None:
    at = parse_instant("2026-03-08T07:00:00+00:00")
    assert queries.search_since("created_at", at) == "created_at:>='2026-03-08T07:00:00Z'"
    assert queries.search_before("created_at", at) == "created_at:<'2026-03-08T07:00:00Z'"
    with pytest.raises(ValueError):
        queries.search_since("name", at)
