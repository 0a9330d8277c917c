"""Agency mode against the simulator over HTTP: up to K ad accounts at once, each account serial
and oldest first (the simulator's request log), across one run and across concurrent runs; the
default (K = 1) keeps every Meta call serial."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine

from adspipe.meta import sync
from adspipe.meta.client import MetaClient
from adspipe.platform.account_lock import account_turn
from adspipe.simulator.faults import Faults
from adspipe.simulator.server import RequestRecord, overlapping
from adspipe_tests.faults.harness import TOKEN_ENV, register
from adspipe_tests.simulator_fixtures import FIXED_NOW, TOKEN, RunningSimulator

NOW = FIXED_NOW.astimezone(UTC)
LATENCY_S = 0.03


def most_in_flight(log: Iterable[RequestRecord]) -> int:
    """The largest number of requests in flight at one instant."""
    events = sorted([(r.t_in, 1) for r in log] + [(r.t_out, -1) for r in log], key=lambda e: (e[0], e[1]))
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def per_account_overlaps(log: list[RequestRecord]) -> dict[str, list[tuple[int, int]]]:
    accounts = {r.account for r in log}
    found = {a: overlapping([r for r in log if r.account == a]) for a in accounts}
    return {a: pairs for a, pairs in found.items() if pairs}


def _days_in_order(log: list[RequestRecord]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for record in sorted(log, key=lambda r: r.t_in):
        day = record.ad_level_day
        if day is not None:
            out.setdefault(record.account, []).append(day)
    return out


@pytest.fixture
def agency_sim(
    make_simulator: Callable[..., RunningSimulator], engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> RunningSimulator:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    running = make_simulator(stores=5, faults=Faults(meta_latency_s=LATENCY_S))
    register(engine, running.sim, shopify=False)
    return running


def _client(running: RunningSimulator, k: int) -> MetaClient:
    return MetaClient(graph_url=running.meta_graph_url, account_concurrency=k)


def test_agency_mode_runs_k_accounts_at_once_each_serial_and_oldest_first(
    agency_sim: RunningSimulator, engine: Engine
) -> None:
    result = sync.run_fresh(engine, _client(agency_sim, 3), now=NOW)
    log = agency_sim.sim.request_log("meta")
    accounts = {r.account for r in log}
    assert len(accounts) >= 5 and [o.status for o in result.report.outcomes] == ["success"] * len(accounts)
    assert per_account_overlaps(log) == {}
    assert 1 < most_in_flight(log) <= 3
    for account, days in _days_in_order(log).items():
        assert days == sorted(days) and len(days) == len(set(days)), account
    assert {o.stats.throttled for o in result.report.outcomes} == {0}


def test_the_default_keeps_every_meta_call_serial(agency_sim: RunningSimulator, engine: Engine) -> None:
    client = MetaClient(graph_url=agency_sim.meta_graph_url)
    assert client.account_concurrency == 1
    sync.run_fresh(engine, client, now=NOW)
    log = agency_sim.sim.request_log("meta")
    assert len(log) > 20 and overlapping(log) == [] and most_in_flight(log) == 1


def test_concurrent_runs_never_call_one_account_at_once_and_share_the_k_slots(
    agency_sim: RunningSimulator, engine: Engine
) -> None:
    """Two runs (a fill and a fresh over the same accounts, as two Dagster runs would) with K = 2:
    the account turns keep each account to one run at a time and at most two accounts in all."""
    errors: list[BaseException] = []

    def run(job: Callable[..., sync.MetaResult]) -> None:
        try:
            result = job(engine, _client(agency_sim, 2), now=NOW)
            assert not result.report.failed
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in (sync.run_fill, sync.run_fresh)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    log = agency_sim.sim.request_log("meta")
    assert per_account_overlaps(log) == {}
    assert most_in_flight(log) <= 2


def test_an_account_turn_is_exclusive_and_slots_are_bounded(engine: Engine) -> None:
    inside: list[str] = []
    most = [0]
    guard = threading.Lock()

    def take(account: str) -> None:
        with account_turn(engine, "meta", account, 2):
            with guard:
                inside.append(account)
                most[0] = max(most[0], len(inside))
                assert inside.count(account) == 1
            threading.Event().wait(0.05)
            with guard:
                inside.remove(account)

    threads = [
        threading.Thread(target=take, args=(a,)) for a in ["act_1", "act_1", "act_2", "act_3", "act_1"]
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert inside == [] and most[0] == 2


def test_a_run_that_dies_gives_its_account_back(engine: Engine) -> None:
    with pytest.raises(RuntimeError), account_turn(engine, "meta", "act_9", 1):
        raise RuntimeError("the run crashed")
    started = datetime.now(UTC)
    with account_turn(engine, "meta", "act_9", 1) as slot:
        assert slot == 0
    assert (datetime.now(UTC) - started).total_seconds() < 2


def test_a_killed_holder_frees_its_account_and_its_slot(engine: Engine) -> None:
    """SIGKILL a process holding an account's turn (and the only slot): the next taker gets both."""
    url = engine.url.render_as_string(hide_password=False)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, url], stdout=subprocess.PIPE, text=True, env={**os.environ}
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        taken = threading.Event()

        def take() -> None:
            with account_turn(engine, "meta", "act_7", 1):
                taken.set()

        waiter = threading.Thread(target=take)
        waiter.start()
        assert not taken.wait(0.5)  # held by the other process
        holder.send_signal(signal.SIGKILL)
        assert taken.wait(10)
        waiter.join(5)
    finally:
        holder.kill()
        holder.wait()


HOLD = """
import sys, time
import sqlalchemy as sa
from adspipe.platform.account_lock import account_turn
turn = account_turn(sa.create_engine(sys.argv[1]), "meta", "act_7", 1)
turn.__enter__()
print("held", flush=True)
time.sleep(120)
"""


def test_the_concurrency_setting_reaches_the_client_and_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADSPIPE_META_CONCURRENCY", "8")
    assert MetaClient().account_concurrency == 8
    for bad, message in (("0", "between 1 and 64"), ("65", "between 1 and 64"), ("eight", "whole number")):
        monkeypatch.setenv("ADSPIPE_META_CONCURRENCY", bad)
        with pytest.raises(ValueError, match=f"ADSPIPE_META_CONCURRENCY must be .*{message}"):
            MetaClient()
    monkeypatch.delenv("ADSPIPE_META_CONCURRENCY")
    assert MetaClient().account_concurrency == 1
