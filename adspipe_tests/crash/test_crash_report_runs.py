"""The crash suite for Meta's report runs: SIGKILL the asset chain while it polls a report run.

The simulator refuses every synchronous ad-level day (more than 10 rows → code 1), so each day
is a report run (0.3 s of processing, real time); the worker (`adspipe_tests.crash.worker`) is
killed after the k-th status poll was served. Then: no half-written day (the parity rules pass,
every committed day equals its truth, the days committed are a prefix), the cursor untouched;
the next run starts one new report run a day (the abandoned one is left to Meta, never read) and
the warehouse equals the truth with no duplicate row.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.meta import sync as meta_sync
from adspipe.meta.client import MetaClient
from adspipe.simulator.faults import Faults
from adspipe.warehouse import cursors
from adspipe.warehouse.schema import fact_meta_daily
from adspipe_tests.crash.test_crash import (
    SEED,
    _consistent,
    _cursor,
    _figures,
    _iso,
    _kill_after,
    _meta_account_days,
)
from adspipe_tests.faults.harness import TOKEN_ENV, Compared, check_meta, register
from adspipe_tests.faults.platforms import ok
from adspipe_tests.simulator_fixtures import FIXED_NOW, RunningSimulator

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.parametrize("warehouse_url", ["postgres"], indirect=True),
]
POLL_KILL_POINTS = [(1, 0.0), (7, 0.01), (16, 0.0)]
POLL_S = 0.1
DAYS = [date(2026, 3, 1) + timedelta(days=i) for i in range(10)]


def _committed(engine: Engine, account: str) -> list[date]:
    facts = fact_meta_daily
    where = sa.and_(facts.c.ad_account_id == account, facts.c.date.between(DAYS[0], DAYS[-1]))
    with engine.connect() as db:
        return sorted(db.execute(sa.select(facts.c.date).where(where).distinct()).scalars())


@pytest.mark.parametrize(
    ("polls", "extra_s"), POLL_KILL_POINTS, ids=[f"after-{p}-polls" for p, _ in POLL_KILL_POINTS]
)
def test_meta_killed_while_polling_a_report_run_resumes_to_truth(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch,
    record_property: Callable[[str, object], None], polls: int, extra_s: float,
) -> None:  # fmt: skip
    monkeypatch.setenv(TOKEN_ENV, "sim-token")
    faults = Faults(meta_sync_max_rows=10, meta_report_processing_s=0.3)
    sim = make_simulator(seed=SEED, stores=2, ads_per_account=40, now=FIXED_NOW, faults=faults).sim
    ((account, connection),) = register(engine, sim, stores=[1], shopify=False).accounts.items()
    client, now = MetaClient(report_poll_first_s=POLL_S), sim.clock.now()
    ok(meta_sync.run_fill(engine, client, now=now))  # a cursor exists: the chain leaves it alone
    before = _cursor(engine, connection.connection_id, cursors.META_WINDOW_END)
    sim.reset_stats()

    def polls_served() -> int:
        return sum(1 for r in sim.request_log("meta") if r.endpoint == "report_status" and r.outcome == "ok")

    args = ["meta_dates", "--now", _iso(now), "--since", str(DAYS[0]), "--until", str(DAYS[-1]),
            "--report-poll-s", str(POLL_S)]  # fmt: skip
    assert _kill_after(sim, args, polls_served, polls, extra_s) == -signal.SIGKILL
    started = [r.ad_level_day for r in sim.request_log("meta") if r.endpoint == "report_run"]
    assert before is not None and _cursor(engine, connection.connection_id, cursors.META_WINDOW_END) == before
    _consistent(engine)
    committed = _committed(engine, account)
    # Oldest first, one transaction a day: a prefix, each day whole (its account-level row too).
    assert committed == DAYS[: len(committed)] and len(committed) < len(DAYS)
    assert _meta_account_days(engine, account, DAYS[0], DAYS[-1]) == committed
    partial = Compared()
    for day in committed:
        check_meta(engine, sim, account, day, day, partial)
    assert partial.diffs == []
    # Killed while polling: the first uncommitted day's run was started (the day after it may be
    # in flight too, read one ahead while the day is written).
    interrupted = DAYS[len(committed)].isoformat()
    assert interrupted in started and started[-1] >= interrupted

    sim.reset_stats()
    ok(meta_sync.run_dates(engine, client, DAYS, now=now))
    # One new run a day, the interrupted ones included (an abandoned run is left to Meta).
    assert [r.ad_level_day for r in sim.request_log("meta") if r.endpoint == "report_run"] == [
        d.isoformat() for d in DAYS
    ]
    assert _cursor(engine, connection.connection_id, cursors.META_WINDOW_END) == before
    _consistent(engine)
    compared = Compared()
    check_meta(engine, sim, account, DAYS[0], DAYS[-1], compared)  # also: no duplicate key, raw = facts
    assert compared.diffs == []
    _figures(record_property, suite="meta_report_runs", kill_after_polls=polls, extra_s=extra_s,
             report_runs_before_kill=len(started), days_committed_at_kill=len(committed),
             rows_compared=compared.rows + partial.rows)  # fmt: skip
