"""Meta Marketing API insights contract (api-facts.md), through the handler without HTTP."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from adspipe.meta.settings import API_VERSION
from adspipe.simulator.faults import Faults
from adspipe.simulator.meta_api import REDUCE
from adspipe.simulator.util import local_date
from adspipe_tests.clocks import FakeClock
from adspipe_tests.simulator.helpers import make_sim, meta
from adspipe_tests.simulator_fixtures import FIXED_NOW

FIELDS = "ad_id,adset_id,campaign_id,account_currency,spend,impressions,clicks,reach,actions,action_values"
FILTER = [{"field": "ad.effective_status", "operator": "IN", "value": ["ACTIVE", "PAUSED"]}]
PURCHASES = ("omni_purchase", "purchase", "offsite_conversion.fb_pixel_purchase", "onsite_web_purchase")


def day_params(day: date, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"level": "ad", "fields": FIELDS, "time_increment": 1, "filtering": FILTER,
                              "time_range": {"since": day.isoformat(), "until": day.isoformat()}, "limit": 500}  # fmt: skip
    return params | extra


def test_rows_are_strings_with_duplicate_purchase_types() -> None:
    sim = make_sim()
    acct = sim.world.stores[1].accounts[0]
    rows = []
    for back in range(2, 12):
        response, body = meta(sim, acct.id, **day_params(FIXED_NOW.date() - timedelta(days=back)))
        assert response.status == 200
        rows += body["data"]
    assert rows
    for row in rows:
        for key in (
            "ad_id",
            "adset_id",
            "campaign_id",
            "spend",
            "impressions",
            "clicks",
            "reach",
            "date_start",
        ):
            assert isinstance(row[key], str), key
        assert row["date_start"] == row["date_stop"] and row["account_currency"] == "EUR"
        for action in row.get("actions", []) + row.get("action_values", []):
            assert set(action) == {"action_type", "value"} and isinstance(action["value"], str)
    with_omni = [r for r in rows if any(a["action_type"] == "omni_purchase" for a in r.get("actions", []))]
    without = [r for r in rows if "actions" in r and r not in with_omni and any(a["action_type"] in PURCHASES for a in r["actions"])]  # fmt: skip
    assert with_omni and without
    for row in with_omni:
        types = {a["action_type"]: a["value"] for a in row["actions"]}
        assert types["omni_purchase"] == types["purchase"]  # the same purchases, reported twice (or more)
    assert all(not {"omni_purchase", "purchase"} & {a["action_type"] for a in r["actions"]} for r in without)


def test_paging_next_url_and_cursors() -> None:
    sim = make_sim()
    acct = sim.world.stores[0].accounts[0]
    day = FIXED_NOW.date() - timedelta(days=2)
    _, whole = meta(sim, acct.id, **day_params(day))
    params = day_params(day, limit=4)
    response, body = meta(sim, acct.id, **params)
    rows = list(body["data"])
    pages = 1
    while "next" in body["paging"]:
        url = urlsplit(body["paging"]["next"])
        assert url.path == f"/meta/{API_VERSION}/{acct.id}/insights"
        query = dict(parse_qsl(url.query))
        assert query["access_token"] == "sim-token" and query["after"] == body["paging"]["cursors"]["after"]
        assert json.loads(query["filtering"]) == FILTER
        response, body = meta(sim, acct.id, **{k: v for k, v in query.items() if k != "access_token"})
        rows += body["data"]
        pages += 1
    assert pages == -(-len(whole["data"]) // 4) > 1
    assert rows == whole["data"] and "next" not in whole["paging"]


def test_usage_headers_rise_with_calls_and_fall_with_time() -> None:
    clock = FakeClock()
    sim = make_sim(faults=Faults(meta_usage_per_call=10, meta_usage_window_s=60), monotonic=clock)
    acct = sim.world.accounts[0]
    seen = []
    for _ in range(3):
        response, _ = meta(sim, acct.id, None, fields="currency")
        usage = json.loads(response.headers["x-ad-account-usage"])
        assert "x-app-usage" not in response.headers  # the Graph platform meter: not for Marketing API calls
        app = json.loads(response.headers["x-fb-ads-insights-throttle"])
        buc = json.loads(response.headers["x-business-use-case-usage"])[acct.account_id][0]
        seen.append((usage["acc_id_util_pct"], app["app_id_util_pct"], buc["call_count"]))
    assert seen[0] < seen[1] < seen[2] and seen[2][0] == 30
    clock.now += 30  # half the window: -50 points, floored at 0
    response, _ = meta(sim, acct.id, None, fields="currency")
    assert json.loads(response.headers["x-ad-account-usage"])["acc_id_util_pct"] == 10


@pytest.mark.parametrize("code", [4, 17, 613, 80000, 80004, 32])
def test_each_throttle_code_is_http_400(code: int) -> None:
    clock = FakeClock()
    sim = make_sim(faults=Faults(meta_usage_per_call=60, meta_throttle_code=code), monotonic=clock)
    acct = sim.world.accounts[0]
    outcomes = [meta(sim, acct.id, **day_params(FIXED_NOW.date())) for _ in range(3)]
    assert [r.status for r, _ in outcomes] == [200, 200, 400]
    response, body = outcomes[2]
    assert (
        body["error"]["code"] == code
        and body["error"]["type"] == "OAuthException"
        and body["error"]["fbtrace_id"]
    )
    buc = json.loads(response.headers["x-business-use-case-usage"])[acct.account_id][0]
    assert buc["estimated_time_to_regain_access"] >= 1  # minutes
    clock.now += 60
    assert meta(sim, acct.id, **day_params(FIXED_NOW.date()))[0].status == 200


def test_plain_429_switch() -> None:
    sim = make_sim(faults=Faults(meta_usage_per_call=100, meta_plain_429=True), monotonic=FakeClock())
    acct = sim.world.accounts[0]
    assert [meta(sim, acct.id, None)[0].status for _ in range(2)] == [200, 429]


def test_token_errors() -> None:
    sim = make_sim()
    acct = sim.world.accounts[0]
    response, body = meta(sim, acct.id, token="nope")
    assert (
        response.status == 400 and body["error"]["code"] == 190 and body["error"]["type"] == "OAuthException"
    )
    sim.faults.update(revoked_tokens=["sim-token"])
    response, body = meta(sim, acct.id)
    assert (body["error"]["code"], body["error"]["error_subcode"]) == (190, 460)
    response, body = meta(sim, acct.id, token=None)
    assert response.status == 400 and body["error"]["code"] == 104
    # the token also works as a query parameter, as the Graph API allows
    sim.faults.update(revoked_tokens=[])
    assert meta(sim, acct.id, None, token=None, access_token="sim-token")[0].status == 200


def test_code_1_and_code_100() -> None:
    sim = make_sim()
    acct = sim.world.accounts[0]
    day = FIXED_NOW.date() - timedelta(days=1)
    response, body = meta(sim, acct.id, **day_params(day, limit=1001))
    assert response.status == 500 and body["error"]["code"] == 1 and body["error"]["message"] == REDUCE
    for bad in (
        day_params(day, fields="spend,colour"),
        day_params(day, action_attribution_windows=["7d_click", "7d_view"]),
        day_params(day, action_attribution_windows=["28d_view"]),
        day_params(day, time_range={"since": "2026-04-02", "until": "2026-04-01"}),
        day_params(
            day, filtering=[{"field": "ad.effective_status", "operator": "IN", "value": ["SLEEPING"]}]
        ),
        day_params(day, level="creative"),
    ):
        response, body = meta(sim, acct.id, **bad)
        assert response.status == 400 and body["error"]["code"] == 100, bad
    response, body = meta(sim, "act_1", None)
    assert body["error"]["code"] == 100 and body["error"]["error_subcode"] == 33
    response, body = meta(sim, acct.id, **day_params(day, action_attribution_windows=["7d_click", "1d_view"]))
    action = body["data"][0]["actions"][0]
    assert int(action["7d_click"]) + int(action["1d_view"]) == int(action["value"])


def test_account_node_and_time_zones() -> None:
    sim = make_sim()
    zones = {}
    for acct in sim.world.accounts:
        response, body = meta(sim, acct.id, None, fields="name,currency,timezone_name,account_status")
        assert body == {"name": acct.name, "currency": acct.currency, "timezone_name": acct.timezone,
                        "account_status": 1, "id": acct.id}  # fmt: skip
        zones[acct.timezone] = acct
    assert {"America/Los_Angeles", "America/New_York", "Europe/Berlin", "Pacific/Auckland"} <= zones.keys()
    assert meta(sim, sim.world.accounts[0].id, None, fields="colour")[1]["error"]["code"] == 100
    # At 18:00 UTC it is already the 16th in Auckland and still the 15th in Los Angeles: "today" is partial.
    now = FIXED_NOW + timedelta(hours=6)
    sim = make_sim(now=now)
    for tz, today in (("Pacific/Auckland", date(2026, 4, 16)), ("America/Los_Angeles", date(2026, 4, 15))):
        assert local_date(tz, now.timestamp()) == today
        _, partial = meta(
            sim, zones[tz].id, **day_params(today, level="account", fields="spend", filtering=[])
        )
        _, final = meta(make_sim(now=FIXED_NOW + timedelta(days=2)), zones[tz].id,
                        **day_params(today, level="account", fields="spend", filtering=[]))  # fmt: skip
        assert 0 < float(partial["data"][0]["spend"]) < float(final["data"][0]["spend"])
        _, tomorrow = meta(sim, zones[tz].id, **day_params(today + timedelta(days=1), level="account"))
        assert tomorrow == {"data": []}


def test_late_conversions_and_status_filter() -> None:
    sim = make_sim(faults=Faults(meta_throttle_intensity=0))
    later = make_sim(now=FIXED_NOW + timedelta(days=8), faults=Faults(meta_throttle_intensity=0))
    grew, archived = False, None
    for acct in sim.world.accounts:
        for back in range(1, 40):
            day = FIXED_NOW.date() - timedelta(days=back)
            now_rows = sim.truth.ads(acct, day, statuses=None)
            if back <= 3:
                late = sum(a.purchases for a in later.truth.ads(acct, day, statuses=None))
                grew = grew or late > sum(a.purchases for a in now_rows)
            gone = [a for a in now_rows if a.status in ("ARCHIVED", "DELETED")]
            if gone and archived is None:
                archived = (acct, day, gone[0])
    assert grew and archived is not None
    acct, day, ad = archived
    _, filtered = meta(sim, acct.id, **day_params(day))
    assert ad.ad_id not in {r["ad_id"] for r in filtered["data"]}
    _, unfiltered = meta(sim, acct.id, **day_params(day, filtering=[]))
    assert ad.ad_id in {r["ad_id"] for r in unfiltered["data"]}
    _, account = meta(sim, acct.id, **day_params(day, level="account", fields="spend", filtering=[]))
    assert (
        account["data"][0]["spend"] == f"{sum(a.spend for a in sim.truth.ads(acct, day, statuses=None)):.2f}"
    )


def test_usage_meters_have_metas_scopes_accounts_apart_and_the_app_shared() -> None:
    """An account's calls raise its own meters only; the app's insights meter rises with every
    account's calls and, once full, throttles them all with code 4 / 1504022."""
    clock = FakeClock()
    sim = make_sim(faults=Faults(meta_usage_per_call=60, meta_app_usage_share=0.5), monotonic=clock)
    a, b = sim.world.accounts[0], sim.world.accounts[1]
    first, _ = meta(sim, a.id, None, fields="currency")
    second, _ = meta(sim, a.id, None, fields="currency")
    assert json.loads(second.headers["x-ad-account-usage"])["acc_id_util_pct"] == 120
    throttled_a, body_a = meta(sim, a.id, None, fields="currency")
    assert throttled_a.status == 400 and body_a["error"]["code"] == 80000  # account a is spent
    other, _ = meta(sim, b.id, None, fields="currency")  # account b is not slowed by a's meters
    usage_b = json.loads(other.headers["x-ad-account-usage"])
    app_b = json.loads(other.headers["x-fb-ads-insights-throttle"])
    assert other.status == 200 and usage_b["acc_id_util_pct"] == 60
    assert app_b == {"app_id_util_pct": 90.0, "acc_id_util_pct": 60.0}  # 3 counted calls × 30
    meta(sim, b.id, None, fields="currency")  # the app meter reaches 120 %
    c = sim.world.accounts[2]
    response, body = meta(sim, c.id, None, fields="currency")  # a fresh account, a full app meter
    assert response.status == 400
    assert (body["error"]["code"], body["error"]["error_subcode"]) == (4, 1504022)
    assert json.loads(response.headers["x-ad-account-usage"])["acc_id_util_pct"] == 0
