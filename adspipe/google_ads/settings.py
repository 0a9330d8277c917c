"""Google Ads API settings: version, endpoints, GAQL, headers, error names, defaults.

Everything a deployment may change per client is a field of `GoogleAdsClient`; this module holds
the defaults and the API's fixed facts (read from the `google-ads` 34.0.0 library's protos and
Google's REST docs; the contract tests check the GAQL fields against that library).
"""

from __future__ import annotations

import re
from datetime import date

from adspipe import settings as app_settings

# Major versions and their sunsets. v20–v22 are past (every request fails after a sunset). v23–v26
# are Google's projected, tentative months ("more frequent releases", Ads dev blog 2025-09-04):
# the day is not published, so the first of the month is used — the check warns early, not late.
SUPPORT_ENDS: dict[str, date | None] = {
    "v20": date(2026, 6, 10),
    "v21": date(2026, 8, 5),
    "v22": date(2026, 10, 7),
    "v23": date(2027, 2, 1),
    "v24": date(2027, 5, 1),
    "v25": date(2027, 8, 1),
    "v26": date(2027, 11, 1),
}
# v26 is the newest version of the google-ads library (34.0.0) the contract tests read.
DEFAULT_API_VERSION = "v26"

# Environment settings, read in adspipe/settings.py like every other setting.
API_VERSION_ENV = app_settings.GOOGLE_ADS_API_VERSION_ENV
API_URL_ENV = app_settings.GOOGLE_ADS_URL_ENV
OAUTH_URL_ENV = app_settings.GOOGLE_OAUTH_URL_ENV
DEFAULT_API_URL = app_settings.DEFAULT_GOOGLE_ADS_URL
DEFAULT_OAUTH_URL = app_settings.DEFAULT_GOOGLE_OAUTH_URL
api_url = app_settings.google_ads_url
oauth_url = app_settings.google_oauth_url


API_VERSION = app_settings.google_ads_api_version(DEFAULT_API_VERSION)
# No response header names the serving version: the URL path is the version, and a sunset version
# fails every request (it is never silently served by another). An error body's
# `@type` (google.ads.googleads.vNN.errors.GoogleAdsFailure) does name it; the client reads that.
VERSION_HEADER: str | None = None
FAILURE_TYPE_RE = re.compile(r"google\.ads\.googleads\.(v[0-9]+)\.errors\.GoogleAdsFailure")

# Headers (google-ads lib metadata_interceptor.py).
DEVELOPER_TOKEN_HEADER = "developer-token"
LOGIN_CUSTOMER_ID_HEADER = "login-customer-id"
OAUTH_SCOPE = "https://www.googleapis.com/auth/adwords"

# Default environment variable NAMES of the app's credentials (values are read at call time).
DEVELOPER_TOKEN_ENV = "GOOGLE_ADS_DEVELOPER_TOKEN"
CLIENT_ID_ENV = "GOOGLE_ADS_CLIENT_ID"
CLIENT_SECRET_ENV = "GOOGLE_ADS_CLIENT_SECRET"

# An access token is used until this many seconds before it expires, then refreshed.
TOKEN_REFRESH_MARGIN_S = 300.0

# GAQL: ad level, one row per ad and `segments.date` (the customer's local date). Never a filter
# on status: removed ad groups' and ads' past spend must stay. Metrics all-zero rows are not
# returned by the API when a segment is selected.
AD_RESOURCE = "ad_group_ad"
AD_FIELDS = (
    "customer.id",
    "customer.time_zone",
    "customer.currency_code",
    "campaign.id",
    "ad_group.id",
    "ad_group_ad.ad.id",
    "ad_group_ad.status",
    "segments.date",
    "metrics.impressions",
    "metrics.clicks",
    "metrics.cost_micros",
    "metrics.conversions",
    "metrics.conversions_value",
)
CUSTOMER_RESOURCE = "customer"
CUSTOMER_FIELDS = ("customer.id", "customer.descriptive_name", "customer.time_zone", "customer.currency_code")


# GAQL, not SQL: built from the constants above and ISO dates only (no user text).
def ad_query(since: date, until: date) -> str:
    fields = ", ".join(AD_FIELDS)
    return (
        f"SELECT {fields} FROM {AD_RESOURCE} "  # noqa: S608
        f"WHERE segments.date BETWEEN '{since.isoformat()}' AND '{until.isoformat()}'"
    )


def customer_query() -> str:
    return f"SELECT {', '.join(CUSTOMER_FIELDS)} FROM {CUSTOMER_RESOURCE}"  # noqa: S608


# Conversion lag: conversions are dated by the click day and keep arriving for the conversion
# action's click-through window (Google's default 30 days). Each sync re-reads this many past days
# per connection. 30 by default: Google's default window, and the whole range is ONE searchStream
# query, i.e. one operation of the daily quota, however many days it covers (peers: Airbyte 14,
# BigQuery DTS 7, Fivetran 30 by DinMo's copy). Accounts with longer windows may raise it to 90.
CONVERSION_LAG_DAYS = 30
MIN_CONVERSION_LAG_DAYS = 1
MAX_CONVERSION_LAG_DAYS = 90

# Precision kept from the API's doubles (documented in docs/metrics.md at integration): fractional
# conversions to 6 decimals, their value to the warehouse's Money scale (4); cost_micros is exact.
CONVERSIONS_DECIMALS = 6
MONEY_DECIMALS = 4

# Timeouts (seconds) and retries.
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 120.0  # a searchStream over 30 days of ads streams for a while
MAX_TRANSIENT_RETRIES = 4
MAX_THROTTLE_RETRIES = 5
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 30.0
WAIT_BUDGET_S = 300.0

# Errors (google-ads lib v26 errors/*): the GoogleAdsFailure's errorCode category keys.
QUOTA_ERROR = "quotaError"
AUTHENTICATION_ERROR = "authenticationError"
AUTHORIZATION_ERROR = "authorizationError"
# Waited out (retryDelay) and retried; the other quota reasons (ACCESS_PROHIBITED, excessive
# query consumption) are permanent until someone acts.
RETRYABLE_QUOTA_REASONS = frozenset({"RESOURCE_EXHAUSTED", "RESOURCE_TEMPORARILY_EXHAUSTED"})
AUTH_STATUSES = frozenset({"UNAUTHENTICATED"})
THROTTLE_STATUSES = frozenset({"RESOURCE_EXHAUSTED"})
TRANSIENT_STATUSES = frozenset({"INTERNAL", "UNKNOWN", "UNAVAILABLE", "DEADLINE_EXCEEDED"})
# The OAuth endpoint: a revoked or expired refresh token, or an unknown client.
OAUTH_AUTH_ERRORS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})

GROUP = "google_ads"
PLATFORM = "google_ads"  # connections.platform, daily_ad_metrics.platform, the registry name
JOB_FILL = "google_ads_7d_fill"
JOB_FRESH = "google_ads_fresh"
JOB_ASSETS = "google_ads_assets"  # sync_runs.job of the partitioned asset chain
FILL_DAYS = 7
