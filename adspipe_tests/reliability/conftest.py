"""Fixtures of the reliability suites: two shops and two ad accounts on the simulator (its
scripted answers misbehave on cue)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from adspipe.meta import sync as meta_sync
from adspipe.meta.client import MetaClient
from adspipe.shopify import sync as shopify_sync
from adspipe.shopify.client import ShopifyClient
from adspipe.simulator.faults import Faults
from adspipe.simulator.server import RequestRecord
from adspipe.warehouse import connections as conns
from adspipe.warehouse.connections import Connection
from adspipe_tests.clocks import FakeClock
from adspipe_tests.shopify.helpers import grant_all_scopes
from adspipe_tests.simulator_fixtures import TOKEN, RunningSimulator

META_NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # Los Angeles: 9 March; Berlin: 10 March
META_DAYS = [date(2026, 3, 4), date(2026, 3, 5), date(2026, 3, 6)]


def sqlite_only() -> pytest.MarkDecorator:
    """Run a case on SQLite only (the transactional cases also run on Postgres)."""
    return pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)


@pytest.fixture(autouse=True)
def shopify_scopes_granted(monkeypatch: pytest.MonkeyPatch) -> None:
    """`adspipe connect shopify` reads the app's scopes; the fake shops here grant them all."""
    grant_all_scopes(monkeypatch)


# The simulator's shops (seed 1): store 0 (Los Angeles, USD) and store 1 (Berlin, EUR). The
# Shopify cases fill at SHOP_FILLED (9 March, noon in Los Angeles) and run again at SHOP_NOW, by
# when orders have arrived and older ones were refunded or cancelled.
WEST, EAST = "pioneer-botanicals.myshopify.com", "summit-outfitters.myshopify.com"
SHOP_FILLED = datetime(2026, 3, 9, 20, tzinfo=UTC)
SHOP_NOW = SHOP_FILLED + timedelta(hours=6)


@dataclass
class ShopEnv:
    engine: Engine
    running: RunningSimulator
    clock: FakeClock  # the client's waits and the shops' cost buckets: virtual, instant
    client: ShopifyClient
    west: Connection
    east: Connection

    def now(self) -> datetime:
        return self.running.sim.clock.now()

    def at(self, when: datetime) -> None:
        self.running.sim.clock.set(when)

    def fill(self, **kwargs: Any) -> shopify_sync.ShopifyResult:
        return shopify_sync.shopify_7d_fill(self.engine, self.client, self.now(), **kwargs)

    def fresh(self, **kwargs: Any) -> shopify_sync.ShopifyResult:
        return shopify_sync.shopify_fresh(self.engine, self.client, self.now(), **kwargs)

    def sync_days(self, days: list[date], **kwargs: Any) -> shopify_sync.ShopifyResult:
        return shopify_sync.sync_days(self.engine, self.client, days, now=self.now(), **kwargs)

    def script(self, key: str, *answers: Any) -> None:
        """Scripted answers for `key` (a shop, or "<shop> Orders": its orders requests only)."""
        faults = self.running.sim.faults
        faults.update(shopify_scripted={**faults.shopify_scripted, key: list(answers)})

    def requests(self, shop: str | None = None, after: int = 0) -> list[RequestRecord]:
        """Shopify requests (of `shop`) with a sequence number above `after`."""
        log = self.running.sim.request_log("shopify")
        return [r for r in log if r.seq > after and (shop is None or r.account == shop)]

    def orders_requests(self, shop: str, after: int = 0) -> list[RequestRecord]:
        """The orders searches of `shop` (their GraphQL variables in `variables`)."""
        return [r for r in self.requests(shop, after) if "sortKey" in r.variables]

    def mark(self) -> int:
        return max((r.seq for r in self.running.sim.request_log()), default=0)


@pytest.fixture
def shop_env(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> ShopEnv:
    """West and East connected to the simulator's stores 0 and 1, its clock at SHOP_FILLED."""
    monkeypatch.setenv("SHOP_TOKEN", TOKEN)
    clock = FakeClock()
    running = make_simulator(now=SHOP_FILLED, monotonic=clock.monotonic)
    client = ShopifyClient(endpoint_template=running.shopify_endpoint)
    client.with_transport(sleep=clock.sleep, monotonic=clock.monotonic)
    with engine.begin() as db:
        west, _ = conns.connect(db, store="West", platform="shopify", account_id=WEST, token_env="SHOP_TOKEN")
        east, _ = conns.connect(db, store="East", platform="shopify", account_id=EAST, token_env="SHOP_TOKEN")
    return ShopEnv(engine, running, clock, client, west, east)


# The simulator's world (seed 1): store 0's first account (Los Angeles, USD; on 2 to 5 March an
# ad archived since spent) and store 1's (Berlin, EUR).
ACT_1, ACT_2 = "act_719948244808154", "act_381676873269249"
ACT_1_FILTER = ("ACTIVE", "PAUSED")


@dataclass
class MetaEnv:
    engine: Engine
    graph: RunningSimulator
    client: MetaClient
    act1: Connection
    act2: Connection

    def run_dates(
        self, days: list[date] = META_DAYS, now: datetime = META_NOW, **kwargs: object
    ) -> meta_sync.MetaResult:
        return meta_sync.run_dates(self.engine, self.client, days, now=now, **kwargs)  # type: ignore[arg-type]

    def script(self, key: str, *answers: Any) -> None:
        """Scripted answers for `key` ("act_… ad 2026-03-05": that account's ad level of a day)."""
        self.graph.sim.faults.update(
            meta_scripted={**self.graph.sim.faults.meta_scripted, key: list(answers)}
        )

    def requests(self, account: str | None = None, after: int = 0) -> list[RequestRecord]:
        """Meta requests (of `account`) with a sequence number above `after`."""
        log = self.graph.sim.request_log("meta")
        return [r for r in log if r.seq > after and (account is None or r.account == account)]

    def mark(self) -> int:
        return max((r.seq for r in self.graph.sim.request_log()), default=0)


@pytest.fixture
def meta_env(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> Iterator[MetaEnv]:
    """act_1 (Los Angeles, store West) and act_2 (Berlin, store East) on the simulator (its
    clock frozen at META_NOW; no usage growth, so no throttling but the scripted one)."""
    monkeypatch.setenv("META_TOK", TOKEN)
    graph = make_simulator(now=META_NOW, faults=Faults(meta_throttle_intensity=0.0))
    client = MetaClient(graph_url=graph.meta_graph_url, max_transient_retries=4).with_transport(
        sleep=lambda seconds: None
    )
    with engine.begin() as db:
        # act_1 keeps the seed's ACTIVE,PAUSED filter (a connection option): its archived ad is
        # the account-level gap these cases were written around.
        act1, _ = conns.connect(db, store="West", platform="meta", account_id=ACT_1, token_env="META_TOK",
                                ad_statuses=ACT_1_FILTER)  # fmt: skip
        act2, _ = conns.connect(db, store="East", platform="meta", account_id=ACT_2, token_env="META_TOK")
    yield MetaEnv(engine, graph, client, act1, act2)
    client.close()
