"""Materialization metadata for Google Ads runs: run counters and per-date figures per currency.

Numbers become floats/ints (Dagster metadata has no Decimal); amounts are never added across
currencies. No credential is ever part of it (the session masks its errors; nothing here reads one).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.google_ads.settings import PLATFORM
from adspipe.google_ads.sync import CustomerRun, GoogleAdsResult
from adspipe.marts.metadata import UNKNOWN_CURRENCY
from adspipe.warehouse.schema import daily_ad_metrics


def run_metadata(result: GoogleAdsResult) -> dict[str, Any]:
    """Counters of the whole run (every customer)."""
    stats = result.report.stats
    return {
        "api_version": stats.api_version or "none",
        "api_version_served": stats.api_version_served or "none",
        "rows": stats.rows,
        "api_calls": stats.api_calls,
        "throttled": stats.throttled,
        "throttle_wait_s": round(stats.throttle_wait_s, 3),
        "customers": len(result.runs),
        "failed_customers": len(result.report.failed),
        "dates": ", ".join(d.isoformat() for d in result.touched()) or "none",
    }


def day_figures(runs: Sequence[CustomerRun], day: date) -> dict[str, Any]:
    """The committed facts of one day: rows, spend, conversions and their value per currency."""
    out: dict[str, Any] = {"rows": 0}
    sums: dict[str, dict[str, Decimal]] = {}
    for run in runs:
        code = (run.info.currency_code if run.info else None) or UNKNOWN_CURRENCY
        for result in run.days:
            if result.day != day:
                continue
            out["rows"] += result.ad_rows
            mine = sums.setdefault(code, {"spend": Decimal(0), "conversions_value": Decimal(0)})
            mine["spend"] += result.spend
            mine["conversions_value"] += result.conversions_value
            out["conversions"] = float(Decimal(str(out.get("conversions", 0))) + result.conversions)
    for code, figures in sorted(sums.items()):
        for name, amount in figures.items():
            out[f"{name}_{code}"] = float(amount)
    return out


def metrics_on(engine: Engine, day: date, customer_ids: Sequence[str]) -> dict[str, Any]:
    """Google Ads' `daily_ad_metrics` rows of one date: spend and conversions value per currency."""
    dam = daily_ad_metrics
    with engine.connect() as db:
        rows = list(
            db.execute(
                sa.select(
                    dam.c.currency, dam.c.ads, dam.c.spend, dam.c.purchase_value, dam.c.purchases
                ).where(
                    dam.c.platform == PLATFORM, dam.c.date == day, dam.c.ad_account_id.in_(list(customer_ids))
                )
            )
        )
    meta: dict[str, Any] = {"customers": len(rows), "ads": sum(r.ads for r in rows)}
    for code in sorted({r.currency or UNKNOWN_CURRENCY for r in rows}):
        mine = [r for r in rows if (r.currency or UNKNOWN_CURRENCY) == code]
        meta[f"spend_{code}"] = float(sum((r.spend for r in mine), Decimal(0)))
        meta[f"conversions_value_{code}"] = float(sum((r.purchase_value for r in mine), Decimal(0)))
    return meta
