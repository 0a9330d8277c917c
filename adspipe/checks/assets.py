"""Asset checks: the rules in `rules.py`, attached to the tables they guard.

Blocking checks (ERROR) stop downstream assets of the same run — a wrong number never reaches
daily_summary silently; WARN checks report without blocking. They evaluate the whole table (the
SQL is set-based and cheap), so a check after a multi-day run covers every day it touched.
"""

from collections.abc import Callable

import dagster as dg
from sqlalchemy.engine import Connection

from adspipe.checks import rules
from adspipe.platform import registry
from adspipe.platform.registry import PlatformSpec
from adspipe.resources import ClockResource, WarehouseResource


def _result(outcome: rules.CheckOutcome) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR if outcome.severity == "ERROR" else dg.AssetCheckSeverity.WARN,
        description=outcome.summary,
        metadata={
            **outcome.metadata,
            "details": dg.MetadataValue.md("\n".join(f"- {p}" for p in outcome.problems) or "none"),
        },
    )


def _check(
    name: str, asset: str, rule: Callable[[Connection], rules.CheckOutcome], blocking: bool, description: str
) -> dg.AssetChecksDefinition:
    @dg.asset_check(name=name, asset=asset, blocking=blocking, description=description)
    def _evaluate(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.engine().connect() as conn:
            return _result(rule(conn))

    return _evaluate


@dg.asset_check(
    name="freshness",
    asset="daily_summary",
    description="The last successful fresh sync of every active connection is within 2x its schedule.",
)
def freshness_check(warehouse: WarehouseResource, clock: ClockResource) -> dg.AssetCheckResult:
    with warehouse.engine().connect() as conn:
        return _result(rules.freshness(conn, clock.now(), registry.fresh_intervals()))


_VERSION_DESCRIPTION = (
    "The pinned {} API version: WARN within 60 days of its published support end, ERROR after it; "
    "WARN when the last sync was answered by another version (sync_runs.api_version_served)."
)


def _version_check(spec: PlatformSpec) -> dg.AssetChecksDefinition:
    """On the platform's raw table. The pinned version comes from the platform's settings
    (ADSPIPE_<PLATFORM>_API_VERSION or the default), not from the client resource: the check makes
    no API call and claims no pool."""
    pinned = spec.settings

    @dg.asset_check(
        name="api_version", asset=spec.asset_keys[0], description=_VERSION_DESCRIPTION.format(spec.vendor)
    )
    def _evaluate(warehouse: WarehouseResource, clock: ClockResource) -> dg.AssetCheckResult:
        with warehouse.engine().connect() as conn:
            return _result(
                rules.api_version(
                    conn,
                    spec.name,
                    pinned.API_VERSION,
                    pinned.SUPPORT_ENDS,
                    clock.now().date(),
                    recommended=pinned.DEFAULT_API_VERSION,
                )
            )

    return _evaluate


asset_checks = [
    _check("raw_fact_parity", "fact_orders", rules.shopify_raw_fact_parity, True,
           "Every date has as many fact_orders rows as shopify_orders_raw rows, per shop."),
    _check("raw_fact_parity", "fact_meta_daily", rules.meta_raw_fact_parity, True,
           "Every date has as many fact_meta_daily rows as ad-level meta_insights_raw rows, per account."),
    _check("summary_matches_facts", "daily_summary", rules.summary_matches_facts, True,
           "daily_summary equals the sum of fact_orders and fact_meta_daily per store and date."),
    _check("spend_cross_check", "daily_meta_metrics", rules.meta_spend_cross_check, False,
           "Ad-level spend vs the account-level call: warns with the spend a status filter dropped."),
    _check("cursor_consistency", "shopify_orders_raw", rules.cursor_consistency, True,
           "The shopify_fresh cursor is never ahead of committed data (ERROR) nor behind it (WARN)."),
    _check("currency_timezone_match", "daily_summary", rules.currency_timezone_match, False,
           "A store's ad accounts share its shop's currency and time zone (else MER is NULL)."),
    freshness_check,
    *(_version_check(spec) for spec in registry.platforms()),
]  # fmt: skip


CHECKS_JOB = "adspipe_checks"
# Every check as one run (the demo runs it after the jobs): the results land in the instance, so
# the asset pages show them evaluated. Checks read whole tables: no partition to choose.
checks_job = dg.define_asset_job(
    CHECKS_JOB,
    selection=dg.AssetSelection.all_asset_checks(),
    description="Evaluates every asset check against the warehouse as it stands.",
)
