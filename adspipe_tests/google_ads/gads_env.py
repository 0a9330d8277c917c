"""Shared setup for the Google Ads sync tests: the simulator's customers as connections."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine

from adspipe.google_ads import sync
from adspipe.google_ads.client import GoogleAdsClient
from adspipe.simulator.server import Simulator
from adspipe.warehouse import connections as conns
from adspipe.warehouse.connections import Connection
from adspipe_tests.clocks import FakeClock
from adspipe_tests.faults.harness import GOOGLE_REFRESH_ENV, GOOGLE_SECRETS
from adspipe_tests.simulator_fixtures import RunningSimulator

REFRESH_ENV = GOOGLE_REFRESH_ENV
SECRETS = GOOGLE_SECRETS  # the credentials the simulator accepts (one definition, in the harness)


@dataclass
class GadsEnv:
    engine: Engine
    running: RunningSimulator
    client: GoogleAdsClient
    vt: FakeClock
    customers: dict[str, Connection] = field(default_factory=dict)  # customer id → connection

    @property
    def sim(self) -> Simulator:
        return self.running.sim

    def now(self) -> datetime:
        return self.sim.clock.now()

    def move(self, delta: timedelta) -> None:
        """Move the simulator's clock and the client's with it (cached access tokens expire)."""
        self.sim.clock.set(self.now() + delta)
        self.vt.now += delta.total_seconds()

    def timezone(self, customer_id: str) -> str:
        return next(c.time_zone for c in self.sim.google_ads.world.customers if c.customer_id == customer_id)

    def today(self, customer_id: str) -> date:
        return self.now().astimezone(ZoneInfo(self.timezone(customer_id))).date()

    def fill(self) -> sync.GoogleAdsResult:
        return ok(sync.run_fill(self.engine, self.client, now=self.now()))

    def fresh(self) -> sync.GoogleAdsResult:
        return ok(sync.run_fresh(self.engine, self.client, now=self.now()))

    def truth(self, customer_id: str, day: date) -> dict[str, Any]:
        return self.sim.google_ads.truth(customer_id, day)


def ok(result: sync.GoogleAdsResult) -> sync.GoogleAdsResult:
    bad = [
        (o.connection.account_id, o.status, o.error) for o in result.report.outcomes if o.status != "success"
    ]
    assert bad == [], bad
    return result


def days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=i) for i in range((until - since).days + 1)]


def truth_totals(env: GadsEnv, customer_id: str, day: date) -> tuple[Decimal, Decimal, Decimal]:
    rows = [r for r in env.truth(customer_id, day).values() if not r.is_zero()]
    return (
        sum((r.spend for r in rows), Decimal(0)),
        sum((r.conversions for r in rows), Decimal(0)),
        sum((r.conversions_value for r in rows), Decimal(0)),
    )


def make_gads_env(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch,
    *, now: datetime, lag_days: int | None = None, shopify: bool = False, meta: bool = False,
) -> GadsEnv:  # fmt: skip
    running = make_simulator(now=now)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    vt = FakeClock()
    client = GoogleAdsClient(api_url=running.handle.google_ads_url, oauth_url=running.handle.google_oauth_url)
    client = client.with_transport(None, sleep=vt.sleep, monotonic=vt.monotonic)
    env = GadsEnv(engine, running, client, vt)
    stores = running.sim.world.describe()["stores"]
    manager = running.sim.google_ads.world.manager_id
    with engine.begin() as db:
        for customer in running.sim.google_ads.world.customers:
            env.customers[customer.customer_id], _ = conns.connect(
                db, store=stores[customer.store_index]["name"], platform="google_ads",
                account_id=customer.customer_id, token_env=REFRESH_ENV, attribution_window_days=lag_days,
                login_customer_id=manager if customer.managed else None,
            )  # fmt: skip
    return env
