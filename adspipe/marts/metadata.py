"""What a `daily_summary` partition's materialization says: that day's figures, read from the warehouse.

Money never adds up across currencies: every amount is keyed by its currency (`net_revenue_USD`,
`spend_EUR`, `mer_NZD`), so Dagster's plots chart one currency per line. Revenue and orders come
from `daily_summary` (the shop's currency), spend and purchase value from `daily_ad_metrics`, every ad
platform's rows (the
ad account's currency); ROAS is computed within one currency, and MER only over the stores whose
own MER is defined that day (shop and ad accounts in one currency and time zone), with the mart's
denominator (account-level spend): a USD ad account of an NZD shop never enters `mer_USD`. A
preview table lists the day's rows per store.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from adspipe.orchestration.partitions import partitions_start
from adspipe.warehouse.schema import daily_ad_metrics, daily_shopify_metrics, daily_summary, stores

_RATIO = Decimal("0.0001")
UNKNOWN_CURRENCY = "unknown"  # a shop or an ad account whose currency is not read yet


def _ratio(num: Decimal, den: Decimal) -> float | None:
    return float((num / den).quantize(_RATIO, rounding=ROUND_HALF_UP)) if den else None


@dataclass
class _Currency:
    orders: int = 0
    net_revenue: Decimal = Decimal(0)
    spend: Decimal = Decimal(0)
    purchase_value: Decimal = Decimal(0)
    has_shop: bool = False
    has_ads: bool = False
    mer_revenue: Decimal = Decimal(0)  # net revenue of the stores whose MER is defined
    mer_spend: Decimal = Decimal(0)  # their account-level spend (the mart's MER denominator)


@dataclass
class DaySummary:
    """One date of `daily_summary` as the warehouse holds it."""

    day: date
    rows: list[Any] = field(default_factory=list)  # daily_summary rows joined with the store name
    shopify_stores: int = 0  # stores with a daily_shopify_metrics row that day
    ad_accounts: int = 0  # ad accounts (every ad platform) with a daily_ad_metrics row that day
    by_currency: dict[str, _Currency] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.rows

    def missing(self) -> str:
        """Why the day has no row: what the warehouse lacks for it."""
        return (
            f"daily_summary {self.day}: the warehouse holds no upstream data for this date "
            f"(daily_shopify_metrics: {self.shopify_stores} store(s), daily_ad_metrics: "
            f"{self.ad_accounts} ad account(s)); materialize shopify_orders_raw/fact_orders/"
            "daily_shopify_metrics and the ad platforms' assets (meta_insights_raw/fact_meta_daily/"
            "daily_meta_metrics, …) for it first"
        )

    def metadata(self) -> dict[str, Any]:
        """Numeric per-currency keys (Dagster plots them across partitions) and a preview table."""
        meta: dict[str, Any] = {
            "rows": len(self.rows),
            "stores": len({r.store_id for r in self.rows}),
            "shopify_stores": self.shopify_stores,
            "ad_accounts": self.ad_accounts,
            "currencies": ", ".join(sorted(self.by_currency)) or "none",
        }
        for code, figures in sorted(self.by_currency.items()):
            if figures.has_shop:
                meta[f"orders_{code}"] = figures.orders
                meta[f"net_revenue_{code}"] = float(figures.net_revenue)
            if figures.has_ads:
                meta[f"spend_{code}"] = float(figures.spend)
                roas = _ratio(figures.purchase_value, figures.spend)
                if roas is not None:
                    meta[f"roas_{code}"] = roas
            if figures.mer_spend:
                mer = _ratio(figures.mer_revenue, figures.mer_spend)
                if mer is not None:
                    meta[f"mer_{code}"] = mer
        meta["preview"] = preview_table(self.rows)
        return meta


def read_day(conn: Connection, day: date) -> DaySummary:
    """The day's `daily_summary` rows, per-currency totals, and how many sources it has."""
    ds, dsm, dmm = daily_summary, daily_shopify_metrics, daily_ad_metrics
    summary = DaySummary(day)
    summary.rows = list(
        conn.execute(
            sa.select(stores.c.name.label("store"), ds)
            .join(stores, stores.c.store_id == ds.c.store_id)
            .where(ds.c.date == day)
            .order_by(stores.c.name)
        )
    )
    by_currency: dict[str, _Currency] = defaultdict(_Currency)
    for row in conn.execute(
        sa.select(dsm.c.currency, dsm.c.orders, dsm.c.net_revenue).where(dsm.c.date == day)
    ):
        figures = by_currency[row.currency or UNKNOWN_CURRENCY]
        figures.has_shop = True
        figures.orders += row.orders
        figures.net_revenue += row.net_revenue
        summary.shopify_stores += 1
    for row in conn.execute(
        sa.select(dmm.c.currency, dmm.c.spend, dmm.c.purchase_value).where(dmm.c.date == day)
    ):
        figures = by_currency[row.currency or UNKNOWN_CURRENCY]
        figures.has_ads = True
        figures.spend += row.spend
        figures.purchase_value += row.purchase_value
        summary.ad_accounts += 1
    # MER within a currency: only the stores whose own MER is defined (no currency or time-zone
    # mismatch, some spend), over the same account-level spend the mart divides by.
    mer_stores = {r.store_id: r for r in summary.rows if r.mer is not None}
    if mer_stores:
        for row in conn.execute(
            sa.select(
                dmm.c.store_id, sa.func.coalesce(dmm.c.account_spend, dmm.c.spend).label("spend")
            ).where(dmm.c.date == day, dmm.c.store_id.in_(mer_stores))
        ):
            by_currency[mer_stores[row.store_id].currency or UNKNOWN_CURRENCY].mer_spend += row.spend
        for store_row in mer_stores.values():
            by_currency[store_row.currency or UNKNOWN_CURRENCY].mer_revenue += store_row.net_revenue
    summary.by_currency = dict(by_currency)
    return summary


def day_summary(engine: Engine, day: date) -> DaySummary:
    with engine.connect() as conn:
        return read_day(conn, day)


_PREVIEW_COLUMNS = [
    ("store", "string"), ("currency", "string"), ("orders", "int"), ("net_revenue", "float"),
    ("spend", "float"), ("roas", "float"), ("mer", "float"), ("flags", "string"),
]  # fmt: skip
PREVIEW_ROWS = 20


def _cell(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def preview_table(rows: list[Any]) -> dg.TableMetadataValue:
    """The day's rows per store (first PREVIEW_ROWS), as a table the asset page renders."""
    schema = dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in _PREVIEW_COLUMNS])
    records = []
    for row in rows[:PREVIEW_ROWS]:
        flags = " ".join(
            f for f, on in (("currency", row.currency_mismatch), ("timezone", row.timezone_mismatch)) if on
        )
        values = {
            "store": row.store, "currency": row.currency or "", "orders": row.orders,
            "net_revenue": _cell(row.net_revenue), "spend": _cell(row.spend), "roas": _cell(row.roas),
            "mer": _cell(row.mer), "flags": flags,
        }  # fmt: skip
        records.append(dg.TableRecord(values))
    return dg.MetadataValue.table(records=records, schema=schema)


SUMMARY_KEY = dg.AssetKey("daily_summary")


def summary_is_targeted(context: dg.AssetExecutionContext) -> bool:
    """Whether this run (or the backfill it belongs to) materializes `daily_summary` itself.

    Then the platform steps do not record it: its own step runs once both platforms' days are
    final and records each partition once. A run or backfill of one platform's assets records the
    days it rebuilt from that platform's step instead (the other platform's figures are what the
    warehouse holds; this run does not change them).
    """
    # The run's selection (None when the run executes its whole job: then the job's assets).
    selection = context.run.asset_selection or context.job_def.asset_layer.selected_asset_keys
    if SUMMARY_KEY in selection:
        return True
    backfill_id = context.run.tags.get("dagster/backfill")
    if backfill_id:
        backfill = context.instance.get_backfill(backfill_id)
        targeted = backfill.asset_selection if backfill is not None else None
        return bool(targeted) and SUMMARY_KEY in (targeted or [])
    return False


def summary_materializations(engine: Engine, days: list[date]) -> Iterator[dg.AssetMaterialization]:
    """`daily_summary` of each day a platform step committed (call it once every connection of the
    run committed the day), with the day's figures as the warehouse holds them; a day without any
    row is not recorded."""
    first = partitions_start()
    for day in sorted(set(days)):
        summary = day_summary(engine, day)
        if day >= first and not summary.empty:
            yield dg.AssetMaterialization(
                asset_key=SUMMARY_KEY, partition=day.isoformat(), metadata=summary.metadata()
            )
