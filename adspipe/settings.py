"""Environment-driven configuration. Every setting has one name, read in one place."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from pathlib import Path

DATABASE_URL_ENV = "ADSPIPE_DATABASE_URL"
HOME_ENV = "ADSPIPE_HOME"
SHOPIFY_ENDPOINT_ENV = "ADSPIPE_SHOPIFY_ENDPOINT"
META_GRAPH_URL_ENV = "ADSPIPE_META_GRAPH_URL"
NOW_ENV = "ADSPIPE_NOW"
CLOCK_URL_ENV = "ADSPIPE_CLOCK_URL"

SHOPIFY_API_VERSION_ENV = "ADSPIPE_SHOPIFY_API_VERSION"
META_API_VERSION_ENV = "ADSPIPE_META_API_VERSION"

DEFAULT_SHOPIFY_ENDPOINT = "https://{shop}/admin/api/{version}/graphql.json"
DEFAULT_META_GRAPH_URL = "https://graph.facebook.com"


class SettingsError(ValueError):
    """A setting (environment variable) with a value adspipe cannot use; the message names it."""


DAGSTER_URL_ENV = "ADSPIPE_DAGSTER_URL"
DEFAULT_DAGSTER_URL = "http://127.0.0.1:3000"


def project_root() -> Path | None:
    """The source checkout adspipe runs from (an editable install), else None (a wheel)."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() and (root / "adspipe").is_dir() else None


def adspipe_home() -> Path:
    """The folder of the embedded warehouse and the demo's state.

    ADSPIPE_HOME, else `.adspipe` in the source checkout, else `~/.adspipe`: never the current
    folder, so every command, `dagster dev` and the demo find the same warehouse wherever they run.
    """
    explicit = os.environ.get(HOME_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser().resolve()
    root = project_root()
    return (root / ".adspipe") if root is not None else Path.home() / ".adspipe"


def database_url_is_default() -> bool:
    return not os.environ.get(DATABASE_URL_ENV, "").strip()


def database_url() -> str:
    """The warehouse's SQLAlchemy URL; unset means an embedded SQLite file under `adspipe_home()`."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if url:
        return url
    return f"sqlite:///{adspipe_home() / 'warehouse.db'}"


def demo_database_url() -> str:
    """The demo's own SQLite warehouse (replaced on every demo run, so never the real one)."""
    return f"sqlite:///{adspipe_home() / 'demo.db'}"


def dagster_url(given: str | None = None) -> str:
    """The Dagster webserver the CLI talks to: --dagster-url, else ADSPIPE_DAGSTER_URL, else local."""
    return (given or os.environ.get(DAGSTER_URL_ENV, "").strip() or DEFAULT_DAGSTER_URL).rstrip("/")


def shopify_endpoint() -> str:
    return os.environ.get(SHOPIFY_ENDPOINT_ENV, "").strip() or DEFAULT_SHOPIFY_ENDPOINT


def shopify_api_version(default: str) -> str:
    """The Admin API version to pin: ADSPIPE_SHOPIFY_API_VERSION, else the code's default."""
    return _version(
        SHOPIFY_API_VERSION_ENV, default, r"^[0-9]{4}-(01|04|07|10)$", "YYYY-MM (a quarter: 01, 04, 07, 10)"
    )


def meta_api_version(default: str) -> str:
    """The Graph API version to pin: ADSPIPE_META_API_VERSION, else the code's default."""
    return _version(META_API_VERSION_ENV, default, r"^v[0-9]{2,3}\.0$", "vNN.0")


def _version(env: str, default: str, pattern: str, shape: str) -> str:
    value = os.environ.get(env, "").strip()
    if not value:
        return default
    if not re.match(pattern, value):
        raise SettingsError(f"{env} must look like {shape}, got {value!r}")
    return value


GOOGLE_ADS_API_VERSION_ENV = "ADSPIPE_GOOGLE_ADS_API_VERSION"
GOOGLE_ADS_URL_ENV = "ADSPIPE_GOOGLE_ADS_URL"
GOOGLE_OAUTH_URL_ENV = "ADSPIPE_GOOGLE_OAUTH_URL"
DEFAULT_GOOGLE_ADS_URL = "https://googleads.googleapis.com"
DEFAULT_GOOGLE_OAUTH_URL = "https://oauth2.googleapis.com/token"


def google_ads_api_version(default: str) -> str:
    """The Google Ads API version to pin: ADSPIPE_GOOGLE_ADS_API_VERSION, else the code's default."""
    return _version(GOOGLE_ADS_API_VERSION_ENV, default, r"^v[0-9]{2,3}$", "vNN")


def google_ads_url() -> str:
    """The Google Ads API's base URL (the simulator's `/google-ads` in tests and the demo)."""
    return (env_value(GOOGLE_ADS_URL_ENV) or DEFAULT_GOOGLE_ADS_URL).rstrip("/")


def google_oauth_url() -> str:
    """The OAuth 2.0 token endpoint a Google refresh token is exchanged at."""
    return env_value(GOOGLE_OAUTH_URL_ENV) or DEFAULT_GOOGLE_OAUTH_URL


COLUMNS_ENV = "COLUMNS"


def terminal_columns() -> int | None:
    """$COLUMNS when set to a width (rich reads it too); None otherwise."""
    raw = env_value(COLUMNS_ENV)
    return int(raw) if raw.isdigit() else None


def meta_graph_url() -> str:
    return (os.environ.get(META_GRAPH_URL_ENV, "").strip() or DEFAULT_META_GRAPH_URL).rstrip("/")


PARTITIONS_START_ENV = "ADSPIPE_PARTITIONS_START"
DEFAULT_PARTITIONS_START = "2023-01-01"


def partitions_start() -> date:
    """The first daily partition (the same setting adspipe/orchestration/partitions.py reads)."""
    return date.fromisoformat(os.environ.get(PARTITIONS_START_ENV, "").strip() or DEFAULT_PARTITIONS_START)


BACKFILL_DAYS_PER_RUN_ENV = "ADSPIPE_BACKFILL_DAYS_PER_RUN"
# Chosen by measurement (bench/bench_backfill.py, docs/performance.md "P1"): fewer, longer runs
# pay the per-run costs (start-up, the account read, events, checks) less often.
DEFAULT_BACKFILL_DAYS_PER_RUN = 30


def backfill_days_per_run() -> int:
    """Consecutive days one backfill run carries (the asset chains' BackfillPolicy.multi_run).

    Every day keeps its own API calls, its own commit and its own partition status; the setting
    only decides how many days share one run's start-up. Read when the code location loads.
    """
    return _days_per_run(BACKFILL_DAYS_PER_RUN_ENV, DEFAULT_BACKFILL_DAYS_PER_RUN)


def _days_per_run(name: str, default: int) -> int:
    """A whole number of days between 1 and 366 from variable `name`, `default` when unset."""
    raw = env_value(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number of days, got {raw!r}") from None
    if not 1 <= value <= 366:
        raise SettingsError(f"{name} must be between 1 and 366, got {value}")
    return value


POOLED_BACKFILL_DAYS_PER_RUN_ENV = "ADSPIPE_POOLED_BACKFILL_DAYS_PER_RUN"
# A platform with a concurrency pool (Meta's `meta_api`, limit 1): a backfill run holds the one slot
# for all its days, so its days are capped for the fresh job to get the slot between two runs
# (docs/architecture.md "Fresh runs first", the cost in docs/performance.md P1).
DEFAULT_POOLED_BACKFILL_DAYS_PER_RUN = 7


def pooled_backfill_days_per_run() -> int:
    """Days one backfill run of a pooled platform carries: at most `backfill_days_per_run()`."""
    return min(
        _days_per_run(POOLED_BACKFILL_DAYS_PER_RUN_ENV, DEFAULT_POOLED_BACKFILL_DAYS_PER_RUN),
        backfill_days_per_run(),
    )


def platform_backfill_days_per_run(pooled: bool) -> int:
    """Days per backfill run of a platform's chain: capped when its API steps share a pool."""
    return pooled_backfill_days_per_run() if pooled else backfill_days_per_run()


# The seed jobs' `dagster/priority` tag. Dagster orders the run queue and the grants of a pool's
# slot by it (higher first; equal priorities in submission order): a fresh run waiting for
# `meta_api` gets the slot before the queued backfill runs (priority 0, Dagster's default) and
# before a 7-day fill, so its schedule keeps its cadence during a long backfill.
FRESH_RUN_PRIORITY = 10
FILL_RUN_PRIORITY = 5


SHOPIFY_BULK_ENV = "ADSPIPE_SHOPIFY_BULK"  # auto (default) | always | never
SHOPIFY_BULK_MIN_COST_ENV = "ADSPIPE_SHOPIFY_BULK_MIN_COST"


def shopify_bulk_mode() -> str:
    """When a Shopify partition range reads through a bulk operation (adspipe/shopify/bulk_read.py):
    `auto` (days older than the fresh window, or a range whose estimated cost passes the
    threshold), `always`, or `never` (every day paged)."""
    value = env_value(SHOPIFY_BULK_ENV).lower() or "auto"
    if value not in ("auto", "always", "never"):
        raise SettingsError(f"{SHOPIFY_BULK_ENV} must be auto, always or never, got {value!r}")
    return value


def shopify_bulk_min_cost(default: float) -> float:
    """The estimated paged cost (points) from which a whole range takes the bulk path."""
    raw = env_value(SHOPIFY_BULK_MIN_COST_ENV)
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise SettingsError(f"{SHOPIFY_BULK_MIN_COST_ENV} must be a number of points, got {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{SHOPIFY_BULK_MIN_COST_ENV} must not be negative, got {value:g}")
    return value


RUN_EXECUTOR_ENV = "ADSPIPE_RUN_EXECUTOR"


def run_executor() -> str:
    """`in_process` (default) or `multiprocess`: how a run executes its steps.

    In process, a backfill run's Meta step and its asset checks share the run worker instead of
    paying a Python start-up each (measured in bench/bench_backfill.py, docs/performance.md); the
    steps are serial anyway (the pool serialises Meta, the checks are quick SQL).
    """
    value = os.environ.get(RUN_EXECUTOR_ENV, "in_process").strip().lower()
    if value not in ("in_process", "multiprocess"):
        raise SettingsError(f"{RUN_EXECUTOR_ENV} must be in_process or multiprocess, got {value!r}")
    return value


def env_value(name: str) -> str:
    """The value of the variable a reference names (`env:VAR` tokens and secrets, URL overrides),
    stripped; "" when unset. Every other module reads the environment through this module."""
    return os.environ.get(name, "").strip()


def pinned_now() -> str:
    """ADSPIPE_NOW: an ISO-8601 instant that pins "now" (tests, the demo), or ""."""
    return env_value(NOW_ENV)


def clock_url() -> str:
    """ADSPIPE_CLOCK_URL: a simulator clock's URL to read "now" from, or ""."""
    return env_value(CLOCK_URL_ENV)


SHOPIFY_FRESH_MINUTES_ENV = "ADSPIPE_SHOPIFY_FRESH_MINUTES"
META_FRESH_HOURS_ENV = "ADSPIPE_META_FRESH_HOURS"
GOOGLE_ADS_FRESH_HOURS_ENV = "ADSPIPE_GOOGLE_ADS_FRESH_HOURS"
SCHEDULES_STATUS_ENV = "ADSPIPE_SCHEDULES"  # "running" (default) or "stopped"
SENSORS_STATUS_ENV = "ADSPIPE_SENSORS"  # "running" (default) or "stopped" (benchmarks, maintenance)


def _bounded(name: str, default: int, low: int, high: int, unit: str) -> int:
    raw = env_value(name)
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a whole number of {unit} (got {raw!r})") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high} {unit} (got {value})")
    return value


META_CONCURRENCY_ENV = "ADSPIPE_META_CONCURRENCY"
MAX_META_CONCURRENCY = 64


def meta_concurrency() -> int:
    """Agency mode: how many ad accounts proceed at once (each still serial); 1 (the default) keeps
    every Meta call serial."""
    return _bounded(META_CONCURRENCY_ENV, 1, 1, MAX_META_CONCURRENCY, "accounts")


def shopify_fresh_minutes() -> int:
    """Minutes between shopify_fresh runs (15-30, default 15)."""
    return _bounded(SHOPIFY_FRESH_MINUTES_ENV, 15, 15, 30, "minutes")


def meta_fresh_hours() -> int:
    """Hours between meta_fresh runs (1-2, default 1)."""
    return _bounded(META_FRESH_HOURS_ENV, 1, 1, 2, "hours")


META_REPORT_RUN_MIN_ADS_ENV = "ADSPIPE_META_REPORT_RUN_MIN_ADS"


def meta_report_run_min_ads(default: int) -> int:
    """Ads per day from which a Meta account's days are read as asynchronous report runs
    (0: only after Meta answers code 1); see adspipe/meta/report_runs.py."""
    return _bounded(META_REPORT_RUN_MIN_ADS_ENV, default, 0, 10_000_000, "ads")


def google_ads_fresh_hours() -> int:
    """Hours between google_ads_fresh runs (1-24, default 4): each run re-reads the conversion-lag
    window (30 days by default), so hourly would mostly re-read settled days."""
    return _bounded(GOOGLE_ADS_FRESH_HOURS_ENV, 4, 1, 24, "hours")


def schedules_running() -> bool:
    return os.environ.get(SCHEDULES_STATUS_ENV, "running").strip().lower() != "stopped"


def sensors_running() -> bool:
    return os.environ.get(SENSORS_STATUS_ENV, "running").strip().lower() != "stopped"


@contextmanager
def overridden(values: Mapping[str, str]) -> Iterator[None]:
    """Set variables for this process (the demo points the pipeline at its simulator), restored after."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def environment_with(values: Mapping[str, str]) -> dict[str, str]:
    """This process's environment plus `values`: the environment of a child process."""
    return {**os.environ, **values}
