"""Meta Marketing API settings: version, fields, page sizes, error codes, defaults.

Everything a user may want to change per deployment is a field of `MetaClient` (run-time
resource config) or a per-connection option; this module holds the defaults and the API's fixed
facts (versions, fields, statuses, windows, error codes).
"""

from __future__ import annotations

from datetime import date

from adspipe.settings import meta_api_version, meta_report_run_min_ads

# Marketing API versions and their expiration dates as Meta publishes them (Marketing API version
# history); None: not announced yet. A call to an expired version is refused (#2635).
SUPPORT_ENDS: dict[str, date | None] = {
    "v22.0": date(2026, 2, 19),
    "v23.0": date(2026, 6, 9),
    "v24.0": date(2026, 11, 10),
    "v25.0": date(2027, 2, 23),
    "v26.0": None,
    "v27.0": None,
}
# v26.0 is the version of the official SDK (facebook-business 26.0.x) the contract tests build
# every request with; ADSPIPE_META_API_VERSION overrides it per deployment.
DEFAULT_API_VERSION = "v26.0"
API_VERSION = meta_api_version(DEFAULT_API_VERSION)
VERSION_HEADER = "facebook-api-version"
PLATFORM = "meta"  # connections.platform, daily_ad_metrics.platform, the registry name
POOL = "meta_api"  # the Dagster concurrency pool every Meta-calling step claims (limit 1)
GROUP = "meta"

# Minimal fields. `date_start` / `date_stop` come back by default and carry the account-local date.
AD_FIELDS = (
    "ad_id",
    "adset_id",
    "campaign_id",
    "account_currency",
    "spend",
    "impressions",
    "clicks",
    "reach",
    "actions",
    "action_values",
)
ACCOUNT_LEVEL_FIELDS = ("account_currency", "spend", "impressions", "clicks")
ACCOUNT_INFO_FIELDS = ("timezone_name", "currency", "name")

# Ad.EffectiveStatus as the official SDK (facebook-business 26.0) lists it. The ad-level filter
# matches each ad's CURRENT status, so the default keeps every status: an ad archived, deleted or
# campaign-paused today still spent in the past, and that spend must not vanish from the facts.
AD_EFFECTIVE_STATUSES = (
    "ACTIVE", "PAUSED", "ADSET_PAUSED", "CAMPAIGN_PAUSED", "ARCHIVED", "DELETED", "DISAPPROVED",
    "IN_PROCESS", "PENDING_BILLING_INFO", "PENDING_REVIEW", "PREAPPROVED", "WITH_ISSUES",
)  # fmt: skip
DEFAULT_STATUSES = AD_EFFECTIVE_STATUSES
STATUS_FILTER_FIELD = "ad.effective_status"
STATUS_FILTER_OPERATOR = "IN"

# docs/metrics.md: count ONE type; omni_purchase, else the first present of the fallbacks.
PURCHASE_ACTION_TYPE = "omni_purchase"
PURCHASE_FALLBACKS = ("purchase", "offsite_conversion.fb_pixel_purchase")

# Meta stopped returning these on 12 Jan 2026: asking for them would silently drop conversions.
REMOVED_ATTRIBUTION_WINDOWS = frozenset({"7d_view", "28d_view"})
# Windows of one kind nest (7d_click includes 1d_click): at most one per kind is counted, and the
# counted figure is the sum over the kinds (Meta's "7-day click or 1-day view" = 7d_click + 1d_view).
CLICK_WINDOWS = ("1d_click", "7d_click", "28d_click")
VIEW_WINDOWS = ("1d_view",)
ENGAGED_VIEW_WINDOWS = ("1d_ev",)
KNOWN_ATTRIBUTION_WINDOWS = frozenset(CLICK_WINDOWS + VIEW_WINDOWS + ENGAGED_VIEW_WINDOWS)

DEFAULT_PAGE_LIMIT = 500
MIN_PAGE_LIMIT = 25  # code 1 halves the page size down to this, then gives up

# Asynchronous report runs (adspipe/meta/report_runs.py): POST act_X/insights → report_run_id, poll
# GET /{id} until `async_status` is final, read GET /{id}/insights. A day with at least
# REPORT_RUN_MIN_ADS ads (as last seen) or one Meta refused with code 1 is read that way.
DEFAULT_REPORT_RUN_MIN_ADS = 2000  # 4 pages of 500: past it a run's fixed cost is the smaller one
REPORT_RUN_MIN_ADS = meta_report_run_min_ads(DEFAULT_REPORT_RUN_MIN_ADS)
REPORT_RUN_ATTEMPTS = 3  # runs started per day; Job Failed / Job Skipped / timeout start a new one
REPORT_POLL_FIRST_S = 1.0  # first poll; then doubling up to the max, or the progress estimate
REPORT_POLL_MIN_S = 0.25
REPORT_POLL_MAX_S = 30.0
REPORT_RUN_TIMEOUT_S = 3600.0  # Meta: a report run can take up to an hour
# AdReportRun fields read while polling (facebook-business 26.0: AdReportRun.Field; the error_*
# fields are filled for a failed run from v25.0).
REPORT_RUN_FIELDS = (
    "id", "async_status", "async_percent_completion", "error_code", "error_message", "error_subcode",
)  # fmt: skip
JOB_NOT_STARTED, JOB_STARTED, JOB_RUNNING = "Job Not Started", "Job Started", "Job Running"
JOB_COMPLETED, JOB_FAILED, JOB_SKIPPED = "Job Completed", "Job Failed", "Job Skipped"
ASYNC_STATUSES = (JOB_NOT_STARTED, JOB_STARTED, JOB_RUNNING, JOB_COMPLETED, JOB_FAILED, JOB_SKIPPED)

# Error codes (HTTP 400 unless noted).
THROTTLE_CODES = frozenset({4, 17, 32, 613, 80000, 80004})
AUTH_CODE = 190
REDUCE_DATA_CODE = 1  # HTTP 500 "Please reduce the amount of data you're asking for"
TRANSIENT_CODES = frozenset({2})
DEPRECATED_VERSION_CODE = 2635  # "(#2635) You are calling a deprecated version of the Ads API"

# appsecret_proof: HMAC-SHA256 of the access token keyed by the app secret, a query parameter.
APPSECRET_PROOF_PARAM = "appsecret_proof"

# Pacing on the usage headers: no wait below PACE_START_PCT, then a wait growing with the square
# of the excess, up to PACE_MAX_S just below 100 %.
PACE_START_PCT = 75.0
PACE_MAX_S = 20.0

JOB_FILL = "meta_7d_fill"
JOB_FRESH = "meta_fresh"
FILL_DAYS = 7
