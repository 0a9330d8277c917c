"""The simulator over HTTP: fixture, admin endpoints, fault knobs, and adspipe's own clients."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, timedelta

import httpx
import pytest

from adspipe import clock, settings
from adspipe.counters import SyncStats
from adspipe.errors import AuthError
from adspipe.meta.client import MetaClient
from adspipe.meta.settings import API_VERSION
from adspipe.shopify import queries
from adspipe.shopify.client import ShopifyClient
from adspipe.simulator.faults import FaultInjector, Faults
from adspipe.simulator.util import credential_id
from adspipe_tests.simulator_fixtures import FIXED_NOW, RunningSimulator

ACCOUNT_FIELDS = {"fields": "currency"}


def test_fixture_points_adspipe_at_the_simulator(simulator: RunningSimulator) -> None:
    assert settings.shopify_endpoint() == simulator.shopify_endpoint
    assert simulator.shopify_endpoint.endswith("/shopify/{shop}/admin/api/{version}/graphql.json")
    assert settings.meta_graph_url() == simulator.meta_graph_url == f"{simulator.base_url}/meta"
    assert clock.now() == FIXED_NOW
    response = httpx.post(f"{simulator.base_url}/admin/clock", json={"advance_days": 1, "advance_s": 60})
    assert response.json()["now"].startswith("2026-04-16T12:01:00")
    assert clock.now() == FIXED_NOW + timedelta(days=1, seconds=60) == simulator.sim.clock.now()
    assert (
        httpx.post(f"{simulator.base_url}/admin/clock", json={"now": "2026-05-01T00:00:00Z"}).status_code
        == 200
    )
    assert clock.now().isoformat() == "2026-05-01T00:00:00+00:00"


def test_admin_endpoints(simulator: RunningSimulator) -> None:
    base, sim = simulator.base_url, simulator.sim
    world = httpx.get(f"{base}/admin/world").json()
    assert [s["shop_domain"] for s in world["stores"]] == [s.domain for s in sim.world.stores]
    assert httpx.post(f"{base}/admin/faults", json={"latency_s": 0.01}).json()["latency_s"] == 0.01
    assert sim.faults.latency_s == 0.01
    assert httpx.post(f"{base}/admin/faults", json={"no_such_knob": 1}).status_code == 400
    store = sim.world.stores[1]
    truth = httpx.get(
        f"{base}/admin/truth", params={"store": store.domain, "since": "2026-04-10", "until": "2026-04-11"}
    )
    rows = truth.json()["rows"]
    assert [r["date"] for r in rows] == ["2026-04-10", "2026-04-11"] and isinstance(
        rows[0]["gross_revenue"], str
    )
    want = sim.truth.store_daily(store, date(2026, 4, 10), date(2026, 4, 11))
    assert rows[0]["orders"] == want[0].orders and rows[0]["spend"] == str(want[0].spend)
    acct = store.accounts[0]
    ads = httpx.get(f"{base}/admin/truth", params={"kind": "ads", "account": acct.id, "since": "2026-04-10",
                                                   "until": "2026-04-10", "statuses": "all"}).json()  # fmt: skip
    assert {r["ad_id"] for r in ads["rows"]} == {
        a.ad_id for a in sim.truth.ads(acct, date(2026, 4, 10), statuses=None)
    }
    httpx.get(f"{simulator.meta_graph_url}/{API_VERSION}/{acct.id}", params=ACCOUNT_FIELDS,
              headers={"Authorization": "Bearer sim-token"})  # fmt: skip
    stats = httpx.get(f"{base}/admin/stats").json()
    assert stats["requests"]["meta"]["ok"] == 1 and stats["meta_usage"]
    log = httpx.get(f"{base}/admin/requests", params={"platform": "meta"}).json()
    assert len(log) == 1 and log[0]["account"] == acct.id and log[0]["status"] == 200
    assert log[0]["t_out"] >= log[0]["t_in"]


def test_adspipe_clients_against_the_simulator(simulator: RunningSimulator) -> None:
    sim = simulator.sim
    store = sim.world.stores[2]
    session = ShopifyClient().session(store.domain, "sim-token")
    assert session.shop_info().timezone == "Pacific/Auckland"
    since = FIXED_NOW - timedelta(days=2)
    got = [
        o
        for page in session.orders(queries.search_since("updated_at", since), "UPDATED_AT")
        for o in page.orders
    ]
    assert got and all(o["updatedAt"] >= since.strftime("%Y-%m-%dT%H:%M:%SZ") for o in got)
    acct = store.accounts[0]
    meta = MetaClient(page_limit=25).session(acct.id, "sim-token", SyncStats())
    info = meta.account_info()
    assert (info.timezone, info.currency) == (acct.timezone, acct.currency)
    day = date(2026, 4, 12)
    rows = meta.insights(day).rows
    assert {r["ad_id"] for r in rows} == {a.ad_id for a in sim.truth.ads(acct, day)}
    with pytest.raises(AuthError):
        MetaClient().session(acct.id, "bad-token", SyncStats()).account_info()
    with pytest.raises(AuthError):
        ShopifyClient().session(store.domain, "bad-token").shop_info()
    log = sim.request_log()
    assert all(a.t_out <= b.t_in for a, b in zip(log, log[1:], strict=False))  # one at a time


def test_fault_draws_follow_the_rates_and_the_seed() -> None:
    faults = Faults(timeout_rate=0.05, drop_rate=0.1, error_5xx_rate=0.15, malformed_rate=0.1,
                    shopify_internal_error_rate=0.05)  # fmt: skip
    injector = FaultInjector(3, faults)
    draws = [injector.draw("shopify").kind for _ in range(20_000)]
    for kind, rate in (
        ("timeout", 0.05),
        ("drop", 0.1),
        ("5xx", 0.15),
        ("malformed", 0.1),
        ("internal", 0.05),
    ):
        assert abs(draws.count(kind) / len(draws) - rate) < 0.01, kind
    again = FaultInjector(3, faults)
    assert [again.draw("shopify").kind for _ in range(500)] == draws[:500]


def test_http_faults(make_simulator: Callable[..., RunningSimulator]) -> None:
    running = make_simulator(faults=Faults(error_5xx_rate=0.2, drop_rate=0.1, malformed_rate=0.1, timeout_rate=0.05,
                                           timeout_hang_s=0.3, meta_throttle_intensity=0))  # fmt: skip
    sim = running.sim
    url = f"{running.meta_graph_url}/{API_VERSION}/{sim.world.accounts[0].id}"
    seen = {"ok": 0, "5xx": 0, "drop": 0, "malformed": 0, "timeout": 0}
    with httpx.Client(timeout=httpx.Timeout(0.15)) as http:
        for _ in range(120):
            try:
                response = http.get(url, params=ACCOUNT_FIELDS, headers={"Authorization": "Bearer sim-token"})
            except httpx.ReadTimeout:
                seen["timeout"] += 1
                continue
            except httpx.RemoteProtocolError:
                seen["drop"] += 1
                continue
            if response.status_code >= 500:
                seen["5xx"] += 1
                continue
            try:
                json.loads(response.content)
                seen["ok"] += 1
            except ValueError:
                seen["malformed"] += 1
    # the draws are reproducible from the seed, so these bounds only guard the rates themselves
    assert 12 <= seen["5xx"] <= 40 and 4 <= seen["drop"] <= 22 and 4 <= seen["malformed"] <= 22
    assert 1 <= seen["timeout"] <= 14 and seen["ok"] >= 45
    time.sleep(0.35)  # let the last hung requests finish before comparing with the counters
    counts = sim.counts()["meta"]
    assert {k: counts[k] for k in seen} == seen


def test_latency(make_simulator: Callable[..., RunningSimulator]) -> None:
    running = make_simulator(faults=Faults(meta_latency_s=0.05))
    start = time.perf_counter()
    httpx.get(
        f"{running.meta_graph_url}/{API_VERSION}/{running.sim.world.accounts[0].id}",
        params={"access_token": "sim-token"},
    )
    assert time.perf_counter() - start >= 0.05


def test_shopify_internal_error_and_knob_validation(make_simulator: Callable[..., RunningSimulator]) -> None:
    running = make_simulator(faults=Faults(shopify_internal_error_rate=1.0))
    shop = running.sim.world.stores[0].domain
    response = httpx.post(running.shopify_url(shop), json={"query": "{ shop { name } }"},
                          headers={"X-Shopify-Access-Token": "sim-token"})  # fmt: skip
    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert httpx.post(f"{running.base_url}/admin/faults", json={"drop_rate": 2}).status_code == 400
    faults = httpx.post(f"{running.base_url}/admin/faults", json={"shopify_internal_error_rate": 0}).json()
    assert faults["shopify_internal_error_rate"] == 0
    response = httpx.post(running.shopify_url(shop), json={"query": "{ shop { name } }"},
                          headers={"X-Shopify-Access-Token": "sim-token"})  # fmt: skip
    assert response.json()["data"]["shop"]["name"] == running.sim.world.stores[0].name


def test_request_log_helpers_find_overlaps_and_ad_level_days() -> None:
    from adspipe.simulator.server import RequestRecord, overlapping

    def rec(seq: int, t_in: float, t_out: float, detail: str = "") -> RequestRecord:
        return RequestRecord(seq, "meta", "insights", "act_1", t_in, t_out, "", 200, "ok", detail)

    serial = [rec(1, 0.0, 1.0, "ad 2026-05-01..2026-05-01"), rec(2, 1.0, 2.0, "ad 2026-05-01..2026-05-01 after"),
              rec(3, 2.0, 3.0, "account 2026-05-01..2026-05-30")]  # fmt: skip
    assert overlapping(serial) == []
    assert overlapping([*serial, rec(4, 2.5, 3.5)]) == [(3, 4)]
    assert overlapping([rec(5, 0.0, 1.0), rec(6, 1.0 - 1e-7, 2.0)], tolerance_s=1e-6) == []
    assert [r.ad_level_day for r in serial] == ["2026-05-01", None, None]


def test_shopify_request_log_keeps_variables_and_a_token_fingerprint(simulator: RunningSimulator) -> None:
    domain = simulator.sim.world.stores[0].domain
    url = simulator.shopify_url(domain)
    body = {"query": "query Q($first: Int!, $query: String) { shop { name } }",
            "variables": {"first": 5, "query": "updated_at:>='2026-04-10T00:00:00Z'", "after": None}}  # fmt: skip
    httpx.post(url, json=body, headers={"X-Shopify-Access-Token": "sim-token"})
    httpx.post(url, content=b"not json", headers={"X-Shopify-Access-Token": "bad-token"})
    first, second = simulator.sim.request_log("shopify")
    assert first.variables == {"first": 5, "query": "updated_at:>='2026-04-10T00:00:00Z'", "after": None}
    assert first.params["first"] == "5" and first.params["query"] == "\"updated_at:>='2026-04-10T00:00:00Z'\""
    assert first.credential == credential_id("sim-token") and first.account == domain
    assert (second.params, second.credential, second.status) == ({}, credential_id("bad-token"), 401)
    assert "sim-token" not in repr(first) and "bad-token" not in repr(second)
