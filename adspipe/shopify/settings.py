"""Shopify pipeline settings: API version, page sizes, pacing and retry defaults, time budgets.

The client's values are the defaults of `ShopifyClient`'s fields (overridable per deployment in
the resource config); the job values are the defaults of the jobs' run config.
"""

from __future__ import annotations

from datetime import date, timedelta

from adspipe.settings import shopify_api_version

# Shopify releases a version every quarter and supports each for 12 months; a request to a version
# past its end is served, silently, by the oldest supported one (shopify.dev/docs/api/usage/versioning).
# Support ends as Shopify publishes them: the adspipe doctor and the api_version check read this.
SUPPORT_ENDS: dict[str, date | None] = {
    "2025-01": date(2026, 1, 1),
    "2025-04": date(2026, 4, 1),
    "2025-07": date(2026, 7, 1),
    "2025-10": date(2026, 10, 1),
    "2026-01": date(2027, 1, 1),
    "2026-04": date(2027, 4, 1),
    "2026-07": date(2027, 7, 1),
    "2026-10": date(2027, 10, 1),
}
# The latest stable version; ADSPIPE_SHOPIFY_API_VERSION overrides it per deployment.
DEFAULT_API_VERSION = "2026-10"
API_VERSION = shopify_api_version(DEFAULT_API_VERSION)
VERSION_HEADER = "X-Shopify-API-Version"
DEPRECATED_REASON_HEADER = "X-Shopify-API-Deprecated-Reason"
TOKEN_HEADER = "X-Shopify-Access-Token"

# Shopify caps a connection page at 250 nodes.
MAX_PAGE_SIZE = 250
DEFAULT_PAGE_SIZE = 250
# Line items and refunds fetched inline with each order. An order with more line items than this
# gets the rest through a follow-up query (see `ShopSession.orders`).
LINE_ITEMS_PER_ORDER = 50
REFUNDS_PER_ORDER = 20

# The scope the orders query needs; named in the error when the shop denies it.
ORDERS_SCOPE = "read_orders"
# Without it (granted together with read_orders) Shopify silently hides orders older than 60 days.
ALL_ORDERS_SCOPE = "read_all_orders"
RECENT_ORDERS_WINDOW = timedelta(days=60)
# The follow-up line items query halves its page on MAX_COST_EXCEEDED down to this, then fails.
MIN_LINE_ITEMS_PAGE_SIZE = 10

# Timeouts (seconds): explicit, never httpx's defaults.
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
WRITE_TIMEOUT_S = 10.0
POOL_TIMEOUT_S = 5.0

# Transient failures (5xx, INTERNAL_SERVER_ERROR, timeouts, dropped connections, malformed
# bodies): exponential backoff with full jitter, capped; then TransientApiError.
MAX_TRANSIENT_RETRIES = 4  # 5 attempts in all
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 20.0
# THROTTLED answers retried per request before the connection is recorded as rate_limited.
MAX_THROTTLE_RETRIES = 20
# Waiting one more point's worth of refill than strictly needed avoids a second THROTTLED from
# rounding in the bucket's own arithmetic.
PACING_MARGIN_POINTS = 1.0
# Shopify's waits are bounded by the jobs' time budgets (deadlines); the wait budget is a backstop.
WAIT_BUDGET_S = 3_600.0

# Jobs.
FILL_LOOKBACK = timedelta(days=7)
# shopify_fresh with no cursor yet (no fill ran) starts from now - 7 days.
FRESH_DEFAULT_LOOKBACK = timedelta(days=7)
FRESH_TIME_BUDGET_S = 45.0
# The fill reads a whole week; it is bounded too, but more generously.
FILL_TIME_BUDGET_S = 300.0
# A partition range (a backfill run, `adspipe sync`) is bounded per day it carries: one budget for
# the whole range would fail a big shop's 30-day run on pacing alone (3,000 orders a day under the
# Standard plan wait ~7 s a day, ~220 s for 30 days, plus the transfer).
RANGE_DAY_TIME_BUDGET_S = 300.0
# The fill commits at local day boundaries (a unit = the pages up to the page that starts a new
# date), and at least this often, so a transaction never stays open for long.
FILL_UNIT_MAX_S = 10.0
# Orders per write inside a unit: few statements per unit, memory bounded by this many orders.
WRITE_BATCH_ORDERS = 2_000

# Bulk operations for history (adspipe/shopify/bulk.py, bulk_read.py; docs/performance.md).
# A range takes the bulk path for its days older than the fresh window when it has at least
# BULK_MIN_DAYS of them, or whole when its estimated paged cost passes BULK_MIN_COST_POINTS
# (ADSPIPE_SHOPIFY_BULK_MIN_COST; ADSPIPE_SHOPIFY_BULK=auto|always|never).
BULK_MIN_DAYS = 7
BULK_MIN_COST_POINTS = 20_000.0  # ten Standard buckets
PAGED_POINTS_PER_ORDER = 0.55  # observed: a page of 250 orders with 50 inline line items ≈ 132 points
BULK_POLL_INTERVAL_S = 2.0  # first poll interval, ×1.5 per poll up to the max
BULK_POLL_MAX_INTERVAL_S = 30.0
BULK_POLL_TIMEOUT_S = 4 * 3_600.0  # then the operation is cancelled and the range paged
BULK_LIMIT_WAIT_S = 15.0  # LIMIT_REACHED: the shop's bulk query slots are all taken
BULK_LIMIT_WAIT_MAX_S = 300.0
BULK_MAX_STARTS = 2  # operations one range may create (a FAILED/CANCELED/EXPIRED one is re-run once)
BULK_MAX_DOWNLOADS = 3  # downloads of one result (an expired URL is re-read)

JOB_FILL = "shopify_7d_fill"
JOB_FRESH = "shopify_fresh"
JOB_PARTITIONS = "shopify_partitions"
