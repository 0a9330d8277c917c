"""The Google Ads definitions: the partitioned asset chain, the two seed jobs, their schedule and
sensor, the API resource (assembled from the registry's spec by adspipe.platform.definitions)."""

from adspipe.google_ads.assets import google_ads_7d_fill, google_ads_ads, google_ads_fresh
from adspipe.google_ads.client import GoogleAdsClient
from adspipe.google_ads.platform import SPEC
from adspipe.platform.definitions import platform_definitions

DEFS = platform_definitions(
    SPEC, assets=[google_ads_ads], fill_job=google_ads_7d_fill, fresh_job=google_ads_fresh,
    resources={"google_ads": GoogleAdsClient()},
)  # fmt: skip
