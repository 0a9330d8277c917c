"""Google Ads in the platform registry: an ad platform (spend, fractional conversions).

No pool: Google Ads quotas are per developer token and day (15,000 operations at Basic access),
far above a day per customer per run, and quota errors carry their own retryDelay.
"""

from __future__ import annotations

import re
from datetime import timedelta

from adspipe import settings as app_settings
from adspipe.google_ads import settings
from adspipe.google_ads.transforms import normalize_customer_id
from adspipe.platform.registry import PlatformSpec
from adspipe.warehouse.connections import ConnectionInputError


def validate_customer_id(value: str) -> str:
    """The customer id as stored: 10 digits (`123-456-7890` is accepted and normalized)."""
    try:
        return normalize_customer_id(value)
    except ValueError:
        raise ConnectionInputError(
            f"Google Ads customer id must look like 123-456-7890 (got {value!r})"
        ) from None


SPEC = PlatformSpec(
    name=settings.PLATFORM, kind="ads", vendor="Google Ads", account_label="customer",
    settings=settings, version_env=settings.API_VERSION_ENV, validate_account=validate_customer_id,
    asset_keys=("google_ads_raw", "fact_google_ads_daily", "daily_google_ads_metrics"), asset_op="google_ads_ads",
    fresh_interval=lambda: timedelta(hours=app_settings.google_ads_fresh_hours()),
    # OAuth access tokens (ya29.…) and refresh tokens (1//…).
    token_patterns=(
        (re.compile(r"\b(ya29\.)[A-Za-z0-9_\-.]{6,}"), r"\1***"),
        (re.compile(r"(1//)[A-Za-z0-9_\-]{6,}"), r"\1***"),
    ),
    partitions_job=settings.JOB_ASSETS,
    # Fractional conversions are stored in exact millionths; the mart counts them rounded.
    fact_table="fact_google_ads_daily", account_column="customer_id", purchases_column="conversions_micros",
    purchases_scale=1_000_000,
)  # fmt: skip
