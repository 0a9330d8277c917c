"""The fault suite for Meta's report runs: every fault kind while a run starts, is polled and read.

Every Meta day of the world's four accounts goes through report runs (synchronous answers over
8 rows are refused with code 1), with 5xx, timeouts, dropped connections, malformed bodies and
throttles drawn on every request, polls included. The request log proves the faults met the
report-run calls of each kind; the warehouse must equal the truth, every day committed once.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy.engine import Engine

from adspipe.clock import days_between
from adspipe.meta import sync as meta_sync
from adspipe.meta.client import MetaClient
from adspipe.simulator.server import overlapping
from adspipe_tests.clocks import FakeClock
from adspipe_tests.faults.harness import SEED, TOKEN_ENV, Compared, check_meta, register
from adspipe_tests.faults.test_faults import HANG_S, READ_TIMEOUT_S, SHARED_QUOTA_RATE, fault_knobs
from adspipe_tests.simulator_fixtures import FIXED_NOW, RunningSimulator

REPORT_ENDPOINTS = ("report_run", "report_status", "report_insights")


@pytest.mark.parametrize("warehouse_url", ["postgres"], indirect=True)
def test_report_runs_under_every_fault_kind_equal_truth(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    vt = FakeClock()
    faults = fault_knobs(
        scale=1.5, meta_sync_max_rows=8, meta_report_processing_s=60.0, meta_throttle_intensity=25.0
    )
    faults.update(fault_platforms={"meta"})
    running = make_simulator(seed=SEED, now=FIXED_NOW, monotonic=vt.slowed(SHARED_QUOTA_RATE), faults=faults)
    monkeypatch.setenv(TOKEN_ENV, "sim-token")
    world = register(engine, running.sim, shopify=False)
    client = MetaClient(read_timeout_s=READ_TIMEOUT_S, max_transient_retries=6, wait_budget_s=36_000.0,
                        report_run_min_ads=1)  # fmt: skip
    client.with_transport(sleep=vt.sleep, monotonic=vt.monotonic, rng=random.Random(SEED))
    assert HANG_S > READ_TIMEOUT_S
    result = meta_sync.run_fill(engine, client, now=FIXED_NOW)
    bad = [
        (o.connection.account_id, o.status, o.error) for o in result.report.outcomes if o.status != "success"
    ]
    assert bad == [], bad
    log = running.sim.request_log("meta")
    met = Counter(
        (r.endpoint, r.outcome) for r in log if r.endpoint in REPORT_ENDPOINTS and r.outcome != "ok"
    )
    for kind in ("5xx", "timeout", "drop", "malformed", "throttled"):
        assert met[("report_status", kind)] > 0, (kind, met)
    assert (
        sum(met[(e, k)] for e in ("report_run", "report_insights") for k in ("5xx", "drop", "malformed")) > 0
    )
    # One call at a time; a timed-out call still hangs in the simulator after the client gave up on
    # it (its end is logged late), so it is left out.
    assert overlapping([r for r in log if r.outcome != "timeout"], tolerance_s=1e-6) == []
    compared = Compared()
    for run in result.runs:
        account = run.connection.account_id
        window = meta_sync.fill_window(world.timezones[account], FIXED_NOW)
        assert run.dates == days_between(*window)
        check_meta(engine, running.sim, account, *window, compared)  # equal, no duplicate, raw = facts
    assert compared.diffs == [], compared.diffs[:10]
    starts = sum(r.endpoint == "report_run" and r.outcome == "ok" for r in log)
    print(f"\nREPORT RUN FAULTS {dict(met)}; {starts} runs started, {compared.rows} rows compared")
