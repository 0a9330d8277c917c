"""Per-connection Meta options at the client: appsecret_proof on every call, version watch, code
2635, windows and statuses validated, purchases summed over the configured windows."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import date
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from adspipe.counters import SyncStats
from adspipe.errors import PermanentApiError
from adspipe.meta import settings, transforms
from adspipe.meta.client import MetaClient, MetaSession
from adspipe.meta.options import (
    VersionWatch,
    appsecret_proof,
    validate_attribution_windows,
    validate_statuses,
)
from adspipe.meta.usage import UsageMeter

BASE = "http://graph.test"
TOKEN = "EAAtoken-for-proof-0123456789"
SECRET = "app-secret-abcdef"
DAY = date(2026, 3, 4)


class Recorder:
    """Answers the account read, then two insights pages (the second via a `next` link that
    carries a stale appsecret_proof and the token, as Meta's links may)."""

    def __init__(self, served: str | None = None, error: dict[str, object] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.served, self.error = served, error

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        headers = {settings.VERSION_HEADER: self.served or request.url.path.split("/")[1]}
        if self.error is not None:
            return httpx.Response(400, json={"error": self.error}, headers=headers)
        if not request.url.path.endswith("/insights"):
            return httpx.Response(200, json={"timezone_name": "UTC", "currency": "USD"}, headers=headers)
        row = {"ad_id": "1", "spend": "1.00", "date_start": DAY.isoformat(), "date_stop": DAY.isoformat()}
        body: dict[str, object] = {"data": [row]}
        if "after" not in request.url.params:
            body["paging"] = {
                "next": f"{BASE}/{settings.API_VERSION}/act_1/insights?after=p2&access_token={TOKEN}&appsecret_proof=stale"
            }
        return httpx.Response(200, json=body, headers=headers)

    def params(self) -> list[dict[str, str]]:
        return [{k: v[0] for k, v in parse_qs(urlsplit(str(r.url)).query).items()} for r in self.requests]


def _session(recorder: Recorder, *, app_secret: str | None = None, versions: VersionWatch | None = None,
             api_version: str = settings.API_VERSION, stats: SyncStats | None = None) -> MetaSession:  # fmt: skip
    client = MetaClient(graph_url=BASE, api_version=api_version).with_transport(
        transport=httpx.MockTransport(recorder), sleep=lambda s: None
    )
    return client.session(
        "act_1", TOKEN, stats or SyncStats(), UsageMeter(), app_secret=app_secret, versions=versions
    )


def test_appsecret_proof_is_on_every_call_when_configured_and_absent_otherwise() -> None:
    want = hmac.new(SECRET.encode(), TOKEN.encode(), hashlib.sha256).hexdigest()
    assert appsecret_proof(TOKEN, SECRET) == want and len(want) == 64
    recorder = Recorder()
    session = _session(recorder, app_secret=SECRET)
    session.account_info()
    session.insights(DAY, level="ad")
    session.insights(DAY, level="account")
    params = recorder.params()
    assert len(params) == 5  # account read, two pages at each level
    assert [p.get("appsecret_proof") for p in params] == [want] * 5  # the stale one from `next` replaced
    assert all("access_token" not in p for p in params)
    assert want not in repr(session) and SECRET not in repr(session)

    plain = Recorder()
    session = _session(plain)
    session.account_info()
    session.insights(DAY, level="ad")
    assert len(plain.params()) == 3 and all("appsecret_proof" not in p for p in plain.params())


def test_served_version_is_recorded_and_a_mismatch_warned_once_per_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    warned: list[str] = []
    watch = VersionWatch(settings.API_VERSION, warned.append)
    stats = SyncStats()
    with caplog.at_level(logging.WARNING):
        for _ in range(2):  # two accounts of one run share the watch
            _session(Recorder(served="v27.0"), versions=watch, stats=stats).insights(DAY, level="account")
    assert len(warned) == 1 and "Meta served API version v27.0" in warned[0]
    assert [r.getMessage() for r in caplog.records if "served API version" in r.getMessage()] == warned
    assert (watch.requested, watch.served) == (settings.API_VERSION, "v27.0")
    assert (stats.api_version, stats.api_version_served) == (settings.API_VERSION, "v27.0")

    same = VersionWatch(settings.API_VERSION, warned.append)
    _session(Recorder(), versions=same).insights(DAY, level="account")
    assert len(warned) == 1 and same.served == settings.API_VERSION


def test_deprecated_version_is_a_permanent_error_naming_version_and_setting() -> None:
    error = {
        "message": "(#2635) You are calling a deprecated version of the Ads API. Please update to the latest "
        "version: v26.0.", "type": "OAuthException", "code": 2635, "fbtrace_id": "AbC",
    }  # fmt: skip
    recorder = Recorder(error=error, served="v23.0")
    with pytest.raises(PermanentApiError) as caught:
        _session(recorder, api_version="v23.0").insights(DAY, level="ad")
    text = str(caught.value)
    assert text.startswith("act_1: Meta refused API version v23.0 as deprecated (code 2635: (#2635) You are")
    assert "set ADSPIPE_META_API_VERSION (or the `meta` resource's api_version)" in text
    assert f"e.g. {settings.DEFAULT_API_VERSION}" in text
    assert len(recorder.requests) == 1  # not retried


def test_session_uses_the_connection_options_over_the_resource_defaults() -> None:
    recorder = Recorder()
    client = MetaClient(graph_url=BASE, attribution_windows=["7d_click"]).with_transport(
        transport=httpx.MockTransport(recorder)
    )
    own = client.session("act_1", TOKEN, SyncStats(), statuses=("ACTIVE", "PAUSED"),
                         attribution_windows=("1d_click", "1d_view"))  # fmt: skip
    assert own.insights_params(DAY, "ad")["action_attribution_windows"] == '["1d_click", "1d_view"]'
    assert json.loads(own.insights_params(DAY, "ad")["filtering"])[0]["value"] == ["ACTIVE", "PAUSED"]
    default = client.session("act_1", TOKEN, SyncStats())
    assert default.insights_params(DAY, "ad")["action_attribution_windows"] == '["7d_click"]'
    assert json.loads(default.insights_params(DAY, "ad")["filtering"])[0]["value"] == list(
        settings.AD_EFFECTIVE_STATUSES
    )
    assert "action_attribution_windows" not in MetaClient(graph_url=BASE).session(
        "act_1", TOKEN, SyncStats()
    ).insights_params(DAY, "ad")
    with pytest.raises(ValueError, match="unknown ad effective_status RUNNING"):
        client.session("act_1", TOKEN, SyncStats(), statuses=("RUNNING",))


@pytest.mark.parametrize(
    ("windows", "message"),
    [
        (["1d_click", "7d_click"], "at most one click window"),
        (["7d_click", "28d_click", "1d_view"], "at most one click window"),
        (["1d_view", "1d_view"], "repeat a window"),
        (["7d_view"], "no longer returned by Meta"),
        (["2d_click"], "unknown attribution window"),
    ],
)
def test_bad_window_sets_are_refused(windows: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_attribution_windows(windows)


def test_good_window_sets_and_statuses() -> None:
    assert validate_attribution_windows(["7d_click", "1d_view"]) == ["7d_click", "1d_view"]
    assert validate_attribution_windows([" 28D_CLICK ", "1d_view", "1d_ev"]) == [
        "28d_click",
        "1d_view",
        "1d_ev",
    ]
    assert validate_attribution_windows([]) is None and validate_attribution_windows(None) is None
    assert validate_statuses(["active", "ARCHIVED", "active"]) == ["ACTIVE", "ARCHIVED"]
    assert set(settings.DEFAULT_STATUSES) == set(settings.AD_EFFECTIVE_STATUSES)


def test_purchases_are_the_sum_of_the_counted_types_window_keys() -> None:
    actions = [
        {
            "action_type": "offsite_conversion.fb_pixel_purchase",
            "value": "9",
            "7d_click": "6",
            "1d_view": "3",
        },
        {"action_type": "omni_purchase", "value": "12", "7d_click": "10", "1d_view": "2", "1d_click": "7"},
        {"action_type": "purchase", "value": "12", "7d_click": "10", "1d_view": "2"},
    ]
    values = [{"action_type": "omni_purchase", "value": "120.50", "7d_click": "100.25", "1d_view": "20.25"}]
    fallbacks = ("purchase", "offsite_conversion.fb_pixel_purchase")
    pick = transforms.pick_action
    assert pick(actions, "omni_purchase", fallbacks) == "12"  # no windows: `value`
    assert pick(actions, "omni_purchase", fallbacks, ("7d_click", "1d_view")) == "12"
    assert pick(actions, "omni_purchase", fallbacks, ("1d_click",)) == "7"
    assert pick(actions, "omni_purchase", fallbacks, ("1d_click", "1d_view")) == "9"  # never 2 click windows
    assert pick(actions[:1], "omni_purchase", fallbacks, ("7d_click", "1d_view")) == "9"  # the fallback type
    assert pick(actions[:1], "omni_purchase", fallbacks, ("28d_click",)) == "0"  # a key left out counts 0
    row = {"ad_id": "1", "date_start": "2026-03-04", "date_stop": "2026-03-04", "spend": "1.00",
           "actions": actions, "action_values": values}  # fmt: skip
    fact = transforms.fact_row(row, ad_account_id="act_1", store_id=1, connection_id=1, currency="USD",
                               purchase_type="omni_purchase", fallbacks=fallbacks, windows=("7d_click", "1d_view"))  # fmt: skip
    assert (fact["purchases"], fact["purchase_value"]) == (12, Decimal("120.50"))
    fact = transforms.fact_row(row, ad_account_id="act_1", store_id=1, connection_id=1, currency="USD",
                               purchase_type="omni_purchase", fallbacks=fallbacks, windows=("1d_view",))  # fmt: skip
    assert (fact["purchases"], fact["purchase_value"]) == (2, Decimal("20.25"))


def test_the_proof_never_reaches_a_log_line_even_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    want = appsecret_proof(TOKEN, SECRET)
    with caplog.at_level(logging.DEBUG):
        _session(Recorder(), app_secret=SECRET).insights(DAY, level="ad")
    lines = [r.getMessage() for r in caplog.records]
    assert any("appsecret_proof=***" in line for line in lines)  # httpx did log the request URL
    assert not any(want in line or SECRET in line or TOKEN in line for line in lines)
