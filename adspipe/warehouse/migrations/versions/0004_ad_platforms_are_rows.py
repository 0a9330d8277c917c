"""Ad platforms are rows, not tables; connections may be Google Ads

- `daily_ad_metrics`: per store, ad platform, ad account and date — `daily_meta_metrics`'s grain
  plus `platform`. Every row of `daily_meta_metrics` is copied with platform 'meta' (nothing is
  lost), the table is dropped and `daily_meta_metrics` becomes a view of Meta's rows, with the
  same columns as before, so readers of the old table keep working.
- `daily_summary_platform`: per store, date and ad platform, that platform's spend, purchases,
  purchase value and ROAS (daily_summary keeps the blended figures): a new ad platform adds rows,
  not columns. Filled for the existing summary rows from Meta's.
- `connections.platform` accepts 'google_ads'.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from adspipe.warehouse import types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_MONEY = types.Money(precision=18, scale=4)


def _metric_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("currency", sa.String(length=8), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("ads", sa.Integer(), nullable=False),
        sa.Column("spend", _MONEY, nullable=False),
        sa.Column("impressions", sa.BigInteger(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.Column("purchases", sa.BigInteger(), nullable=False),
        sa.Column("purchase_value", _MONEY, nullable=False),
        sa.Column("account_spend", _MONEY, nullable=True),
        sa.Column("spend_gap", _MONEY, nullable=True),
        sa.Column("roas", _MONEY, nullable=True),
    ]


def _platform_check(platforms: tuple[str, ...]) -> None:
    listed = ", ".join(f"'{p}'" for p in platforms)
    with op.batch_alter_table("connections") as batch:  # SQLite: recreated; Postgres: ALTER
        batch.drop_constraint(op.f("ck_connections_platform"), type_="check")
        batch.create_check_constraint(op.f("ck_connections_platform"), f"platform IN ({listed})")


def upgrade() -> None:
    op.create_table(
        "daily_ad_metrics",
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("ad_account_id", sa.String(length=64), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        *_metric_columns(),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.store_id"], name=op.f("fk_daily_ad_metrics_store_id_stores")
        ),
        sa.PrimaryKeyConstraint(
            "store_id", "platform", "ad_account_id", "date", name=op.f("pk_daily_ad_metrics")
        ),
        comment="Grain: one row per store, ad platform, ad account and date (account time zone). Per account "
        "rather than per store, because a store's accounts may differ in currency or time zone; every ad "
        "platform's accounts are rows here, not tables.",
    )
    op.create_index(op.f("ix_daily_ad_metrics_store_id_date"), "daily_ad_metrics", ["store_id", "date"])
    op.execute(
        "INSERT INTO daily_ad_metrics (store_id, platform, ad_account_id, date, currency, timezone, ads, spend, impressions, clicks, purchases, purchase_value, account_spend, spend_gap, roas) "
        "SELECT store_id, 'meta', ad_account_id, date, currency, timezone, ads, spend, impressions, clicks, purchases, purchase_value, account_spend, spend_gap, roas FROM daily_meta_metrics"
    )
    op.drop_table("daily_meta_metrics")
    op.execute(
        "CREATE VIEW daily_meta_metrics AS SELECT store_id, ad_account_id, date, currency, timezone, ads, spend, impressions, clicks, purchases, purchase_value, account_spend, spend_gap, roas "
        "FROM daily_ad_metrics WHERE platform = 'meta'"
    )
    op.create_table(
        "daily_summary_platform",
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("accounts", sa.Integer(), nullable=False),
        sa.Column("spend", _MONEY, nullable=False),
        sa.Column("purchases", sa.BigInteger(), nullable=False),
        sa.Column("purchase_value", _MONEY, nullable=False),
        sa.Column("roas", _MONEY, nullable=True),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.store_id"], name=op.f("fk_daily_summary_platform_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("store_id", "date", "platform", name=op.f("pk_daily_summary_platform")),
        comment="Grain: one row per store, local date and ad platform: that platform's share of daily_summary "
        "(spend, purchases, ROAS). A new ad platform adds rows, not columns.",
    )
    # The existing summary rows' Meta share, from the rows they were built from.
    op.execute(
        "INSERT INTO daily_summary_platform (store_id, date, platform, accounts, spend, purchases, "
        "purchase_value, roas) "
        "SELECT s.store_id, s.date, 'meta', COUNT(*), SUM(m.spend), SUM(m.purchases), SUM(m.purchase_value), "
        "MAX(s.roas) FROM daily_summary s JOIN daily_ad_metrics m ON m.store_id = s.store_id "
        "AND m.date = s.date AND m.platform = 'meta' GROUP BY s.store_id, s.date"
    )
    _platform_check(("shopify", "meta", "google_ads"))


def downgrade() -> None:
    _platform_check(("shopify", "meta"))
    op.drop_table("daily_summary_platform")
    op.execute("DROP VIEW daily_meta_metrics")
    op.create_table(
        "daily_meta_metrics",
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("ad_account_id", sa.String(length=64), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        *_metric_columns(),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.store_id"], name=op.f("fk_daily_meta_metrics_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("store_id", "ad_account_id", "date", name=op.f("pk_daily_meta_metrics")),
        comment="Grain: one row per store, ad account and date (account time zone). Per account rather than per "
        "store, because a store's accounts may differ in currency or time zone.",
    )
    op.execute(
        "INSERT INTO daily_meta_metrics (store_id, ad_account_id, date, currency, timezone, ads, spend, impressions, clicks, purchases, purchase_value, account_spend, spend_gap, roas) "
        "SELECT store_id, ad_account_id, date, currency, timezone, ads, spend, impressions, clicks, purchases, purchase_value, account_spend, spend_gap, roas FROM daily_ad_metrics WHERE platform = 'meta'"
    )
    op.drop_index(op.f("ix_daily_ad_metrics_store_id_date"), table_name="daily_ad_metrics")
    op.drop_table("daily_ad_metrics")
