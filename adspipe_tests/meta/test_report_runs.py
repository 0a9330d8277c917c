"""Meta's asynchronous report runs (adspipe.meta.report_runs) against the simulator.

Real `MetaClient`, real HTTP, the simulator's clock frozen and moved on purpose; the client's
waits and the simulator's report processing run on one virtual clock (`FakeClock`), so a run's
polls are exact and instantaneous. The world (seed 1) has four ad accounts in four zones:
Los Angeles, New York, Berlin and Auckland.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from adspipe.meta import report, report_runs
from adspipe.meta import sync as meta_sync
from adspipe.meta.client import MetaClient
from adspipe.simulator.faults import Faults
from adspipe.simulator.server import RequestRecord, overlapping
from adspipe_tests.clocks import FakeClock
from adspipe_tests.faults.harness import SEED, TOKEN_ENV, Compared, World, check_meta, register
from adspipe_tests.reliability.test_idempotency import table_bytes
from adspipe_tests.simulator_fixtures import RunningSimulator

T0 = datetime(2026, 4, 13, 20, 0, tzinfo=UTC)
LA, BERLIN = "act_719948244808154", "act_381676873269249"
TABLES = ("meta_insights_raw", "fact_meta_daily", "daily_meta_metrics", "daily_summary")


@dataclass
class Env:
    engine: Engine
    running: RunningSimulator
    vt: FakeClock
    world: World

    @property
    def sim(self) -> Any:
        return self.running.sim

    def client(self, **fields: Any) -> MetaClient:
        """The suites' Meta client (meta_client's settings) on the virtual clock, polls included."""
        client = MetaClient(**{"wait_budget_s": 3600.0, **fields})
        return client.with_transport(
            sleep=self.vt.sleep, monotonic=self.vt.monotonic, rng=random.Random(SEED)
        )

    def log(self, endpoint: str | None = None) -> list[RequestRecord]:
        return [r for r in self.sim.request_log("meta") if endpoint is None or r.endpoint == endpoint]


@pytest.fixture
def make_env(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Env]:
    def make(*, stores: tuple[int, ...] | None = None, **faults: Any) -> Env:
        vt = FakeClock()
        running = make_simulator(now=T0, monotonic=vt, faults=Faults(**faults))
        monkeypatch.setenv(TOKEN_ENV, "sim-token")
        return Env(engine, running, vt, register(engine, running.sim, stores=stores, shopify=False))

    return make


def _ok(result: meta_sync.MetaResult) -> meta_sync.MetaResult:
    bad = [
        (o.connection.account_id, o.status, o.error) for o in result.report.outcomes if o.status != "success"
    ]
    assert bad == [], bad
    return result


def _truth(env: Env, result: meta_sync.MetaResult) -> Compared:
    compared = Compared()
    for run in result.runs:
        check_meta(env.engine, env.sim, run.connection.account_id, run.dates[0], run.dates[-1], compared,
                   at=env.sim.clock.now())  # fmt: skip
    assert compared.diffs == [], compared.diffs[:10]
    return compared


def test_truth_to_the_cent_through_report_runs_in_three_zones_with_late_conversions(
    make_env: Callable[..., Env],
) -> None:
    # A synchronous answer of more than 8 rows is refused with code 1: the account-level range
    # (7 rows) still reads synchronously, every ad-level day with more than 8 ads cannot.
    env = make_env(meta_sync_max_rows=8, meta_report_processing_s=40.0)
    client = env.client()
    zones = {env.world.timezones[a] for a in env.world.accounts}
    assert len(zones) >= 3, zones
    first = _ok(meta_sync.run_fill(env.engine, client, now=env.sim.clock.now()))
    compared = _truth(env, first)
    purchases_then = {a: env.sim.truth.meta_daily(a, first.runs[0].dates[0], first.runs[0].dates[-1], at=T0)
                      for a in env.world.accounts}  # fmt: skip
    starts = len(env.log("report_run"))
    refused = [r for r in env.log("insights") if r.status == 500 and r.detail.startswith("ad ")]
    assert starts >= 20 and refused, (starts, len(refused))
    for step in (timedelta(days=1), timedelta(days=2, hours=5)):
        env.sim.clock.advance(step)
        env.sim.reset_stats()
        again = _ok(meta_sync.run_fresh(env.engine, client, now=env.sim.clock.now()))
        compared.rows += _truth(env, again).rows
        assert len(env.log("report_run")) >= 4 * 3, len(env.log("report_run"))
        assert overlapping(env.log()) == []  # one call at a time, polls included
    late = sum(
        after.purchases > before.purchases
        for a, befores in purchases_then.items()
        for before, after in zip(befores, env.sim.truth.meta_daily(a, befores[0].date, befores[-1].date,
                                                                    at=env.sim.clock.now()), strict=True)
    )  # fmt: skip
    assert late > 0 and compared.rows > 200, (late, compared.rows)


def test_a_day_read_as_a_report_run_equals_the_synchronous_read_byte_for_byte(
    make_env: Callable[..., Env],
) -> None:
    env = make_env(stores=(0,), meta_report_processing_s=30.0)
    _ok(meta_sync.run_fill(env.engine, env.client(), now=T0))
    assert env.log("report_run") == []
    synchronous = {name: table_bytes(env.engine, name) for name in TABLES}
    env.sim.reset_stats()
    result = _ok(meta_sync.run_fill(env.engine, env.client(report_run_min_ads=1), now=T0))
    days = sum(len(r.dates) for r in result.runs)
    assert (len(env.log("report_run")), days) == (14, 14)  # every day of both accounts (known large)
    assert all(r.detail.startswith("ad ") for r in env.log("report_run"))
    assert [r for r in env.log("insights") if r.detail.startswith("ad ")] == []
    assert {name: table_bytes(env.engine, name) for name in TABLES} == synchronous
    assert all(synchronous[name] for name in TABLES)


def test_code_1_moves_the_day_and_the_rest_of_the_run_to_report_runs(make_env: Callable[..., Env]) -> None:
    env = make_env(stores=(2,), meta_sync_max_rows=8)  # Auckland: one account
    (account,) = env.world.accounts
    result = _ok(meta_sync.run_fill(env.engine, env.client(report_run_min_ads=0), now=T0))
    _truth(env, result)
    log = env.log()
    ad_sync = [r for r in log if r.endpoint == "insights" and r.detail.startswith("ad ")]
    # The first day halves its page down to 25 rows, then reads as a report run; no other day
    # tries synchronously again.
    assert [r.status for r in ad_sync] == [500] * 6
    assert {r.ad_level_day for r in ad_sync} == {result.runs[0].dates[0].isoformat()}
    starts = [r.ad_level_day for r in log if r.endpoint == "report_run"]
    assert starts == [d.isoformat() for d in result.runs[0].dates]
    statuses = [r for r in log if r.endpoint == "report_status"]
    assert statuses and all(r.account == account for r in statuses)
    assert len([r for r in log if r.endpoint == "report_insights"]) == len(starts)  # one page each


def test_failed_and_skipped_runs_are_retried_and_the_day_commits(make_env: Callable[..., Env]) -> None:
    env = make_env(stores=(2,), meta_report_failures=1, meta_report_skips=1)
    result = _ok(meta_sync.run_fill(env.engine, env.client(report_run_min_ads=1), now=T0))
    _truth(env, result)
    days = result.runs[0].dates
    starts = [r.ad_level_day for r in env.log("report_run")]
    # Day 1 reads synchronously (the account is not known large yet), day 2 takes three runs.
    assert starts == [d.isoformat() for d in [days[1], days[1], *days[1:]]], starts
    assert (env.sim.faults.meta_report_failures, env.sim.faults.meta_report_skips) == (0, 0)


def test_a_day_whose_runs_keep_failing_fails_alone(make_env: Callable[..., Env]) -> None:
    env = make_env(stores=(1,))  # Berlin
    (account,) = env.world.accounts
    days = meta_sync.fill_window(env.world.timezones[account], T0)
    bad = days[0] + timedelta(days=3)
    env.sim.faults.update(meta_report_fail_days={bad.isoformat()})
    result = meta_sync.run_fill(env.engine, env.client(report_run_min_ads=1), now=T0)
    (outcome,) = result.report.outcomes
    run = result.runs[0]
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert f"{bad}: {account} {bad}: 3 report run(s) did not complete: " in outcome.error, outcome.error
    assert "Job Failed (code -2, Generating the report failed. Try again later.)" in outcome.error
    assert bad not in run.dates and len(run.dates) == 6
    assert [r.ad_level_day for r in env.log("report_run")].count(bad.isoformat()) == 3
    compared = Compared()
    for day in run.dates:
        check_meta(env.engine, env.sim, account, day, day, compared, at=T0)
    assert compared.diffs == []


def test_polls_wait_for_the_processing_time_and_stay_serial(make_env: Callable[..., Env]) -> None:
    env = make_env(stores=(2,), meta_report_processing_s=120.0)
    start = env.vt.now
    result = _ok(meta_sync.run_fill(env.engine, env.client(report_run_min_ads=1), now=T0))
    runs = len(env.log("report_run"))
    assert runs == len(result.runs[0].dates) - 1
    polls = env.vt.now - start
    # Each run's polls end within a poll step past its 120 s (the estimate from the percentage).
    assert 120.0 * runs <= polls <= 120.0 * runs * 1.1, (polls, runs)
    # Polls at 0, 1, 3, 7, 15, 31 s (doubling), 61, 91 s (the 30 s cap; the percentage promises
    # no earlier end), 121 s: Job Completed.
    assert len(env.log("report_status")) == 9 * runs
    assert overlapping(env.log()) == []
    assert result.runs[0].meter.waits_s["poll"] == pytest.approx(polls)
    assert report.run_metadata(result)["report_poll_wait_s"] == pytest.approx(polls, abs=1e-3)


def test_rerunning_the_report_run_path_changes_nothing(make_env: Callable[..., Env]) -> None:
    env = make_env(stores=(1,), meta_sync_max_rows=5)
    _ok(meta_sync.run_fill(env.engine, env.client(), now=T0))
    once = {name: table_bytes(env.engine, name) for name in TABLES}
    _ok(meta_sync.run_fill(env.engine, env.client(), now=T0))
    assert {name: table_bytes(env.engine, name) for name in TABLES} == once


def test_poll_wait_doubles_and_follows_the_percentage() -> None:
    steps = dict(first_s=1.0, min_s=0.25, max_s=30.0)
    assert [report_runs.poll_wait(n, 0.0, 0, **steps) for n in (1, 2, 3, 6, 9)] == [1.0, 2.0, 4.0, 30.0, 30.0]
    assert report_runs.poll_wait(3, 10.0, 50, **steps) == 4.0  # backoff shorter than the estimate
    assert report_runs.poll_wait(6, 10.0, 50, **steps) == 10.0  # 50 % after 10 s: 10 s to go
    assert report_runs.poll_wait(6, 99.0, 99, **steps) == 1.0
    assert report_runs.poll_wait(6, 1000.0, 99.99 // 1, **steps) == pytest.approx(1000 / 99)
    assert report_runs.poll_wait(6, 0.1, 99, **steps) == 0.25  # never below the minimum


def test_known_ads_come_from_the_warehouse(make_env: Callable[..., Env]) -> None:
    env = make_env(stores=(2,))
    (account,) = env.world.accounts
    assert report_runs.known_ads(env.engine, account, date(2026, 4, 1)) == 0
    result = _ok(meta_sync.run_fill(env.engine, env.client(), now=T0))
    counts = [d.ad_rows for d in result.runs[0].days]
    assert report_runs.known_ads(env.engine, account, result.runs[0].dates[-1]) == max(counts)
    assert report_runs.known_ads(env.engine, account, result.runs[0].dates[-1] + timedelta(days=60)) == 0


def test_polls_are_paced_on_the_usage_headers_and_bounded_by_the_wait_budget(
    make_env: Callable[..., Env],
) -> None:
    # Each call adds 20 % to the account's usage (falling over 60 s of the shared virtual clock):
    # the polls of a 30 s run push it past 75 %, where the client paces.
    env = make_env(stores=(2,), meta_usage_per_call=20.0, meta_report_processing_s=30.0)
    result = _ok(meta_sync.run_fill(env.engine, env.client(report_run_min_ads=1), now=T0))
    _truth(env, result)
    meter = result.runs[0].meter
    assert meter.pace_wait_s > 0 and meter.high_water_pct >= 75.0, (meter.pace_wait_s, meter.high_water_pct)
    paced_polls = [r for r in env.log("report_status") if r.outcome == "ok"]
    assert paced_polls and overlapping(env.log()) == []
    # 25 % a call and a 5 s wait budget: account read, range call, start, first poll reach 100 %,
    # and the pause before the next poll does not fit: the account stops, rate-limited, naming
    # the budget, while polling.
    env.sim.faults.update(meta_usage_per_call=25.0)
    env.sim.meta.usage.reset()
    env.sim.reset_stats()
    again = meta_sync.run_fill(env.engine, env.client(report_run_min_ads=1, wait_budget_s=5.0), now=T0)
    (outcome,) = again.report.outcomes
    assert outcome.status == "rate_limited", (outcome.status, outcome.error)
    assert outcome.error is not None and "beyond the 5 s wait budget" in outcome.error, outcome.error
    assert env.log()[-1].endpoint == "report_status"  # it stopped while polling
