"""Meta in the platform registry: an ad platform (spend, attributed purchases), serial calls."""

from __future__ import annotations

import re
from datetime import timedelta

from adspipe import settings as app_settings
from adspipe.meta import settings
from adspipe.platform.registry import PlatformSpec
from adspipe.warehouse import cursors
from adspipe.warehouse.connections import ConnectionInputError

AD_ACCOUNT_RE = re.compile(r"^act_[0-9]{1,20}$")


def validate_ad_account(account: str) -> str:
    value = account.strip()
    if not AD_ACCOUNT_RE.match(value):
        raise ConnectionInputError(f"ad account must look like act_1234567890 (got {account!r})")
    return value


SPEC = PlatformSpec(
    name=settings.PLATFORM, kind="ads", vendor="Meta Marketing", account_label="ad account",
    settings=settings, version_env=app_settings.META_API_VERSION_ENV, validate_account=validate_ad_account,
    asset_keys=("meta_insights_raw", "fact_meta_daily", "daily_meta_metrics"), asset_op="meta_insights",
    fresh_interval=lambda: timedelta(hours=app_settings.meta_fresh_hours()),
    cursor_keys=(cursors.META_WINDOW_END,), token_patterns=((re.compile(r"\b(EAA)[A-Za-z0-9]{6,}"), r"\1***"),),
    pool=settings.POOL, partitions_job="meta_assets", fact_table="fact_meta_daily",
)  # fmt: skip
