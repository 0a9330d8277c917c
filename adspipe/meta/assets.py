"""The Dagster layer for Meta: the partitioned asset chain and the jobs meta_7d_fill / meta_fresh.

Thin on purpose: the logic is in `sync.py`. Every step here calls Meta, so every step claims the
`meta_api` pool (limit 1 in dagster.yaml): Meta calls are serial across every run, backfill and
schedule. The jobs' windows are per account time zone (and meta_fresh's per account window), so
they are not one partition range: the op records runtime materializations for exactly the
date partitions it committed.
"""
# No `from __future__ import annotations` here: Dagster compares the `context` annotation itself.

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import Field
from sqlalchemy.engine import Engine

from adspipe.counters import total
from adspipe.marts.metadata import UNKNOWN_CURRENCY
from adspipe.meta import report, sync
from adspipe.meta.platform import SPEC
from adspipe.meta.settings import GROUP
from adspipe.orchestration.scope import ScopeConfig
from adspipe.platform.assets import OnDay, SeedJob, Step, ad_asset_chain, chain_specs, job_finish, seed_jobs

RAW, FACT, METRICS, SUMMARY = "meta_insights_raw", "fact_meta_daily", "daily_meta_metrics", "daily_summary"


class MetaFreshConfig(ScopeConfig):
    include_today: bool = Field(
        default=False,
        description="Also re-pull today (a partial day: its numbers grow until midnight, account time).",
    )


def _day_metadata(engine: Engine, day: date, accounts: list[sync.AccountRun]) -> dict[str, dict[str, Any]]:
    """Each asset's metadata for one date: that day's rows, calls and waits, and its mart figures."""
    results = [d for a in accounts for d in a.days if d.day == day]
    calls = total([a.day_stats[day] for a in accounts if day in a.day_stats])
    calls.rows = sum(d.ad_rows + d.account_rows for d in results)
    return {
        RAW: {**calls.metadata(), "accounts": len(accounts)},
        FACT: {
            "rows": sum(d.ad_rows for d in results),
            **{f"spend_{c}": v for c, v in _by_currency(accounts, day, "spend").items()},
            **{f"purchase_value_{c}": v for c, v in _by_currency(accounts, day, "purchase_value").items()},
        },
        METRICS: report.meta_metrics_on(engine, day, [a.connection.account_id for a in accounts]),
    }


def _by_currency(accounts: list[sync.AccountRun], day: date, figure: str) -> dict[str, float]:
    """A fact figure of the day summed per account currency (never across currencies)."""
    out: dict[str, Decimal] = {}
    for account in accounts:
        code = (account.info.currency if account.info else None) or UNKNOWN_CURRENCY
        for result in account.days:
            if result.day == day:
                out[code] = out.get(code, Decimal(0)) + getattr(result, figure)
    return {code: float(amount) for code, amount in sorted(out.items())}


def _run_dates(step: Step, dates: list[date], on_day: OnDay | None) -> sync.MetaResult:
    # `on_day`: a day's metadata is computed as it commits, while the next day's Meta call is in
    # flight (bench P1).
    return sync.run_dates(
        step.engine, step.resources.meta, dates, on_day=on_day, warn=step.log.warning, **step.sync_options()
    )


# Each step claims the spec's pool, `meta_api`. The asset pages list the jobs' sensor and schedule
# (see adspipe.orchestration.job_assets).
meta_7d_fill, meta_fresh = seed_jobs(
    SPEC, job_finish(_day_metadata, report.run_metadata, (RAW, FACT, METRICS)), (RAW, FACT, METRICS, SUMMARY),
    SeedJob(
        lambda step: sync.run_fill(step.engine, step.resources.meta, warn=step.log.warning, **step.sync_options()),
        "For each ad account: the last 7 days [today-7 … yesterday] in its time zone, one day at a time.",
        "Initial Meta data: the last 7 days of every active ad account (or one: connection_id).",
    ),
    SeedJob(
        lambda step: sync.run_fresh(
            step.engine, step.resources.meta, include_today=step.config.include_today, warn=step.log.warning,
            **step.sync_options(),
        ),
        "For each ad account: re-pull its attribution window [today-N+1 … yesterday] so late conversions land.",
        "Attribution-aware refresh: each ad account's window of N days (attribution_window_days).",
        MetaFreshConfig,
    ),
)  # fmt: skip


meta_insights = ad_asset_chain(
    SPEC,
    chain_specs(
        (
            RAW,
            "Grain: one row per ad account, level (ad | account), ad and date (account time zone): "
            "Meta's insights payload. The account-level row (ad_id '') is the spend cross-check.",
        ),
        (
            FACT,
            "Grain: one row per ad account, ad and date (account time zone): spend, impressions, "
            "clicks, reach, purchases and purchase value (one action type), currency.",
        ),
        (
            METRICS,
            "Grain: one row per store, ad account and date (account time zone): the ad-level sums, "
            "ROAS, and account-level spend with the gap the status filter leaves.",
        ),
    ),
    _run_dates,
    _day_metadata,
    report.run_metadata,
    group_name=GROUP,
    description="Meta insights for the partition dates (each ad account's own time zone), one day per unit: "
    "its own API calls and its own commit, oldest first; also rebuilds daily_summary for those dates.",
)
