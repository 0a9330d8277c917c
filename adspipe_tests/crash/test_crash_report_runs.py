"""The crash suite for Meta's report runs: SIGKILL the asset chain while it polls a report run.

The simulator refuses every synchronous ad-level day (more than 10 rows → code 1), so each day
is a report run (0.3 s of processing, real time); the worker (`adspipe_tests.crash.worker`) is
killed after the k-th status poll was served. Then: no half-written day (the parity rules pass,
every committed day equals its truth, the days committed are a prefix), the cursor untouched;
the next run starts a new report run for the interrupted day (the abandoned one is left to Meta)
and the warehouse equals the truth with no duplicate row.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from sqlalchemy.engine import Engine

from adspipe.meta import sync as meta_sync
from adspipe.meta.client import MetaClient
from adspipe.simulator.faults import Faults
from adspipe_tests.crash.test_crash import (
    _consistent,
    _figures,
    _iso,
    _kill_after,
    meta_after_kill,
    meta_filled,
)
from adspipe_tests.faults.harness import TOKEN_ENV, Compared, check_meta
from adspipe_tests.simulator_fixtures import RunningSimulator

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.parametrize("warehouse_url", ["postgres"], indirect=True),
]
POLL_KILL_POINTS = [(1, 0.0), (7, 0.01), (16, 0.0)]
POLL_S = 0.1


@pytest.mark.parametrize(
    ("polls", "extra_s"), POLL_KILL_POINTS, ids=[f"after-{p}-polls" for p, _ in POLL_KILL_POINTS]
)
def test_meta_killed_while_polling_a_report_run_resumes_to_truth(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch,
    record_property: Callable[[str, object], None], polls: int, extra_s: float,
) -> None:  # fmt: skip
    monkeypatch.setenv(TOKEN_ENV, "sim-token")
    client = MetaClient(report_poll_first_s=POLL_S)
    faults = Faults(meta_sync_max_rows=10, meta_report_processing_s=0.3)
    sim, account, connection, before = meta_filled(engine, make_simulator, faults, client)
    now = sim.clock.now()
    first, last = date(2026, 3, 1), date(2026, 3, 10)
    days = [first + timedelta(days=i) for i in range(10)]
    sim.reset_stats()

    def polls_served() -> int:
        return sum(1 for r in sim.request_log("meta") if r.endpoint == "report_status" and r.outcome == "ok")

    args = ["meta_dates", "--now", _iso(now), "--since", str(first), "--until", str(last),
            "--report-poll-s", str(POLL_S)]  # fmt: skip
    code = _kill_after(sim, args, polls_served, polls, extra_s)
    assert code == -signal.SIGKILL
    started = [r.ad_level_day for r in sim.request_log("meta") if r.endpoint == "report_run"]
    assert started, "the kill landed before any report run"
    committed, partial = meta_after_kill(
        engine, sim, account, connection.connection_id, before, days[0], days[-1]
    )
    # Killed while polling: the first uncommitted day's run was started (the day after it may be
    # in flight too, read one ahead while the day is written).
    interrupted = days[len(committed)]
    assert interrupted.isoformat() in started and started[-1] >= interrupted.isoformat()

    sim.reset_stats()
    resumed = meta_sync.run_dates(engine, client, days, now=now)
    assert resumed.report.failed == []
    restarted = [r.ad_level_day for r in sim.request_log("meta") if r.endpoint == "report_run"]
    # One new run a day, the interrupted ones included (an abandoned run is left to Meta).
    assert restarted == [d.isoformat() for d in days]
    _consistent(engine)
    compared = Compared()
    check_meta(engine, sim, account, first, last, compared)  # also: no duplicate key, raw = facts
    assert compared.diffs == []
    _figures(record_property, suite="meta_report_runs", kill_after_polls=polls, extra_s=extra_s,
             report_runs_before_kill=len(started), days_committed_at_kill=len(committed),
             rows_compared=compared.rows + partial.rows)  # fmt: skip
