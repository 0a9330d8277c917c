"""The simulator's Google Ads API, through its handlers (no HTTP) and once through the server."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from adspipe.simulator.clock import SimClock
from adspipe.simulator.google_ads import GoogleAdsApi
from adspipe.simulator.server import Simulator, run_simulator

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
FORM = {"client_id": "sim-client-id", "client_secret": "sim-client-secret",
        "refresh_token": "sim-refresh-token", "grant_type": "refresh_token"}  # fmt: skip


@pytest.fixture
def sim() -> Simulator:
    return Simulator(seed=3, clock=SimClock(NOW, speed=0))


def token(api: GoogleAdsApi) -> str:
    answer = api.token(FORM)
    assert answer.status == 200
    return str(json.loads(answer.body)["access_token"])


def headers(api: GoogleAdsApi, **extra: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token(api)}", "developer-token": "sim-developer-token", **extra}


def stream(
    api: GoogleAdsApi, customer: str, query: str, hdrs: dict[str, str], version: str = "v26"
) -> tuple[int, Any]:
    answer = api.search_stream(version, customer, hdrs, json.dumps({"query": query}).encode())
    return answer.status, json.loads(answer.body)


def ad_query(since: date, until: date) -> str:
    return (
        "SELECT customer.id, customer.time_zone, customer.currency_code, campaign.id, ad_group.id, "
        "ad_group_ad.ad.id, ad_group_ad.status, segments.date, metrics.impressions, metrics.clicks, "
        "metrics.cost_micros, metrics.conversions, metrics.conversions_value FROM ad_group_ad "
        f"WHERE segments.date BETWEEN '{since}' AND '{until}'"
    )


def direct(api: GoogleAdsApi) -> str:
    return next(c.customer_id for c in api.world.customers if not c.managed)


def test_one_customer_per_store_in_its_time_zone_and_currency_deterministic_from_the_seed(
    sim: Simulator,
) -> None:
    customers = sim.google_ads.world.customers
    assert [(c.time_zone, c.currency) for c in customers] == [
        (s.timezone, s.currency) for s in sim.world.stores
    ]
    assert all(len(c.customer_id) == 10 and c.customer_id.isdigit() for c in customers)
    again = Simulator(seed=3, clock=SimClock(NOW, speed=0)).google_ads.world.customers
    assert [c.customer_id for c in again] == [c.customer_id for c in customers]


def test_oauth_exchanges_a_refresh_token_and_refuses_revoked_ones_and_wrong_clients(sim: Simulator) -> None:
    api = sim.google_ads
    body = json.loads(api.token(FORM).body)
    assert body["expires_in"] == 3599 and body["token_type"] == "Bearer"
    assert body["access_token"].startswith("ya29.")
    wrong = api.token({**FORM, "client_secret": "nope"})
    assert (wrong.status, json.loads(wrong.body)["error"]) == (401, "invalid_client")
    api.faults.update(revoked_refresh_tokens=["sim-refresh-token"])
    revoked = api.token(FORM)
    assert (revoked.status, json.loads(revoked.body)["error"]) == (400, "invalid_grant")


def test_search_stream_answers_batches_with_camel_case_keys_int64_strings_and_doubles(sim: Simulator) -> None:
    api = sim.google_ads
    api.faults.update(batch_rows=5)
    customer = direct(api)
    day = date(2026, 11, 10)
    status, body = stream(api, customer, ad_query(day, day), headers(api))
    assert status == 200 and isinstance(body, list) and len(body) >= 2
    assert all(b["requestId"] == body[0]["requestId"] for b in body)
    assert "queryResourceConsumption" in body[-1] and "queryResourceConsumption" not in body[0]
    assert body[0]["fieldMask"].split(",")[-2:] == ["metrics.conversions", "metrics.conversionsValue"]
    results = [r for b in body for r in b["results"]]
    truth = api.truth(customer, day)
    assert {r["adGroupAd"]["ad"]["id"] for r in results} == set(truth)
    row = results[0]
    assert isinstance(row["customer"]["id"], str) and isinstance(row["metrics"]["costMicros"], str)
    assert row["segments"]["date"] == "2026-11-10"
    assert row["adGroupAd"]["resourceName"].startswith(f"customers/{customer}/adGroupAds/")
    t = truth[row["adGroupAd"]["ad"]["id"]]
    assert int(row["metrics"]["costMicros"]) == t.cost_micros
    assert Decimal(repr(row["metrics"].get("conversions", 0.0))).quantize(Decimal("0.001")) == t.conversions


def test_conversions_keep_arriving_for_weeks_so_past_days_change(sim: Simulator) -> None:
    api = sim.google_ads
    customer = direct(api)
    day = date(2026, 11, 1)
    before = sum(r.conversions for r in api.truth(customer, day).values())
    sim.clock.advance(timedelta(days=25))
    after = sum(r.conversions for r in api.truth(customer, day).values())
    assert after > before
    assert any(r.conversions % 1 for r in api.truth(customer, day).values()), "credit is fractional"


def test_removed_ads_keep_their_past_spend(sim: Simulator) -> None:
    api = sim.google_ads
    customer = direct(api)
    statuses = set()
    removed_spend = 0
    for n in range(120):
        for row in api.truth(customer, date(2026, 11, 19) - timedelta(days=n)).values():
            statuses.add(row.status)
            removed_spend += row.cost_micros if row.status == "REMOVED" else 0
    assert statuses == {"ENABLED", "PAUSED", "REMOVED"}
    assert removed_spend > 0


def test_managed_customers_need_the_managers_login_customer_id(sim: Simulator) -> None:
    api = sim.google_ads
    managed = next(c.customer_id for c in api.world.customers if c.managed)
    query = "SELECT customer.id, customer.time_zone FROM customer"
    status, body = stream(api, managed, query, headers(api))
    error = body[0]["error"]
    assert (status, error["status"]) == (403, "PERMISSION_DENIED")
    assert error["details"][0]["errors"][0]["errorCode"] == {"authorizationError": "USER_PERMISSION_DENIED"}
    status, body = stream(api, managed, query, headers(api, **{"login-customer-id": api.world.manager_id}))
    assert status == 200 and body[0]["results"][0]["customer"]["id"] == managed
    status, _ = stream(api, managed, query, headers(api, **{"login-customer-id": "1234567890"}))
    assert status == 403


def test_tokens_are_checked_access_token_expiry_by_the_simulator_clock(sim: Simulator) -> None:
    api = sim.google_ads
    customer = direct(api)
    query = "SELECT customer.id FROM customer"
    good = headers(api)
    status, body = stream(api, customer, query, {**good, "developer-token": "wrong"})
    assert (status, body[0]["error"]["details"][0]["errors"][0]["errorCode"]) == (
        401, {"authenticationError": "DEVELOPER_TOKEN_INVALID"})  # fmt: skip
    sim.clock.advance(timedelta(seconds=3600))
    status, body = stream(api, customer, query, good)
    assert (status, body[0]["error"]["details"][0]["errors"][0]["errorCode"]) == (
        401, {"authenticationError": "OAUTH_TOKEN_EXPIRED"})  # fmt: skip


def test_quota_errors_carry_their_retry_delay_under_the_fault_knob(sim: Simulator) -> None:
    api = sim.google_ads
    api.faults.update(quota_errors=1, retry_delay_s=12)
    customer = direct(api)
    status, body = stream(api, customer, "SELECT customer.id FROM customer", headers(api))
    error = body[0]["error"]
    assert (status, error["status"]) == (429, "RESOURCE_EXHAUSTED")
    item = error["details"][0]["errors"][0]
    assert item["errorCode"] == {"quotaError": "RESOURCE_TEMPORARILY_EXHAUSTED"}
    assert item["details"]["quotaErrorDetails"]["retryDelay"] == "12s"
    assert (
        error["details"][0]["@type"] == "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure"
    )
    assert stream(api, customer, "SELECT customer.id FROM customer", headers(api))[0] == 200


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (
            "SELECT metrics.cost_micro FROM ad_group_ad WHERE segments.date = '2026-11-01'",
            "UNRECOGNIZED_FIELD",
        ),
        ("SELECT customer.id FROM ad_group_adx", "BAD_RESOURCE_TYPE_IN_FROM_CLAUSE"),
        ("SELECT segments.date, metrics.clicks FROM ad_group_ad", "EXPECTED_FILTERS_ON_DATE_RANGE"),
        ("SELECT metrics.clicks FROM customer", "PROHIBITED_FIELD_IN_SELECT_CLAUSE"),
        ("SELECT segments.date FROM ad_group_ad WHERE segments.date = '2026-13-01'", "INVALID_DATE_FORMAT"),
    ],
)
def test_gaql_outside_the_subset_is_refused_with_the_real_error_shape(
    sim: Simulator, query: str, reason: str
) -> None:
    api = sim.google_ads
    status, body = stream(api, direct(api), query, headers(api))
    error = body[0]["error"]
    assert (status, error["code"], error["status"]) == (400, 400, "INVALID_ARGUMENT")
    assert error["details"][0]["errors"][0]["errorCode"] == {"queryError": reason}


def test_an_unsupported_version_is_not_found(sim: Simulator) -> None:
    api = sim.google_ads
    status, _ = stream(api, direct(api), "SELECT customer.id FROM customer", headers(api), version="v21")
    assert status == 404


def test_the_server_mounts_the_oauth_and_search_stream_routes(sim: Simulator) -> None:
    with run_simulator(sim) as handle, httpx.Client() as http:
        answer = http.post(handle.google_oauth_url, data=FORM)
        access = answer.json()["access_token"]
        customer = direct(sim.google_ads)
        url = f"{handle.google_ads_url}/v26/customers/{customer}/googleAds:searchStream"
        got = http.post(url, json={"query": "SELECT customer.currency_code FROM customer"},
                        headers={"Authorization": f"Bearer {access}", "developer-token": "sim-developer-token"})  # fmt: skip
        truth = http.get(
            f"{handle.base_url}/google-ads/admin/truth",
            params={"customer": customer, "day": "2026-11-10"},
        )
    assert got.status_code == 200
    assert got.json()[0]["results"][0]["customer"]["currencyCode"] == sim.world.stores[0].currency
    assert truth.status_code == 200 and truth.json()
    assert sim.counts()["google_ads"]["ok"] == 2
