"""Fixtures for the Shopify tests: one of the simulator's shops with scripted answers
(`scripted_shop`, the client tests); an in-memory shop behind the real client with two
connections (`env`, still used by test_sync's hand-made order scenarios)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from adspipe.shopify import sync
from adspipe.shopify.client import ShopifyClient, ShopSession
from adspipe.simulator.request_log import RequestRecord
from adspipe.warehouse import connections as conns
from adspipe.warehouse.connections import Connection
from adspipe_tests.clocks import FakeClock
from adspipe_tests.shopify.fakes import TOKEN, FakeShopify
from adspipe_tests.simulator_fixtures import TOKEN as SIM_TOKEN
from adspipe_tests.simulator_fixtures import RunningSimulator

WEST, EAST = "west.myshopify.com", "east.myshopify.com"
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


@dataclass
class Env:
    engine: Engine
    shopify: FakeShopify
    client: ShopifyClient
    clock: FakeClock
    west: Connection
    east: Connection

    def fill(self, now: datetime = NOW, **kwargs: Any) -> sync.ShopifyResult:
        return sync.shopify_7d_fill(self.engine, self.client, now, **kwargs)

    def fresh(self, now: datetime = NOW, **kwargs: Any) -> sync.ShopifyResult:
        return sync.shopify_fresh(self.engine, self.client, now, **kwargs)


def make_env(engine: Engine, monkeypatch: pytest.MonkeyPatch, shopify: FakeShopify) -> Env:
    """West (New York, USD) and East (Berlin, EUR) connected over `shopify`, a fake clock."""
    monkeypatch.setenv("SHOP_TOKEN", TOKEN)
    clock = FakeClock()
    shopify.add_shop(WEST, "America/New_York", "USD")
    shopify.add_shop(EAST, "Europe/Berlin", "EUR")
    client = ShopifyClient(endpoint_template="https://{shop}/admin/api/{version}/graphql.json")
    client.with_transport(httpx.MockTransport(shopify), sleep=clock.sleep, monotonic=clock.monotonic)
    with engine.begin() as db:
        west, _ = conns.connect(db, store="West", platform="shopify", account_id=WEST, token_env="SHOP_TOKEN")
        east, _ = conns.connect(db, store="East", platform="shopify", account_id=EAST, token_env="SHOP_TOKEN")
    return Env(engine, shopify, client, clock, west, east)


@pytest.fixture
def env(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Env:
    return make_env(engine, monkeypatch, FakeShopify())


@dataclass
class ScriptedShop:
    """The simulator's first shop for client tests: `script` queues answers (stated by the test)
    for its next requests, `None` in the queue lets one through to the real answer; the client's
    waits run on `clock`; `requests()` is the simulator's log (variables, token fingerprint)."""

    running: RunningSimulator
    clock: FakeClock
    shop: str

    def script(self, *answers: Any) -> None:
        self.running.sim.faults.update(shopify_scripted={self.shop: list(answers)})

    def client(self, **fields: Any) -> ShopifyClient:
        client = ShopifyClient(endpoint_template=self.running.shopify_endpoint, **fields)
        return client.with_transport(sleep=self.clock.sleep, monotonic=self.clock.monotonic)

    def session(self, token: str = SIM_TOKEN, deadline: float | None = None, **fields: Any) -> ShopSession:
        return self.client(**fields).session(self.shop, token, deadline=deadline)

    def requests(self) -> list[RequestRecord]:
        return self.running.sim.request_log("shopify")


@pytest.fixture
def scripted_shop(make_simulator: Callable[..., RunningSimulator]) -> ScriptedShop:
    running = make_simulator(stores=1)
    return ScriptedShop(running, FakeClock(), running.sim.world.stores[0].domain)
