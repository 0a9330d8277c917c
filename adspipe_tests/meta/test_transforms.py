"""Pure transforms: strings to exact numbers, one purchase action type, one day per answer."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from adspipe.meta import transforms
from adspipe.meta.settings import PURCHASE_ACTION_TYPE, PURCHASE_FALLBACKS
from adspipe.meta.transforms import InsightsFormatError

DAY = date(2026, 3, 4)


def _row(**extra: object) -> dict[str, object]:
    return {
        "ad_id": "1201",
        "adset_id": "1101",
        "campaign_id": "1001",
        "account_currency": "EUR",
        "spend": "12.34",
        "impressions": "1000",
        "clicks": "37",
        "reach": "800",
        "date_start": DAY.isoformat(),
        "date_stop": DAY.isoformat(),
        **extra,
    }


def _fact(row: dict[str, object]) -> dict[str, object]:
    return transforms.fact_row(
        row, ad_account_id="act_1", store_id=3, connection_id=7, currency="USD",
        purchase_type=PURCHASE_ACTION_TYPE, fallbacks=PURCHASE_FALLBACKS,
    )  # fmt: skip


def test_duplicate_purchase_types_are_counted_once_from_omni_purchase() -> None:
    # The same 3 purchases reported under all three types (and a non-purchase action around them).
    actions = [
        {"action_type": "link_click", "value": "37"},
        {"action_type": "purchase", "value": "3"},
        {"action_type": "omni_purchase", "value": "3"},
        {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "3"},
    ]
    values = [
        {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "89.97"},
        {"action_type": "omni_purchase", "value": "89.97"},
        {"action_type": "purchase", "value": "89.97"},
    ]
    fact = _fact(_row(actions=actions, action_values=values))
    assert fact["purchases"] == 3  # not 9
    assert fact["purchase_value"] == Decimal("89.97")  # not 269.91


def test_purchase_fallback_order_when_omni_purchase_is_missing() -> None:
    both = [
        {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "2"},
        {"action_type": "purchase", "value": "5"},
    ]
    assert _fact(_row(actions=both))["purchases"] == 5  # `purchase` comes before the pixel type
    pixel_only = [{"action_type": "offsite_conversion.fb_pixel_purchase", "value": "2"}]
    assert _fact(_row(actions=pixel_only, action_values=[
        {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "40.5"}]))["purchase_value"] == Decimal("40.5")  # fmt: skip
    none = _fact(_row(actions=[{"action_type": "link_click", "value": "9"}]))
    assert (none["purchases"], none["purchase_value"]) == (0, Decimal(0))
    # actions and action_values choose their type independently, each by the same rule.
    mixed = _fact(
        _row(
            actions=[{"action_type": "omni_purchase", "value": "4"}],
            action_values=[{"action_type": "purchase", "value": "10.00"}],
        )
    )
    assert (mixed["purchases"], mixed["purchase_value"]) == (4, Decimal("10.00"))


def test_fact_row_parses_every_string_exactly() -> None:
    fact = _fact(_row(spend="0.10", impressions="12345678901", clicks="0", reach=""))
    assert fact == {
        "ad_account_id": "act_1", "ad_id": "1201", "date": DAY, "store_id": 3, "connection_id": 7,
        "adset_id": "1101", "campaign_id": "1001", "currency": "EUR", "spend": Decimal("0.10"),
        "impressions": 12345678901, "clicks": 0, "reach": None, "purchases": 0, "purchase_value": Decimal(0),
    }  # fmt: skip
    # A row without account_currency takes the account's currency.
    assert _fact({k: v for k, v in _row().items() if k != "account_currency"})["currency"] == "USD"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (_row(spend="12.34567"), "spend has more than 4 decimals: '12.34567'"),
        (_row(spend="twelve"), "spend is not a number: 'twelve'"),
        (_row(spend="NaN"), "spend is not a finite number: 'NaN'"),
        (_row(clicks="3.5"), "clicks is not a whole number: '3.5'"),
        (_row(actions=[{"action_type": "omni_purchase", "value": "1.5"}]), "purchases is not a whole number"),
        (_row(actions={"omni_purchase": 1}), "actions must be a list, got dict"),
        (_row(actions=[{"value": "1"}]), "malformed action entry"),
        (_row(date_start="yesterday"), "date_start is not a date: 'yesterday'"),
        ({k: v for k, v in _row().items() if k != "ad_id"}, "ad-level row without ad_id"),
    ],
)
def test_bad_rows_are_refused_with_the_reason(row: dict[str, object], message: str) -> None:
    with pytest.raises(InsightsFormatError, match=message.replace("(", r"\(").replace(".", r"\.")):
        _fact(row)


def test_check_rows_refuses_another_day_and_keeps_one_row_per_ad() -> None:
    first, again, other = _row(spend="1.00"), _row(spend="2.00"), _row(ad_id="1202")
    kept = transforms.check_rows([first, other, again], DAY, level="ad")
    assert [(r["ad_id"], r["spend"]) for r in kept] == [("1201", "2.00"), ("1202", "12.34")]
    with pytest.raises(InsightsFormatError, match="asked for 2026-03-04, Meta returned a row for 2026-03-05"):
        transforms.check_rows([_row(date_start="2026-03-05", date_stop="2026-03-05")], DAY, level="ad")
    with pytest.raises(InsightsFormatError, match="asked for 2026-03-04"):
        transforms.check_rows([_row(date_stop="2026-03-05")], DAY, level="ad")
    assert len(transforms.check_rows([_row(), _row()], DAY, level="account")) == 2


def test_account_spend_sums_exactly() -> None:
    assert transforms.account_spend([{"spend": "0.10"}, {"spend": "0.20"}]) == Decimal("0.30")
    assert transforms.account_spend([]) == Decimal(0)
