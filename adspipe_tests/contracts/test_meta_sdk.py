"""Contract: every Meta request adspipe sends is one Meta's official SDK would build.

The requests are captured from the client itself during real syncs against the simulator (account
info, ad-level insights with their status filter and paging, the account-level range call), with
the connection options the pipeline supports (attribution windows, the seed's status filter, an
app secret). Each is rebuilt through `facebook-business` (pinned in requirements/contract.txt,
version and wheel checksum), with the pinned API version:

- `AdAccount(id).get_insights(fields=..., params=..., pending=True)` for insights and
  `AdAccount(id).api_get(fields=..., pending=True)` for the account read, with the SDK's warnings
  turned into errors (its TypeChecker only *warns* on a bad field or parameter value);
- then explicit checks the SDK does not make: every parameter is one the edge declares (the
  TypeChecker lets unknown keys through), field names against `AdsInsights.Field` /
  `AdAccount.Field`, `level` against `AdsInsights.Level`, windows against
  `AdsInsights.ActionAttributionWindows`, filter operators against the SDK's operator enum and
  status values against `Ad.EffectiveStatus`.

Without the package the tests skip with the reason, except with CI=true, where they fail.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
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
from adspipe_tests.ci import unavailable
from adspipe_tests.clocks import FakeClock
from adspipe_tests.faults.harness import TOKEN_ENV, meta_client
from adspipe_tests.simulator_fixtures import RunningSimulator

SDK_VERSION = "26.0.3"
LA = "act_719948244808154"
DAYS = [date(2026, 4, 7), date(2026, 4, 8)]
SECRET = "contract-app-secret"
# Set by the SDK's own session or its cursor, never by an edge's parameter list.
TRANSPORT_PARAMS = {"access_token", "appsecret_proof", "after"}


@pytest.fixture(scope="module")
def sdk() -> Any:
    try:
        import facebook_business
        from facebook_business import apiconfig
    except ImportError:
        reason = (
            "facebook-business is not installed: "
            "pip install --no-deps --require-hashes -r requirements/contract.txt"
        )
        unavailable(reason)
    from importlib.metadata import version

    assert version("facebook-business") == SDK_VERSION, "requirements/contract.txt and this test disagree"
    assert apiconfig.ads_api_config["API_VERSION"] == settings.DEFAULT_API_VERSION, (
        "the pinned Marketing API version is not the SDK's: move both together (docs/architecture.md)"
    )
    return facebook_business


@dataclass(frozen=True)
class Sent:
    """One request as the client sent it: account, edge (None: the node), parameters."""

    version: str
    account: str
    edge: str | None
    params: dict[str, str]


def captured(request: httpx.Request) -> Sent:
    parts = urlsplit(str(request.url)).path.strip("/").split("/")
    # …/{version}/{act_id}[/insights], under whatever base path the graph URL has
    if parts[-1] == "insights":
        version, account, edge = parts[-3], parts[-2], "insights"
    else:
        version, account, edge = parts[-2], parts[-1], None
    return Sent(
        version, account, edge, dict(parse_qsl(urlsplit(str(request.url)).query, keep_blank_values=True))
    )


class Recording(httpx.BaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.sent: list[Sent] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(captured(request))
        return self.inner.handle_request(request)


# -- rebuilding a request through the SDK -------------------------------------------------------


def _wire_to_python(key: str, value: str) -> Any:
    """The client's wire encoding back to what one passes the SDK."""
    if key in ("time_range", "filtering", "action_attribution_windows"):
        return json.loads(value)
    return value


def _enum_values(enum: type) -> set[str]:
    return {v for k, v in vars(enum).items() if not k.startswith("_") and isinstance(v, str)}


def check_with_sdk(sent: Sent, sdk: Any) -> None:
    """Raise AssertionError (or the SDK's error) when the request is not one the SDK accepts."""
    from facebook_business.adobjects.ad import Ad
    from facebook_business.adobjects.adaccount import AdAccount
    from facebook_business.adobjects.adsinsights import AdsInsights
    from facebook_business.adobjects.helpers.adsinsightsmixin import AdsInsightsMixin
    from facebook_business.api import FacebookAdsApi

    assert sent.version == settings.API_VERSION, sent
    api = FacebookAdsApi.init(access_token="x", api_version=settings.API_VERSION)
    fields = [f for f in sent.params.get("fields", "").split(",") if f]
    params = {
        k: _wire_to_python(k, v) for k, v in sent.params.items() if k not in ("fields", *TRANSPORT_PARAMS)
    }
    account = AdAccount(sent.account, api=api)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the SDK only warns on what it does not accept
        if sent.edge == "insights":
            request = account.get_insights(fields=fields, params=params, pending=True)
            known_fields, noun = _enum_values(AdsInsights.Field), "AdsInsights.Field"
        else:
            assert sent.edge is None, sent
            request = account.api_get(fields=fields, params=params, pending=True)
            known_fields, noun = _enum_values(AdAccount.Field), "AdAccount.Field"
    assert request.get_fields() == fields
    unknown_fields = sorted(set(fields) - known_fields)
    assert not unknown_fields, f"fields not in {noun}: {unknown_fields}"
    checker = request._param_checker
    unknown_params = sorted(k for k in params if not checker.is_valid_key(k))
    assert not unknown_params, f"parameters the {sent.edge or 'node'} edge does not declare: {unknown_params}"
    if sent.edge != "insights":
        return
    assert params.get("level") in _enum_values(AdsInsights.Level), params.get("level")
    windows = params.get("action_attribution_windows") or []
    bad_windows = sorted(set(windows) - _enum_values(AdsInsights.ActionAttributionWindows))
    assert not bad_windows, f"windows not in AdsInsights.ActionAttributionWindows: {bad_windows}"
    operators = _enum_values(AdsInsightsMixin.Operator)
    ad_fields = _enum_values(Ad.Field)
    for rule in params.get("filtering") or []:
        assert set(rule) == {"field", "operator", "value"}, rule
        entity, _, field = rule["field"].partition(".")
        assert entity == "ad" and field in ad_fields, f"filter field {rule['field']} is not an Ad field"
        assert rule["operator"] in operators, f"filter operator {rule['operator']} not in the SDK's Operator"
        if field == "effective_status":
            values = rule["value"] if isinstance(rule["value"], list) else [rule["value"]]
            bad = sorted(set(values) - _enum_values(Ad.EffectiveStatus))
            assert not bad, f"statuses not in Ad.EffectiveStatus: {bad}"


# -- the requests of real syncs -----------------------------------------------------------------

OPTIONS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "windows+seed filter+app secret": {
        "attribution_windows": ("7d_click", "1d_view"),
        "ad_statuses": ("ACTIVE", "PAUSED"),
        "app_secret_env": "CONTRACT_APP_SECRET",
    },
    "one click window": {"attribution_windows": ("1d_click",)},
}


@pytest.fixture
def sync_requests(
    sdk: Any, engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[dict[str, Any]], list[Sent]]]:
    # 60 ad slots: a day's ad-level rows need more than one page of the smallest page size.
    running = make_simulator(faults=Faults(meta_throttle_intensity=0), ads_per_account=60)
    monkeypatch.setenv(TOKEN_ENV, "sim-token")
    monkeypatch.setenv("CONTRACT_APP_SECRET", SECRET)

    def run(options: dict[str, Any]) -> list[Sent]:
        running.sim.faults.update(meta_app_secret=SECRET if options.get("app_secret_env") else None)
        with engine.begin() as db:
            conns.connect(db, store="Pioneer Botanicals", platform="meta", account_id=LA, token_env=TOKEN_ENV,
                          **options)  # fmt: skip
        recording = Recording()
        client = meta_client(FakeClock(), page_limit=settings.MIN_PAGE_LIMIT)
        client.with_transport(transport=recording, sleep=FakeClock().sleep)
        result = meta_sync.run_dates(engine, client, DAYS, now=running.sim.clock.now())
        assert [o.status for o in result.report.outcomes] == ["success"], result.report.outcomes[0].error
        return recording.sent

    yield run


@pytest.mark.parametrize("name", list(OPTIONS))
def test_every_request_of_a_sync_is_one_the_sdk_builds(
    name: str, sdk: Any, sync_requests: Callable[[dict[str, Any]], list[Sent]]
) -> None:
    sent = sync_requests(OPTIONS[name])
    kinds = {(s.edge, s.params.get("level"), "after" in s.params) for s in sent}
    # account info; ad level, first and later pages; the account-level range call
    assert {(None, None, False), ("insights", "ad", False), ("insights", "ad", True),
            ("insights", "account", False)} <= kinds, kinds  # fmt: skip
    for request in sent:
        check_with_sdk(request, sdk)
    windows = {s.params.get("action_attribution_windows") for s in sent if s.edge == "insights"}
    wanted = OPTIONS[name].get("attribution_windows")
    assert windows == {json.dumps(list(wanted)) if wanted else None}
    proofs = {s.params.get("appsecret_proof") is not None for s in sent}
    assert proofs == {"app_secret_env" in OPTIONS[name]}
    print(f"\n{name}: {len(sent)} requests rebuilt through facebook-business {SDK_VERSION}")


# -- each check can fail ------------------------------------------------------------------------

AD_LEVEL = Sent(
    settings.API_VERSION, LA, "insights",
    {"level": "ad", "fields": "ad_id,spend,actions", "time_range": '{"since": "2026-04-07", "until": "2026-04-07"}',
     "time_increment": "1", "limit": "500", "action_attribution_windows": '["7d_click", "1d_view"]',
     "filtering": '[{"field": "ad.effective_status", "operator": "IN", "value": ["ACTIVE", "ARCHIVED"]}]'},
)  # fmt: skip
ACCOUNT = Sent(settings.API_VERSION, LA, None, {"fields": "timezone_name,currency,name"})


def _with(base: Sent, **changes: str) -> Sent:
    return Sent(base.version, base.account, base.edge, {**base.params, **changes})


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        (_with(AD_LEVEL, fields="ad_id,spends,actions"), "spends"),  # a renamed insights field
        (_with(ACCOUNT, fields="timezone,currency"), "timezone"),  # a renamed account field
        (_with(AD_LEVEL, status_filter="ACTIVE"), "status_filter"),  # an unknown parameter
        (_with(ACCOUNT, level="ad"), "level"),  # a parameter the node does not take
        (_with(AD_LEVEL, level="ads"), "level"),  # not an AdsInsights.Level
        (_with(AD_LEVEL, action_attribution_windows='["7d_click", "2d_view"]'), "action_attribution_windows"),
        (_with(AD_LEVEL, filtering='[{"field": "ad.effective_status", "operator": "ONE_OF", "value": ["ACTIVE"]}]'),
         "ONE_OF"),
        (_with(AD_LEVEL, filtering='[{"field": "ad.effective_status", "operator": "IN", "value": ["RUNNING"]}]'),
         "RUNNING"),
        (_with(AD_LEVEL, filtering='[{"field": "ad.status_effective", "operator": "IN", "value": ["ACTIVE"]}]'),
         "status_effective"),
        (_with(AD_LEVEL, limit="many"), "limit"),  # the SDK's own TypeChecker: a warning made an error
        (Sent("v23.0", LA, "insights", AD_LEVEL.params), "v23.0"),
    ],
)  # fmt: skip
def test_each_check_can_fail(sdk: Any, sent: Sent, message: str) -> None:
    with pytest.raises((AssertionError, UserWarning)) as caught:
        check_with_sdk(sent, sdk)
    assert message in str(caught.value)
    check_with_sdk(AD_LEVEL, sdk)  # the unchanged requests pass
    check_with_sdk(ACCOUNT, sdk)
