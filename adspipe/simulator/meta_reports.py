"""Meta's asynchronous report runs (AdReportRun) in the simulator.

`POST act_X/insights` validates the parameters like the synchronous edge, takes the rows as of
that moment and answers `{"report_run_id": "<digits>"}`. `GET /{id}` answers the run's state as
time passes on the simulator's monotonic clock (the one its usage meters use, so a test's virtual
clock drives it): `Job Not Started` for the first 5 % of `meta_report_processing_s`, `Job Started`
until 15 %, `Job Running` with a growing `async_percent_completion`, then the final state:
`Job Completed` (100 %), or `Job Failed` (with Meta's v25.0+ error fields: code −2, subcode
2490547 "Report Failed") or `Job Skipped` when a fault knob says so (`meta_report_failures` /
`meta_report_skips`: the next N runs started; `meta_report_fail_days`: every run of those days).
`GET /{id}/insights` pages the rows like the synchronous edge; before completion it is an error.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adspipe.simulator.faults import Faults
from adspipe.simulator.util import stable_int

KEEP_RUNS = 10_000  # runs remembered (oldest forgotten first)
NODE_FIELDS = (
    "id", "account_id", "async_status", "async_percent_completion", "date_start", "date_stop", "is_running",
    "time_ref", "error_code", "error_subcode", "error_message", "error_user_title", "error_user_msg",
)  # fmt: skip
FAILED = {
    "error_code": -2,
    "error_subcode": 2490547,
    "error_message": "Generating the report failed. Try again later.",
    "error_user_title": "Report Failed",
    "error_user_msg": "Generating the report failed. Try again later.",
}


@dataclass
class ReportRun:
    id: str
    account: str  # act_…
    since: str
    until: str
    rows: list[dict[str, Any]]
    params: dict[str, str]
    started: float  # simulator monotonic seconds
    processing_s: float
    ending: str  # the final async_status


class ReportRuns:
    def __init__(self, seed: int, faults: Faults, monotonic: Callable[[], float]) -> None:
        self.seed, self.faults, self.monotonic = seed, faults, monotonic
        self._runs: OrderedDict[str, ReportRun] = OrderedDict()
        self._lock = threading.Lock()
        self._seq = 0

    def start(
        self, account: str, since: str, until: str, rows: list[dict[str, Any]], params: dict[str, str]
    ) -> str:
        f = self.faults
        with self._lock:
            self._seq += 1
            run_id = f"{stable_int(self.seed, 'report_run') % 9 + 1}{self._seq:015d}"
            ending = "Job Completed"
            if since in f.meta_report_fail_days:
                ending = "Job Failed"
            elif f.meta_report_failures > 0:
                f.meta_report_failures -= 1
                ending = "Job Failed"
            elif f.meta_report_skips > 0:
                f.meta_report_skips -= 1
                ending = "Job Skipped"
            run = ReportRun(run_id, account, since, until, rows, params, self.monotonic(),
                            max(0.0, f.meta_report_processing_s), ending)  # fmt: skip
            self._runs[run_id] = run
            while len(self._runs) > KEEP_RUNS:
                self._runs.popitem(last=False)
        return run_id

    def get(self, run_id: str) -> ReportRun | None:
        with self._lock:
            return self._runs.get(run_id)

    def state(self, run: ReportRun) -> tuple[str, int]:
        """(async_status, async_percent_completion) now."""
        elapsed = self.monotonic() - run.started
        if run.processing_s <= 0 or elapsed >= run.processing_s:
            return run.ending, 100 if run.ending == "Job Completed" else 0
        share = elapsed / run.processing_s
        percent = min(99, int(100 * share))
        if share < 0.05:
            return "Job Not Started", 0
        if share < 0.15:
            return "Job Started", percent
        return "Job Running", percent

    def node(self, run: ReportRun, fields: list[str]) -> dict[str, Any]:
        status, percent = self.state(run)
        values: dict[str, Any] = {
            "id": run.id, "account_id": run.account.removeprefix("act_"), "async_status": status,
            "async_percent_completion": percent, "date_start": run.since, "date_stop": run.until,
            "is_running": status not in ("Job Completed", "Job Failed", "Job Skipped"),
            "time_ref": int(run.started),
        }  # fmt: skip
        if status == "Job Failed":
            values.update(FAILED)
        wanted = fields or ["id", "async_status", "async_percent_completion"]
        return {name: values[name] for name in wanted if name in values} | {"id": run.id}


def meta_request_names(method: str, node: str, edge: str | None, params: dict[str, str]) -> tuple[str, str]:
    """The request log's endpoint and detail of a Meta request: insights calls name their level and
    span ("ad 2026-04-01..2026-04-01", " after" for a next page, " async" for a report run's start);
    report-run polls and result pages name the run."""
    after = " after" if params.get("after") else ""
    if not node.startswith("act_"):
        return ("report_insights", f"{node}{after}") if edge == "insights" else ("report_status", node)
    if edge != "insights":
        return ("account" if edge is None else edge), ""
    span = params.get("time_range", "")
    try:
        rng = json.loads(span)
        span = f"{rng.get('since')}..{rng.get('until')}"
    except (ValueError, AttributeError):
        pass
    if method == "POST":
        return "report_run", f"{params.get('level', '')} {span} async"
    return "insights", f"{params.get('level', '')} {span}{after}"
