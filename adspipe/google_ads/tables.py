"""Google Ads' own tables, on the warehouse's one `metadata` (adspipe.warehouse.schema loads this
module, so Alembic and every consumer of the schema see them). Migration 0005 creates them."""

from __future__ import annotations

import sqlalchemy as sa

from adspipe.warehouse.schema import connections, metadata
from adspipe.warehouse.types import Money, Payload, UtcDateTime

# A connection option of Google Ads only: the manager account (10 digits) the customer is reached
# through, or NULL (`Connection.options["login_customer_id"]`).
connections.append_column(
    sa.Column("login_customer_id", sa.String(16), nullable=True, info={"platform_option": True})
)


def _customer_ad_day(name: str, *columns: sa.schema.SchemaItem, comment: str) -> sa.Table:
    """A table at the grain of Google Ads' rows: one per customer, ad and date (customer time zone)."""
    grain = (
        sa.Column("customer_id", sa.String(16), primary_key=True), sa.Column("ad_id", sa.String(32), primary_key=True),
        sa.Column("date", sa.Date, primary_key=True),
    )  # fmt: skip
    return sa.Table(name, metadata, *grain, *columns, comment=comment)


google_ads_raw = _customer_ad_day(
    "google_ads_raw",
    sa.Column("connection_id", sa.Integer, sa.ForeignKey("connections.connection_id"), nullable=False),
    sa.Column("payload", Payload, nullable=False),
    sa.Column("fetched_at", UtcDateTime, nullable=False),
    sa.Index(None, "connection_id", "date"),
    comment="Grain: one row per Google Ads customer, ad and date (customer time zone), its latest "
    "searchStream result row.",
)

fact_google_ads_daily = _customer_ad_day(
    "fact_google_ads_daily",
    sa.Column("store_id", sa.Integer, sa.ForeignKey("stores.store_id"), nullable=False),
    sa.Column("connection_id", sa.Integer, sa.ForeignKey("connections.connection_id"), nullable=False),
    sa.Column("campaign_id", sa.String(32), nullable=True),
    sa.Column("ad_group_id", sa.String(32), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # the ad's status now (REMOVED keeps its spend)
    sa.Column("currency", sa.String(8), nullable=True),
    sa.Column("spend", Money, nullable=False),  # cost_micros / 10^6, exact
    sa.Column("impressions", sa.BigInteger, nullable=False),
    sa.Column("clicks", sa.BigInteger, nullable=False),
    # Fractional conversions (data-driven attribution) in exact millionths: 1.25 → 1250000.
    sa.Column("conversions_micros", sa.BigInteger, nullable=False),
    sa.Column("conversions_value", Money, nullable=False),
    sa.Index(None, "store_id", "date"),
    comment="Grain: one row per Google Ads customer, ad and date (customer time zone).",
)
