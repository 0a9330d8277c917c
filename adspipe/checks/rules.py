"""The data checks, as plain functions over the warehouse (the Dagster asset checks and
`adspipe checks run` both call these). Each returns a `CheckOutcome` listing what is wrong."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adspipe import versions
from adspipe.platform import registry
from adspipe.warehouse import cursors
from adspipe.warehouse.schema import (
    connections,
    daily_meta_metrics,
    daily_summary,
    fact_meta_daily,
    fact_orders,
    meta_insights_raw,
    shopify_orders_raw,
    sync_cursors,
    sync_runs,
    table_or_view,
)
from adspipe.warehouse.sync_runs import Coverage, coverage
from adspipe.warehouse.types import Money, UtcDateTime

MAX_LISTED = 20


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    severity: str  # "ERROR" blocks; "WARN" reports
    summary: str
    problems: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


def _outcome(
    name: str, severity: str, problems: list[str], ok: str, bad: str, **metadata: Any
) -> CheckOutcome:
    passed = not problems
    return CheckOutcome(
        name=name,
        passed=passed,
        severity=severity,
        summary=ok if passed else f"{bad}: {len(problems)} problem(s)",
        problems=problems[:MAX_LISTED],
        metadata={"problems": len(problems), **metadata},
    )


def _count_by(
    conn: Connection, table: sa.Table, keys: list[str], where: Any = None
) -> dict[tuple[Any, ...], int]:
    columns = [table.c[k] for k in keys]
    query = sa.select(*columns, sa.func.count()).group_by(*columns)
    if where is not None:
        query = query.where(where)
    return {tuple(row[:-1]): int(row[-1]) for row in conn.execute(query)}


def _parity(name: str, raw: dict[tuple[Any, ...], int], fact: dict[tuple[Any, ...], int]) -> CheckOutcome:
    problems = [
        f"{key[0]} {key[1]}: raw {raw.get(key, 0)} vs fact {fact.get(key, 0)}"
        for key in sorted(set(raw) | set(fact), key=str)
        if raw.get(key, 0) != fact.get(key, 0)
    ]
    return _outcome(
        name, "ERROR", problems, "raw and fact rows match for every date", "raw and fact rows differ",
        dates_compared=len(set(raw) | set(fact)), raw_rows=sum(raw.values()), fact_rows=sum(fact.values()),
    )  # fmt: skip


def shopify_raw_fact_parity(conn: Connection) -> CheckOutcome:
    raw = _count_by(conn, shopify_orders_raw, ["shop_domain", "order_date"])
    fact = _count_by(conn, fact_orders, ["shop_domain", "order_date"])
    return _parity("shopify_raw_fact_parity", raw, fact)


def meta_raw_fact_parity(conn: Connection) -> CheckOutcome:
    raw = _count_by(conn, meta_insights_raw, ["ad_account_id", "date"], meta_insights_raw.c.level == "ad")
    fact = _count_by(conn, fact_meta_daily, ["ad_account_id", "date"])
    return _parity("meta_raw_fact_parity", raw, fact)


def _ad_day_totals(
    conn: Connection, spec: registry.PlatformSpec
) -> list[tuple[int, date, Decimal, int, int]]:
    """An ad platform's facts per store, account and date: spend, clicks, and purchases as the
    mart counts them (each account-day's sum over `purchases_scale`, rounded half even)."""
    fact = table_or_view(spec.fact_table)
    q = sa.select(
        fact.c.store_id,
        fact.c.date,
        sa.type_coerce(sa.func.sum(fact.c.spend), Money()).label("spend"),
        sa.func.sum(fact.c.clicks).label("clicks"),
        sa.func.sum(fact.c[spec.purchases_column]).label("purchases"),
    ).group_by(fact.c.store_id, fact.c[spec.account_column], fact.c.date)
    return [
        (r.store_id, r.date, r.spend, int(r.clicks),
         int((Decimal(int(r.purchases)) / spec.purchases_scale).to_integral_value()))
        for r in conn.execute(q)
    ]  # fmt: skip


def summary_matches_facts(conn: Connection) -> CheckOutcome:
    """daily_summary equals what the facts add up to, per store and date (docs/metrics.md)."""
    counted = sa.and_(fact_orders.c.is_test.is_(False), fact_orders.c.cancelled_at.is_(None))
    money = Money()
    expected: dict[tuple[Any, ...], dict[str, Any]] = {}
    # shopify_fresh stores facts of orders from dates no fill or range read whole, but builds no
    # mart row from such a fraction of a day (shopify.sync.covered): those dates are not due.
    whole_days: dict[int, Coverage] = {}
    for spec in registry.of_kind("store"):  # connection ids are unique across platforms
        whole_days |= coverage(conn, spec.fill_job, spec.range_job)
    orders_q = (
        sa.select(
            fact_orders.c.store_id,
            fact_orders.c.connection_id,
            fact_orders.c.order_date,
            sa.func.count().filter(counted).label("orders"),
            sa.type_coerce(sa.func.coalesce(sa.func.sum(fact_orders.c.total_price).filter(counted), 0), money).label("gross"),
            sa.type_coerce(sa.func.coalesce(sa.func.sum(fact_orders.c.total_refunded).filter(counted), 0), money).label("refunds"),
        )
        .group_by(fact_orders.c.store_id, fact_orders.c.connection_id, fact_orders.c.order_date)
    )  # fmt: skip
    for row in conn.execute(orders_q):
        known = whole_days.get(row.connection_id)
        if known is not None and not known.covers(row.order_date):
            continue
        due = expected.setdefault((row.store_id, row.order_date), {})
        due["orders"] = due.get("orders", 0) + row.orders
        due["gross_revenue"] = due.get("gross_revenue", Decimal(0)) + row.gross
        due["net_revenue"] = due.get("net_revenue", Decimal(0)) + row.gross - row.refunds
    for spec in registry.of_kind("ads"):
        for store_id, day, spend, clicks, purchases in _ad_day_totals(conn, spec):
            due = expected.setdefault((store_id, day), {})
            due["spend"] = due.get("spend", Decimal(0)) + spend
            due["clicks"] = due.get("clicks", 0) + clicks
            due["purchases"] = due.get("purchases", 0) + purchases
    defaults = {
        "orders": 0,
        "gross_revenue": Decimal(0),
        "net_revenue": Decimal(0),
        "spend": Decimal(0),
        "clicks": 0,
        "purchases": 0,
    }
    actual = {(row.store_id, row.date): row._mapping for row in conn.execute(sa.select(daily_summary))}
    problems: list[str] = []
    for key in sorted(set(expected) | set(actual), key=str):
        want = {**defaults, **expected.get(key, {})}
        have = actual.get(key)
        if have is None:
            if any(want[k] for k in want):
                problems.append(f"store {key[0]} {key[1]}: missing from daily_summary")
            continue
        diffs = [f"{k} {have[k]} != {want[k]}" for k in defaults if have[k] != want[k]]
        if diffs:
            problems.append(f"store {key[0]} {key[1]}: " + ", ".join(diffs))
    return _outcome(
        "summary_matches_facts", "ERROR", problems, "daily_summary equals the sum of the facts",
        "daily_summary differs from the facts", rows_compared=len(set(expected) | set(actual)),
    )  # fmt: skip


def meta_spend_cross_check(conn: Connection) -> CheckOutcome:
    """Ad-level spend vs the account-level call. The default status filter keeps every status, so a
    gap is spend of ads a connection's narrower filter (`--ad-statuses`) dropped, or ad-level rows
    Meta did not return; MER divides by the account-level spend either way."""
    rows = conn.execute(
        sa.select(
            daily_meta_metrics.c.ad_account_id, daily_meta_metrics.c.date, daily_meta_metrics.c.spend_gap
        )
        .where(daily_meta_metrics.c.spend_gap.is_not(None), daily_meta_metrics.c.spend_gap != Decimal(0))
        .order_by(daily_meta_metrics.c.ad_account_id, daily_meta_metrics.c.date)
    ).all()
    missing = sum((r.spend_gap for r in rows), Decimal(0))
    problems = [
        f"{r.ad_account_id} {r.date}: account-level spend exceeds ad-level by {r.spend_gap}" for r in rows
    ]
    return _outcome(
        "meta_spend_cross_check", "WARN", problems, "ad-level spend equals account-level spend",
        f"ad-level spend misses {missing} (ads outside a connection's status filter, e.g. archived)", missing_spend=float(missing),
    )  # fmt: skip


def cursor_consistency(conn: Connection) -> CheckOutcome:
    """The Shopify cursor against the orders committed for its shop.

    A cursor is only ever set to the `updatedAt` of an order it committed, and stored orders only
    get newer, so a cursor *ahead* of the newest committed order means orders were skipped: ERROR.
    A cursor *behind* it (after a re-fill, or a lost advance) costs a re-read, not a wrong number:
    reported as WARN with the lag.
    """
    latest = sa.type_coerce(sa.func.max(shopify_orders_raw.c.updated_at), UtcDateTime())
    newest: dict[int, datetime] = {
        row[0]: row[1]
        for row in conn.execute(
            sa.select(shopify_orders_raw.c.connection_id, latest).group_by(shopify_orders_raw.c.connection_id)
        )
    }
    ahead, behind = [], []
    for row in conn.execute(
        sa.select(sync_cursors).where(sync_cursors.c.cursor_key == cursors.SHOPIFY_UPDATED_AT)
    ):
        value = datetime.fromisoformat(row.value.replace("Z", "+00:00"))
        committed = newest.get(row.connection_id)
        if committed is None or value > committed:
            ahead.append(
                f"connection {row.connection_id}: cursor {value.isoformat()} is ahead of committed data ({committed})"
            )
        elif value < committed:
            behind.append(
                f"connection {row.connection_id}: cursor {value.isoformat()} is {committed - value} behind committed data"
            )
    if ahead:
        return _outcome(
            "cursor_consistency",
            "ERROR",
            ahead + behind,
            "",
            "cursor ahead of committed data: orders skipped",
        )
    return _outcome(
        "cursor_consistency",
        "WARN",
        behind,
        "cursors match their committed data",
        "cursor behind committed data (will re-read)",
    )


def freshness(conn: Connection, now: datetime, every: Mapping[str, timedelta]) -> CheckOutcome:
    """The last successful fresh sync of every active connection is within 2x its platform's
    schedule (`every`: platform -> period, from the registry); a platform without one is named,
    never given another platform's period."""
    started = sa.type_coerce(sa.func.max(sync_runs.c.finished_at), UtcDateTime())
    last: dict[int, datetime] = {
        row[0]: row[1]
        for row in conn.execute(
            sa.select(sync_runs.c.connection_id, started)
            .where(sync_runs.c.status == "success", sync_runs.c.job.in_([f"{p}_fresh" for p in every]))
            .group_by(sync_runs.c.connection_id)
        )
    }
    problems = []
    for row in conn.execute(sa.select(connections).where(connections.c.status == "active")):
        period = every.get(row.platform)
        if period is None:
            problems.append(f"{row.account_id}: no fresh schedule known for platform {row.platform}")
            continue
        limit = 2 * period
        seen = last.get(row.connection_id)
        if seen is None:
            problems.append(f"{row.account_id}: no successful {row.platform}_fresh sync yet")
        elif now - seen > limit:
            problems.append(
                f"{row.account_id}: last {row.platform}_fresh success {seen.isoformat()} is older than {limit}"
            )
    return _outcome("freshness", "WARN", problems, "every active connection is fresh", "stale connections")


def currency_timezone_match(conn: Connection) -> CheckOutcome:
    """A store's ad accounts should share its shop's currency and time zone (else MER is NULL)."""
    shop, acct = connections.alias("shop"), connections.alias("acct")
    rows = conn.execute(
        sa.select(shop.c.account_id.label("shop"), acct.c.account_id.label("acct"), shop.c.currency, acct.c.currency.label("acct_currency"), shop.c.timezone, acct.c.timezone.label("acct_timezone"))
        .select_from(shop.join(acct, sa.and_(acct.c.store_id == shop.c.store_id, acct.c.platform == "meta")))
        .where(shop.c.platform == "shopify", shop.c.status != "disconnected", acct.c.status != "disconnected")
    ).all()  # fmt: skip
    problems = []
    for r in rows:
        if r.currency and r.acct_currency and r.currency != r.acct_currency:
            problems.append(
                f"{r.acct} spends in {r.acct_currency}, shop {r.shop} sells in {r.currency}: MER is NULL"
            )
        if r.timezone and r.acct_timezone and r.timezone != r.acct_timezone:
            problems.append(
                f"{r.acct} reports days in {r.acct_timezone}, shop {r.shop} in {r.timezone}: MER is NULL"
            )
    return _outcome(
        "currency_timezone_match", "WARN", problems, "shops and ad accounts agree", "mismatched accounts"
    )


ALL_CHECKS: dict[str, Callable[[Connection], CheckOutcome]] = {
    "shopify_raw_fact_parity": shopify_raw_fact_parity,
    "meta_raw_fact_parity": meta_raw_fact_parity,
    "summary_matches_facts": summary_matches_facts,
    "meta_spend_cross_check": meta_spend_cross_check,
    "cursor_consistency": cursor_consistency,
    "currency_timezone_match": currency_timezone_match,
}


def run_all(conn: Connection, now: datetime | None, every: Mapping[str, timedelta]) -> list[CheckOutcome]:
    outcomes = [check(conn) for check in ALL_CHECKS.values()]
    outcomes.append(freshness(conn, now or datetime.now(UTC), every))
    return outcomes


def api_version(
    conn: Connection,
    platform: str,
    version: str,
    support_ends: dict[str, date | None],
    today: date,
    *,
    recommended: str,
) -> CheckOutcome:
    """The pinned version's support state (WARN within 60 days of its end, ERROR after), plus a WARN
    when the platform's last answer named another version than the one asked for."""
    setting = registry.get(platform).version_env
    status = versions.version_status(
        platform, version, support_ends, today, setting=setting, recommended=recommended
    )
    problems = [] if status.severity == "OK" else [status.message]
    served = [m for m in versions.served_mismatches(conn) if m.platform == platform]
    problems += [
        f"the last {platform} sync (sync_run {m.sync_run_id}, {m.job}) asked for {m.requested} "
        f"and was served {m.served}"
        for m in served
    ]
    severity = "ERROR" if status.severity == "ERROR" else "WARN"
    return _outcome(
        "api_version", severity, problems, status.message, f"{platform} API version",
        api_version=version,
        support_ends=status.ends.isoformat() if status.ends else "not announced",
        api_version_served=served[0].served if served else version,
    )  # fmt: skip
