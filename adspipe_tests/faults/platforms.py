"""One small adapter per platform, so that the fault, crash and idempotency suites run the same
test functions for Shopify, Meta and Google Ads (the registry's names) instead of copies.

An adapter knows how to build its client on the simulator (virtual waits), run its three jobs
(the 7-day fill, the fresh run, a partition range of its asset chain), which local dates each job
covers, how to compare those dates with the truth, and what its client counted (retried,
throttled).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from adspipe.google_ads import sync as google_ads_sync
from adspipe.meta import sync as meta_sync
from adspipe.shopify import sync as shopify_sync
from adspipe.simulator.server import Simulator, SimulatorHandle
from adspipe.warehouse.connections import Connection
from adspipe_tests.clocks import FakeClock
from adspipe_tests.faults.harness import (
    Compared,
    check_google_ads,
    check_meta,
    check_orders,
    google_ads_client,
    local_today,
    meta_client,
    shopify_client,
)

Check = Callable[..., None]  # (engine, sim, account, since, until, out, *, at=None)


@dataclass(frozen=True)
class Knobs:
    """Client settings of a suite (each platform takes what applies to it)."""

    read_timeout_s: float = 30.0
    max_attempts: int = 5
    page_size: int = 250  # Shopify orders per page
    page_limit: int = 500  # Meta rows per page


@dataclass(frozen=True)
class Harness:
    name: str  # the registry's platform name
    client: Callable[[FakeClock, SimulatorHandle, Knobs], Any]
    fill: Callable[[Engine, Any, datetime], Any]
    fresh: Callable[[Engine, Any, datetime], Any]
    dates: Callable[[Engine, Any, list[date], datetime], Any]
    # the local dates a fill at t0 covers, and a fresh run at t1 after a fill at t0, per connection
    fill_range: Callable[[str, datetime], tuple[date, date]]
    fresh_range: Callable[[str, Connection, datetime, datetime], tuple[date, date]]
    check: Check
    counted: Callable[[Any], tuple[int, int]]  # (transient retries, throttle answers) the client counted

    def compare(self, engine: Engine, sim: Simulator, account: str, span: tuple[date, date], out: Compared,
                *, at: datetime | None = None) -> None:  # fmt: skip
        self.check(engine, sim, account, span[0], span[1], out, at=at)


def _calls(result: Any) -> tuple[int, int]:
    return sum(r.calls.retries for r in result.runs), sum(r.calls.throttled for r in result.runs)


def _meta_counted(result: meta_sync.MetaResult) -> tuple[int, int]:
    return meta_sync.total_meter(result).transient_errors, sum(
        o.stats.throttled for o in result.report.outcomes
    )


def _shopify_fresh(engine: Engine, client: Any, now: datetime) -> shopify_sync.ShopifyResult:
    result = shopify_sync.shopify_fresh(engine, client, now)
    assert not any(s.stopped_at_budget for s in result.runs)
    return result


SHOPIFY = Harness(
    name="shopify",
    client=lambda vt, handle, k: shopify_client(
        vt, read_timeout_s=k.read_timeout_s, page_size=k.page_size, max_attempts=k.max_attempts
    ),
    fill=shopify_sync.shopify_7d_fill,
    fresh=_shopify_fresh,
    dates=lambda engine, client, days, now: shopify_sync.sync_days(engine, client, days),
    fill_range=lambda tz, t0: (local_today(t0, tz) - timedelta(days=7), local_today(t0, tz)),
    fresh_range=lambda tz, c, t0, t1: (local_today(t0, tz) - timedelta(days=7), local_today(t1, tz)),
    check=check_orders,
    counted=_calls,
)


def _ads_harness(name: str, jobs: Any, client: Callable[[FakeClock, SimulatorHandle, Knobs], Any], check: Check,
                 counted: Callable[[Any], tuple[int, int]]) -> Harness:  # fmt: skip
    """An ad platform: its sync module names its jobs and windows alike (run_fill, run_fresh,
    run_dates, fill_window, fresh_window with the connection's attribution / conversion-lag days)."""
    return Harness(
        name=name,
        client=client,
        fill=lambda engine, c, now: jobs.run_fill(engine, c, now=now),
        fresh=lambda engine, c, now: jobs.run_fresh(engine, c, now=now),
        dates=lambda engine, c, days, now: jobs.run_dates(engine, c, days, now=now),
        fill_range=lambda tz, t0: jobs.fill_window(tz, t0),
        fresh_range=lambda tz, conn, t0, t1: jobs.fresh_window(tz, t1, conn.attribution_window_days),
        check=check,
        counted=counted,
    )


META = _ads_harness(
    "meta",
    meta_sync,
    lambda vt, handle, k: meta_client(
        vt, read_timeout_s=k.read_timeout_s, max_transient_retries=k.max_attempts - 1, page_limit=k.page_limit
    ),
    check_meta,
    _meta_counted,
)
GOOGLE_ADS = _ads_harness(
    "google_ads",
    google_ads_sync,
    lambda vt, handle, k: google_ads_client(
        vt, handle, read_timeout_s=k.read_timeout_s, max_transient_retries=k.max_attempts - 1
    ),
    check_google_ads,
    _calls,
)
HARNESSES = {h.name: h for h in (SHOPIFY, META, GOOGLE_ADS)}
ADS = ("meta", "google_ads")  # the ad platforms


def ok(result: Any, job: str = "") -> None:
    """Every connection of a run succeeded (else the failures, named)."""
    bad = [
        (o.connection.account_id, o.status, o.error) for o in result.report.outcomes if o.status != "success"
    ]
    assert bad == [], (job, bad)
