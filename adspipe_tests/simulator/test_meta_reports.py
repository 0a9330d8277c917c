"""Meta's asynchronous report runs in the simulator (meta_reports.py), through the handler."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx

from adspipe.meta.settings import API_VERSION
from adspipe.simulator.faults import Faults
from adspipe.simulator.meta_api import REDUCE
from adspipe.simulator.server import Simulator
from adspipe_tests.clocks import FakeClock
from adspipe_tests.simulator.helpers import make_sim, meta
from adspipe_tests.simulator.test_meta_api import day_params
from adspipe_tests.simulator_fixtures import FIXED_NOW, RunningSimulator

STATUS_FIELDS = "id,async_status,async_percent_completion,error_code,error_message,error_subcode"
DAY = FIXED_NOW.date() - timedelta(days=3)


def _start(sim: Simulator, acct: str, **extra: Any) -> str:
    query = {
        k: (json.dumps(v) if isinstance(v, list | dict) else str(v))
        for k, v in day_params(DAY, **extra).items()
    }
    response = sim.meta.handle(API_VERSION, acct, "insights", query, {"authorization": "Bearer sim-token"},
                               "http://sim.test", "POST")  # fmt: skip
    body = json.loads(response.body)
    assert response.status == 200, body
    assert set(body) == {"report_run_id"} and body["report_run_id"].isdigit()
    return str(body["report_run_id"])


def _status(sim: Simulator, run_id: str) -> dict[str, Any]:
    response, body = meta(sim, run_id, None, fields=STATUS_FIELDS)
    assert response.status == 200 and response.account, body
    return body


def test_a_run_moves_through_its_states_over_the_processing_time_and_reads_like_the_sync_edge() -> None:
    vt = FakeClock()
    sim = make_sim(monotonic=vt, faults=Faults(meta_report_processing_s=100.0))
    acct = sim.world.stores[1].accounts[0].id
    run_id = _start(sim, acct)
    seen = []
    for at in (0, 4, 10, 50, 99, 100):
        vt.now = vt.now if at == 0 else vt.now + (at - seen[-1][0])
        body = _status(sim, run_id)
        seen.append((at, body["async_status"], body["async_percent_completion"]))
        assert body["id"] == run_id and "error_code" not in body
    assert [s[1:] for s in seen] == [
        ("Job Not Started", 0), ("Job Not Started", 0), ("Job Started", 10), ("Job Running", 50),
        ("Job Running", 99), ("Job Completed", 100),
    ]  # fmt: skip
    _, sync = meta(sim, acct, **day_params(DAY))
    _, first = meta(sim, run_id, "insights", limit=3)
    assert first["data"] == sync["data"][:3] and first["paging"]["next"].startswith(
        f"http://sim.test/meta/{API_VERSION}/{run_id}/insights?"
    )
    after = first["paging"]["cursors"]["after"]
    _, second = meta(sim, run_id, "insights", limit=500, after=after)
    assert first["data"] + second["data"] == sync["data"] and "next" not in second.get("paging", {})


def test_results_before_completion_and_unknown_fields_are_errors() -> None:
    vt = FakeClock()
    sim = make_sim(monotonic=vt, faults=Faults(meta_report_processing_s=10.0))
    acct = sim.world.stores[1].accounts[0].id
    run_id = _start(sim, acct)
    response, body = meta(sim, run_id, "insights", limit=25)
    assert (response.status, body["error"]["code"]) == (400, 100)
    assert "is not complete (Job Not Started)" in body["error"]["message"]
    response, body = meta(sim, run_id, None, fields="async_state")
    assert (response.status, body["error"]["code"]) == (400, 100) and "(async_state)" in body["error"][
        "message"
    ]
    query = {k: str(v) for k, v in {"level": "ad", "fields": "spends"}.items()}
    bad = sim.meta.handle(
        API_VERSION, acct, "insights", query, {"authorization": "Bearer sim-token"}, "http://sim.test", "POST"
    )
    assert bad.status == 400 and json.loads(bad.body)["error"]["code"] == 100


def test_failures_skips_and_failing_days_end_runs_as_told() -> None:
    vt = FakeClock()
    sim = make_sim(
        monotonic=vt, faults=Faults(meta_report_processing_s=1.0, meta_report_failures=1, meta_report_skips=1)
    )
    acct = sim.world.stores[1].accounts[0].id
    runs = [_start(sim, acct) for _ in range(3)]
    sim.faults.update(meta_report_fail_days={DAY.isoformat()})
    runs.append(_start(sim, acct))
    vt.sleep(1.0)
    ends = [_status(sim, r) for r in runs]
    assert [e["async_status"] for e in ends] == ["Job Failed", "Job Skipped", "Job Completed", "Job Failed"]
    assert {k: ends[0][k] for k in ("error_code", "error_subcode", "error_message")} == {
        "error_code": -2, "error_subcode": 2490547, "error_message": "Generating the report failed. Try again later.",
    }  # fmt: skip
    assert "error_code" not in ends[1] and "error_code" not in ends[2]
    assert (sim.faults.meta_report_failures, sim.faults.meta_report_skips) == (0, 0)
    response, _ = meta(sim, runs[0], "insights", limit=25)
    assert response.status == 400


def test_a_synchronous_answer_past_the_size_limit_is_code_1_whatever_the_page() -> None:
    sim = make_sim(faults=Faults(meta_sync_max_rows=3))
    acct = sim.world.stores[1].accounts[0].id
    for limit in (500, 25, 1):
        response, body = meta(sim, acct, **day_params(DAY, limit=limit))
        assert (response.status, body["error"]["code"], body["error"]["message"]) == (500, 1, REDUCE)
    response, body = meta(sim, acct, **day_params(DAY, level="account"))
    assert response.status == 200 and len(body["data"]) == 1  # a small answer still reads
    assert _start(sim, acct)  # and the report run accepts the large one


def test_over_http_a_start_takes_a_form_body_and_the_log_names_each_call(
    make_simulator: Callable[..., RunningSimulator],
) -> None:
    running = make_simulator(faults=Faults(meta_report_processing_s=0.0))
    acct = running.sim.world.stores[1].accounts[0].id
    base = f"{running.meta_graph_url}/{API_VERSION}"
    form = {k: (json.dumps(v) if isinstance(v, list | dict) else str(v)) for k, v in day_params(DAY).items()}
    auth = {"Authorization": "Bearer sim-token"}
    started = httpx.post(f"{base}/{acct}/insights", data=form, headers=auth)
    run_id = started.json()["report_run_id"]
    status = httpx.get(f"{base}/{run_id}", params={"fields": "async_status"}, headers=auth).json()
    rows = httpx.get(f"{base}/{run_id}/insights", params={"limit": "500"}, headers=auth).json()["data"]
    synchronous = httpx.get(f"{base}/{acct}/insights", params=form, headers=auth).json()["data"]
    assert (status["async_status"], rows) == ("Job Completed", synchronous) and rows
    log = [(r.endpoint, r.account, r.detail) for r in running.sim.request_log("meta")]
    span = f"{DAY}..{DAY}"
    assert log == [("report_run", acct, f"ad {span} async"), ("report_status", acct, run_id),
                   ("report_insights", acct, run_id), ("insights", acct, f"ad {span}")]  # fmt: skip
