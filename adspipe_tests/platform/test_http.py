"""The shared HTTP client base: retries, waits, budgets, deadlines, errors, masking, statistics."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

import httpx
import pytest

from adspipe.errors import AuthError, PermanentApiError, RateLimitExhausted, TransientApiError
from adspipe.platform.http import (
    CallerOutcome,
    CallStats,
    DeadlineReached,
    HttpClientBase,
    Outcome,
    full_jitter,
)
from adspipe_tests.clocks import FAKE_MONOTONIC_START, FakeClock

SECRET = "s3cr3t-token-value"
URL = "https://api.example.test/v1/thing"


def classify(response: httpx.Response) -> Outcome[dict[str, object]]:
    """A toy platform: 200 ok, 429 throttle (Retry-After), 401 auth, 400 permanent, 413 caller, 5xx transient."""
    status = response.status_code
    if status == 200:
        return Outcome.ok(response.json())
    if status == 429:
        after = response.headers.get("Retry-After")
        return Outcome.throttle("HTTP 429", wait_s=float(after) if after else None)
    if status == 401:
        return Outcome.auth(f"HTTP 401: {response.text}")
    if status == 413:
        return Outcome.caller("HTTP 413: ask for less", detail={"limit": 10})
    if status >= 500:
        return Outcome.transient(f"HTTP {status}: {response.text}")
    return Outcome.permanent(f"HTTP {status}: {response.text}")


def scripted(answers: list[httpx.Response | Exception]) -> Callable[[httpx.Request], httpx.Response]:
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler


def make(answers: list[httpx.Response | Exception], **fields: object) -> tuple[HttpClientBase, FakeClock]:
    clock = FakeClock()
    client = HttpClientBase(**fields).with_transport(  # type: ignore[arg-type]
        httpx.MockTransport(scripted(answers)),
        sleep=clock.sleep,
        monotonic=clock.monotonic,
        rng=random.Random(7),
    )
    return client, clock


def test_full_jitter_stays_within_its_bounds_and_is_reproducible_with_a_seed() -> None:
    rng = random.Random(42)
    draws = [[full_jitter(rng, attempt, 0.5, 8.0) for _ in range(200)] for attempt in range(1, 8)]
    for attempt, values in enumerate(draws, start=1):
        ceiling = min(8.0, 0.5 * 2 ** (attempt - 1))
        assert all(0.0 <= v <= ceiling for v in values)
        assert max(values) > ceiling * 0.9  # the whole range is used, not a fixed fraction
    again = random.Random(42)
    assert [full_jitter(again, 1, 0.5, 8.0) for _ in range(200)] == draws[0]


def test_transient_failures_back_off_with_full_jitter_then_succeed_and_are_counted() -> None:
    client, clock = make(
        [httpx.Response(503, text="busy"), httpx.ConnectError("refused"), httpx.Response(200, json={"a": 1})],
        backoff_base_s=2.0,
        backoff_cap_s=60.0,
    )
    session = client.http_session("acct 1")
    assert session.request("GET", URL, classify=classify) == {"a": 1}
    expected_rng = random.Random(7)
    expected = [full_jitter(expected_rng, 1, 2.0, 60.0), full_jitter(expected_rng, 2, 2.0, 60.0)]
    assert clock.sleeps == expected
    assert session.stats.api_calls == 3
    assert session.stats.retries == 2
    assert session.stats.waits_s == {"backoff": pytest.approx(sum(expected))}


def test_timeouts_and_transport_errors_are_transient_and_give_up_as_transient_api_error() -> None:
    client, _ = make(
        [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("cut"), httpx.ReadTimeout("slow")],
        max_transient_retries=2,
    )
    session = client.http_session("acct 2")
    with pytest.raises(TransientApiError, match=r"acct 2: timeout \(ReadTimeout\); gave up after 3 attempts"):
        session.request("GET", URL, classify=classify)
    assert session.stats.api_calls == 3 and session.stats.retries == 2


def test_a_throttle_waits_exactly_the_platform_delay_and_gives_up_as_rate_limit_exhausted() -> None:
    client, clock = make(
        [httpx.Response(429, headers={"Retry-After": "30"})] * 3, max_throttle_retries=2, wait_budget_s=1000
    )
    session = client.http_session("acct 3")
    with pytest.raises(RateLimitExhausted, match="still throttled after 2 retries"):
        session.request("GET", URL, classify=classify)
    assert clock.sleeps == [30.0, 30.0]
    assert session.stats.throttled == 3
    assert session.stats.waits_s == {"throttle": 60.0}
    assert session.stats.throttle_wait_s == 60.0


def test_backoff_too_takes_the_larger_of_the_delay_and_the_backoff() -> None:
    def throttle_small(response: httpx.Response) -> Outcome[int]:
        if response.status_code == 200:
            return Outcome.ok(1)
        return Outcome.throttle("busy", wait_s=0.001, backoff_too=True)

    client, clock = make([httpx.Response(429), httpx.Response(200)], backoff_base_s=4.0)
    assert client.http_session("a").request("GET", URL, classify=throttle_small) == 1
    assert clock.sleeps == [full_jitter(random.Random(7), 1, 4.0, 30.0)]


def test_a_wait_past_the_budget_is_refused_before_sleeping() -> None:
    client, clock = make([httpx.Response(429, headers={"Retry-After": "120"})], wait_budget_s=100)
    with pytest.raises(RateLimitExhausted, match="would pass the 100 s wait budget"):
        client.http_session("acct 4").request("GET", URL, classify=classify)
    assert clock.sleeps == []


def test_a_backoff_past_the_budget_is_a_transient_error() -> None:
    client, clock = make([httpx.Response(500)], wait_budget_s=0.0, backoff_base_s=1.0)
    with pytest.raises(TransientApiError, match="wait budget"):
        client.http_session("acct 5").request("GET", URL, classify=classify)
    assert clock.sleeps == []


def test_a_wait_past_the_deadline_is_refused_before_sleeping() -> None:
    client, clock = make([httpx.Response(429, headers={"Retry-After": "10"})])
    session = client.http_session("acct 6", deadline=FAKE_MONOTONIC_START + 5.0)
    with pytest.raises(DeadlineReached, match=r"time budget reached before a 10.0 s wait"):
        session.request("GET", URL, classify=classify)
    assert clock.sleeps == []


def test_pacing_waits_before_each_attempt_and_is_counted_apart() -> None:
    client, clock = make([httpx.Response(200, json={}), httpx.Response(200, json={})])
    session = client.http_session("acct 7")
    paces = iter([0.0, 2.5])
    for _ in range(2):
        session.request("GET", URL, classify=classify, pace=lambda: next(paces))
    assert clock.sleeps == [2.5]
    assert session.stats.waits_s == {"pace": 2.5}
    assert session.stats.throttle_wait_s == 2.5


@pytest.mark.parametrize(
    ("response", "error", "text"),
    [
        (httpx.Response(401, text="bad token"), AuthError, "acct: HTTP 401: bad token"),
        (httpx.Response(404, text="no such thing"), PermanentApiError, "acct: HTTP 404: no such thing"),
    ],
)
def test_auth_and_permanent_outcomes_raise_at_once(
    response: httpx.Response, error: type[Exception], text: str
) -> None:
    client, clock = make([response])
    session = client.http_session("acct")
    with pytest.raises(error) as raised:
        session.request("GET", URL, classify=classify)
    assert str(raised.value) == text
    assert session.stats.api_calls == 1 and clock.sleeps == []


def test_a_caller_outcome_reaches_the_platform_code_with_its_detail() -> None:
    client, _ = make([httpx.Response(413)])
    with pytest.raises(CallerOutcome) as raised:
        client.http_session("acct").request("GET", URL, classify=classify)
    assert raised.value.outcome.detail == {"limit": 10}


def test_secrets_are_masked_in_every_error_and_log_line(caplog: pytest.LogCaptureFixture) -> None:
    echo = f"invalid token {SECRET} (Bearer {SECRET})"
    client, _ = make([httpx.Response(500, text=echo), httpx.Response(401, text=echo)])
    session = client.http_session("acct", secrets=lambda: [SECRET])
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError) as raised:
        session.request("GET", URL, classify=classify, headers=lambda: {"Authorization": f"Bearer {SECRET}"})
    assert SECRET not in str(raised.value)
    assert "invalid token ***" in str(raised.value)
    assert caplog.records, "the retry was logged"
    assert all(SECRET not in r.getMessage() for r in caplog.records)


def test_headers_are_evaluated_per_attempt() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["x-n"])
        return httpx.Response(500 if len(seen) == 1 else 200, json={})

    client = HttpClientBase().with_transport(httpx.MockTransport(handler), sleep=lambda s: None)
    counter = iter(range(10))
    client.http_session("a").request(
        "GET", URL, classify=classify, headers=lambda: {"x-n": str(next(counter))}
    )
    assert seen == ["0", "1"]


def test_call_stats_merge_adds_counts_and_waits_by_kind() -> None:
    a = CallStats(api_calls=2, retries=1, throttled=1, waits_s={"backoff": 1.5}, api_version="v26")
    b = CallStats(
        api_calls=3, throttled=2, waits_s={"backoff": 0.5, "throttle": 30.0}, api_version_served="v26"
    )
    a.merge(b)
    assert (a.api_calls, a.retries, a.throttled) == (5, 1, 3)
    assert a.waits_s == {"backoff": 2.0, "throttle": 30.0}
    assert a.wait_s == 32.0
    assert (a.api_version, a.api_version_served) == ("v26", "v26")
