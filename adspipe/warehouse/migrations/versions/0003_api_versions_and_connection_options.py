"""API versions recorded per sync run; Meta connection options (attribution windows, status
filter, app secret reference)

- `sync_runs.api_version` / `api_version_served`: the version a run asked for and the one the
  platform says served it (Shopify's `X-Shopify-API-Version`, Meta's `facebook-api-version`). They
  differ when a pinned version left support and the platform answered with another one.
- `connections.attribution_windows`: Meta attribution windows for purchases (`7d_click,1d_view`);
  NULL counts the account's default window (the action's `value`).
- `connections.ad_statuses`: the ad-level `ad.effective_status` filter (comma-separated); NULL means
  every status that can carry spend on a past day.
- `connections.app_secret_ref`: `env:VAR` naming the variable that holds the Meta app secret
  (for `appsecret_proof`); never the secret itself.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("api_version", sa.String(16), nullable=True))
        batch.add_column(sa.Column("api_version_served", sa.String(16), nullable=True))
    with op.batch_alter_table("connections") as batch:
        batch.add_column(sa.Column("attribution_windows", sa.String(200), nullable=True))
        batch.add_column(sa.Column("ad_statuses", sa.String(400), nullable=True))
        batch.add_column(sa.Column("app_secret_ref", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("connections") as batch:
        batch.drop_column("app_secret_ref")
        batch.drop_column("ad_statuses")
        batch.drop_column("attribution_windows")
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("api_version_served")
        batch.drop_column("api_version")
