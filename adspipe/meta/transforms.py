"""Pure functions: Meta insights rows (every number a string) → typed fact rows. No I/O.

Purchases follow docs/metrics.md: ONE action type is counted — the configured primary
(`omni_purchase`), else the first present of the fallbacks — never the sum of the duplicate
types Meta reports for the same purchase. `action_values` follow the same rule independently.
With attribution windows configured, the counted type's figure is the sum of its per-window keys
(one click window + one view window at most, validated upstream); without, its `value` (the
account's default window).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from adspipe.warehouse.types import MONEY_SCALE


class InsightsFormatError(ValueError):
    """A row Meta returned does not have the shape the pipeline relies on."""


def parse_money(value: Any, name: str) -> Decimal:
    """A decimal string as an exact `Decimal`; empty/missing is 0; more than 4 decimals is refused."""
    if value is None or value == "":
        return Decimal(0)
    try:
        amount = Decimal(value if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise InsightsFormatError(f"{name} is not a number: {value!r}") from None
    if not amount.is_finite():
        raise InsightsFormatError(f"{name} is not a finite number: {value!r}")
    exponent = amount.as_tuple().exponent
    # Trailing zeros ("1.230000") are fine: only normalize (slower) when the digits run long.
    if isinstance(exponent, int) and exponent < -MONEY_SCALE:
        exponent = amount.normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent < -MONEY_SCALE:
            raise InsightsFormatError(f"{name} has more than {MONEY_SCALE} decimals: {value!r}")
    return amount


def parse_count(value: Any, name: str) -> int:
    """A count string (`"1234"`, also `"12.0"`) as int; empty/missing is 0; fractions are refused."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)  # the usual shape, without the Decimal round trip
    amount = parse_money(value, name)
    if amount != amount.to_integral_value():
        raise InsightsFormatError(f"{name} is not a whole number: {value!r}")
    return int(amount)


def pick_action(
    actions: Any, primary: str, fallbacks: Sequence[str], windows: Sequence[str] | None = None
) -> str | None:
    """The figure of ONE action type: `primary` when present, else the first present fallback.

    Without `windows` its `value` (the account's default attribution window); with them the sum
    of its per-window keys (a window key Meta left out counts 0).
    """
    if actions is None:
        return None
    if not isinstance(actions, list):
        raise InsightsFormatError(f"actions must be a list, got {type(actions).__name__}")
    by_type: dict[str, dict[str, Any]] = {}
    for action in actions:
        if not isinstance(action, dict) or "action_type" not in action:
            raise InsightsFormatError(f"malformed action entry: {action!r}")
        # A type listed twice in one row is one figure reported twice: keep the first.
        by_type.setdefault(str(action["action_type"]), action)
    for action_type in (primary, *fallbacks):
        if action_type in by_type:
            entry = by_type[action_type]
            if not windows:
                value = entry.get("value")
                return None if value is None else str(value)
            total = sum((parse_money(entry.get(w), f"{action_type} {w}") for w in windows), Decimal(0))
            return str(total)
    return None


def row_date(row: Mapping[str, Any]) -> date:
    raw = row.get("date_start")
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        raise InsightsFormatError(f"date_start is not a date: {raw!r}") from None


def check_rows(rows: Iterable[Mapping[str, Any]], day: date, *, level: str) -> list[dict[str, Any]]:
    """The rows of one requested day, de-duplicated by ad (a repeated ad keeps its last row).

    A row for another date means the answer does not match the request: refuse it rather than
    file numbers under the wrong day.
    """
    kept: dict[str, dict[str, Any]] = {}
    for position, row in enumerate(rows):
        got = row_date(row)
        if got != day or str(row.get("date_stop", got)) != day.isoformat():
            raise InsightsFormatError(
                f"asked for {day}, Meta returned a row for {row.get('date_start')}..{row.get('date_stop')}"
            )
        if level == "ad":
            ad_id = row.get("ad_id")
            if not ad_id:
                raise InsightsFormatError(f"ad-level row without ad_id on {day}")
            kept[str(ad_id)] = dict(row)
        else:
            kept[str(position)] = dict(row)
    return list(kept.values())


def fact_row(
    row: Mapping[str, Any],
    *,
    ad_account_id: str,
    store_id: int,
    connection_id: int,
    currency: str | None,
    purchase_type: str,
    fallbacks: Sequence[str],
    windows: Sequence[str] | None = None,
) -> dict[str, Any]:
    """One `fact_meta_daily` row from one ad-level insights row."""
    ad_id = row.get("ad_id")
    if not ad_id:
        raise InsightsFormatError("ad-level row without ad_id")
    reach = row.get("reach")
    return {
        "ad_account_id": ad_account_id,
        "ad_id": str(ad_id),
        "date": row_date(row),
        "store_id": store_id,
        "connection_id": connection_id,
        "adset_id": str(row["adset_id"]) if row.get("adset_id") else None,
        "campaign_id": str(row["campaign_id"]) if row.get("campaign_id") else None,
        "currency": str(row.get("account_currency") or currency or "") or None,
        "spend": parse_money(row.get("spend"), "spend"),
        "impressions": parse_count(row.get("impressions"), "impressions"),
        "clicks": parse_count(row.get("clicks"), "clicks"),
        "reach": None if reach in (None, "") else parse_count(reach, "reach"),
        "purchases": parse_count(
            pick_action(row.get("actions"), purchase_type, fallbacks, windows), "purchases"
        ),
        "purchase_value": parse_money(
            pick_action(row.get("action_values"), purchase_type, fallbacks, windows), "purchase_value"
        ),
    }


def account_spend(rows: Iterable[Mapping[str, Any]]) -> Decimal:
    """Spend of the account-level call for one day (one row; summed should Meta split it)."""
    return sum((parse_money(r.get("spend"), "account spend") for r in rows), Decimal(0))
