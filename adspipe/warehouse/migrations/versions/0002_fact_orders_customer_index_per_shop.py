"""fact_orders: the first-order lookup index leads with the shop

"Is this the customer's first order?" (`first_orders`, the mart rebuild's NOT EXISTS) always
filters on shop_domain too. With (customer_id, created_at) alone the planner, before statistics
exist, ANDs it with a scan of the shop's whole primary-key range; with the shop first it is one
probe (docs/performance.md, finding 1: a 10,000-order fill into fresh tables 12.2 s → 6.4 s).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_fact_orders_shop_domain_customer_id_created_at_order_id"),
        "fact_orders",
        ["shop_domain", "customer_id", "created_at", "order_id"],
    )
    op.drop_index(op.f("ix_fact_orders_customer_id_created_at"), table_name="fact_orders")


def downgrade() -> None:
    op.create_index(
        op.f("ix_fact_orders_customer_id_created_at"), "fact_orders", ["customer_id", "created_at"]
    )
    op.drop_index(
        op.f("ix_fact_orders_shop_domain_customer_id_created_at_order_id"), table_name="fact_orders"
    )
