"""The Shopify client against scripted answers: pacing, throttling, retries, errors, paging."""

from __future__ import annotations

import httpx
import pytest

from adspipe.clock import parse_instant
from adspipe.errors import AuthError, PermanentApiError, RateLimitExhausted, TransientApiError
from adspipe.shopify import queries
from adspipe.shopify.client import TimeBudgetExceeded
from adspipe_tests.clocks import FakeClock
from adspipe_tests.shopify.fakes import (
    SHOP,
    TOKEN,
    Script,
    client_with,
    cost,
    graphql_error,
    ok,
    order,
    orders_data,
)

SHOP_DATA = {"shop": {"ianaTimezone": "Europe/Berlin", "currencyCode": "EUR", "myshopifyDomain": SHOP}}


def test_shop_info_posts_graphql_with_token_header_to_versioned_endpoint() -> None:
    script, clock = Script([ok(SHOP_DATA)]), FakeClock()
    session = client_with(script, clock, api_version="2025-04").session(SHOP, TOKEN)
    info = session.shop_info()
    assert (info.timezone, info.currency) == ("Europe/Berlin", "EUR")
    request = script.requests[0]
    assert str(request.url) == f"https://{SHOP}/admin/api/2025-04/graphql.json"
    assert request.headers["X-Shopify-Access-Token"] == TOKEN
    assert "ianaTimezone" in script.bodies()[0]["query"]
    assert session.stats.api_calls == 1 and TOKEN not in repr(session)


def test_timeouts_are_explicit() -> None:
    client = client_with(Script([]), FakeClock(), connect_timeout_s=3, read_timeout_s=12)
    timeout = client.http().timeout
    assert (timeout.connect, timeout.read) == (3, 12)


def test_paces_until_bucket_holds_the_expected_cost() -> None:
    # After the first page the bucket holds 40 of 2000 and restores 100/s; the same query cost 150.
    page1 = ok(
        orders_data([order(1)], has_next=True, end_cursor="c1"), requested=150, actual=20, available=40
    )
    page2 = ok(orders_data([order(2)]), requested=150, actual=20, available=1900)
    script, clock = Script([page1, page2]), FakeClock()
    session = client_with(script, clock).session(SHOP, TOKEN)
    pages = list(session.orders("created_at:>='2026-03-01T00:00:00Z'", "CREATED_AT"))
    assert [len(p.orders) for p in pages] == [1, 1]
    # (150 − 40 + 1 margin) / 100 = 1.11 s before the second request, nothing before the first.
    assert clock.sleeps == [pytest.approx(1.11)]
    assert session.stats.pace_wait_s == pytest.approx(1.11) and session.stats.throttled == 0
    assert script.bodies()[1]["variables"]["after"] == "c1"
    assert (session.stats.requested_cost, session.stats.actual_cost, session.stats.pages) == (300, 40, 2)


def test_bucket_refill_over_elapsed_time_avoids_waiting() -> None:
    page1 = ok(orders_data([order(1)], has_next=True, end_cursor="c1"), requested=150, available=40)
    script, clock = Script([page1, ok(orders_data([]))]), FakeClock()
    session = client_with(script, clock).session(SHOP, TOKEN)
    pages = session.orders("q", "CREATED_AT")
    next(pages)
    clock.now += 2.0  # 40 + 2 s × 100/s = 240 ≥ 150
    list(pages)
    assert clock.sleeps == []


def test_throttled_answer_waits_requested_minus_available_over_rate_and_retries() -> None:
    throttled = graphql_error(
        "THROTTLED", "Throttled", with_cost=cost(requested=862, actual=None, available=100)
    )
    script, clock = Script([throttled, ok(SHOP_DATA)]), FakeClock()
    session = client_with(script, clock).session(SHOP, TOKEN)
    assert session.shop_info().currency == "EUR"
    assert clock.sleeps == [pytest.approx((862 - 100 + 1) / 100)]
    assert session.stats.throttled == 1 and session.stats.throttle_wait_s == pytest.approx(7.63)
    assert session.stats.api_calls == 2


def test_throttled_past_the_cap_is_rate_limit_exhausted() -> None:
    throttled = graphql_error("THROTTLED", with_cost=cost(requested=500, actual=None, available=0))
    script, clock = Script([throttled] * 4), FakeClock()
    session = client_with(script, clock, max_throttle_retries=3).session(SHOP, TOKEN)
    with pytest.raises(RateLimitExhausted, match="still throttled after 4 attempts"):
        session.shop_info()
    assert session.stats.throttled == 4


def test_http_429_counts_as_throttle_and_honours_retry_after() -> None:
    script, clock = Script([httpx.Response(429, headers={"Retry-After": "2.5"}), ok(SHOP_DATA)]), FakeClock()
    session = client_with(script, clock).session(SHOP, TOKEN)
    session.shop_info()
    assert clock.sleeps == [2.5] and session.stats.throttled == 1


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(503, text="<html>busy</html>"),
        httpx.Response(502),
        graphql_error("INTERNAL_SERVER_ERROR", "Internal error"),
        httpx.Response(200, text='{"data": {"shop": '),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("peer closed connection"),
        httpx.ConnectError("refused"),
    ],
    ids=["503", "502", "internal", "malformed", "timeout", "dropped", "connect"],
)
def test_transient_failures_back_off_with_jitter_then_succeed(failure: httpx.Response | Exception) -> None:
    script, clock = Script([failure, failure, ok(SHOP_DATA)]), FakeClock()
    client = client_with(script, clock, backoff_base_s=1.0, backoff_cap_s=1.5)
    session = client.session(SHOP, TOKEN)
    assert session.shop_info().timezone == "Europe/Berlin"
    assert session.stats.retries == 2 and session.stats.api_calls == 3
    # Full jitter: uniform in [0, min(cap, base × 2^(n−1))].
    assert 0 <= clock.sleeps[0] <= 1.0 and 0 <= clock.sleeps[1] <= 1.5


def test_transient_failures_give_up_after_max_attempts_without_the_token() -> None:
    script, clock = Script([httpx.Response(500)] * 3), FakeClock()
    session = client_with(script, clock, max_transient_retries=2).session(SHOP, TOKEN)
    with pytest.raises(TransientApiError) as info:
        session.shop_info()
    assert str(info.value) == f"{SHOP}: HTTP 500 (gave up after 3 attempts)"
    assert len(script.requests) == 3 and TOKEN not in str(info.value)


def test_401_is_auth_error_at_once_with_what_to_do() -> None:
    body = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
    script, clock = Script([httpx.Response(401, json=body)]), FakeClock()
    session = client_with(script, clock).session(SHOP, TOKEN)
    with pytest.raises(AuthError, match="re-authorized") as info:
        session.shop_info()
    assert len(script.requests) == 1 and clock.sleeps == []
    assert SHOP in str(info.value) and TOKEN not in str(info.value)


def test_404_is_shop_not_found() -> None:
    script = Script([httpx.Response(404, json={"errors": "Not Found"})])
    with pytest.raises(PermanentApiError, match=f"shop not found: {SHOP}"):
        client_with(script, FakeClock()).session(SHOP, TOKEN).shop_info()
    assert len(script.requests) == 1


@pytest.mark.parametrize(("status", "text"), [(402, "frozen"), (403, "forbidden"), (423, "locked")])
def test_other_4xx_are_permanent(status: int, text: str) -> None:
    with pytest.raises(PermanentApiError, match=text):
        client_with(Script([httpx.Response(status)]), FakeClock()).session(SHOP, TOKEN).shop_info()


def test_access_denied_names_the_missing_scope() -> None:
    denied = graphql_error(
        "ACCESS_DENIED", "Access denied for orders field. Required access: `read_orders` access scope."
    )
    script = Script([denied])
    with pytest.raises(PermanentApiError, match="missing the read_orders scope"):
        list(client_with(script, FakeClock()).session(SHOP, TOKEN).orders("q", "UPDATED_AT"))
    assert len(script.requests) == 1


def test_max_cost_exceeded_halves_the_page_and_keeps_it_small() -> None:
    too_big = graphql_error(
        "MAX_COST_EXCEEDED", "Query cost is 1262, which exceeds the single query max cost limit"
    )
    page1 = ok(orders_data([order(1)], has_next=True, end_cursor="c1"))
    script, clock = Script([too_big, page1, ok(orders_data([order(2)]))]), FakeClock()
    session = client_with(script, clock, page_size=250).session(SHOP, TOKEN)
    pages = list(session.orders("q", "CREATED_AT"))
    assert [b["variables"]["first"] for b in script.bodies()] == [250, 125, 125]
    assert [p.page_size for p in pages] == [125, 125]


def test_requested_cost_above_the_bucket_size_shrinks_the_page() -> None:
    never = graphql_error("THROTTLED", with_cost=cost(requested=2400, actual=None, available=2000))
    script = Script([never, ok(orders_data([]))])
    session = client_with(script, FakeClock(), page_size=200).session(SHOP, TOKEN)
    list(session.orders("q", "CREATED_AT"))
    assert [b["variables"]["first"] for b in script.bodies()] == [200, 100]


def test_orders_query_sends_quoted_search_and_sort_key() -> None:
    script = Script([ok(orders_data([order(1)]))])
    session = client_with(script, FakeClock(), page_size=50).session(SHOP, TOKEN)
    search = queries.search_since("updated_at", parse_instant("2026-03-01T00:00:00.999Z"))
    pages = list(session.orders(search, "UPDATED_AT"))
    variables = script.bodies()[0]["variables"]
    assert variables == {
        "first": 50, "after": None, "query": "updated_at:>='2026-03-01T00:00:00Z'",
        "sortKey": "UPDATED_AT", "reverse": False,
    }  # fmt: skip
    assert pages[0].shop.timezone == "America/New_York"


def test_line_items_beyond_the_inline_page_are_fetched() -> None:
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
    script = Script([ok(orders_data([big])), ok(more)])
    pages = list(client_with(script, FakeClock()).session(SHOP, TOKEN).orders("q", "CREATED_AT"))
    assert len(pages[0].orders[0]["lineItems"]["nodes"]) == 5
    assert script.bodies()[1]["variables"] == {"id": "gid://shopify/Order/1", "first": 250, "after": "li2"}


def test_a_wait_past_the_deadline_stops_cleanly() -> None:
    throttled = graphql_error("THROTTLED", with_cost=cost(requested=1000, actual=None, available=0))
    clock = FakeClock()
    session = client_with(Script([throttled]), clock).session(SHOP, TOKEN, deadline=clock.now + 5)
    with pytest.raises(TimeBudgetExceeded):
        session.shop_info()
    assert clock.sleeps == []


def test_graphql_errors_without_known_code_are_permanent() -> None:
    bad = httpx.Response(200, json={"errors": [{"message": "Field 'nope' doesn't exist on type 'Order'"}]})
    with pytest.raises(PermanentApiError, match="Field 'nope'"):
        client_with(Script([bad]), FakeClock()).session(SHOP, TOKEN).shop_info()


def test_search_terms_are_quoted_and_validated() -> None:
    at = parse_instant("2026-03-08T07:00:00+00:00")
    assert queries.search_since("created_at", at) == "created_at:>='2026-03-08T07:00:00Z'"
    assert queries.search_before("created_at", at) == "created_at:<'2026-03-08T07:00:00Z'"
    with pytest.raises(ValueError):
        queries.search_since("name", at)
