"""Google Ads in `adspipe demo`: its connections, its deployment variables and its comparison with
the truth. The demo finds it because the file exists (`adspipe/simulator/<platform>_demo.py` for a
registered platform the simulator's base world, shops and Meta accounts, does not hold)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.engine import Engine

from adspipe.google_ads import settings as gads
from adspipe.simulator.google_ads_compare import summary_spend_differences

REFRESH_ENV = "ADSPIPE_DEMO_GOOGLE_REFRESH_TOKEN"
# The daily_summary fields this comparison owns: spend and MER over Meta + Google Ads (the others
# are compared with the shops' truth).
FIELDS = ("spend", "impressions", "clicks", "purchases", "purchase_value", "roas", "mer")
DESCRIPTION = "Meta and Google Ads spend and MER"


def connections(sim: Any) -> list[dict[str, Any]]:
    """A Google Ads customer per store, when the simulator has one (some through the manager)."""
    google = getattr(sim, "google_ads", None)
    return [
        {"store": c["store"], "platform": gads.PLATFORM, "account_id": c["customer_id"], "token_env": REFRESH_ENV,
         "login_customer_id": c["managed_by"]}
        for c in (google.world.describe() if google is not None else [])
    ]  # fmt: skip


def environment(server: Any) -> dict[str, str]:
    """The simulator's Google Ads endpoints and its credentials (deployment-level variables)."""
    return {
        gads.API_URL_ENV: server.google_ads_url,
        gads.OAUTH_URL_ENV: server.google_oauth_url,
        gads.DEVELOPER_TOKEN_ENV: "sim-developer-token",
        gads.CLIENT_ID_ENV: "sim-client-id",
        gads.CLIENT_SECRET_ENV: "sim-client-secret",
        REFRESH_ENV: "sim-refresh-token",
    }


def differences(engine: Engine, sim: Any, names: list[str], first: date, last: date) -> tuple[int, list[str]]:
    """daily_summary spend and MER per store-day over Meta + Google Ads vs the truth (Meta's truth
    alone has no Google spend)."""
    return summary_spend_differences(
        engine, sim.truth, sim.google_ads.world, names, first, last, at=sim.clock.now()
    )
