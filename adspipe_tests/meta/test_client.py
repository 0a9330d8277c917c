"""The Meta client against scripted answers (httpx.MockTransport): paging, pacing, every error kind."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from datetime import date
from urllib.parse import parse_qs, urlsplit

import dagster as dg
import httpx
import pydantic
import pytest

from adspipe.counters import SyncStats
from adspipe.errors import AuthError, PermanentApiError, RateLimitExhausted, TransientApiError
from adspipe.meta import report_runs, settings
from adspipe.meta.client import (
    DataTooLarge,
    MetaClient,
    MetaSession,
    Usage,
    UsageMeter,
    pace_wait,
    parse_usage,
)
from adspipe_tests.clocks import FakeClock

BASE = "http://graph.test"
TOKEN = "EAAsecret-token-123456"
DAY = date(2026, 3, 4)
Handler = Callable[[httpx.Request], httpx.Response]


def _error(code: int, status: int = 400, message: str = "boom", **extra: object) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"message": message, "type": "OAuthException", "code": code, **extra}}
    )


def _page(
    rows: list[dict[str, object]], next_url: str | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    body: dict[str, object] = {"data": rows}
    if next_url:
        body["paging"] = {"cursors": {"after": "x"}, "next": next_url}
    return httpx.Response(200, json=body, headers=headers or {})


def _row(ad: str) -> dict[str, object]:
    return {"ad_id": ad, "spend": "1.00", "date_start": DAY.isoformat(), "date_stop": DAY.isoformat()}


class Script:
    """Answers requests in order; records what was asked."""

    def __init__(self, *answers: httpx.Response | Handler | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer(request) if callable(answer) else answer

    def params(self, i: int) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(str(self.requests[i].url)).query).items()}


def _session(script: Script, waits: list[float], **config: object) -> MetaSession:
    client = MetaClient(graph_url=BASE, **config).with_transport(  # type: ignore[arg-type]
        transport=httpx.MockTransport(script), sleep=waits.append, rng=random.Random(7)
    )
    return client.session("act_42", TOKEN, SyncStats(), UsageMeter())


def test_pages_through_next_on_the_configured_host_with_the_token_only_in_a_header() -> None:
    leaked_next = f"https://graph.facebook.com/{settings.API_VERSION}/act_42/insights?access_token={TOKEN}&after=abc&limit=500&level=ad"
    script = Script(_page([_row("1"), _row("2")], leaked_next), _page([_row("3")]))
    waits: list[float] = []
    session = _session(script, waits)
    day = session.insights(DAY, level="ad")
    assert [r["ad_id"] for r in day.rows] == ["1", "2", "3"]
    assert (day.pages, session.stats.api_calls, session.meter.pages) == (2, 2, 2)
    first, second = script.params(0), script.params(1)
    assert str(script.requests[0].url).startswith(f"{BASE}/{settings.API_VERSION}/act_42/insights?")
    assert first["level"] == "ad" and first["time_increment"] == "1" and first["limit"] == "500"
    assert json.loads(first["time_range"]) == {"since": "2026-03-04", "until": "2026-03-04"}
    # The default filter keeps every Ad.EffectiveStatus: no past spend disappears with it.
    assert json.loads(first["filtering"]) == [
        {"field": "ad.effective_status", "operator": "IN", "value": list(settings.AD_EFFECTIVE_STATUSES)}
    ]
    assert len(settings.AD_EFFECTIVE_STATUSES) == 12
    assert (
        first["fields"]
        == "ad_id,adset_id,campaign_id,account_currency,spend,impressions,clicks,reach,actions,action_values"
    )
    # The next link is followed on our host, without its access_token.
    assert str(script.requests[1].url).startswith(f"{BASE}/{settings.API_VERSION}/act_42/insights?")
    assert second == {"after": "abc", "limit": "500", "level": "ad"}
    for request in script.requests:
        assert TOKEN not in str(request.url)
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert waits == []


def test_account_level_call_has_no_status_filter_and_account_info_is_read() -> None:
    script = Script(
        httpx.Response(
            200, json={"timezone_name": "America/New_York", "currency": "usd", "name": "Acme", "id": "act_42"}
        ),
        _page([{"spend": "10.00", "date_start": "2026-03-04", "date_stop": "2026-03-04"}]),
    )
    session = _session(script, [], statuses=["active"], attribution_windows=["7d_click", "1d_view"])
    info = session.account_info()
    assert (info.timezone, info.currency, info.name) == ("America/New_York", "USD", "Acme")
    assert script.params(0) == {"fields": "timezone_name,currency,name"}
    session.insights(DAY, level="account")
    params = script.params(1)
    assert params["level"] == "account" and "filtering" not in params
    assert json.loads(params["action_attribution_windows"]) == ["7d_click", "1d_view"]
    assert session.client.statuses == ["ACTIVE"]


def test_account_info_with_an_unknown_time_zone_is_refused() -> None:
    script = Script(httpx.Response(200, json={"timezone_name": "Mars/Olympus", "currency": "USD"}))
    with pytest.raises(PermanentApiError, match="act_42: unknown time zone 'Mars/Olympus' from Meta"):
        _session(script, []).account_info()


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80000, 80004])
def test_throttle_codes_back_off_with_jitter_and_then_succeed(code: int) -> None:
    script = Script(_error(code), _error(code), _page([_row("1")]))
    waits: list[float] = []
    session = _session(script, waits, backoff_base_s=2.0, backoff_cap_s=60.0)
    assert len(session.insights(DAY).rows) == 1
    assert len(waits) == 2
    assert 0 <= waits[0] <= 2.0 and 0 <= waits[1] <= 4.0  # full jitter under base * 2^(n-1)
    stats = session.stats
    assert (stats.throttled, stats.api_calls) == (2, 3)
    assert stats.throttle_wait_s == pytest.approx(sum(waits))
    assert session.meter.backoff_wait_s == pytest.approx(sum(waits))


def test_plain_429_is_a_throttle_and_regain_time_is_honoured() -> None:
    blocked = httpx.Response(
        429,
        text="Too Many Requests",
        headers={"X-Business-Use-Case-Usage": json.dumps(
            {"123": [{"type": "ads_insights", "call_count": 100, "total_cputime": 40, "total_time": 40,
                      "estimated_time_to_regain_access": 2}]})},
    )  # fmt: skip
    script = Script(blocked, _page([_row("1")]))
    waits: list[float] = []
    session = _session(script, waits, wait_budget_s=600)
    session.insights(DAY)
    assert waits == [120.0]  # 2 minutes, as Meta asked (more than the jittered backoff)
    assert session.stats.throttled == 1
    assert session.meter.high_water_pct == 100


def test_throttle_past_the_retries_raises_rate_limit_exhausted() -> None:
    script = Script(_error(80000, message="There have been too many calls"))
    waits: list[float] = []
    session = _session(script, waits, max_throttle_retries=3)
    with pytest.raises(
        RateLimitExhausted,
        match=r"act_42: Meta HTTP 400, code 80000: There have been too many calls; still throttled after 3 retries",
    ):
        session.insights(DAY)
    assert (len(waits), session.stats.api_calls, session.stats.throttled) == (3, 4, 4)


def test_throttle_beyond_the_wait_budget_stops_without_waiting() -> None:
    script = Script(_error(17), _page([_row("1")]))
    script.answers[0] = httpx.Response(
        400,
        json={"error": {"message": "User request limit reached", "code": 17, "error_subcode": 2446079}},
        headers={"X-Ad-Account-Usage": json.dumps({"acc_id_util_pct": 100, "reset_time_duration": 900})},
    )
    waits: list[float] = []
    session = _session(script, waits, wait_budget_s=300)
    with pytest.raises(
        RateLimitExhausted, match=r"code 17/2446079: User request limit reached; .*budget 300 s"
    ):
        session.insights(DAY)
    assert waits == []  # 900 s would not fit: fail now, the day stays for the next run


def test_code_190_is_an_auth_error_without_retry() -> None:
    script = Script(
        _error(190, message="Error validating access token: Session has expired", error_subcode=463)
    )
    waits: list[float] = []
    session = _session(script, waits)
    with pytest.raises(
        AuthError,
        match=r"act_42: Meta HTTP 400, code 190/463: Error validating access token: Session has expired: the access token was rejected",
    ):
        session.insights(DAY)
    assert (session.stats.api_calls, waits) == (1, [])


def test_code_1_retries_with_half_the_limit_and_keeps_it_for_later_pages() -> None:
    script = Script(
        _error(
            1,
            status=500,
            message="Please reduce the amount of data you're asking for, then retry your request",
        ),
        _error(1, status=500),
        _page([_row("1")], f"{BASE}/{settings.API_VERSION}/act_42/insights?after=p2&limit=500"),
        _page([_row("2")]),
    )
    waits: list[float] = []
    session = _session(script, waits)
    day = session.insights(DAY)
    assert [script.params(i)["limit"] for i in range(4)] == ["500", "250", "125", "125"]
    assert (len(day.rows), day.limit, session.meter.limit_reductions, waits) == (2, 125, 2, [])


def test_code_1_at_the_smallest_page_size_is_data_too_large_when_a_report_run_can_read_the_day() -> None:
    script = Script(_error(1, status=500), _error(1, status=500))
    waits: list[float] = []
    session = _session(script, waits, page_limit=50)
    with pytest.raises(DataTooLarge, match=r"^act_42: Meta HTTP 500, code 1: boom$"):
        session.insights(DAY, too_large=True)
    assert ([script.params(i)["limit"] for i in range(2)], session.stats.api_calls, waits) == (
        ["50", "25"],
        2,
        [],
    )


def test_code_1_on_a_post_is_transient_not_a_smaller_page() -> None:
    script = Script(_error(1, status=500), httpx.Response(200, json={"report_run_id": "123"}))
    waits: list[float] = []
    session = _session(script, waits)
    params = session.insights_params(DAY, "ad")
    assert session.call("act_42/insights", params, method="POST") == {"report_run_id": "123"}
    assert [script.params(i)["limit"] for i in range(2)] == ["500", "500"] and len(waits) == 1
    assert session.meter.limit_reductions == 0


def test_code_1_at_the_smallest_page_size_gives_up_as_transient() -> None:
    script = Script(_error(1, status=500))
    session = _session(script, [], page_limit=25, max_transient_retries=2)
    with pytest.raises(TransientApiError, match="code 1: boom; gave up after 3 attempts"):
        session.insights(DAY)


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (httpx.Response(503, text="<html>Service Unavailable</html>"), "HTTP 503"),
        (
            _error(2, status=500, message="An unexpected error has occurred"),
            "HTTP 500, code 2: An unexpected error",
        ),
        (httpx.ReadTimeout("read timed out"), r"timeout \(ReadTimeout\)"),
        (httpx.RemoteProtocolError("Server disconnected"), r"connection error \(RemoteProtocolError\)"),
        (httpx.Response(200, text='{"data": [{"ad_id": "1"'), "malformed response body"),
    ],
)
def test_transient_failures_retry_then_succeed_or_give_up(
    failure: httpx.Response | Exception, message: str
) -> None:
    recovered = Script(failure, failure, _page([_row("1")]))
    waits: list[float] = []
    session = _session(recovered, waits, max_transient_retries=3)
    assert len(session.insights(DAY).rows) == 1
    assert len(waits) == 2 and session.meter.transient_errors == 2 and session.stats.throttled == 0

    stuck = Script(failure)
    session = _session(stuck, [], max_transient_retries=3)
    with pytest.raises(TransientApiError, match=f"act_42: Meta {message}.*gave up after 4 attempts"):
        session.insights(DAY)
    assert len(stuck.requests) == 4


def test_other_errors_are_permanent_and_not_retried() -> None:
    script = Script(_error(100, message="Unsupported get request. Object with ID 'act_42' does not exist"))
    session = _session(script, [])
    with pytest.raises(PermanentApiError, match="code 100: Unsupported get request"):
        session.insights(DAY)
    assert len(script.requests) == 1


def test_a_data_answer_without_a_list_is_refused() -> None:
    script = Script(httpx.Response(200, json={"data": {"oops": 1}}))
    with pytest.raises(TransientApiError, match="insights answer has no list of rows"):
        _session(script, []).insights(DAY)


def test_a_next_link_that_loops_is_refused() -> None:
    loop = f"{BASE}/{settings.API_VERSION}/act_42/insights?after=same"
    script = Script(_page([_row("1")], loop))
    with pytest.raises(PermanentApiError, match="paging does not end"):
        _session(script, []).insights(DAY)


def test_usage_headers_pace_the_next_call_and_record_the_high_water_mark() -> None:
    hot = {"X-App-Usage": json.dumps({"call_count": 95, "total_time": 10, "total_cputime": 10})}
    script = Script(
        _page([_row("1")], f"{BASE}/{settings.API_VERSION}/act_42/insights?after=2", hot), _page([_row("2")])
    )
    waits: list[float] = []
    session = _session(script, waits, pace_start_pct=75, pace_max_s=20)
    session.insights(DAY)
    assert waits == [pytest.approx(20 * (20 / 25) ** 2)]  # 12.8 s before page 2
    assert session.meter.pace_wait_s == pytest.approx(12.8)
    assert session.meter.high_water_pct == 95
    # The last page's usage does not make anyone wait: no call follows.
    assert session.stats.throttle_wait_s == pytest.approx(12.8)


def test_parse_usage_reads_every_header_and_ignores_garbage() -> None:
    headers = {
        "x-app-usage": '{"call_count":28,"total_time":25,"total_cputime":25}',
        "x-ad-account-usage": '{"acc_id_util_pct":9.67,"reset_time_duration":100,"ads_api_access_tier":"standard_access"}',
        "x-business-use-case-usage": '{"1234":[{"type":"ads_insights","call_count":95,"total_cputime":20,"total_time":20,"estimated_time_to_regain_access":0}]}',
        "x-fb-ads-insights-throttle": '{"app_id_util_pct":71,"acc_id_util_pct":9}',
    }
    assert parse_usage(headers) == Usage(pct=95.0, regain_s=0.0)
    assert parse_usage({"x-ad-account-usage": '{"acc_id_util_pct":100,"reset_time_duration":300}'}) == Usage(
        100.0, 300.0
    )
    assert parse_usage({"x-app-usage": "not json", "x-business-use-case-usage": '{"1":"x"}'}) == Usage(
        0.0, 0.0
    )
    assert pace_wait(Usage(50, 0), start_pct=75, max_s=20) == 0
    assert pace_wait(Usage(100, 0), start_pct=75, max_s=20) == 20
    assert pace_wait(Usage(10, 90), start_pct=75, max_s=20) == 90


@pytest.mark.parametrize("window", ["7d_view", "28d_view"])
def test_removed_attribution_windows_are_refused_at_configuration(window: str) -> None:
    expected = f"attribution window\\(s\\) {window} are no longer returned by Meta \\(since 12 Jan 2026\\)"
    with pytest.raises(pydantic.ValidationError, match=expected):
        MetaClient(attribution_windows=["1d_click", window])

    @dg.op
    def uses_meta(meta: MetaClient) -> None:
        raise AssertionError("must not run")

    @dg.job(resource_defs={"meta": MetaClient()})
    def job() -> None:
        uses_meta()

    result = job.execute_in_process(
        run_config={"resources": {"meta": {"config": {"attribution_windows": [window]}}}},
        raise_on_error=False,
    )
    assert not result.success
    failure = (
        result.all_events[-1] if not result.get_step_failure_events() else result.get_step_failure_events()[0]
    )
    assert "are no longer returned by Meta" in str(failure.event_specific_data)


def test_other_bad_settings_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="unknown attribution window"):
        MetaClient(attribution_windows=["3d_click"])
    with pytest.raises(pydantic.ValidationError, match="statuses must name at least one"):
        MetaClient(statuses=[" "])
    with pytest.raises(pydantic.ValidationError, match="page_limit"):
        MetaClient(page_limit=5)


# -- asynchronous report runs (adspipe.meta.report_runs) on scripted answers -----------------------


def _run(status: str, percent: int, **extra: object) -> httpx.Response:
    return httpx.Response(
        200, json={"id": "77", "async_status": status, "async_percent_completion": percent, **extra}
    )


STARTED = httpx.Response(200, json={"report_run_id": "77"})


def _timed_session(script: Script, vt: FakeClock, **config: object) -> MetaSession:
    """A session whose waits move the clock it measures a run's elapsed time on."""
    client = MetaClient(graph_url=BASE, **config).with_transport(  # type: ignore[arg-type]
        transport=httpx.MockTransport(script), sleep=vt.sleep, monotonic=vt.monotonic, rng=random.Random(7)
    )
    return client.session("act_42", TOKEN, SyncStats())


def test_a_report_run_is_read_only_once_completed_at_100_percent() -> None:
    script = Script(STARTED, _run("Job Running", 40), _run("Job Completed", 95), _run("Job Completed", 100),
                    _page([_row("1"), _row("2")]))  # fmt: skip
    vt = FakeClock()
    day = report_runs.read_day(_timed_session(script, vt), DAY)
    assert (day.report_run_id, [r["ad_id"] for r in day.rows], day.pages) == ("77", ["1", "2"], 1)
    methods = [(r.method, urlsplit(str(r.url)).path) for r in script.requests]
    assert methods == [("POST", f"/{settings.API_VERSION}/act_42/insights")] + [
        ("GET", f"/{settings.API_VERSION}/77")
    ] * 3 + [("GET", f"/{settings.API_VERSION}/77/insights")]
    assert script.params(4) == {"limit": "500"}
    # The first backoff step; then 95 % after 1 s promises the end in 0.05 s: the shortest wait.
    assert vt.sleeps == [1.0, 0.25]


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ([httpx.Response(200, json={"id": "77"})], "act_42: starting a report run returned no report_run_id"),
        ([httpx.Response(200, json={"report_run_id": "../act_1"})], "returned no report_run_id"),
        ([STARTED, httpx.Response(200, json={"id": "77"})], "report run 77: the answer has no async_status"),
        ([STARTED, httpx.Response(200, json={"id": "77", "async_status": 7})], "has no async_status"),
    ],
)  # fmt: skip
def test_a_report_run_answer_without_its_id_or_status_fails_the_day(
    answers: list[httpx.Response], message: str
) -> None:
    with pytest.raises(TransientApiError, match=re.escape(message)):
        report_runs.read_day(_session(Script(*answers), []), DAY)


def test_failed_skipped_and_timed_out_runs_start_new_ones_then_the_day_fails() -> None:
    failed = _run("Job Failed", 0, error_code=-2, error_message="Generating the report failed.")
    script = Script(STARTED, failed, STARTED, _run("Job Skipped", 0), STARTED, _run("Job Running", 10))
    vt = FakeClock()
    session = _timed_session(script, vt, report_run_timeout_s=10.0, report_poll_max_s=4.0)
    with pytest.raises(report_runs.ReportRunFailed) as caught:
        report_runs.read_day(session, DAY)
    assert str(caught.value) == (
        f"act_42 {DAY}: 3 report run(s) did not complete: 77 Job Failed (code -2, Generating the report failed.); "
        "77 Job Skipped; 77 timeout (unfinished after 11 s)"
    )
    assert [r.method for r in script.requests].count("POST") == 3
    # The third run: 10 % after 1 s promises 9 s more, the backoff (1, 2, 4, 4 s) is shorter;
    # at 11 s the 10 s timeout has passed.
    assert vt.sleeps == [1.0, 2.0, 4.0, 4.0]
