"""Google Ads rows: customer ids, a searchStream result → `AdRow` (typed as the API sends it) → `AdFact`.

JSON keys are lowerCamelCase (`adGroupAd`, `costMicros`); int64 fields (ids, `costMicros`,
`impressions`, `clicks`) are strings; `conversions` and `conversionsValue` are doubles. A field
at its default (0) may be absent (proto3 JSON), so a missing metric reads as 0.

Money is exact: spend is `cost_micros / 10^6` as a Decimal with at most 4 decimals (the
warehouse's Money); a cost with finer micros is refused, never rounded. `conversions` (fractional
under data-driven attribution) is kept to 6 decimals and `conversions_value` to 4, rounded half
even from the double's shortest representation: the API sends doubles, so no more is knowable.
`segments.date` is already the customer's local date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from adspipe.errors import PermanentApiError, TransientApiError
from adspipe.google_ads import settings

_CUSTOMER_ID = re.compile(r"^(\d{3})-?(\d{3})-?(\d{4})$")
_MICROS = 1_000_000
_MONEY_STEP = _MICROS // 10**settings.MONEY_DECIMALS  # 100 micros = 0.0001


def normalize_customer_id(value: str) -> str:
    """A customer id as 10 digits: `123-456-7890` or `1234567890` → `1234567890`."""
    match = _CUSTOMER_ID.match(value.strip())
    if match is None:
        raise ValueError(f"a Google Ads customer id has 10 digits (123-456-7890), got {value!r}")
    return "".join(match.groups())


@dataclass(frozen=True)
class AdRow:
    """One result row of the ad-level query, typed as the API sends it."""

    customer_id: str
    time_zone: str
    currency_code: str
    campaign_id: str
    ad_group_id: str
    ad_id: str
    status: str  # ad_group_ad.status now: ENABLED | PAUSED | REMOVED
    day: date  # segments.date: the customer's local date
    impressions: int
    clicks: int
    cost_micros: int
    conversions: float
    conversions_value: float


@dataclass(frozen=True)
class AdFact:
    """The fact row: money and conversions as exact Decimals."""

    customer_id: str
    day: date
    campaign_id: str
    ad_group_id: str
    ad_id: str
    status: str
    currency: str
    impressions: int
    clicks: int
    spend: Decimal
    conversions: Decimal
    conversions_value: Decimal


def _obj(row: dict[str, Any], key: str) -> dict[str, Any]:
    value = row.get(key)
    if not isinstance(value, dict):
        raise TransientApiError(f"Google Ads result row has no '{key}' object")
    return value


def _int64(obj: dict[str, Any], key: str, *, required: bool = False) -> int:
    value = obj.get(key)
    if value is None and not required:
        return 0
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TransientApiError(f"Google Ads result: '{key}' is not an int64 ({value!r})")
    try:
        return int(value)
    except ValueError:
        raise TransientApiError(f"Google Ads result: '{key}' is not an int64 ({value!r})") from None


def _double(obj: dict[str, Any], key: str) -> float:
    value = obj.get(key, 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TransientApiError(f"Google Ads result: '{key}' is not a number ({value!r})")
    try:
        return float(value)  # proto3 JSON may also write a double as a string ("NaN", "1.5")
    except ValueError:
        raise TransientApiError(f"Google Ads result: '{key}' is not a number ({value!r})") from None


def _text(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise TransientApiError(f"Google Ads result: '{key}' is missing")
    return value


def ad_row(result: dict[str, Any]) -> AdRow:
    """One `results[]` element of the ad-level query."""
    customer, metrics = _obj(result, "customer"), result.get("metrics") or {}
    ad_group_ad = _obj(result, "adGroupAd")
    try:
        day = date.fromisoformat(_text(_obj(result, "segments"), "date"))
    except ValueError:
        raise TransientApiError("Google Ads result: segments.date is not a date") from None
    return AdRow(
        customer_id=str(_int64(customer, "id", required=True)),
        time_zone=_text(customer, "timeZone"),
        currency_code=_text(customer, "currencyCode"),
        campaign_id=str(_int64(_obj(result, "campaign"), "id", required=True)),
        ad_group_id=str(_int64(_obj(result, "adGroup"), "id", required=True)),
        ad_id=str(_int64(_obj(ad_group_ad, "ad"), "id", required=True)),
        status=_text(ad_group_ad, "status"),
        day=day,
        impressions=_int64(metrics, "impressions"),
        clicks=_int64(metrics, "clicks"),
        cost_micros=_int64(metrics, "costMicros"),
        conversions=_double(metrics, "conversions"),
        conversions_value=_double(metrics, "conversionsValue"),
    )


def spend_from_micros(cost_micros: int, *, where: str = "") -> Decimal:
    """`cost_micros / 10^6` exactly, with at most 4 decimals; finer micros are refused."""
    if cost_micros % _MONEY_STEP:
        raise PermanentApiError(
            f"Google Ads cost_micros {cost_micros}{where} has more than {settings.MONEY_DECIMALS} decimals: "
            "refused rather than rounded"
        )
    return (Decimal(cost_micros) / _MICROS).quantize(Decimal(1).scaleb(-settings.MONEY_DECIMALS))


def decimal_from_double(value: float, decimals: int) -> Decimal:
    """A double as a Decimal to `decimals` places (half even) from its shortest repr."""
    if value != value or value in (float("inf"), float("-inf")):
        raise TransientApiError(f"Google Ads sent a non-finite number ({value!r})")
    return Decimal(repr(value)).quantize(Decimal(1).scaleb(-decimals))


_KEPT = ("customer_id", "day", "campaign_id", "ad_group_id", "ad_id", "status", "impressions", "clicks")


def ad_fact(row: AdRow) -> AdFact:
    """The row's ids, status and counts as they are; money and conversions as exact Decimals."""
    where = f" (customer {row.customer_id}, ad {row.ad_id}, {row.day})"
    return AdFact(
        **{name: getattr(row, name) for name in _KEPT}, currency=row.currency_code,
        spend=spend_from_micros(row.cost_micros, where=where),
        conversions=decimal_from_double(row.conversions, settings.CONVERSIONS_DECIMALS),
        conversions_value=decimal_from_double(row.conversions_value, settings.MONEY_DECIMALS),
    )  # fmt: skip
