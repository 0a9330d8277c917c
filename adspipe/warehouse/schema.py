"""The warehouse schema, defined once. Migrations under `migrations/` create and upgrade it.

Every table's primary key is its grain, so every write is an upsert on that key. Money columns
are `Money` (exact decimals), timestamps `UtcDateTime`. Marts carry no load timestamps, so that
re-running a job leaves them byte-identical.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import sqlalchemy as sa

from adspipe.warehouse.types import CursorText, Money, Payload, UtcDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# The connections.platform CHECK: every platform package (a folder of adspipe holding platform.py,
# as the registry finds them). Each platform's migration widens the database's constraint to match.
PLATFORMS = tuple(sorted(p.parent.name for p in Path(__file__).resolve().parents[1].glob("*/platform.py")))
CONNECTION_STATUSES = ("active", "needs_reauth", "disconnected")
SYNC_STATUSES = ("running", "success", "failed", "rate_limited")

stores = sa.Table(
    "stores",
    metadata,
    sa.Column("store_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    comment="Grain: one row per store (brand).",
)

connections = sa.Table(
    "connections",
    metadata,
    sa.Column("connection_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("store_id", sa.Integer, sa.ForeignKey("stores.store_id"), nullable=False),
    sa.Column("platform", sa.String(16), nullable=False),
    # Shopify: the shop domain (x.myshopify.com); Meta: the ad account id (act_123).
    sa.Column("account_id", sa.String(255), nullable=False),
    # Never the token itself: "env:VAR_NAME" names the environment variable that holds it.
    sa.Column("token_ref", sa.String(255), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),
    sa.Column("status_reason", sa.Text, nullable=True),
    sa.Column("timezone", sa.String(64), nullable=True),
    sa.Column("currency", sa.String(8), nullable=True),
    # The days an ad platform's fresh job re-pulls for late conversions (Meta: its attribution
    # window, 1-28; up to 90 for a conversion-lag window). A platform's own connection options are
    # columns its tables.py appends here (marked `info={"platform_option": True}`).
    sa.Column("attribution_window_days", sa.Integer, nullable=True),
    # Meta only. Comma-separated attribution windows purchases are counted in (`7d_click,1d_view`);
    # NULL: the account's default window. See docs/metrics.md.
    sa.Column("attribution_windows", sa.String(200), nullable=True),
    # Meta only. The ad-level effective_status filter, comma-separated; NULL: every status that can
    # carry spend on a past day.
    sa.Column("ad_statuses", sa.String(400), nullable=True),
    # Meta only. "env:VAR" naming the variable that holds the app secret (appsecret_proof), or NULL.
    sa.Column("app_secret_ref", sa.String(255), nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    # Set on connect and on every re-authorization: the new-connection sensor keys on it.
    sa.Column("authorized_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("platform", "account_id"),
    sa.CheckConstraint(f"platform IN ({', '.join(repr(p) for p in PLATFORMS)})", name="platform"),
    sa.CheckConstraint("status IN ('active', 'needs_reauth', 'disconnected')", name="status"),
    sa.CheckConstraint(
        "attribution_window_days IS NULL OR attribution_window_days BETWEEN 1 AND 90",
        name="attribution_window_days",
    ),
    comment="Grain: one row per platform account (a Shopify shop or a Meta ad account).",
)

sync_cursors = sa.Table(
    "sync_cursors",
    metadata,
    sa.Column("connection_id", sa.Integer, sa.ForeignKey("connections.connection_id"), primary_key=True),
    sa.Column("cursor_key", sa.String(64), primary_key=True),
    # Normalised so that byte order is time order: 'YYYY-MM-DDTHH:MM:SS.ffffffZ' or 'YYYY-MM-DD'.
    sa.Column("value", CursorText, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    comment="Grain: one row per connection and cursor key. The value only moves forward.",
)

sync_runs = sa.Table(
    "sync_runs",
    metadata,
    sa.Column("sync_run_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(64), nullable=False),
    sa.Column("connection_id", sa.Integer, sa.ForeignKey("connections.connection_id"), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("window_start", sa.Date, nullable=True),
    sa.Column("window_end", sa.Date, nullable=True),
    sa.Column("dates", sa.JSON, nullable=True),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    sa.Column("rows", sa.Integer, nullable=False, server_default="0"),
    sa.Column("api_calls", sa.Integer, nullable=False, server_default="0"),
    sa.Column("throttled", sa.Integer, nullable=False, server_default="0"),
    sa.Column("throttle_wait_s", sa.Float, nullable=False, server_default="0"),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("dagster_run_id", sa.String(64), nullable=True),
    # The API version the run asked for, and the one the platform's response headers say served it.
    sa.Column("api_version", sa.String(16), nullable=True),
    sa.Column("api_version_served", sa.String(16), nullable=True),
    sa.CheckConstraint("status IN ('running', 'success', 'failed', 'rate_limited')", name="status"),
    sa.Index(None, "connection_id", "job", "started_at"),
    comment="Grain: one row per connection per job run (or per partition range of a run).",
)

shopify_orders_raw = sa.Table(
    "shopify_orders_raw",
    metadata,
    sa.Column("shop_domain", sa.String(255), primary_key=True),
    sa.Column("order_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("connection_id", sa.Integer, sa.ForeignKey("connections.connection_id"), nullable=False),
    sa.Column("order_date", sa.Date, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("payload", Payload, nullable=False),
    sa.Index(None, "connection_id", "order_date"),
    comment="Grain: one row per Shopify order (shop domain + order id), its latest payload.",
)

fact_orders = sa.Table(
    "fact_orders",
    metadata,
    sa.Column("shop_domain", sa.String(255), primary_key=True),
    sa.Column("order_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("store_id", sa.Integer, sa.ForeignKey("stores.store_id"), nullable=False),
    sa.Column("connection_id", sa.Integer, sa.ForeignKey("connections.connection_id"), nullable=False),
    sa.Column("order_name", sa.String(64), nullable=True),
    sa.Column("order_date", sa.Date, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("cancelled_at", UtcDateTime, nullable=True),
    sa.Column("financial_status", sa.String(32), nullable=True),
    sa.Column("currency", sa.String(8), nullable=False),
    sa.Column("total_price", Money, nullable=False),
    sa.Column("subtotal_price", Money, nullable=True),
    sa.Column("total_discounts", Money, nullable=True),
    sa.Column("total_tax", Money, nullable=True),
    sa.Column("total_shipping", Money, nullable=True),
    sa.Column("total_refunded", Money, nullable=False),
    sa.Column("net_revenue", Money, nullable=False),
    sa.Column("customer_id", sa.BigInteger, nullable=True),
    sa.Column("line_item_count", sa.Integer, nullable=False),
    sa.Column("is_test", sa.Boolean, nullable=False),
    sa.Index(None, "store_id", "order_date"),
    # "Is this the customer's first order?" always filters on the shop too (migration 0002).
    sa.Index(None, "shop_domain", "customer_id", "created_at", "order_id"),
    comment="Grain: one row per Shopify order; order_date is the local date in the shop's time zone.",
)

daily_shopify_metrics = sa.Table(
    "daily_shopify_metrics",
    metadata,
    sa.Column("store_id", sa.Integer, sa.ForeignKey("stores.store_id"), primary_key=True),
    sa.Column("date", sa.Date, primary_key=True),
    sa.Column("shop_domain", sa.String(255), nullable=False),
    sa.Column("currency", sa.String(8), nullable=True),
    sa.Column("timezone", sa.String(64), nullable=True),
    sa.Column("orders", sa.Integer, nullable=False),
    sa.Column("gross_revenue", Money, nullable=False),
    sa.Column("refunds", Money, nullable=False),
    sa.Column("net_revenue", Money, nullable=False),
    sa.Column("aov", Money, nullable=True),
    sa.Column("new_customers", sa.Integer, nullable=True),
    sa.Column("returning_customers", sa.Integer, nullable=True),
    comment="Grain: one row per store and local date (shop time zone). See docs/metrics.md.",
)

meta_insights_raw = sa.Table(
    "meta_insights_raw",
    metadata,
    sa.Column("ad_account_id", sa.String(64), primary_key=True),
    # level 'ad' rows carry the ad id; the account-level cross-check row uses ad_id = ''.
    sa.Column("level", sa.String(16), primary_key=True),
    sa.Column("ad_id", sa.String(64), primary_key=True),
    sa.Column("date", sa.Date, primary_key=True),
    sa.Column("connection_id", sa.Integer, sa.ForeignKey("connections.connection_id"), nullable=False),
    sa.Column("payload", Payload, nullable=False),
    sa.Column("fetched_at", UtcDateTime, nullable=False),
    sa.Index(None, "connection_id", "date"),
    comment="Grain: one row per ad account, level, ad and date (account time zone), its latest payload.",
)

fact_meta_daily = sa.Table(
    "fact_meta_daily",
    metadata,
    sa.Column("ad_account_id", sa.String(64), primary_key=True),
    sa.Column("ad_id", sa.String(64), primary_key=True),
    sa.Column("date", sa.Date, primary_key=True),
    sa.Column("store_id", sa.Integer, sa.ForeignKey("stores.store_id"), nullable=False),
    sa.Column("connection_id", sa.Integer, sa.ForeignKey("connections.connection_id"), nullable=False),
    sa.Column("adset_id", sa.String(64), nullable=True),
    sa.Column("campaign_id", sa.String(64), nullable=True),
    sa.Column("currency", sa.String(8), nullable=True),
    sa.Column("spend", Money, nullable=False),
    sa.Column("impressions", sa.BigInteger, nullable=False),
    sa.Column("clicks", sa.BigInteger, nullable=False),
    sa.Column("reach", sa.BigInteger, nullable=True),
    sa.Column("purchases", sa.BigInteger, nullable=False),
    sa.Column("purchase_value", Money, nullable=False),
    sa.Index(None, "store_id", "date"),
    comment="Grain: one row per ad account, ad and date (ad account time zone).",
)

daily_ad_metrics = sa.Table(
    "daily_ad_metrics",
    metadata,
    sa.Column("store_id", sa.Integer, sa.ForeignKey("stores.store_id"), primary_key=True),
    sa.Column("platform", sa.String(16), primary_key=True),
    sa.Column("ad_account_id", sa.String(64), primary_key=True),
    sa.Column("date", sa.Date, primary_key=True),
    sa.Column("currency", sa.String(8), nullable=True),
    sa.Column("timezone", sa.String(64), nullable=True),
    sa.Column("ads", sa.Integer, nullable=False),
    sa.Column("spend", Money, nullable=False),
    sa.Column("impressions", sa.BigInteger, nullable=False),
    sa.Column("clicks", sa.BigInteger, nullable=False),
    sa.Column("purchases", sa.BigInteger, nullable=False),
    sa.Column("purchase_value", Money, nullable=False),
    sa.Column("account_spend", Money, nullable=True),
    sa.Column("spend_gap", Money, nullable=True),
    sa.Column("roas", Money, nullable=True),
    sa.Index(None, "store_id", "date"),
    comment=(
        "Grain: one row per store, ad platform, ad account and date (account time zone). Per "
        "account rather than per store, because a store's accounts may differ in currency or time "
        "zone; every ad platform's accounts are rows here, not tables."
    ),
)

# Views (not in `metadata`: migrations create them, and Alembic compares tables only).
views = sa.MetaData()

# Meta's rows of daily_ad_metrics, as the table of that name held them before migration 0004.
daily_meta_metrics = sa.Table(
    "daily_meta_metrics",
    views,
    sa.Column("store_id", sa.Integer, primary_key=True),
    sa.Column("ad_account_id", sa.String(64), primary_key=True),
    sa.Column("date", sa.Date, primary_key=True),
    sa.Column("currency", sa.String(8), nullable=True),
    sa.Column("timezone", sa.String(64), nullable=True),
    sa.Column("ads", sa.Integer, nullable=False),
    sa.Column("spend", Money, nullable=False),
    sa.Column("impressions", sa.BigInteger, nullable=False),
    sa.Column("clicks", sa.BigInteger, nullable=False),
    sa.Column("purchases", sa.BigInteger, nullable=False),
    sa.Column("purchase_value", Money, nullable=False),
    sa.Column("account_spend", Money, nullable=True),
    sa.Column("spend_gap", Money, nullable=True),
    sa.Column("roas", Money, nullable=True),
    comment="View: daily_ad_metrics WHERE platform = 'meta' (platform column left out).",
)

daily_summary = sa.Table(
    "daily_summary",
    metadata,
    sa.Column("store_id", sa.Integer, sa.ForeignKey("stores.store_id"), primary_key=True),
    sa.Column("date", sa.Date, primary_key=True),
    sa.Column("currency", sa.String(8), nullable=True),
    sa.Column("orders", sa.Integer, nullable=False),
    sa.Column("gross_revenue", Money, nullable=False),
    sa.Column("refunds", Money, nullable=False),
    sa.Column("net_revenue", Money, nullable=False),
    sa.Column("aov", Money, nullable=True),
    sa.Column("spend", Money, nullable=False),
    sa.Column("impressions", sa.BigInteger, nullable=False),
    sa.Column("clicks", sa.BigInteger, nullable=False),
    sa.Column("purchases", sa.BigInteger, nullable=False),
    sa.Column("purchase_value", Money, nullable=False),
    sa.Column("roas", Money, nullable=True),
    sa.Column("mer", Money, nullable=True),
    sa.Column("currency_mismatch", sa.Boolean, nullable=False),
    sa.Column("timezone_mismatch", sa.Boolean, nullable=False),
    comment="Grain: one row per store and local date. See docs/metrics.md.",
)

daily_summary_platform = sa.Table(
    "daily_summary_platform",
    metadata,
    sa.Column("store_id", sa.Integer, sa.ForeignKey("stores.store_id"), primary_key=True),
    sa.Column("date", sa.Date, primary_key=True),
    sa.Column("platform", sa.String(16), primary_key=True),
    sa.Column("accounts", sa.Integer, nullable=False),
    sa.Column("spend", Money, nullable=False),
    sa.Column("purchases", sa.BigInteger, nullable=False),
    sa.Column("purchase_value", Money, nullable=False),
    sa.Column("roas", Money, nullable=True),
    comment=(
        "Grain: one row per store, local date and ad platform: that platform's share of "
        "daily_summary (spend, purchases, ROAS). A new ad platform adds rows, not columns."
    ),
)


def _platform_tables() -> None:
    """A platform package may define its own tables on `metadata` in its `tables.py` (found, like
    the registry's specs, because the file exists): every consumer of the schema — Alembic, COPY's
    name checks, the tests — then sees them. Imported by name, so this layer imports no platform."""
    root = Path(__file__).resolve().parents[1]
    for path in sorted(root.glob("*/tables.py")):
        importlib.import_module(f"adspipe.{path.parent.name}.tables")


_platform_tables()


def __getattr__(name: str) -> list[str]:
    if name == "ALL_TABLES":  # every table, the platforms' own included (see `_platform_tables`)
        return [t.name for t in metadata.sorted_tables]
    raise AttributeError(name)


def table_or_view(name: str) -> sa.Table:
    """A table of the schema, or one of its views (read-only: `daily_meta_metrics`), by name."""
    found = metadata.tables.get(name)
    return found if found is not None else views.tables[name]
