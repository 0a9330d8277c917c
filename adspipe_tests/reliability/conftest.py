"""Fixtures of the reliability suites: two shops and two ad accounts behind misbehaving fakes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from adspipe.meta import sync as meta_sync
from adspipe.meta.client import MetaClient
from adspipe.warehouse import connections as conns
from adspipe.warehouse.connections import Connection
from adspipe_tests.meta.fake_graph import FakeAccount
from adspipe_tests.reliability.helpers import ScriptedGraph, ScriptedShopify
from adspipe_tests.shopify.conftest import Env, make_env
from adspipe_tests.shopify.fakes import grant_all_scopes

META_NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # Los Angeles: 9 March; Tokyo: 10 March
META_TOKEN = "EAAtoken-reliability-0123"
META_DAYS = [date(2026, 3, 4), date(2026, 3, 5), date(2026, 3, 6)]


def sqlite_only() -> pytest.MarkDecorator:
    """Run a case on SQLite only (the transactional cases also run on Postgres)."""
    return pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)


@pytest.fixture(autouse=True)
def shopify_scopes_granted(monkeypatch: pytest.MonkeyPatch) -> None:
    """`adspipe connect shopify` reads the app's scopes; the fake shops here grant them all."""
    grant_all_scopes(monkeypatch)


@pytest.fixture
def shop_env(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Env:
    """The Shopify tests' Env (west: New York, USD; east: Berlin, EUR) over a ScriptedShopify."""
    return make_env(engine, monkeypatch, ScriptedShopify())


def ad_days(spend: str, *, days: list[date] = META_DAYS) -> dict[date, list[tuple[str, str, str, int, str]]]:
    return {d: [("a1", "ACTIVE", spend, 2, "45.00"), ("z", "ARCHIVED", "1.50", 0, "0")] for d in days}


@dataclass
class MetaEnv:
    engine: Engine
    graph: ScriptedGraph
    client: MetaClient
    act1: Connection
    act2: Connection

    def run_dates(self, days: list[date] = META_DAYS, **kwargs: object) -> meta_sync.MetaResult:
        return meta_sync.run_dates(self.engine, self.client, days, now=META_NOW, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def meta_env(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[MetaEnv]:
    """act_1 (Los Angeles, store West) and act_2 (Tokyo, store East) over a ScriptedGraph."""
    monkeypatch.setenv("META_TOK", META_TOKEN)
    days = [date(2026, 3, 1) + timedelta(days=i) for i in range(10)]
    graph = ScriptedGraph(
        {
            "act_1": FakeAccount("America/Los_Angeles", "USD", ad_days("10.00", days=days)),
            "act_2": FakeAccount(
                "Asia/Tokyo", "USD", {d: [("b1", "PAUSED", "5.00", 1, "20.00")] for d in days}
            ),
        }
    )
    client = MetaClient(graph_url="http://graph.test", max_transient_retries=4).with_transport(
        transport=graph.transport(), sleep=lambda seconds: None
    )
    with engine.begin() as db:
        # act_1 keeps the seed's ACTIVE,PAUSED filter (a connection option): its archived ad `z`
        # is the account-level gap these cases were written around.
        act1, _ = conns.connect(db, store="West", platform="meta", account_id="act_1", token_env="META_TOK",
                                ad_statuses=("ACTIVE", "PAUSED"))  # fmt: skip
        act2, _ = conns.connect(db, store="East", platform="meta", account_id="act_2", token_env="META_TOK")
    yield MetaEnv(engine, graph, client, act1, act2)
    client.close()
