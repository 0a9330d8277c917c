"""Google Ads: raw rows, typed facts, connection options

- `google_ads_raw`: one row per customer, ad and date (the customer's time zone), its latest
  searchStream result row as JSON.
- `fact_google_ads_daily`: the same grain, typed: spend exact from cost micros (4 decimals),
  conversions as exact millionths in `conversions_micros` (6 decimals:
  fractional under data-driven attribution; an integer keeps SQLite sums exact), conversions value to 4,
  the ad's status now and the customer's currency.
- `connections.login_customer_id`: the manager account (MCC) a Google Ads customer is reached
  through, or NULL.
- `connections.attribution_window_days` admits 1-90: for Google Ads it is the conversion-lag
  window the fresh job re-pulls (Meta still validates 1-28 when connecting).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from adspipe.warehouse import types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_MONEY = types.Money(precision=18, scale=4)


def _window_check(high: int) -> None:
    with op.batch_alter_table("connections") as batch:  # SQLite: recreated; Postgres: ALTER
        batch.drop_constraint(op.f("ck_connections_attribution_window_days"), type_="check")
        batch.create_check_constraint(
            op.f("ck_connections_attribution_window_days"),
            f"attribution_window_days IS NULL OR attribution_window_days BETWEEN 1 AND {high}",
        )


def upgrade() -> None:
    op.create_table(
        "google_ads_raw",
        sa.Column("customer_id", sa.String(length=16), nullable=False),
        sa.Column("ad_id", sa.String(length=32), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("payload", types.Payload, nullable=False),
        sa.Column("fetched_at", types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.connection_id"],
            name=op.f("fk_google_ads_raw_connection_id_connections"),
        ),
        sa.PrimaryKeyConstraint("customer_id", "ad_id", "date", name=op.f("pk_google_ads_raw")),
        comment="Grain: one row per Google Ads customer, ad and date (customer time zone), its latest "
        "searchStream result row.",
    )
    op.create_index(op.f("ix_google_ads_raw_connection_id_date"), "google_ads_raw", ["connection_id", "date"])
    op.create_table(
        "fact_google_ads_daily",
        sa.Column("customer_id", sa.String(length=16), nullable=False),
        sa.Column("ad_id", sa.String(length=32), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.String(length=32), nullable=True),
        sa.Column("ad_group_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=True),
        sa.Column("spend", _MONEY, nullable=False),
        sa.Column("impressions", sa.BigInteger(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.Column("conversions_micros", sa.BigInteger(), nullable=False),
        sa.Column("conversions_value", _MONEY, nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.store_id"], name=op.f("fk_fact_google_ads_daily_store_id_stores")
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.connection_id"],
            name=op.f("fk_fact_google_ads_daily_connection_id_connections"),
        ),
        sa.PrimaryKeyConstraint("customer_id", "ad_id", "date", name=op.f("pk_fact_google_ads_daily")),
        comment="Grain: one row per Google Ads customer, ad and date (customer time zone).",
    )
    op.create_index(
        op.f("ix_fact_google_ads_daily_store_id_date"), "fact_google_ads_daily", ["store_id", "date"]
    )
    with op.batch_alter_table("connections") as batch:
        batch.add_column(sa.Column("login_customer_id", sa.String(length=16), nullable=True))
    _window_check(90)


def downgrade() -> None:
    _window_check(28)
    with op.batch_alter_table("connections") as batch:
        batch.drop_column("login_customer_id")
    op.drop_index(op.f("ix_fact_google_ads_daily_store_id_date"), table_name="fact_google_ads_daily")
    op.drop_table("fact_google_ads_daily")
    op.drop_index(op.f("ix_google_ads_raw_connection_id_date"), table_name="google_ads_raw")
    op.drop_table("google_ads_raw")
