"""The Google Ads client against the simulator (over HTTP) and against scripted answers (MockTransport)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from adspipe.errors import AuthError, PermanentApiError, TransientApiError
from adspipe.google_ads import settings
from adspipe.google_ads.client import GoogleAdsClient, GoogleAdsSession
from adspipe.google_ads.transforms import ad_fact
from adspipe.simulator.clock import SimClock
from adspipe.simulator.server import Simulator, SimulatorHandle, run_simulator
from adspipe_tests.clocks import FakeClock

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SECRETS = {
    "GOOGLE_ADS_DEVELOPER_TOKEN": "sim-developer-token",
    "GOOGLE_ADS_CLIENT_ID": "sim-client-id",
    "GOOGLE_ADS_CLIENT_SECRET": "sim-client-secret",
    "SIM_REFRESH": "sim-refresh-token",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Simulator, SimulatorHandle]]:
    sim = Simulator(seed=5, clock=SimClock(NOW, speed=0))
    with run_simulator(sim) as handle:
        yield sim, handle


@pytest.fixture
def sim(served: tuple[Simulator, SimulatorHandle], env: None) -> Iterator[Simulator]:
    simulator = served[0]
    simulator.clock.set(NOW)
    simulator.google_ads.faults.update(quota_errors=0, revoked_refresh_tokens=[])
    yield simulator


def on_sim(handle: SimulatorHandle, clock: FakeClock, **fields: Any) -> GoogleAdsClient:
    client = GoogleAdsClient(api_url=handle.google_ads_url, oauth_url=handle.google_oauth_url, **fields)
    return client.with_transport(None, sleep=clock.sleep, monotonic=clock.monotonic)


@pytest.fixture
def client(served: tuple[Simulator, SimulatorHandle], sim: Simulator) -> tuple[GoogleAdsClient, FakeClock]:
    clock = FakeClock()
    return on_sim(served[1], clock), clock


def session_for(client: GoogleAdsClient, sim: Simulator, customer_index: int) -> GoogleAdsSession:
    customer = sim.google_ads.world.customers[customer_index]
    manager = sim.google_ads.world.manager_id if customer.managed else None
    return client.session(refresh_token_env="SIM_REFRESH", login_customer_id=manager)


def test_spend_to_the_cent_and_conversions_exact_across_three_time_zones(
    client: tuple[GoogleAdsClient, FakeClock], sim: Simulator
) -> None:
    gads, _ = client
    day = date(2026, 11, 12)
    zones = set()
    for i, customer in enumerate(sim.google_ads.world.customers):
        session = session_for(gads, sim, i)
        info = session.customer_info(customer.customer_id)
        assert (info.time_zone, info.currency_code) == (customer.time_zone, customer.currency)
        zones.add(info.time_zone)
        facts = {f.ad_id: f for f in map(ad_fact, session.ad_day(customer.customer_id, day).rows)}
        truth = sim.google_ads.truth(customer.customer_id, day)
        assert facts.keys() == truth.keys() and truth
        for ad_id, t in truth.items():
            f = facts[ad_id]
            assert (f.day, f.spend, f.impressions, f.clicks) == (day, t.spend, t.impressions, t.clicks)
            assert (f.conversions, f.conversions_value) == (t.conversions, t.conversions_value)
        assert sum(f.spend for f in facts.values()) == sum(t.spend for t in truth.values())
    assert len(zones) == 3


def test_removed_ads_keep_their_spend_in_a_range_read(
    client: tuple[GoogleAdsClient, FakeClock], sim: Simulator
) -> None:
    gads, _ = client
    customer = sim.google_ads.world.customers[0]
    since, until = date(2026, 8, 1), date(2026, 11, 19)
    result = session_for(gads, sim, 0).ad_days(customer.customer_id, since, until)
    removed = [r for r in result.rows if r.status == "REMOVED" and r.cost_micros > 0]
    assert removed, "some ads that spent were removed since"
    truth_removed = sum(
        t.cost_micros
        for n in range((until - since).days + 1)
        for t in sim.google_ads.truth(customer.customer_id, since + timedelta(days=n)).values()
        if t.status == "REMOVED"
    )
    assert sum(r.cost_micros for r in removed) == truth_removed
    assert result.batches == 1 and result.request_ids


def test_the_access_token_is_cached_until_its_expiry_minus_the_margin(
    client: tuple[GoogleAdsClient, FakeClock], sim: Simulator
) -> None:
    gads, clock = client
    api = sim.google_ads
    before = api.token_requests
    session = session_for(gads, sim, 0)
    customer = api.world.customers[0].customer_id
    session.ad_day(customer, date(2026, 11, 1))
    session.ad_day(customer, date(2026, 11, 2))
    gads.session(refresh_token_env="SIM_REFRESH").customer_info(customer)  # another session, same credentials
    assert api.token_requests - before == 1
    clock.now += 3599 - settings.TOKEN_REFRESH_MARGIN_S - 1
    session.ad_day(customer, date(2026, 11, 3))
    assert api.token_requests - before == 1
    clock.now += 2
    session.ad_day(customer, date(2026, 11, 3))
    assert api.token_requests - before == 2


def test_a_quota_error_waits_its_retry_delay_then_succeeds(
    client: tuple[GoogleAdsClient, FakeClock], sim: Simulator
) -> None:
    gads, clock = client
    sim.google_ads.faults.update(quota_errors=2, retry_delay_s=17)
    session = session_for(gads, sim, 0)
    customer = sim.google_ads.world.customers[0].customer_id
    rows = session.ad_day(customer, date(2026, 11, 5)).rows
    assert clock.sleeps == [17.0, 17.0]
    assert session.stats.throttled == 2 and session.stats.waits_s == {"throttle": 34.0}
    assert {r.ad_id for r in rows} == set(sim.google_ads.truth(customer, date(2026, 11, 5)))


def test_a_quota_delay_past_the_wait_budget_is_rate_limited(
    served: tuple[Simulator, SimulatorHandle], sim: Simulator
) -> None:
    from adspipe.errors import RateLimitExhausted

    clock = FakeClock()
    gads = on_sim(served[1], clock, wait_budget_s=60)
    sim.google_ads.faults.update(quota_errors=1, retry_delay_s=3600, quota_reason="RESOURCE_EXHAUSTED")
    with pytest.raises(RateLimitExhausted, match="quotaError: RESOURCE_EXHAUSTED"):
        session_for(gads, sim, 0).ad_day(sim.google_ads.world.customers[0].customer_id, date(2026, 11, 5))
    assert clock.sleeps == []


def test_a_cached_token_refused_as_expired_is_replaced_once_then_the_call_succeeds(
    client: tuple[GoogleAdsClient, FakeClock], sim: Simulator
) -> None:
    # The machine slept: the simulator's clock passed the token's expiry, the client's monotonic
    # clock did not. Google answers OAUTH_TOKEN_EXPIRED; the client mints one new token and retries.
    gads, _ = client
    api = sim.google_ads
    customer = api.world.customers[0].customer_id
    session = session_for(gads, sim, 0)
    session.ad_day(customer, date(2026, 11, 1))
    before = api.token_requests
    sim.clock.set(NOW + timedelta(hours=2))
    rows = session.ad_day(customer, date(2026, 11, 2)).rows
    assert api.token_requests - before == 1
    assert {r.ad_id for r in rows} == set(api.truth(customer, date(2026, 11, 2)))
    # A freshly minted token that is refused is the credentials' fault: no second exchange.
    sim.google_ads.faults.update(revoked_refresh_tokens=["sim-refresh-token"])
    sim.clock.set(NOW + timedelta(hours=4))
    with pytest.raises(AuthError, match="invalid_grant"):
        session.ad_day(customer, date(2026, 11, 3))
    assert api.token_requests - before == 2


def test_a_revoked_refresh_token_is_an_auth_error(
    client: tuple[GoogleAdsClient, FakeClock], sim: Simulator
) -> None:
    gads, _ = client
    sim.google_ads.faults.update(revoked_refresh_tokens=["sim-refresh-token"])
    with pytest.raises(AuthError, match="invalid_grant") as raised:
        session_for(gads, sim, 0).customer_info(sim.google_ads.world.customers[0].customer_id)
    assert "sim-refresh-token" not in str(raised.value)


def test_a_wrong_developer_token_is_an_auth_error(
    client: tuple[GoogleAdsClient, FakeClock], sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    gads, _ = client
    monkeypatch.setenv("GOOGLE_ADS_DEVELOPER_TOKEN", "wrong-dev-token")
    with pytest.raises(AuthError, match="DEVELOPER_TOKEN_INVALID"):
        session_for(gads, sim, 0).customer_info(sim.google_ads.world.customers[0].customer_id)


def test_a_managed_customer_without_login_customer_id_is_permanent_naming_the_reason(
    client: tuple[GoogleAdsClient, FakeClock], sim: Simulator
) -> None:
    gads, _ = client
    managed = next(c for c in sim.google_ads.world.customers if c.managed)
    with pytest.raises(PermanentApiError, match="authorizationError: USER_PERMISSION_DENIED"):
        gads.session(refresh_token_env="SIM_REFRESH").customer_info(managed.customer_id)


# ---- scripted answers ---------------------------------------------------------------------------

TOKEN = "ya29.a0-secret-access-token"


def scripted(
    search: Callable[[httpx.Request], httpx.Response], seen: list[httpx.Request]
) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/token"):
            return httpx.Response(
                200, json={"access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer"}
            )
        return search(request)

    return httpx.MockTransport(handler)


def mocked(
    search: Callable[[httpx.Request], httpx.Response], seen: list[httpx.Request]
) -> tuple[GoogleAdsClient, FakeClock]:
    clock = FakeClock()
    gads = GoogleAdsClient(api_url="https://ads.test", oauth_url="https://oauth.test/token")
    return gads.with_transport(scripted(search, seen), sleep=clock.sleep, monotonic=clock.monotonic), clock


def test_requests_carry_the_oauth_form_and_the_google_ads_headers(env: None) -> None:
    seen: list[httpx.Request] = []
    gads, _ = mocked(
        lambda r: httpx.Response(200, json=[{"fieldMask": "customer.id", "requestId": "r1"}]), seen
    )
    result = gads.session(refresh_token_env="SIM_REFRESH", login_customer_id="111-222-3333").ad_day(
        "444-555-6666", date(2026, 11, 1)
    )
    assert result.rows == () and result.customer_id == "4445556666"
    oauth, search = seen
    assert dict(parse_qsl(oauth.content.decode())) == {
        "client_id": "sim-client-id", "client_secret": "sim-client-secret",
        "refresh_token": "sim-refresh-token", "grant_type": "refresh_token",
    }  # fmt: skip
    assert str(search.url) == "https://ads.test/v26/customers/4445556666/googleAds:searchStream"
    assert search.headers["authorization"] == f"Bearer {TOKEN}"
    assert search.headers["developer-token"] == "sim-developer-token"
    assert search.headers["login-customer-id"] == "1112223333"
    assert json.loads(search.content)["query"] == settings.ad_query(date(2026, 11, 1), date(2026, 11, 1))


def test_no_secret_reaches_an_error_or_a_log_record(env: None, caplog: pytest.LogCaptureFixture) -> None:
    leak = f"{TOKEN} sim-refresh-token sim-client-secret sim-developer-token"
    answers = iter([
        httpx.Response(500, json=[{"error": {"code": 500, "status": "INTERNAL", "message": f"boom {leak}"}}]),
        httpx.Response(401, json={"error": {"code": 401, "status": "UNAUTHENTICATED", "message": f"bad {leak}"}}),
    ])  # fmt: skip
    gads, _ = mocked(lambda r: next(answers), [])
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError) as raised:
        gads.session(refresh_token_env="SIM_REFRESH").customer_info("1234567890")
    texts = [str(raised.value), *(r.getMessage() for r in caplog.records)]
    assert len(texts) >= 2, "the retry was logged"
    for secret in (TOKEN, "sim-refresh-token", "sim-client-secret", "sim-developer-token", "sim-client-id"):
        assert all(secret not in t for t in texts), secret


def test_an_error_after_some_batches_fails_the_call_and_5xx_are_retried(env: None) -> None:
    failure = {"error": {"code": 503, "status": "UNAVAILABLE", "message": "try later"}}
    answers = iter(
        [httpx.Response(503, json=failure), httpx.Response(200, json=[{"results": []}, failure])] * 3
    )
    gads, clock = mocked(lambda r: next(answers), [])
    with pytest.raises(TransientApiError, match="UNAVAILABLE.*gave up after 5 attempts"):
        gads.session(refresh_token_env="SIM_REFRESH").ad_day("1234567890", date(2026, 11, 1))
    assert len(clock.sleeps) == 4


def test_a_bad_request_is_permanent_and_names_the_query_error(env: None) -> None:
    body = [{"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "Request contains an invalid argument.",
                       "details": [{"@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
                                    "errors": [{"errorCode": {"queryError": "UNRECOGNIZED_FIELD"}}]}]}}]  # fmt: skip
    gads, clock = mocked(lambda r: httpx.Response(400, json=body), [])
    session = gads.session(refresh_token_env="SIM_REFRESH")
    with pytest.raises(PermanentApiError, match="queryError: UNRECOGNIZED_FIELD"):
        session.ad_day("1234567890", date(2026, 11, 1))
    assert clock.sleeps == [] and session.stats.api_version_served == "v26"


def test_a_missing_credential_variable_is_named_without_a_call(
    monkeypatch: pytest.MonkeyPatch, env: None
) -> None:
    from adspipe.google_ads.client import CredentialUnavailable

    monkeypatch.delenv("SIM_REFRESH")
    seen: list[httpx.Request] = []
    gads, _ = mocked(lambda r: httpx.Response(200, json=[]), seen)
    with pytest.raises(CredentialUnavailable, match="SIM_REFRESH"):
        gads.session(refresh_token_env="SIM_REFRESH").customer_info("1234567890")
    assert seen == []
