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

from adspipe.marts.metadata import UNKNOWN_CURRENCY, summary_is_targeted, summary_materializations
from adspipe.meta import report, sync
from adspipe.meta.client import MetaClient
from adspipe.meta.settings import BACKFILL_MAX_PARTITIONS_PER_RUN, GROUP, JOB_FILL, JOB_FRESH, POOL
from adspipe.orchestration.daystats import total
from adspipe.orchestration.job_assets import refreshing
from adspipe.orchestration.partitions import daily_partitions, partitions_start
from adspipe.orchestration.scope import ScopeConfig
from adspipe.resources import ClockResource, WarehouseResource

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
    engine: Engine, result: sync.MetaRunResult, keys: tuple[str, ...] = (RAW, FACT, METRICS)
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
    context: OpExecutionContext, engine: Engine, result: sync.MetaRunResult
) -> Iterator[dg.AssetMaterialization | dg.Output[None]]:
    yield from day_materializations(engine, result)
    metadata = report.run_metadata(result)
    context.log.info(f"{result.job}: {metadata}")
    result.report.raise_if_failed(result.job)
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


@dg.job(
    name=JOB_FILL,
    description="Initial Meta data: the last 7 days of every active ad account (or one: connection_id).",
)
def _meta_7d_fill() -> None:
    meta_7d_fill_op()


# The asset pages list the jobs' sensor and schedule (see adspipe.orchestration.job_assets).
meta_7d_fill = refreshing(_meta_7d_fill, (RAW, FACT, METRICS, SUMMARY))


@dg.job(
    name=JOB_FRESH,
    description="Attribution-aware refresh: each ad account's window of N days (attribution_window_days).",
)
def _meta_fresh() -> None:
    meta_fresh_op()


meta_fresh = refreshing(_meta_fresh, (RAW, FACT, METRICS, SUMMARY))


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
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=BACKFILL_MAX_PARTITIONS_PER_RUN),
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
    dates = [date.fromisoformat(key) for key in context.partition_keys]
    first = partitions_start()
    per_day: dict[date, dict[str, dict[str, Any]]] = {}

    def on_day(result: sync.MetaRunResult, account: sync.AccountRun, day: date) -> None:
        # Computed as each day commits, while the next day's Meta call is in flight (bench P1).
        if day >= first:
            per_day[day] = _day_metadata(engine, day, result.touched().get(day, []))

    result = sync.run_dates(
        engine, meta, dates, now=clock.now(), connection_id=config.connection_id, on_day=on_day,
        dagster_run_id=context.run.run_id, log=context.log.info, warn=context.log.warning,
    )  # fmt: skip
    for day in dates:
        if day >= first and day not in per_day:  # not committed: its figures as they stand
            per_day[day] = _day_metadata(engine, day, [])
    context.log.info(f"meta_insights: {report.run_metadata(result)}")  # the run's totals
    failed = set(result.failed_dates(dates))
    committed = [d for d in result.touched() if d not in failed]
    # daily_summary of a day is final once every account committed it, and only when this run
    # or backfill does not materialize daily_summary itself (its own step then records it after
    # the Shopify side of the day too).
    summaries = [] if summary_is_targeted(context) else committed
    if failed:
        # Every day is its own unit: the days that committed are recorded as materialized, the
        # failed ones stay failed in the backfill and re-runnable alone.
        for day, values_by_key in sorted(per_day.items()):
            if day in failed:
                continue
            for key, values in values_by_key.items():
                yield dg.AssetMaterialization(asset_key=key, partition=day.isoformat(), metadata=values)
        yield from summary_materializations(engine, summaries)
        result.report.raise_if_failed(sync.JOB_ASSETS)
        raise dg.Failure(
            f"meta_insights: {len(failed)} day(s) failed: {', '.join(d.isoformat() for d in sorted(failed))}"
        )
    yield from summary_materializations(engine, summaries)
    # One result per asset for the whole range; each partition carries its own day's figures only.
    for day, values_by_key in sorted(per_day.items()):
        for key, values in values_by_key.items():
            context.add_asset_metadata(values, asset_key=key, partition_key=day.isoformat())
    for key in (RAW, FACT, METRICS):
        yield dg.MaterializeResult(asset_key=key)
