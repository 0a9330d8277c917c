"""Google Ads transforms: customer ids, result rows typed, spend exact from micros, conversions as Decimals."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from adspipe.errors import PermanentApiError, TransientApiError
from adspipe.google_ads.transforms import (
    ad_fact,
    ad_row,
    decimal_from_double,
    normalize_customer_id,
    spend_from_micros,
)


def result(**metrics: Any) -> dict[str, Any]:
    return {
        "customer": {"resourceName": "customers/1234567890", "id": "1234567890", "timeZone": "Europe/Berlin",
                     "currencyCode": "EUR"},
        "campaign": {"resourceName": "customers/1234567890/campaigns/111", "id": "111"},
        "adGroup": {"resourceName": "customers/1234567890/adGroups/222", "id": "222"},
        "adGroupAd": {"resourceName": "customers/1234567890/adGroupAds/222~333", "status": "REMOVED",
                      "ad": {"resourceName": "customers/1234567890/ads/333", "id": "333"}},
        "segments": {"date": "2026-11-03"},
        "metrics": metrics,
    }  # fmt: skip


@pytest.mark.parametrize("given", ["123-456-7890", "1234567890", " 123-456-7890 "])
def test_customer_ids_normalize_to_ten_digits(given: str) -> None:
    assert normalize_customer_id(given) == "1234567890"


@pytest.mark.parametrize(
    "given", ["123456789", "12345678901", "123-4567-890", "abc-def-ghij", "", "act_1234567890"]
)
def test_other_customer_ids_are_refused(given: str) -> None:
    with pytest.raises(ValueError, match="10 digits"):
        normalize_customer_id(given)


def test_a_result_row_becomes_a_typed_row_and_a_fact_with_exact_money() -> None:
    row = ad_row(result(impressions="1200", clicks="34", costMicros="12340000", conversions=2.333,
                        conversionsValue=101.37))  # fmt: skip
    assert (row.customer_id, row.campaign_id, row.ad_group_id, row.ad_id) == (
        "1234567890",
        "111",
        "222",
        "333",
    )
    assert (row.status, row.day, row.time_zone, row.currency_code) == (
        "REMOVED",
        date(2026, 11, 3),
        "Europe/Berlin",
        "EUR",
    )
    assert (row.impressions, row.clicks, row.cost_micros) == (1200, 34, 12_340_000)
    fact = ad_fact(row)
    assert fact.spend == Decimal("12.34") and str(fact.spend) == "12.3400"
    assert fact.conversions == Decimal("2.333") and fact.conversions_value == Decimal("101.37")
    assert fact.currency == "EUR" and fact.status == "REMOVED"


def test_zero_metrics_left_out_by_proto3_json_read_as_zero() -> None:
    fact = ad_fact(ad_row(result(impressions="5")))
    assert (fact.impressions, fact.clicks, fact.spend, fact.conversions, fact.conversions_value) == (
        5, 0, Decimal(0), Decimal(0), Decimal(0))  # fmt: skip


def test_spend_keeps_four_decimals_and_refuses_finer_micros() -> None:
    assert spend_from_micros(1_234_500) == Decimal("1.2345")
    assert spend_from_micros(990_000) == Decimal("0.99")
    with pytest.raises(PermanentApiError, match="more than 4 decimals"):
        spend_from_micros(1_234_567)


def test_doubles_become_decimals_at_the_documented_precision() -> None:
    assert decimal_from_double(0.1 + 0.2, 6) == Decimal("0.3")
    assert decimal_from_double(1 / 3, 6) == Decimal("0.333333")
    assert decimal_from_double(49.99 * 0.667, 4) == Decimal("33.3433")
    with pytest.raises(TransientApiError):
        decimal_from_double(float("nan"), 6)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"costMicros": "12.5"}, "costMicros"),
        ({"conversions": {"x": 1}}, "conversions"),
    ],
)
def test_malformed_values_are_transient(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(TransientApiError, match=message):
        ad_row(result(**patch))


def test_a_row_without_its_date_is_transient() -> None:
    broken = result()
    del broken["segments"]
    with pytest.raises(TransientApiError, match="segments"):
        ad_row(broken)
