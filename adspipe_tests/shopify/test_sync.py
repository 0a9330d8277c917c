"""The Shopify jobs against an in-memory shop, on SQLite and Postgres: windows, marts, cursor,
idempotence, time budget, failures per connection."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from adspipe.orchestration.outcome import raise_if_failed
from adspipe.shopify import load as load_module
from adspipe.shopify import settings, sync
from adspipe.shopify import unit as unit_module
from adspipe.shopify.client import ShopifyClient
from adspipe.shopify.transforms import order_rows
from adspipe.warehouse import connections as conns
from adspipe.warehouse import cursors, schema
from adspipe_tests.clocks import FakeClock
from adspipe_tests.shopify.conftest import EAST, NOW, WEST, Env
from adspipe_tests.shopify.fakes import TOKEN
from adspipe_tests.shopify.helpers import cursor, facts, mart, summary, sync_runs, table_digests
from adspipe_tests.shopify.payloads import order

D = date  # short alias for readable expectations


def _west_orders(env: Env) -> None:
    put = env.shopify.put
    # NY: the window starts at the local midnight of 2026-03-03 (05:00Z), now − 7 d is 12:00Z.
    put(WEST, order(1, created="2026-03-03T04:00:00Z"))  # 2026-03-02 local: outside
    put(WEST, order(2, created="2026-03-03T06:00:00Z", total="12.00", customer=7))  # first local day, whole
    put(WEST, order(3, created="2026-03-05T15:00:00Z", total="10.00", refunded="2.50", customer=7))
    put(WEST, order(4, created="2026-03-05T16:00:00Z", total="99.00", test=True))
    put(WEST, order(5, created="2026-03-05T17:00:00Z", total="50.00", cancelled="2026-03-05T18:00:00Z"))
    put(WEST, order(6, created="2026-03-09T03:00:00Z", total="20.05", customer=None))  # 03-08 local (DST day)
    put(WEST, order(7, created="2026-03-05T19:00:00Z", total="10.05", customer=8))


def test_fill_loads_the_window_in_the_shop_zone(env: Env) -> None:
    _west_orders(env)
    result = env.fill()
    assert not result.report.failed
    assert sorted(facts(env.engine, WEST)) == [2, 3, 4, 5, 6, 7]
    got = mart(env.engine, env.west.store_id)
    assert sorted(got) == [D(2026, 3, 3), D(2026, 3, 5), D(2026, 3, 8)]
    mar5 = got[D(2026, 3, 5)]
    # Counted: 3 and 7 (4 is a test order, 5 is cancelled).
    assert (mar5["orders"], mar5["gross_revenue"], mar5["refunds"], mar5["net_revenue"]) == (
        2, Decimal("20.05"), Decimal("2.50"), Decimal("17.55"),
    )  # fmt: skip
    assert mar5["aov"] == Decimal("10.03")  # 20.05 / 2 = 10.025
    assert (mar5["currency"], mar5["timezone"], mar5["shop_domain"]) == ("USD", "America/New_York", WEST)
    # Customer 7's first order is on 03-03: on 03-05 they return; customer 8 is new; 6 has no customer.
    assert (got[D(2026, 3, 3)]["new_customers"], got[D(2026, 3, 3)]["returning_customers"]) == (1, 0)
    assert (mar5["new_customers"], mar5["returning_customers"]) == (1, 1)
    assert (got[D(2026, 3, 8)]["new_customers"], got[D(2026, 3, 8)]["returning_customers"]) == (0, 0)
    assert summary(env.engine, env.west.store_id)[D(2026, 3, 5)]["net_revenue"] == Decimal("17.55")
    # The cursor is the latest updatedAt read; the connection learned its zone and currency.
    assert cursor(env.engine, env.west.connection_id) == datetime(2026, 3, 9, 3, tzinfo=UTC)
    with env.engine.connect() as db:
        west = conns.get_connection(db, env.west.connection_id)
    assert (west.timezone, west.currency) == ("America/New_York", "USD")
    assert env.shopify.orders_requests(WEST)[0]["query"] == "created_at:>='2026-03-03T05:00:00Z'"
    assert env.shopify.orders_requests(WEST)[0]["sortKey"] == "CREATED_AT"
    run = next(
        r for r in sync_runs(env.engine, "shopify_7d_fill") if r["connection_id"] == env.west.connection_id
    )
    # Shop info, access scopes, one page of orders.
    assert (run["status"], run["rows"], run["api_calls"], run["throttled"]) == ("success", 6, 3, 0)
    assert (run["window_start"], run["window_end"]) == (D(2026, 3, 3), D(2026, 3, 10))
    assert run["dates"] == ["2026-03-03", "2026-03-05", "2026-03-08"]


def test_fill_of_an_east_shop_uses_its_own_midnight(env: Env) -> None:
    # Berlin (UTC+1): the window starts at 2026-03-02T23:00Z, the local midnight of 2026-03-03.
    env.shopify.put(EAST, order(11, created="2026-03-02T22:59:59Z"))
    env.shopify.put(EAST, order(12, created="2026-03-02T23:00:00Z", total="7.00"))
    env.fill(connection_id=env.east.connection_id)
    assert sorted(facts(env.engine, EAST)) == [12]
    assert mart(env.engine, env.east.store_id)[D(2026, 3, 3)]["gross_revenue"] == Decimal("7.00")
    assert [r["connection_id"] for r in sync_runs(env.engine)] == [env.east.connection_id]


def test_running_either_job_again_changes_nothing(env: Env) -> None:
    _west_orders(env)
    env.fill()
    before = table_digests(env.engine)
    env.fill()
    assert table_digests(env.engine) == before
    env.fresh()
    env.fresh()
    assert table_digests(env.engine) == before


def test_fill_keeps_an_existing_cursor(env: Env) -> None:
    _west_orders(env)
    earlier = datetime(2026, 3, 9, tzinfo=UTC)
    with env.engine.begin() as db:
        cursors.advance_cursor(db, env.west.connection_id, cursors.SHOPIFY_UPDATED_AT, earlier)
    env.fill()
    assert cursor(env.engine, env.west.connection_id) == earlier


def test_refund_three_days_later_changes_the_order_date_not_the_refund_date(env: Env) -> None:
    _west_orders(env)
    env.fill()
    later = NOW + timedelta(days=3)
    env.shopify.put(
        WEST,
        order(
            3,
            created="2026-03-05T15:00:00Z",
            updated=_iso(later),
            total="10.00",
            refunded="10.00",
            customer=7,
        ),
    )
    before = mart(env.engine, env.west.store_id)
    result = env.fresh(later + timedelta(minutes=5))
    assert result.runs[0].dates == {D(2026, 3, 5)}
    after = mart(env.engine, env.west.store_id)
    assert after[D(2026, 3, 5)]["refunds"] == Decimal("10.00")
    assert after[D(2026, 3, 5)]["net_revenue"] == Decimal("10.05")
    assert {d: r for d, r in after.items() if d != D(2026, 3, 5)} == {
        d: r for d, r in before.items() if d != D(2026, 3, 5)
    }
    assert D(2026, 3, 13) not in after
    assert cursor(env.engine, env.west.connection_id) == later
    query = env.shopify.orders_requests(WEST)[-1]
    assert (query["query"], query["sortKey"]) == ("updated_at:>='2026-03-09T03:00:00Z'", "UPDATED_AT")


def test_idle_fresh_makes_one_request_and_rewrites_nothing(env: Env) -> None:
    _west_orders(env)
    env.fill()
    before, requests = table_digests(env.engine), len(env.shopify.requests)
    result = env.fresh(NOW + timedelta(minutes=15))
    # One request per shop: the orders query (which also reads the shop's zone and currency).
    assert len(env.shopify.requests) - requests == 2
    assert [s.dates for s in result.runs] == [set(), set()]
    assert [s.orders_written for s in result.runs] == [0, 0] and [s.mart_rows for s in result.runs] == [
        0,
        0,
    ]
    assert result.runs[0].orders_read == 1  # the order at the inclusive cursor, unchanged
    assert table_digests(env.engine) == before


def test_fresh_without_cursor_starts_seven_days_back(env: Env) -> None:
    env.shopify.put(WEST, order(21, created="2026-03-09T10:00:00Z", updated="2026-03-09T11:00:00Z"))
    env.fresh(connection_id=env.west.connection_id)
    assert env.shopify.orders_requests(WEST)[0]["query"] == "updated_at:>='2026-03-03T12:00:00Z'"
    assert cursor(env.engine, env.west.connection_id) == datetime(2026, 3, 9, 11, tzinfo=UTC)
    assert sorted(mart(env.engine, env.west.store_id)) == [D(2026, 3, 9)]


def test_fresh_stops_at_its_time_budget_and_the_next_run_continues(env: Env) -> None:
    for n in range(1, 6):
        env.shopify.put(WEST, order(n, created=f"2026-03-0{n}T15:00:00Z", updated=f"2026-03-09T0{n}:00:00Z"))
    with env.engine.begin() as db:
        cursors.advance_cursor(
            db, env.west.connection_id, cursors.SHOPIFY_UPDATED_AT, datetime(2026, 3, 9, tzinfo=UTC)
        )
    env.client = ShopifyClient(endpoint_template=env.client.endpoint_template, page_size=2)
    slow = _slow(env.shopify, env.clock, seconds=10)
    env.client.with_transport(httpx.MockTransport(slow), sleep=env.clock.sleep, monotonic=env.clock.monotonic)

    first = env.fresh(connection_id=env.west.connection_id, time_budget_s=15)
    shop = first.runs[0]
    # Page 1 ends at +10 s (< 15: go on), page 2 at +20 s: stop with more pages left.
    assert shop.stopped_at_budget and shop.calls.pages == 2 and shop.orders_written == 4
    assert cursor(env.engine, env.west.connection_id) == datetime(2026, 3, 9, 4, tzinfo=UTC)
    assert sorted(facts(env.engine, WEST)) == [1, 2, 3, 4]
    assert not first.report.failed

    second = env.fresh(connection_id=env.west.connection_id, time_budget_s=15)
    assert not second.runs[0].stopped_at_budget
    assert sorted(facts(env.engine, WEST)) == [1, 2, 3, 4, 5]
    assert cursor(env.engine, env.west.connection_id) == datetime(2026, 3, 9, 5, tzinfo=UTC)
    assert second.runs[0].dates == {D(2026, 3, 5)}


def test_an_older_version_never_overwrites_a_newer_one(env: Env) -> None:
    env.shopify.put(
        WEST, order(31, created="2026-03-05T15:00:00Z", updated="2026-03-06T00:00:00Z", refunded="3.00")
    )
    env.fill()
    env.shopify.put(WEST, order(31, created="2026-03-05T15:00:00Z", updated="2026-03-05T15:00:00Z"))
    env.fill()
    assert facts(env.engine, WEST)[31]["total_refunded"] == Decimal("3.00")


def test_401_marks_needs_reauth_and_the_other_shop_still_syncs(env: Env) -> None:
    _west_orders(env)
    env.shopify.put(EAST, order(41, created="2026-03-06T10:00:00Z"))
    env.shopify.fail[WEST] = httpx.Response(401, json={"errors": "[API] Invalid API key or access token"})
    result = env.fill()
    assert [o.status for o in result.report.outcomes] == ["failed", "success"]
    assert sorted(facts(env.engine, EAST)) == [41] and facts(env.engine, WEST) == {}
    with env.engine.connect() as db:
        west = conns.get_connection(db, env.west.connection_id)
    assert west.status == "needs_reauth"
    error = result.report.failed[0].error or ""
    assert "HTTP 401" in error and "re-authorize" in error and TOKEN not in error
    rows = sync_runs(env.engine)
    assert [r["status"] for r in rows] == ["failed", "success"] and TOKEN not in (rows[0]["error"] or "")
    assert len([r for d, r in env.shopify.requests if d == WEST]) == 1  # no retry loop
    with pytest.raises(Exception, match=r"1 of 2 connection\(s\) failed"):
        raise_if_failed(result.report, "shopify_7d_fill")


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (httpx.Response(404, json={"errors": "Not Found"}), "shop not found"),
        (
            httpx.Response(
                200,
                json={
                    "data": None,
                    "errors": [{"message": "Access denied", "extensions": {"code": "ACCESS_DENIED"}}],
                },
            ),
            "missing the read_orders scope",
        ),
    ],
)
def test_permanent_errors_fail_one_shop_with_a_clear_message(
    env: Env, answer: httpx.Response, message: str
) -> None:
    env.shopify.fail[WEST] = answer
    env.shopify.put(EAST, order(41, created="2026-03-06T10:00:00Z"))
    result = env.fresh()
    assert [o.status for o in result.report.outcomes] == ["failed", "success"]
    assert message in (result.report.failed[0].error or "")
    with env.engine.connect() as db:
        assert conns.get_connection(db, env.west.connection_id).status == "active"


def test_a_bad_order_fails_its_page_whole(env: Env) -> None:
    env.shopify.put(WEST, order(51, created="2026-03-06T10:00:00Z"))
    bad = order(52, created="2026-03-06T11:00:00Z")
    bad["totalPriceSet"] = {"shopMoney": {"amount": "twelve", "currencyCode": "USD"}}
    env.shopify.put(WEST, bad)
    result = env.fill(connection_id=env.west.connection_id)
    assert "order #1052" in (result.report.failed[0].error or "")
    assert facts(env.engine, WEST) == {} and mart(env.engine, env.west.store_id) == {}
    assert cursor(env.engine, env.west.connection_id) is None


def test_cancelling_a_first_order_moves_new_customer_to_the_next_order(env: Env) -> None:
    _west_orders(env)
    env.fill()
    cancel_at = NOW + timedelta(hours=1)
    env.shopify.put(
        WEST,
        order(
            2,
            created="2026-03-03T06:00:00Z",
            updated=_iso(cancel_at),
            total="12.00",
            customer=7,
            cancelled=_iso(cancel_at),
        ),
    )
    result = env.fresh(cancel_at)
    # Order 2's own date, plus the date where customer 7's first counted order now is.
    assert result.runs[0].dates == {D(2026, 3, 3), D(2026, 3, 5)}
    got = mart(env.engine, env.west.store_id)
    # 03-03 keeps a row (it has facts) with zeros; 03-05: customers 7 and 8 are both new now.
    assert (got[D(2026, 3, 3)]["orders"], got[D(2026, 3, 3)]["gross_revenue"], got[D(2026, 3, 3)]["aov"]) == (
        0, Decimal("0"), None,
    )  # fmt: skip
    assert (got[D(2026, 3, 5)]["new_customers"], got[D(2026, 3, 5)]["returning_customers"]) == (2, 0)


def test_an_order_whose_date_moves_leaves_no_stale_row(env: Env) -> None:
    env.shopify.put(WEST, order(61, created="2026-03-06T03:00:00Z"))  # 03-05 in New York
    env.fill(connection_id=env.west.connection_id)
    assert sorted(mart(env.engine, env.west.store_id)) == [D(2026, 3, 5)]
    # The shop moves to Berlin; the order is touched and comes back with the new zone: 03-06.
    env.shopify.shops[WEST]["ianaTimezone"] = "Europe/Berlin"
    env.shopify.put(WEST, order(61, created="2026-03-06T03:00:00Z", updated="2026-03-10T12:30:00Z"))
    result = env.fresh(NOW + timedelta(hours=1), connection_id=env.west.connection_id)
    assert result.runs[0].dates == {D(2026, 3, 5), D(2026, 3, 6)}
    assert sorted(mart(env.engine, env.west.store_id)) == [D(2026, 3, 6)]
    assert sorted(summary(env.engine, env.west.store_id)) == [D(2026, 3, 6)]


def test_sync_days_rebuilds_each_day_and_clears_an_emptied_one(env: Env) -> None:
    env.shopify.put(WEST, order(71, created="2026-03-05T15:00:00Z", total="5.00"))
    env.shopify.put(WEST, order(72, created="2026-03-06T04:59:59Z", total="6.00"))  # 03-05 23:59:59 NY
    env.shopify.put(WEST, order(73, created="2026-03-06T05:00:00Z", total="7.00"))  # 03-06 NY
    result = sync.sync_days(
        env.engine, env.client, [D(2026, 3, 6), D(2026, 3, 5)], connection_id=env.west.connection_id
    )
    assert not result.report.failed
    got = mart(env.engine, env.west.store_id)
    assert got[D(2026, 3, 5)]["gross_revenue"] == Decimal("11.00") and got[D(2026, 3, 6)]["orders"] == 1
    days = [r["query"] for r in env.shopify.orders_requests(WEST)]
    assert days == [
        "created_at:>='2026-03-05T05:00:00Z' AND created_at:<'2026-03-06T05:00:00Z'",
        "created_at:>='2026-03-06T05:00:00Z' AND created_at:<'2026-03-07T05:00:00Z'",
    ]
    assert sync_runs(env.engine, settings.JOB_PARTITIONS)[0]["window_start"] == D(2026, 3, 5)
    # The order vanishes from the shop (deleted): re-running the day leaves no stale mart row.
    del env.shopify.orders[WEST][73]
    with env.engine.begin() as db:
        db.execute(sa.delete(schema.shopify_orders_raw).where(schema.shopify_orders_raw.c.order_id == 73))
        db.execute(sa.delete(schema.fact_orders).where(schema.fact_orders.c.order_id == 73))
    sync.sync_days(env.engine, env.client, [D(2026, 3, 6)], connection_id=env.west.connection_id)
    assert D(2026, 3, 6) not in mart(env.engine, env.west.store_id)


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _slow(
    inner: Callable[[httpx.Request], httpx.Response], clock: FakeClock, seconds: float
) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        clock.now += seconds
        return inner(request)

    return handler


def test_an_order_from_before_the_synced_window_gets_facts_but_no_partial_mart_row(env: Env) -> None:
    _west_orders(env)  # order 1 is from 2026-03-02 local, outside the fill's window
    env.fill()
    later = NOW + timedelta(days=1)
    env.shopify.put(WEST, order(1, created="2026-03-03T04:00:00Z", updated=_iso(later), refunded="1.00"))
    env.fresh(later + timedelta(minutes=5))
    # The order's fact is stored; its date's other orders were never read, so no mart row is
    # built from a fraction of that day (a backfill of the day builds it whole).
    assert facts(env.engine, WEST)[1]["total_refunded"] == Decimal("1.00")
    assert D(2026, 3, 2) not in mart(env.engine, env.west.store_id)
    assert D(2026, 3, 2) not in summary(env.engine, env.west.store_id)
    sync.sync_days(env.engine, env.client, [D(2026, 3, 2)])
    assert mart(env.engine, env.west.store_id)[D(2026, 3, 2)]["orders"] == 1


def _three_days_of_orders(env: Env, per_day: int = 5) -> None:
    n = 0
    for day in (4, 5, 6):
        for hour in range(per_day):
            n += 1
            env.shopify.put(
                WEST,
                order(n, created=f"2026-03-0{day}T{14 + hour}:00:00Z", total="10.00", customer=100 + n % 4),
            )


def _mart_orders_agree_with_facts(env: Env) -> dict[date, int]:
    """Counted facts per local date == the mart's orders per date (and no mart row without facts)."""
    counted: dict[date, int] = {}
    for fact in facts(env.engine, WEST).values():
        if not fact["is_test"] and fact["cancelled_at"] is None:
            counted[fact["order_date"]] = counted.get(fact["order_date"], 0) + 1
    assert {d: row["orders"] for d, row in mart(env.engine, env.west.store_id).items()} == counted
    return counted


def test_fill_commits_a_unit_per_local_day_with_marts_that_agree_with_its_facts(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    _three_days_of_orders(env)
    env.client = ShopifyClient(endpoint_template=env.client.endpoint_template, page_size=2)
    env.client.with_transport(
        httpx.MockTransport(env.shopify), sleep=env.clock.sleep, monotonic=env.clock.monotonic
    )
    seen: list[dict[date, int]] = []
    commit = unit_module.Unit.commit

    def checked_commit(self: unit_module.Unit, **kwargs: Any) -> None:
        commit(self, **kwargs)
        seen.append(_mart_orders_agree_with_facts(env))  # every commit: marts agree with facts

    monkeypatch.setattr(unit_module.Unit, "commit", checked_commit)
    result = env.fill(connection_id=env.west.connection_id)
    assert not result.report.failed
    shop = result.runs[0]
    assert (shop.calls.pages, shop.orders_written) == (8, 15)
    # 8 pages of 2 over 3 local dates: a commit when a page reaches a later date, one at the end
    # (not one per page); each commit holds whole earlier dates.
    assert len(seen) == 3
    assert seen[-1] == {D(2026, 3, 4): 5, D(2026, 3, 5): 5, D(2026, 3, 6): 5}
    assert all(count == 5 for state in seen[:-1] for d, count in state.items() if d < max(state))


def test_fill_at_its_time_budget_commits_what_it_read_and_the_next_fill_finishes(env: Env) -> None:
    _three_days_of_orders(env)
    env.client = ShopifyClient(endpoint_template=env.client.endpoint_template, page_size=2)
    env.client.with_transport(
        httpx.MockTransport(_slow(env.shopify, env.clock, seconds=10)),
        sleep=env.clock.sleep,
        monotonic=env.clock.monotonic,
    )
    first = env.fill(connection_id=env.west.connection_id, time_budget_s=25)
    failed = first.report.failed
    assert len(failed) == 1 and "time budget" in (failed[0].error or "")
    stored = sorted(facts(env.engine, WEST))
    assert 2 <= len(stored) < 15 and stored == list(range(1, len(stored) + 1))  # whole pages, oldest first
    assert first.runs[0].orders_written == len(stored)
    _mart_orders_agree_with_facts(env)

    second = env.fill(connection_id=env.west.connection_id, time_budget_s=3600)
    assert not second.report.failed
    assert sorted(facts(env.engine, WEST)) == list(range(1, 16))
    assert _mart_orders_agree_with_facts(env) == {D(2026, 3, 4): 5, D(2026, 3, 5): 5, D(2026, 3, 6): 5}


def _customers_from_facts(env: Env) -> dict[date, tuple[int, int]]:
    """(new, returning) orders per local date, computed in Python from the stored facts."""
    counted = [f for f in facts(env.engine, WEST).values() if not f["is_test"] and f["cancelled_at"] is None]
    first: dict[int, int] = {}
    for fact in sorted(counted, key=lambda f: (f["created_at"], f["order_id"])):
        if fact["customer_id"] is not None:
            first.setdefault(fact["customer_id"], fact["order_id"])
    out: dict[date, tuple[int, int]] = {}
    for fact in counted:
        if fact["customer_id"] is not None:
            new, returning = out.get(fact["order_date"], (0, 0))
            is_first = first[fact["customer_id"]] == fact["order_id"]
            out[fact["order_date"]] = (new + 1, returning) if is_first else (new, returning + 1)
    return out


def test_fill_of_new_orders_copies_them_and_counts_new_and_returning_customers_right(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Customers 1-5 ordered before the window (stored by a day sync): in the fill they return.
    for n in range(1, 6):
        env.shopify.put(WEST, order(5000 + n, created="2026-03-01T15:00:00Z", customer=n))
    sync.sync_days(env.engine, env.client, [D(2026, 3, 1)], connection_id=env.west.connection_id)
    for n in range(1, 501):  # 500 orders (2 pages) over 03-03 … 03-07 New York time, 40 customers
        env.shopify.put(
            WEST,
            order(
                n, created=f"2026-03-0{3 + n % 5}T{10 + n % 12:02d}:{n % 60:02d}:00Z", total="10.00",
                customer=None if n % 17 == 0 else 1 + n % 40, test=n % 23 == 0,
                cancelled="2026-03-09T00:00:00Z" if n % 29 == 0 else None,
            ),
        )  # fmt: skip
    calls: list[str] = []
    for name in ("write_encoded_orders", "stored_versions", "first_orders_around"):
        real = getattr(load_module, name)
        monkeypatch.setattr(load_module, name, functools.partial(_record, calls, name, real))

    assert not env.fill(connection_id=env.west.connection_id).report.failed
    postgres = env.engine.dialect.name == "postgresql"
    # Postgres: each page's new orders went straight in, encoded for COPY by the read-ahead thread
    # (no stored-version read, one first-order read after the COPY); SQLite: the checked path
    # (stored versions, first orders before, after).
    checked = ["stored_versions", "first_orders_around", "first_orders_around"]
    encoded = "write_encoded_orders"
    assert calls == ([encoded, "first_orders_around"] * 2 if postgres else [encoded, *checked] * 2)
    expected = _customers_from_facts(env)
    got = mart(env.engine, env.west.store_id)
    assert {d: (r["new_customers"], r["returning_customers"]) for d, r in got.items()} == expected
    assert expected[D(2026, 3, 1)] == (5, 0) and sum(r for _, r in expected.values()) > 200
    before = table_digests(env.engine)

    calls.clear()
    assert not env.fill(connection_id=env.west.connection_id).report.failed  # the same orders again
    # The first COPY met stored orders (Postgres: rolled back to its savepoint): checked from then on.
    assert calls == ([encoded, *checked, *checked] if postgres else [encoded, *checked] * 2)
    assert table_digests(env.engine) == before


def _record(calls: list[str], name: str, real: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    calls.append(name)
    return real(*args, **kwargs)


def test_new_orders_copied_in_still_move_a_customers_first_order(env: Env) -> None:
    """write_orders(assume_new=True): customer 99's stored first order (03-09) stops being first
    when an earlier one (03-04) arrives in a COPY'd batch; both dates are reported touched."""

    def rows(nodes: list[dict[str, Any]]) -> list[Any]:
        return [
            order_rows(n, shop_domain=WEST, connection_id=env.west.connection_id, store_id=env.west.store_id,
                       timezone="America/New_York", shop_currency="USD")
            for n in nodes
        ]  # fmt: skip

    with env.engine.begin() as db:
        load_module.write_orders(
            db, WEST, rows([order(1, created="2026-03-09T15:00:00Z", customer=99)]), skip_unchanged=False
        )
    batch = [order(n, created="2026-03-05T15:00:00Z", customer=1000 + n) for n in range(2, 251)]
    batch.append(order(251, created="2026-03-04T15:00:00Z", customer=99))
    with env.engine.begin() as db:
        result = load_module.write_orders(db, WEST, rows(batch), skip_unchanged=False, assume_new=True)
    assert not result.assumed_new_failed and result.written == 250
    assert result.dates == {D(2026, 3, 4), D(2026, 3, 5), D(2026, 3, 9)}
    assert sorted(facts(env.engine, WEST)) == list(range(1, 252))
