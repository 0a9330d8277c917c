"""Materialization metadata for Meta runs: run counters, and per-date figures read from the marts.

Numbers become floats/ints (Dagster metadata has no Decimal); ratios are computed over the
touched rows only when they share one currency, as the marts do.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.meta.sync import MetaRunResult
from adspipe.warehouse.schema import daily_meta_metrics, daily_summary

_RATIO = Decimal("0.0001")


def _ratio(num: Decimal, den: Decimal) -> float | None:
    return float((num / den).quantize(_RATIO, rounding=ROUND_HALF_UP)) if den else None


def _put(meta: dict[str, Any], key: str, value: float | None) -> None:
    if value is not None:
        meta[key] = value


def run_metadata(result: MetaRunResult) -> dict[str, Any]:
    """Counters of the whole run (every account): rows, calls, throttling, usage high-water mark."""
    stats, meter = result.report.stats, result.meter
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
        "transient_errors": meter.transient_errors,
        "limit_reductions": meter.limit_reductions,
        "usage_high_water_pct": round(meter.high_water_pct, 2),
        "accounts": len(result.accounts),
        "failed_accounts": len(result.report.failed),
        "dates": ", ".join(d.isoformat() for d in result.touched()) or "none",
    }


def meta_metrics_on(engine: Engine, day: date, ad_account_ids: Sequence[str]) -> dict[str, Any]:
    """Spend, purchase value, ROAS and the account-level gap of `daily_meta_metrics` on one date."""
    dmm = daily_meta_metrics
    with engine.connect() as db:
        rows = list(
            db.execute(
                sa.select(dmm.c.currency, dmm.c.ads, dmm.c.spend, dmm.c.purchase_value, dmm.c.purchases,
                          dmm.c.account_spend, dmm.c.spend_gap)
                .where(dmm.c.date == day, dmm.c.ad_account_id.in_(list(ad_account_ids)))
            )
        )  # fmt: skip
    spend = sum((r.spend for r in rows), Decimal(0))
    value = sum((r.purchase_value for r in rows), Decimal(0))
    meta: dict[str, Any] = {
        "accounts": len(rows),
        "ads": sum(r.ads for r in rows),
        "spend": float(spend),
        "purchases": sum(r.purchases for r in rows),
        "purchase_value": float(value),
        "spend_gap": float(sum((r.spend_gap or Decimal(0) for r in rows), Decimal(0))),
    }
    if len({r.currency for r in rows}) == 1:
        _put(meta, "roas", _ratio(value, spend))
    return meta


def summary_on(engine: Engine, day: date, store_ids: Sequence[int]) -> dict[str, Any]:
    """`daily_summary` figures of the touched stores on one date (ROAS, MER when one currency)."""
    ds = daily_summary
    with engine.connect() as db:
        rows = list(
            db.execute(
                sa.select(ds.c.currency, ds.c.orders, ds.c.net_revenue, ds.c.spend, ds.c.purchase_value,
                          ds.c.roas, ds.c.mer, ds.c.currency_mismatch, ds.c.timezone_mismatch)
                .where(ds.c.date == day, ds.c.store_id.in_(list(store_ids)))
            )
        )  # fmt: skip
    spend = sum((r.spend for r in rows), Decimal(0))
    net = sum((r.net_revenue for r in rows), Decimal(0))
    value = sum((r.purchase_value for r in rows), Decimal(0))
    meta: dict[str, Any] = {
        "stores": len(rows),
        "orders": sum(r.orders for r in rows),
        "net_revenue": float(net),
        "spend": float(spend),
    }
    if len(rows) == 1:
        _put(meta, "roas", None if rows[0].roas is None else float(rows[0].roas))
        _put(meta, "mer", None if rows[0].mer is None else float(rows[0].mer))
    elif (
        rows
        and len({r.currency for r in rows}) == 1
        and not any(r.currency_mismatch or r.timezone_mismatch for r in rows)
    ):
        _put(meta, "roas", _ratio(value, spend))
        _put(meta, "mer", _ratio(net, spend))
    return meta
