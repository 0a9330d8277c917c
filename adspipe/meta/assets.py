"""The Dagster layer for Meta: the partitioned asset chain and the jobs meta_7d_fill / meta_fresh.

Thin on purpose: the logic is in `sync.py`. Every step here calls Meta, so every step claims the
`meta_api` pool (limit 1 in dagster.yaml): Meta calls are serial across every run, backfill and
schedule. The jobs' windows are per account time zone (and meta_fresh's per account window), so
they are not one partition range: the op records runtime materializations for exactly the
date partitions it committed.
"""
# No `from __future__ import annotations` here: Dagster compares the `context` annotation itself.

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext, OpExecutionContext
from pydantic import Field
from sqlalchemy.engine import Engine

from adspipe.counters import total
from adspipe.marts.metadata import UNKNOWN_CURRENCY, summary_materializations
from adspipe.meta import report, sync
from adspipe.meta.client import MetaClient
from adspipe.meta.settings import GROUP, JOB_FILL, JOB_FRESH, POOL
from adspipe.orchestration.job_assets import seed_job
from adspipe.orchestration.outcome import partition_range_outcome, raise_if_failed
from adspipe.orchestration.partitions import daily_partitions, partition_dates, partitions_start
from adspipe.orchestration.scope import ScopeConfig
from adspipe.resources import ClockResource, WarehouseResource
from adspipe.settings import backfill_days_per_run

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


def day_materializations(
    engine: Engine, result: sync.MetaResult, keys: tuple[str, ...] = (RAW, FACT, METRICS)
) -> Iterator[dg.AssetMaterialization]:
    """One runtime materialization per asset and committed date partition, then daily_summary's.

    Yielded (not `context.log_event`-ed): events a step yields are kept when it then fails, so
    what did succeed is recorded before the step fails naming the failed connections.
    """
    first = partitions_start()
    touched = result.touched()
    for day, accounts in touched.items():
        if day < first:
            continue  # outside the partitions definition: nothing to attach it to
        per_asset = _day_metadata(engine, day, accounts)
        for key in keys:
            yield dg.AssetMaterialization(asset_key=key, partition=day.isoformat(), metadata=per_asset[key])
    yield from summary_materializations(engine, list(touched))


def _finish_job(
    context: OpExecutionContext, engine: Engine, result: sync.MetaResult
) -> Iterator[dg.AssetMaterialization | dg.Output[None]]:
    yield from day_materializations(engine, result)
    metadata = report.run_metadata(result)
    context.log.info(f"{result.job}: {metadata}")
    raise_if_failed(result.report, result.job)
    yield dg.Output(None, metadata=metadata)


@dg.op(
    name="meta_7d_fill_op",
    pool=POOL,
    out=dg.Out(dg.Nothing),
    description="For each ad account: the last 7 days [today-7 … yesterday] in its time zone, one day at a time.",
)
def meta_7d_fill_op(
    context: OpExecutionContext,
    config: ScopeConfig,
    warehouse: WarehouseResource,
    meta: MetaClient,
    clock: ClockResource,
) -> Iterator[dg.AssetMaterialization | dg.Output[None]]:
    engine = warehouse.engine()
    result = sync.run_fill(
        engine, meta, now=clock.now(), connection_id=config.connection_id,
        dagster_run_id=context.run.run_id, log=context.log.info, warn=context.log.warning,
    )  # fmt: skip
    yield from _finish_job(context, engine, result)


@dg.op(
    name="meta_fresh_op",
    pool=POOL,
    out=dg.Out(dg.Nothing),
    description="For each ad account: re-pull its attribution window [today-N+1 … yesterday] so late conversions land.",
)
def meta_fresh_op(
    context: OpExecutionContext,
    config: MetaFreshConfig,
    warehouse: WarehouseResource,
    meta: MetaClient,
    clock: ClockResource,
) -> Iterator[dg.AssetMaterialization | dg.Output[None]]:
    engine = warehouse.engine()
    result = sync.run_fresh(
        engine, meta, now=clock.now(), include_today=config.include_today,
        connection_id=config.connection_id, dagster_run_id=context.run.run_id, log=context.log.info,
        warn=context.log.warning,
    )  # fmt: skip
    yield from _finish_job(context, engine, result)


# The asset pages list the jobs' sensor and schedule (see adspipe.orchestration.job_assets).
meta_7d_fill = seed_job(
    JOB_FILL, meta_7d_fill_op,
    "Initial Meta data: the last 7 days of every active ad account (or one: connection_id).",
    (RAW, FACT, METRICS, SUMMARY),
)  # fmt: skip
meta_fresh = seed_job(
    JOB_FRESH, meta_fresh_op,
    "Attribution-aware refresh: each ad account's window of N days (attribution_window_days).",
    (RAW, FACT, METRICS, SUMMARY),
)  # fmt: skip


@dg.multi_asset(
    name="meta_insights",
    specs=[
        dg.AssetSpec(
            RAW,
            description="Grain: one row per ad account, level (ad | account), ad and date (account time zone): "
            "Meta's insights payload. The account-level row (ad_id '') is the spend cross-check.",
        ),
        dg.AssetSpec(
            FACT,
            deps=[RAW],
            description="Grain: one row per ad account, ad and date (account time zone): spend, impressions, "
            "clicks, reach, purchases and purchase value (one action type), currency.",
        ),
        dg.AssetSpec(
            METRICS,
            deps=[FACT],
            description="Grain: one row per store, ad account and date (account time zone): the ad-level sums, "
            "ROAS, and account-level spend with the gap the status filter leaves.",
        ),
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=backfill_days_per_run()),
    group_name=GROUP,
    pool=POOL,
    description="Meta insights for the partition dates (each ad account's own time zone), one day per unit: "
    "its own API calls and its own commit, oldest first; also rebuilds daily_summary for those dates.",
)
def meta_insights(
    context: AssetExecutionContext,
    config: ScopeConfig,
    warehouse: WarehouseResource,
    meta: MetaClient,
    clock: ClockResource,
) -> Any:
    engine = warehouse.engine()
    dates = partition_dates(context)
    per_day: dict[date, dict[str, dict[str, Any]]] = {}

    def on_day(result: sync.MetaResult, account: sync.AccountRun, day: date) -> None:
        # Computed as each day commits, while the next day's Meta call is in flight (bench P1).
        per_day[day] = _day_metadata(engine, day, result.touched().get(day, []))

    result = sync.run_dates(
        engine, meta, dates, now=clock.now(), connection_id=config.connection_id, on_day=on_day,
        dagster_run_id=context.run.run_id, log=context.log.info, warn=context.log.warning,
    )  # fmt: skip
    context.log.info(f"meta_insights: {report.run_metadata(result)}")  # the run's totals

    def day_metadata(day: date) -> dict[str, dict[str, Any]]:
        # A day not committed: its figures as they stand.
        return per_day[day] if day in per_day else _day_metadata(engine, day, [])

    yield from partition_range_outcome(context, engine, result, dates, (RAW, FACT, METRICS), day_metadata)
