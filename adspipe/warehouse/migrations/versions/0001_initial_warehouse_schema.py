"""initial warehouse schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from adspipe.warehouse import types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stores",
        sa.Column("store_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("store_id", name=op.f("pk_stores")),
        sa.UniqueConstraint("name", name=op.f("uq_stores_name")),
        comment="Grain: one row per store (brand).",
    )
    op.create_table(
        "connections",
        sa.Column("connection_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.String(length=255), nullable=False),
        sa.Column("token_ref", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("currency", sa.String(length=8), nullable=True),
        sa.Column("attribution_window_days", sa.Integer(), nullable=True),
        sa.Column("created_at", types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("authorized_at", types.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("platform IN ('shopify', 'meta')", name=op.f("ck_connections_platform")),
        sa.CheckConstraint(
            "status IN ('active', 'needs_reauth', 'disconnected')", name=op.f("ck_connections_status")
        ),
        sa.CheckConstraint(
            "attribution_window_days IS NULL OR attribution_window_days BETWEEN 1 AND 28",
            name=op.f("ck_connections_attribution_window_days"),
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.store_id"], name=op.f("fk_connections_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("connection_id", name=op.f("pk_connections")),
        sa.UniqueConstraint("platform", "account_id", name=op.f("uq_connections_platform_account_id")),
        comment="Grain: one row per platform account (a Shopify shop or a Meta ad account).",
    )
    op.create_table(
        "daily_meta_metrics",
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("ad_account_id", sa.String(length=64), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("ads", sa.Integer(), nullable=False),
        sa.Column("spend", types.Money(precision=18, scale=4), nullable=False),
        sa.Column("impressions", sa.BigInteger(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.Column("purchases", sa.BigInteger(), nullable=False),
        sa.Column("purchase_value", types.Money(precision=18, scale=4), nullable=False),
        sa.Column("account_spend", types.Money(precision=18, scale=4), nullable=True),
        sa.Column("spend_gap", types.Money(precision=18, scale=4), nullable=True),
        sa.Column("roas", types.Money(precision=18, scale=4), nullable=True),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.store_id"], name=op.f("fk_daily_meta_metrics_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("store_id", "ad_account_id", "date", name=op.f("pk_daily_meta_metrics")),
        comment="Grain: one row per store, ad account and date (account time zone). Per account rather than per store, because a store's accounts may differ in currency or time zone.",
    )
    op.create_table(
        "daily_shopify_metrics",
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("shop_domain", sa.String(length=255), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("gross_revenue", types.Money(precision=18, scale=4), nullable=False),
        sa.Column("refunds", types.Money(precision=18, scale=4), nullable=False),
        sa.Column("net_revenue", types.Money(precision=18, scale=4), nullable=False),
        sa.Column("aov", types.Money(precision=18, scale=4), nullable=True),
        sa.Column("new_customers", sa.Integer(), nullable=True),
        sa.Column("returning_customers", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.store_id"], name=op.f("fk_daily_shopify_metrics_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("store_id", "date", name=op.f("pk_daily_shopify_metrics")),
        comment="Grain: one row per store and local date (shop time zone). See docs/metrics.md.",
    )
    op.create_table(
        "daily_summary",
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=True),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("gross_revenue", types.Money(precision=18, scale=4), nullable=False),
        sa.Column("refunds", types.Money(precision=18, scale=4), nullable=False),
        sa.Column("net_revenue", types.Money(precision=18, scale=4), nullable=False),
        sa.Column("aov", types.Money(precision=18, scale=4), nullable=True),
        sa.Column("spend", types.Money(precision=18, scale=4), nullable=False),
        sa.Column("impressions", sa.BigInteger(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.Column("purchases", sa.BigInteger(), nullable=False),
        sa.Column("purchase_value", types.Money(precision=18, scale=4), nullable=False),
        sa.Column("roas", types.Money(precision=18, scale=4), nullable=True),
        sa.Column("mer", types.Money(precision=18, scale=4), nullable=True),
        sa.Column("currency_mismatch", sa.Boolean(), nullable=False),
        sa.Column("timezone_mismatch", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.store_id"], name=op.f("fk_daily_summary_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("store_id", "date", name=op.f("pk_daily_summary")),
        comment="Grain: one row per store and local date. See docs/metrics.md.",
    )
    op.create_table(
        "fact_meta_daily",
        sa.Column("ad_account_id", sa.String(length=64), nullable=False),
        sa.Column("ad_id", sa.String(length=64), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("adset_id", sa.String(length=64), nullable=True),
        sa.Column("campaign_id", sa.String(length=64), nullable=True),
        sa.Column("currency", sa.String(length=8), nullable=True),
        sa.Column("spend", types.Money(precision=18, scale=4), nullable=False),
        sa.Column("impressions", sa.BigInteger(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.Column("reach", sa.BigInteger(), nullable=True),
        sa.Column("purchases", sa.BigInteger(), nullable=False),
        sa.Column("purchase_value", types.Money(precision=18, scale=4), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.connection_id"],
            name=op.f("fk_fact_meta_daily_connection_id_connections"),
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.store_id"], name=op.f("fk_fact_meta_daily_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("ad_account_id", "ad_id", "date", name=op.f("pk_fact_meta_daily")),
        comment="Grain: one row per ad account, ad and date (ad account time zone).",
    )
    with op.batch_alter_table("fact_meta_daily", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fact_meta_daily_store_id_date"), ["store_id", "date"], unique=False
        )

    op.create_table(
        "fact_orders",
        sa.Column("shop_domain", sa.String(length=255), nullable=False),
        sa.Column("order_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("order_name", sa.String(length=64), nullable=True),
        sa.Column("order_date", sa.Date(), nullable=False),
        sa.Column("created_at", types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("financial_status", sa.String(length=32), nullable=True),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("total_price", types.Money(precision=18, scale=4), nullable=False),
        sa.Column("subtotal_price", types.Money(precision=18, scale=4), nullable=True),
        sa.Column("total_discounts", types.Money(precision=18, scale=4), nullable=True),
        sa.Column("total_tax", types.Money(precision=18, scale=4), nullable=True),
        sa.Column("total_shipping", types.Money(precision=18, scale=4), nullable=True),
        sa.Column("total_refunded", types.Money(precision=18, scale=4), nullable=False),
        sa.Column("net_revenue", types.Money(precision=18, scale=4), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("line_item_count", sa.Integer(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.connection_id"],
            name=op.f("fk_fact_orders_connection_id_connections"),
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.store_id"], name=op.f("fk_fact_orders_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("shop_domain", "order_id", name=op.f("pk_fact_orders")),
        comment="Grain: one row per Shopify order; order_date is the local date in the shop's time zone.",
    )
    with op.batch_alter_table("fact_orders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fact_orders_customer_id_created_at"), ["customer_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_fact_orders_store_id_order_date"), ["store_id", "order_date"], unique=False
        )

    op.create_table(
        "meta_insights_raw",
        sa.Column("ad_account_id", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("ad_id", sa.String(length=64), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("fetched_at", types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.connection_id"],
            name=op.f("fk_meta_insights_raw_connection_id_connections"),
        ),
        sa.PrimaryKeyConstraint("ad_account_id", "level", "ad_id", "date", name=op.f("pk_meta_insights_raw")),
        comment="Grain: one row per ad account, level, ad and date (account time zone), its latest payload.",
    )
    with op.batch_alter_table("meta_insights_raw", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meta_insights_raw_connection_id_date"), ["connection_id", "date"], unique=False
        )

    op.create_table(
        "shopify_orders_raw",
        sa.Column("shop_domain", sa.String(length=255), nullable=False),
        sa.Column("order_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("order_date", sa.Date(), nullable=False),
        sa.Column("created_at", types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", types.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.connection_id"],
            name=op.f("fk_shopify_orders_raw_connection_id_connections"),
        ),
        sa.PrimaryKeyConstraint("shop_domain", "order_id", name=op.f("pk_shopify_orders_raw")),
        comment="Grain: one row per Shopify order (shop domain + order id), its latest payload.",
    )
    with op.batch_alter_table("shopify_orders_raw", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shopify_orders_raw_connection_id_order_date"),
            ["connection_id", "order_date"],
            unique=False,
        )

    op.create_table(
        "sync_cursors",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("cursor_key", sa.String(length=64), nullable=False),
        sa.Column(
            "value",
            sa.String(length=64).with_variant(sa.String(length=64, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.connection_id"],
            name=op.f("fk_sync_cursors_connection_id_connections"),
        ),
        sa.PrimaryKeyConstraint("connection_id", "cursor_key", name=op.f("pk_sync_cursors")),
        comment="Grain: one row per connection and cursor key. The value only moves forward.",
    )
    op.create_table(
        "sync_runs",
        sa.Column("sync_run_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("window_start", sa.Date(), nullable=True),
        sa.Column("window_end", sa.Date(), nullable=True),
        sa.Column("dates", sa.JSON(), nullable=True),
        sa.Column("started_at", types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("rows", sa.Integer(), server_default="0", nullable=False),
        sa.Column("api_calls", sa.Integer(), server_default="0", nullable=False),
        sa.Column("throttled", sa.Integer(), server_default="0", nullable=False),
        sa.Column("throttle_wait_s", sa.Float(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("dagster_run_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'success', 'failed', 'rate_limited')", name=op.f("ck_sync_runs_status")
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.connection_id"],
            name=op.f("fk_sync_runs_connection_id_connections"),
        ),
        sa.PrimaryKeyConstraint("sync_run_id", name=op.f("pk_sync_runs")),
        comment="Grain: one row per connection per job run (or per partition range of a run).",
    )
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sync_runs_connection_id_job_started_at"),
            ["connection_id", "job", "started_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_runs_connection_id_job_started_at"))

    op.drop_table("sync_runs")
    op.drop_table("sync_cursors")
    with op.batch_alter_table("shopify_orders_raw", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shopify_orders_raw_connection_id_order_date"))

    op.drop_table("shopify_orders_raw")
    with op.batch_alter_table("meta_insights_raw", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meta_insights_raw_connection_id_date"))

    op.drop_table("meta_insights_raw")
    with op.batch_alter_table("fact_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fact_orders_store_id_order_date"))
        batch_op.drop_index(batch_op.f("ix_fact_orders_customer_id_created_at"))

    op.drop_table("fact_orders")
    with op.batch_alter_table("fact_meta_daily", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fact_meta_daily_store_id_date"))

    op.drop_table("fact_meta_daily")
    op.drop_table("daily_summary")
    op.drop_table("daily_shopify_metrics")
    op.drop_table("daily_meta_metrics")
    op.drop_table("connections")
    op.drop_table("stores")
