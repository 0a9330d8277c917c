"""Issue 14: a line-items page that exceeds Shopify's single-query cost maximum is halved.

`ORDER_LINE_ITEMS_QUERY` asks for 250 line items; on MAX_COST_EXCEEDED the client halves `first`
down to `settings.MIN_LINE_ITEMS_PAGE_SIZE`, then fails naming the floor.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.errors import PermanentApiError
from adspipe.shopify import settings, sync
from adspipe.shopify.client import ShopifyClient, ShopSession
from adspipe.simulator.compare import orders_differences, shopify_metrics_differences
from adspipe.simulator.scripted import Repeat
from adspipe.simulator.scripted import answer as scripted_answer
from adspipe.warehouse.schema import shopify_orders_raw
from adspipe_tests.clocks import FakeClock
from adspipe_tests.faults.harness import TOKEN_ENV, local_today, register
from adspipe_tests.shopify.payloads import data_body, error_body, order, orders_data
from adspipe_tests.simulator_fixtures import FIXED_NOW, TOKEN, RunningSimulator

SIM_SHOP = "pioneer-botanicals.myshopify.com"


def _big_order() -> dict[str, object]:
    big = order(1, line_items=2)
    big["lineItems"]["pageInfo"] = {"hasNextPage": True, "endCursor": "li2"}  # type: ignore[index]
    return big


TOO_COSTLY = scripted_answer(200, error_body("MAX_COST_EXCEEDED", "Query cost exceeds the single query max"))
LINE_ITEMS = scripted_answer(200, data_body({"order": {"lineItems": {
    "pageInfo": {"hasNextPage": False, "endCursor": "x"},
    "nodes": [{"id": f"gid://shopify/LineItem/9{i}"} for i in range(3)],
}}}))  # fmt: skip


def _scripted_session(
    make_simulator: Callable[..., RunningSimulator], *line_items: Any
) -> tuple[RunningSimulator, ShopSession]:
    """A session with the simulator's shop, whose orders search answers a page of big orders
    (stated here) and whose line-items requests get `line_items`, in order."""
    running = make_simulator(stores=1)
    running.sim.faults.update(shopify_scripted={
        f"{SIM_SHOP} Orders": [scripted_answer(200, data_body(orders_data([_big_order(), _big_order()])))],
        f"{SIM_SHOP} OrderLineItems": list(line_items),
    })  # fmt: skip
    clock = FakeClock()
    client = ShopifyClient(endpoint_template=running.shopify_endpoint)
    client.with_transport(sleep=clock.sleep, monotonic=clock.monotonic)
    return running, client.session(SIM_SHOP, TOKEN)


def _line_item_firsts(running: RunningSimulator) -> list[int]:
    return [r.variables["first"] for r in running.sim.request_log("shopify") if "id" in r.variables]


def test_max_cost_exceeded_on_line_items_halves_the_page_and_keeps_every_row(
    make_simulator: Callable[..., RunningSimulator],
) -> None:
    running, session = _scripted_session(make_simulator, TOO_COSTLY, TOO_COSTLY, LINE_ITEMS, LINE_ITEMS)
    pages = list(session.orders("q", "CREATED_AT"))
    assert [len(o["lineItems"]["nodes"]) for o in pages[0].orders] == [5, 5]
    # 250 and 125 exceed; 62 fits, and the session keeps 62 for the next order.
    assert _line_item_firsts(running) == [250, 125, 62, 62]
    assert session.line_items_page_size == 62


def test_still_too_costly_at_the_floor_fails_with_a_clear_message(
    make_simulator: Callable[..., RunningSimulator],
) -> None:
    running, session = _scripted_session(make_simulator, Repeat(TOO_COSTLY))
    with pytest.raises(PermanentApiError) as failed:
        list(session.orders("q", "CREATED_AT"))
    assert _line_item_firsts(running) == [250, 125, 62, 31, 15, settings.MIN_LINE_ITEMS_PAGE_SIZE]
    message = str(failed.value)
    assert "a page of 10 line items of order gid://shopify/Order/1 still exceeds" in message
    assert "MIN_LINE_ITEMS_PAGE_SIZE = 10" in message


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_simulated_cost_limit_smaller_pages_same_rows(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    vt = FakeClock()
    running = make_simulator(now=FIXED_NOW, monotonic=vt.monotonic, stores=1)
    # A line item weighs 100: 250 of them cost 1,003 > 1,000 (MAX_COST_EXCEEDED); 125 cost 503.
    running.sim.faults.update(shopify_line_item_cost=100)
    monkeypatch.setenv(TOKEN_ENV, "sim-token")
    world = register(engine, running.sim, meta=False)

    # One line item inline, so that every order with more is completed by the follow-up query.
    client = ShopifyClient(line_items_per_order=1)
    client.with_transport(sleep=vt.sleep, monotonic=vt.monotonic)
    result = sync.shopify_7d_fill(engine, client, FIXED_NOW)
    assert [o.status for o in result.report.outcomes] == ["success"]
    firsts = _line_item_firsts(running)
    assert firsts[:2] == [250, 125] and set(firsts[2:]) == {125} and len(firsts) > 10
    since = sync.fill_window(FIXED_NOW, world.timezones[SIM_SHOP])[0]
    until = local_today(FIXED_NOW, world.timezones[SIM_SHOP])
    compared, diffs = shopify_metrics_differences(engine, running.sim.truth, SIM_SHOP, since, until)
    orders, order_diffs = orders_differences(engine, running.sim.truth, SIM_SHOP, since, until)
    assert compared == (until - since + timedelta(days=1)).days and diffs == [] and order_diffs == []
    # Every line item arrived: each raw payload holds exactly the simulated order's line items.
    store = running.sim.world.store_by_domain(SIM_SHOP)
    assert store is not None
    with engine.connect() as db:
        raw = db.execute(sa.select(shopify_orders_raw.c.order_id, shopify_orders_raw.c.payload)).all()
    assert len(raw) == orders > 100
    got = {r.order_id: [n["id"] for n in r.payload["lineItems"]["nodes"]] for r in raw}
    want = {}
    for order_id in got:
        simulated = running.sim.world.order_by_id(store, order_id)
        assert simulated is not None
        want[order_id] = [f"gid://shopify/LineItem/{li.id}" for li in simulated.lines]
    assert got == want
    assert sum(len(v) for v in got.values()) > len(got)  # some orders needed the follow-up query
