"""Which connections a run covers: all active ones by default, or one named connection."""

from __future__ import annotations

import dagster as dg
from pydantic import Field


class ScopeConfig(dg.Config):
    """Run config shared by every job and asset that calls a platform.

    Leave `connection_id` empty to cover every active connection of the platform; set it to sync
    one connection only (the new-connection fill, a manual "Sync last 7 days").
    """

    connection_id: int | None = Field(
        default=None, description="Sync only this connection (see `adspipe connections list`)."
    )
