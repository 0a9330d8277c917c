"""Contract: the asynchronous report-run requests adspipe sends are ones Meta's official SDK builds.

Captured from a real sync against the simulator whose synchronous answers are too large (code 1),
so every day goes through a report run, and rebuilt through `facebook-business` (pinned in
requirements/contract.txt) with the SDK's warnings made errors:

- the start, `POST act_X/insights`: `AdAccount(id).get_insights_async(fields, params, pending=True)`;
  every parameter one that call declares, and exactly the synchronous read's parameters (the
  checks of test_meta_sdk.py on fields, level, windows and the status filter apply too);
- the poll, `GET /{report_run_id}`: `AdReportRun(id).api_get(fields, pending=True)`, every field
  in `AdReportRun.Field` (async_status, async_percent_completion, error_* since v25.0);
- the results, `GET /{report_run_id}/insights`: `AdReportRun(id).get_insights(pending=True)`; its
  only parameter `limit` (the SDK's `get_result` takes it) besides the paging cursor.

The SDK does not list `async_status` values; adspipe's come from Meta's Marketing API docs
(Job Not Started / Started / Running / Completed / Failed / Skipped), checked in the simulator.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from sqlalchemy.engine import Engine

from adspipe.meta import settings
from adspipe.meta import sync as meta_sync
from adspipe.simulator.faults import Faults
from adspipe.warehouse import connections as conns
from adspipe_tests.clocks import FakeClock
from adspipe_tests.contracts.test_meta_sdk import (
    LA,
    TRANSPORT_PARAMS,
    Sent,
    _enum_values,
    check_with_sdk,
    sdk,
)
from adspipe_tests.faults.harness import TOKEN_ENV, meta_client
from adspipe_tests.simulator_fixtures import RunningSimulator

__all__ = ["sdk"]  # the fixture, shared with test_meta_sdk.py
DAYS = [date(2026, 4, 7), date(2026, 4, 8)]


@dataclass(frozen=True)
class Call:
    method: str
    path: list[str]  # after the version
    params: dict[str, str]


class Recording(httpx.BaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.calls: list[Call] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = urlsplit(str(request.url))
        parts = url.path.strip("/").split("/")
        at = parts.index(settings.API_VERSION)
        self.calls.append(
            Call(request.method, parts[at + 1 :], dict(parse_qsl(url.query, keep_blank_values=True)))
        )
        return self.inner.handle_request(request)


@pytest.fixture
def report_run_calls(
    sdk: Any, engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> list[Call]:
    recording, vt = Recording(), FakeClock()
    running = make_simulator(
        monotonic=vt,
        faults=Faults(meta_throttle_intensity=0, meta_sync_max_rows=5, meta_report_processing_s=5),
    )
    monkeypatch.setenv(TOKEN_ENV, "sim-token")
    with engine.begin() as db:
        conns.connect(db, store="Pioneer Botanicals", platform="meta", account_id=LA, token_env=TOKEN_ENV,
                      attribution_windows=("7d_click", "1d_view"))  # fmt: skip
    client = meta_client(vt, page_limit=settings.MIN_PAGE_LIMIT)
    client.with_transport(transport=recording, sleep=vt.sleep, monotonic=vt.monotonic)
    result = meta_sync.run_dates(engine, client, DAYS, now=running.sim.clock.now())
    assert [o.status for o in result.report.outcomes] == ["success"], result.report.outcomes[0].error
    return recording.calls


def _strict(build: Callable[..., Any], **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the SDK only warns on what it does not accept
        return build(pending=True, **kwargs)


def test_report_run_requests_are_ones_the_sdk_builds(sdk: Any, report_run_calls: list[Call]) -> None:
    from facebook_business.adobjects.adaccount import AdAccount
    from facebook_business.adobjects.adreportrun import AdReportRun
    from facebook_business.adobjects.adsinsights import AdsInsights
    from facebook_business.api import FacebookAdsApi

    api = FacebookAdsApi.init(access_token="x", api_version=settings.API_VERSION)
    starts = [c for c in report_run_calls if c.method == "POST"]
    polls = [c for c in report_run_calls if c.method == "GET" and len(c.path) == 1 and c.path[0].isdigit()]
    results = [c for c in report_run_calls if len(c.path) == 2 and c.path[0].isdigit()]
    assert len(starts) == len(DAYS) and len(polls) >= len(DAYS) and len(results) >= len(DAYS), (
        report_run_calls
    )
    assert all(c.path == [LA, "insights"] for c in starts)
    synchronous = [c for c in report_run_calls if c.method == "GET" and c.path == [LA, "insights"]
                   and c.params.get("level") == "ad" and "after" not in c.params]  # fmt: skip
    for start in starts:
        # The very parameters of the synchronous read (the first day's first, refused, call; the
        # second day goes straight to a report run), but the day.
        assert synchronous, report_run_calls
        same = {
            **synchronous[0].params,
            "time_range": start.params["time_range"],
            "limit": start.params["limit"],
        }
        assert start.params == same, (start.params, same)
        fields = start.params["fields"].split(",")
        params = {k: json.loads(v) if k in ("time_range", "filtering", "action_attribution_windows") else v
                  for k, v in start.params.items() if k not in ("fields", *TRANSPORT_PARAMS)}  # fmt: skip
        request = _strict(AdAccount(LA, api=api).get_insights_async, fields=list(fields), params=dict(params))
        assert request._method == "POST" and request._target_class is AdReportRun
        checker = request._param_checker
        assert sorted(k for k in params if not checker.is_valid_key(k)) == []
        assert set(fields) <= _enum_values(AdsInsights.Field)
        check_with_sdk(Sent(settings.API_VERSION, LA, "insights", start.params), sdk)
    for poll in polls:
        assert set(poll.params) - TRANSPORT_PARAMS == {"fields"}, poll
        fields = poll.params["fields"].split(",")
        request = _strict(AdReportRun(poll.path[0], api=api).api_get, fields=list(fields))
        assert request.get_fields() == fields
        assert set(fields) <= _enum_values(AdReportRun.Field), sorted(
            set(fields) - _enum_values(AdReportRun.Field)
        )
        assert {"async_status", "async_percent_completion"} <= set(fields)
    for page in results:
        assert set(page.params) - TRANSPORT_PARAMS == {"limit"}, page
        request = _strict(
            AdReportRun(page.path[0], api=api).get_insights, params={"limit": page.params["limit"]}
        )
        assert request._target_class is AdsInsights and request._endpoint == "insights"


def test_the_poll_fields_and_statuses_are_the_sdks_and_metas(sdk: Any) -> None:
    from facebook_business.adobjects.adreportrun import AdReportRun

    assert set(settings.REPORT_RUN_FIELDS) <= _enum_values(AdReportRun.Field)
    assert AdReportRun._field_types["async_status"] == "string"
    assert AdReportRun._field_types["async_percent_completion"] == "unsigned int"
    assert AdReportRun._field_types["error_code"] == "int"  # int since v25.0 (it was uint)
    assert settings.ASYNC_STATUSES == (
        "Job Not Started", "Job Started", "Job Running", "Job Completed", "Job Failed", "Job Skipped",
    )  # fmt: skip


def test_the_report_run_checks_can_fail(sdk: Any) -> None:
    from facebook_business.adobjects.adaccount import AdAccount
    from facebook_business.adobjects.adreportrun import AdReportRun
    from facebook_business.api import FacebookAdsApi

    api = FacebookAdsApi.init(access_token="x", api_version=settings.API_VERSION)
    start = _strict(AdAccount(LA, api=api).get_insights_async, fields=["spend"], params={"level": "ad"})
    assert not start._param_checker.is_valid_key("status_filter")  # an unknown parameter of the start
    assert start._param_checker.is_valid_key("time_range") and start._param_checker.is_valid_key("limit")
    assert "async_state" not in _enum_values(AdReportRun.Field)  # a misspelt poll field
    with pytest.raises(UserWarning, match="level"):
        _strict(AdAccount(LA, api=api).get_insights_async, fields=["spend"], params={"level": "ads"})
