"""Issue 14: the Admin API version that served each response is read, kept and reported.

Shopify serves a request for a version past its support with its oldest supported version,
silently; `X-Shopify-API-Version` is the only sign. The simulator does the same by
`settings.SUPPORT_ENDS` and its clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from adspipe.shopify import settings, sync
from adspipe.shopify.client import ShopifyClient
from adspipe.shopify.report import run_metadata
from adspipe.simulator.shopify_api import served_version, supported_versions
from adspipe_tests.clocks import FakeClock
from adspipe_tests.faults.harness import TOKEN_ENV, register, shopify_client
from adspipe_tests.shopify.helpers import sync_runs
from adspipe_tests.simulator_fixtures import TOKEN, RunningSimulator

# 2025-10 left support on 2026-10-01: on 2026-11-30 Shopify serves it as 2026-01.
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
OLD, OLDEST_SUPPORTED = "2025-10", "2026-01"


def test_supported_versions_follow_the_support_ends() -> None:
    today = NOW.date()
    assert supported_versions(today) == ["2026-01", "2026-04", "2026-07", "2026-10"]
    assert served_version(settings.API_VERSION, today) == settings.API_VERSION
    assert served_version(OLD, today) == OLDEST_SUPPORTED
    assert served_version("2024-01", today) == OLDEST_SUPPORTED  # not even listed any more


def _client(running: RunningSimulator, **fields: Any) -> ShopifyClient:
    vt = FakeClock()
    client = ShopifyClient(endpoint_template=running.shopify_endpoint, **fields)
    return client.with_transport(sleep=vt.sleep, monotonic=vt.monotonic)


def test_every_response_is_read_and_a_mismatch_warned_once(
    make_simulator: Callable[..., RunningSimulator], caplog: pytest.LogCaptureFixture
) -> None:
    running = make_simulator(now=NOW, stores=1)
    shop = running.sim.truth.store(0).domain
    # The simulator serves 2025-10 as 2026-01 by its clock; the deprecation notice is scripted (no
    # query of the client selects a deprecated field).
    body = {"data": {"shop": {"ianaTimezone": "UTC", "currencyCode": "USD", "myshopifyDomain": shop}},
            "extensions": {"cost": {"requestedQueryCost": 1, "actualQueryCost": 1, "throttleStatus": {
                "maximumAvailable": 2000, "currentlyAvailable": 1999, "restoreRate": 100}}}}  # fmt: skip
    deprecated = {settings.DEPRECATED_REASON_HEADER: "ShopPlan.displayName"}
    running.sim.faults.update(shopify_scripted={shop: [(200, body, deprecated)] * 3})
    client = _client(running, api_version=OLD)
    caplog.set_level(logging.WARNING, logger="adspipe.shopify.client")
    first, second = client.session(shop, TOKEN, deadline=None), client.session(shop, TOKEN, deadline=None)
    first.shop_info()
    first.shop_info()
    second.shop_info()
    assert [(r.detail, r.outcome) for r in running.sim.request_log("shopify")] == [(OLD, "ok")] * 3
    assert running.sim.faults.shopify_scripted[shop] == []
    for session in (first, second):
        assert (session.stats.api_version, session.stats.api_version_served) == (OLD, OLDEST_SUPPORTED)
        assert session.stats.version_mismatch
        assert session.stats.deprecated_reasons == {"ShopPlan.displayName"}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings  # once per client (a Dagster run builds one)
    assert "served Admin API 2026-01 to requests for 2025-10" in warnings[0]
    assert TOKEN not in warnings[0]


def test_matching_version_is_kept_without_a_warning(
    make_simulator: Callable[..., RunningSimulator], caplog: pytest.LogCaptureFixture
) -> None:
    running = make_simulator(now=NOW, stores=1)
    session = _client(running).session(running.sim.truth.store(0).domain, TOKEN, deadline=None)
    caplog.set_level(logging.WARNING, logger="adspipe.shopify.client")
    session.shop_info()
    assert [r.detail for r in running.sim.request_log("shopify")] == [settings.API_VERSION]
    assert (session.stats.api_version, session.stats.api_version_served) == (settings.API_VERSION,) * 2
    assert not session.stats.version_mismatch and session.stats.deprecated_reasons == set()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize("job", ["fill", "days"])
def test_an_old_version_served_as_another_is_warned_and_recorded(
    engine: Engine,
    make_simulator: Callable[..., RunningSimulator],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    job: str,
) -> None:
    vt = FakeClock()
    running = make_simulator(now=NOW, monotonic=vt.monotonic, stores=3)
    monkeypatch.setenv(TOKEN_ENV, "sim-token")
    world = register(engine, running.sim, meta=False)
    client = ShopifyClient(api_version=OLD)
    client.with_transport(sleep=vt.sleep, monotonic=vt.monotonic)
    logged: list[str] = []
    caplog.set_level(logging.WARNING, logger="adspipe.shopify.client")
    if job == "fill":
        result = sync.shopify_7d_fill(engine, client, NOW, log=logged.append)
        name = settings.JOB_FILL
    else:
        days = [datetime(2026, 11, 20).date(), datetime(2026, 11, 21).date()]
        result = sync.sync_days(engine, client, days, now=NOW, log=logged.append)
        name = settings.JOB_PARTITIONS
    assert [o.status for o in result.report.outcomes] == ["success"] * 3
    # The requests went to the old version's URL and were answered as 2026-01.
    assert "/admin/api/2025-10/graphql.json" in client.endpoint(next(iter(world.shops)))
    # Dagster's log (the `log` callable): once per run, not once per shop.
    mismatch = [m for m in logged if "served Admin API 2026-01 to requests for 2025-10" in m]
    assert len(mismatch) == 1, logged
    python_warnings = [r.getMessage() for r in caplog.records if "served Admin API" in r.getMessage()]
    assert len(python_warnings) == 1
    metadata = run_metadata(result)
    assert (metadata["api_version"], metadata["api_version_served"]) == (OLD, OLDEST_SUPPORTED)
    runs = sync_runs(engine, name)
    assert len(runs) == len(world.shops) == 3
    assert {(r["api_version"], r["api_version_served"]) for r in runs} == {(OLD, OLDEST_SUPPORTED)}


def test_the_pinned_version_is_served_as_itself(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    vt = FakeClock()
    running = make_simulator(now=NOW, monotonic=vt.monotonic, stores=1)
    monkeypatch.setenv(TOKEN_ENV, "sim-token")
    register(engine, running.sim, meta=False)
    logged: list[str] = []
    result = sync.shopify_7d_fill(engine, shopify_client(vt), NOW, log=logged.append)
    assert [o.status for o in result.report.outcomes] == ["success"]
    metadata = run_metadata(result)
    assert (metadata["api_version"], metadata["api_version_served"]) == (settings.API_VERSION,) * 2
    assert logged == []
    (run,) = sync_runs(engine, settings.JOB_FILL)
    assert (run["api_version"], run["api_version_served"]) == (settings.API_VERSION, settings.API_VERSION)
