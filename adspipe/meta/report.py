"""Materialization metadata for Meta runs: run counters, and per-date figures read from the marts.

Numbers become floats/ints (Dagster metadata has no Decimal); amounts and ratios are per currency.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.marts.metadata import UNKNOWN_CURRENCY
from adspipe.meta.sync import MetaResult, total_meter
from adspipe.warehouse.schema import daily_meta_metrics

_RATIO = Decimal("0.0001")


def _ratio(num: Decimal, den: Decimal) -> float | None:
    return float((num / den).quantize(_RATIO, rounding=ROUND_HALF_UP)) if den else None


def _put(meta: dict[str, Any], key: str, value: float | None) -> None:
    if value is not None:
        meta[key] = value


def run_metadata(result: MetaResult) -> dict[str, Any]:
    """Counters of the whole run (every account): rows, calls, throttling, usage high-water mark."""
    stats, meter = result.report.stats, total_meter(result)
    versions = result.versions
    return {
        # the version pinned, and the one Meta's facebook-api-version header named (they differ
        # when Meta upgraded the calls of an expired pin; "none" before any answer)
        "api_version": versions.requested if versions else "none",
        "api_version_served": (versions.served if versions else None) or "none",
        "rows": stats.rows,
        "pages": meter.pages,
        "api_calls": stats.api_calls,
        "throttled": stats.throttled,
        "throttle_wait_s": round(stats.throttle_wait_s, 3),
        "backoff_wait_s": round(meter.backoff_wait_s, 3),
        "pace_wait_s": round(meter.pace_wait_s, 3),
        # seconds spent waiting for asynchronous report runs to finish (adspipe.meta.report_runs)
        "report_poll_wait_s": round(meter.waits_s.get("poll", 0.0), 3),
        "transient_errors": meter.transient_errors,
        "limit_reductions": meter.limit_reductions,
        "usage_high_water_pct": round(meter.high_water_pct, 2),
        "accounts": len(result.runs),
        "failed_accounts": len(result.report.failed),
        "dates": ", ".join(d.isoformat() for d in result.touched()) or "none",
    }


def meta_metrics_on(engine: Engine, day: date, ad_account_ids: Sequence[str]) -> dict[str, Any]:
    """Spend, purchase value, ROAS and the account-level gap of `daily_meta_metrics` on one date,
    per currency (`spend_USD`, `roas_EUR`): amounts in different currencies are never added."""
    dmm = daily_meta_metrics
    with engine.connect() as db:
        rows = list(
            db.execute(
                sa.select(dmm.c.currency, dmm.c.ads, dmm.c.spend, dmm.c.purchase_value, dmm.c.purchases,
                          dmm.c.account_spend, dmm.c.spend_gap)
                .where(dmm.c.date == day, dmm.c.ad_account_id.in_(list(ad_account_ids)))
            )
        )  # fmt: skip
    meta: dict[str, Any] = {
        "accounts": len(rows),
        "ads": sum(r.ads for r in rows),
        "purchases": sum(r.purchases for r in rows),
    }
    for code in sorted({r.currency or UNKNOWN_CURRENCY for r in rows}):
        mine = [r for r in rows if (r.currency or UNKNOWN_CURRENCY) == code]
        spend = sum((r.spend for r in mine), Decimal(0))
        value = sum((r.purchase_value for r in mine), Decimal(0))
        meta[f"spend_{code}"] = float(spend)
        meta[f"purchase_value_{code}"] = float(value)
        meta[f"spend_gap_{code}"] = float(sum((r.spend_gap or Decimal(0) for r in mine), Decimal(0)))
        _put(meta, f"roas_{code}", _ratio(value, spend))
    return meta
