"""Materialization metadata for Shopify runs: run counters, API versions, and per-date figures per
currency.

Numbers become floats/ints (Dagster metadata has no Decimal); amounts are never added across
currencies.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

import dagster as dg

from adspipe.counters import total
from adspipe.marts.metadata import UNKNOWN_CURRENCY
from adspipe.shopify import sync


def version_metadata(result: sync.ShopifyResult) -> dict[str, Any]:
    """The Admin API version asked for and the one(s) Shopify's headers said served the run."""
    served = sorted({s.calls.api_version_served for s in result.runs if s.calls.api_version_served})
    deprecated = sorted({r for s in result.runs for r in s.calls.deprecated_reasons})
    metadata: dict[str, Any] = {
        "api_version": next((s.calls.api_version for s in result.runs if s.calls.api_version), ""),
        "api_version_served": ", ".join(served),
    }
    if deprecated:
        metadata["api_deprecated_reasons"] = dg.MetadataValue.json(deprecated)
    return metadata


def run_metadata(result: sync.ShopifyResult) -> dict[str, Any]:
    """Run-level numbers: rows, pages, API calls, cost, throttling, dates touched, API versions."""
    shops = result.runs
    dates = sorted({d for s in shops for d in s.dates})
    return version_metadata(result) | {
        "rows": sum(s.orders_written for s in shops),
        "orders_read": sum(s.orders_read for s in shops),
        "pages": sum(s.calls.pages for s in shops),
        "api_calls": sum(s.calls.api_calls for s in shops),
        "requested_cost": float(sum(s.calls.requested_cost for s in shops)),
        "actual_cost": float(sum(s.calls.actual_cost for s in shops)),
        "throttled": sum(s.calls.throttled for s in shops),
        "throttle_wait_s": round(sum(s.calls.throttled_wait_s for s in shops), 3),
        "pace_wait_s": round(sum(s.calls.pace_wait_s for s in shops), 3),
        "retries": sum(s.calls.retries for s in shops),
        "dates_touched": len(dates),
        "dates": dg.MetadataValue.json([d.isoformat() for d in dates]),
        "connections": len(shops),
        "failed_connections": len(result.report.failed),
        "stopped_at_budget": any(s.stopped_at_budget for s in shops),
    }


def day_metadata(result: sync.ShopifyResult, day: date) -> dict[str, Any]:
    """One date's own rows, calls and waits (every shop of the run that touched it)."""
    stats = total([shop.day_stats[day] for shop in result.runs if day in shop.day_stats])
    return {**stats.metadata(), "shops": sum(1 for shop in result.runs if day in shop.day_stats)}


def mart_metadata(result: sync.ShopifyResult, day: date) -> dict[str, Any]:
    """Numeric metadata for one date of the mart, per currency (Dagster plots it across partitions)."""
    by_currency: dict[str, tuple[int, Decimal]] = defaultdict(lambda: (0, Decimal(0)))
    for shop in result.runs:
        totals = shop.totals.get(day)
        if totals is None:
            continue
        code = (shop.shop.currency if shop.shop else None) or UNKNOWN_CURRENCY
        orders, net = by_currency[code]
        by_currency[code] = (orders + totals.orders, net + totals.net_revenue)
    metadata: dict[str, Any] = {"orders": sum(orders for orders, _ in by_currency.values())}
    for code, (orders, net) in sorted(by_currency.items()):
        metadata[f"orders_{code}"] = orders
        metadata[f"net_revenue_{code}"] = float(net)
    return metadata
