"""Direct calls into the simulator's handlers (no HTTP) for fast contract tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from adspipe.meta import settings as meta_settings
from adspipe.shopify.settings import API_VERSION
from adspipe.simulator.clock import SimClock
from adspipe.simulator.server import Simulator
from adspipe.simulator.shopify_api import ApiResponse
from adspipe_tests.simulator_fixtures import FIXED_NOW, TOKEN


def make_sim(now: datetime = FIXED_NOW, **kwargs: Any) -> Simulator:
    kwargs.setdefault("clock", SimClock(now, 0.0))
    return Simulator(**kwargs)


def gql(
    sim: Simulator, shop: str, query: str, variables: dict[str, Any] | None = None, *, token: str = TOKEN
) -> tuple[ApiResponse, dict[str, Any]]:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    response = sim.shopify.handle(shop, API_VERSION, {"x-shopify-access-token": token}, body)
    return response, json.loads(response.body)


def meta(
    sim: Simulator, node: str, edge: str | None = "insights", *, token: str | None = TOKEN, **params: Any
) -> tuple[ApiResponse, dict[str, Any]]:
    query = {k: (json.dumps(v) if isinstance(v, list | dict) else str(v)) for k, v in params.items()}
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = sim.meta.handle(meta_settings.API_VERSION, node, edge, query, headers, "http://sim.test")
    try:
        body = json.loads(response.body)
    except ValueError:
        body = {}
    return response, body


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
