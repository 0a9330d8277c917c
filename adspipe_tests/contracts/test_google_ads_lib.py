"""Contract: every GAQL field the Google Ads client sends exists in Google's own message definitions.

The queries are captured from the client's real requests (customer info, an ad-level range). Each
dotted field is walked through the proto-plus messages of the official `google-ads` library for
the pinned version (google-ads 34.0.0: v23–v26; requirements/contract.txt pins its
wheel by sha256): resource → field → nested message, e.g. `ad_group_ad.ad.id` is
`AdGroupAd.ad` (an `Ad`) then `Ad.id`. The FROM resource must be a resource type. The response
keys the transforms read must be those fields' lowerCamelCase JSON names: a result built from
the library's JSON names must come out of `ad_row` whole. Without the library the tests skip with
the reason; with CI=true they fail.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import re
from datetime import date
from typing import Any

import httpx
import pytest

from adspipe.google_ads import settings
from adspipe.google_ads.client import GoogleAdsClient
from adspipe.google_ads.transforms import ad_row
from adspipe_tests.ci import unavailable

LIBRARY, LIBRARY_VERSION = "google-ads", "34.0.0"
COMMON = ("metrics", "segments")  # GAQL roots that are common messages, not resources
QUERY = re.compile(r"^SELECT (?P<fields>.+) FROM (?P<resource>\w+)(?: WHERE .*)?$", re.S)
INT64, DOUBLE = 3, 1  # proto field types the JSON mapping writes as strings / numbers


def _require_library() -> None:
    try:
        installed = importlib.metadata.version(LIBRARY)
        importlib.import_module(f"google.ads.googleads.{settings.API_VERSION}.resources.types.ad_group_ad")
    except (importlib.metadata.PackageNotFoundError, ImportError) as exc:
        reason = f"{LIBRARY} is not installed ({exc}); pip install --no-deps --require-hashes -r requirements/contract.txt"
        unavailable(reason)
    assert installed == LIBRARY_VERSION, f"the contract pins {LIBRARY}=={LIBRARY_VERSION}, found {installed}"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def message_of(root: str) -> Any:
    """The proto-plus message class of a GAQL root (a resource, or metrics / segments)."""
    kind = "common" if root in COMMON else "resources"
    module = importlib.import_module(f"google.ads.googleads.{settings.API_VERSION}.{kind}.types.{root}")
    return getattr(module, _camel(root)[0].upper() + _camel(root)[1:])


def walk(field: str) -> tuple[str, int]:
    """The JSON path and proto type of a dotted GAQL field; raises LookupError naming what is unknown."""
    root, *parts = field.split(".")
    try:
        message = message_of(root)
    except (ImportError, AttributeError):
        raise LookupError(f"{field}: no resource or common message {root!r}") from None
    path = [_camel(root)]
    proto_type = 0
    for i, part in enumerate(parts):
        fields = message.meta.fields
        if part not in fields:
            raise LookupError(f"{field}: {message.__name__} has no field {part!r}")
        descriptor = message.pb().DESCRIPTOR.fields_by_name[part]
        path.append(descriptor.json_name)
        proto_type = fields[part].proto_type
        nested = fields[part].message
        if i < len(parts) - 1:
            if nested is None:
                raise LookupError(f"{field}: {message.__name__}.{part} is not a message")
            message = nested
    return ".".join(path), proto_type


def check_query(query: str) -> dict[str, tuple[str, int]]:
    match = QUERY.match(query.strip())
    assert match is not None, query
    resource = match["resource"]
    if resource in COMMON:
        raise LookupError(f"FROM {resource}: not a resource")
    try:
        message_of(resource)
    except (ImportError, AttributeError):
        raise LookupError(f"FROM {resource}: no such resource in {settings.API_VERSION}") from None
    return {f.strip(): walk(f.strip()) for f in match["fields"].split(",")}


def captured_queries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The GAQL of the client's real requests: customer info and an ad-level range."""
    for name in ("GOOGLE_ADS_DEVELOPER_TOKEN", "GOOGLE_ADS_CLIENT_ID", "GOOGLE_ADS_CLIENT_SECRET", "REFRESH"):
        monkeypatch.setenv(name, "x-value")
    queries: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        queries.append(json.loads(request.content)["query"])
        customer = {"id": "1234567890", "timeZone": "UTC", "currencyCode": "USD"}
        return httpx.Response(
            200, json=[{"results": [{"customer": customer}]}] if "FROM customer" in queries[-1] else [{}]
        )

    client = GoogleAdsClient(api_url="https://ads.test", oauth_url="https://oauth.test/token")
    session = client.with_transport(httpx.MockTransport(handler)).session(refresh_token_env="REFRESH")
    session.customer_info("1234567890")
    session.ad_days("1234567890", date(2026, 11, 1), date(2026, 11, 29))
    assert len(queries) == 2
    return queries


def test_every_field_the_client_sends_exists_in_the_pinned_library(monkeypatch: pytest.MonkeyPatch) -> None:
    _require_library()
    checked = {}
    for query in captured_queries(monkeypatch):
        checked.update(check_query(query))
    assert set(settings.AD_FIELDS) | set(settings.CUSTOMER_FIELDS) <= checked.keys()
    assert checked["metrics.cost_micros"] == ("metrics.costMicros", INT64)
    assert checked["metrics.impressions"][1] == INT64 and checked["metrics.clicks"][1] == INT64
    assert checked["metrics.conversions"][1] == DOUBLE and checked["metrics.conversions_value"][1] == DOUBLE
    assert checked["ad_group_ad.ad.id"] == ("adGroupAd.ad.id", INT64)


def test_the_keys_read_from_a_response_are_the_librarys_json_names() -> None:
    _require_library()
    values: dict[str, Any] = {
        "customer.id": "1234567890", "customer.time_zone": "Europe/Berlin", "customer.currency_code": "EUR",
        "campaign.id": "11", "ad_group.id": "22", "ad_group_ad.ad.id": "33", "ad_group_ad.status": "REMOVED",
        "segments.date": "2026-11-03", "metrics.impressions": "100", "metrics.clicks": "7",
        "metrics.cost_micros": "4560000", "metrics.conversions": 1.5, "metrics.conversions_value": 20.25,
    }  # fmt: skip
    assert set(values) == set(settings.AD_FIELDS)
    result: dict[str, Any] = {}
    for field, value in values.items():
        path, _ = walk(field)
        node = result
        *parents, leaf = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    row = ad_row(result)
    assert (row.customer_id, row.time_zone, row.currency_code) == ("1234567890", "Europe/Berlin", "EUR")
    assert (row.campaign_id, row.ad_group_id, row.ad_id, row.status) == ("11", "22", "33", "REMOVED")
    assert (row.day, row.impressions, row.clicks, row.cost_micros) == (date(2026, 11, 3), 100, 7, 4_560_000)
    assert (row.conversions, row.conversions_value) == (1.5, 20.25)


def test_a_renamed_field_and_an_unknown_resource_fail() -> None:
    _require_library()
    with pytest.raises(LookupError, match="Metrics has no field 'cost_micro'"):
        check_query("SELECT metrics.cost_micro FROM ad_group_ad WHERE segments.date = '2026-11-01'")
    with pytest.raises(LookupError, match="FROM ad_group_adx: no such resource"):
        check_query("SELECT customer.id FROM ad_group_adx")
    with pytest.raises(LookupError, match="AdGroupAd has no field 'name'"):
        check_query("SELECT ad_group_ad.name FROM ad_group_ad")
