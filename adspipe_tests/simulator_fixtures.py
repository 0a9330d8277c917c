"""Pytest fixtures for the simulator (loaded by adspipe_tests/conftest.py when present).

- `make_simulator(**kwargs)`: starts a `Simulator(**kwargs)` on a free port (torn down after the
  test) and returns a `RunningSimulator`. The clock defaults to `FIXED_NOW`, frozen (`speed=0`);
  pass `now=` / `speed=` or your own `clock=`. Unless `set_env=False`, the test's environment
  points adspipe at it: ADSPIPE_SHOPIFY_ENDPOINT, ADSPIPE_META_GRAPH_URL, ADSPIPE_CLOCK_URL.
- `simulator`: `make_simulator()` with the defaults (seed 1, three stores).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from adspipe.shopify.settings import API_VERSION
from adspipe.simulator.clock import SimClock
from adspipe.simulator.server import Simulator, SimulatorHandle, run_simulator

# Inside the default 60-day window: US DST (8 Mar 2026), EU DST (29 Mar), Australia/NZ DST end (5 Apr).
FIXED_NOW = datetime(2026, 4, 15, 12, 0, tzinfo=UTC)
TOKEN = "sim-token"


@dataclass
class RunningSimulator:
    sim: Simulator
    handle: SimulatorHandle

    @property
    def base_url(self) -> str:
        return self.handle.base_url

    @property
    def shopify_endpoint(self) -> str:
        return self.handle.shopify_endpoint

    @property
    def meta_graph_url(self) -> str:
        return self.handle.meta_graph_url

    def shopify_url(self, shop: str, version: str = API_VERSION) -> str:
        return self.handle.shopify_endpoint.replace("{shop}", shop).replace("{version}", version)


@pytest.fixture
def make_simulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., RunningSimulator]]:
    with contextlib.ExitStack() as stack:

        def make(
            *, now: datetime = FIXED_NOW, speed: float = 0.0, set_env: bool = True, **kwargs: Any
        ) -> RunningSimulator:
            kwargs.setdefault("clock", SimClock(now, speed))
            sim = Simulator(**kwargs)
            handle = stack.enter_context(run_simulator(sim))
            if set_env:
                for name, value in handle.env().items():
                    monkeypatch.setenv(name, value)
            return RunningSimulator(sim, handle)

        yield make


@pytest.fixture
def simulator(make_simulator: Callable[..., RunningSimulator]) -> RunningSimulator:
    return make_simulator()
