"""Warehouse writes for one ad account and day; the caller runs them in ONE transaction.

A day is replaced, not merged: Meta's answer for a day is the whole truth for that day under the
status filter, so an ad that no longer comes back (archived since it spent) must leave raw and
facts too. Delete-then-upsert inside the day's transaction keeps every reader on either the old
day or the new one, never a mix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection as Db

from adspipe.meta import transforms
from adspipe.meta.settings import PLATFORM
from adspipe.platform.ad_metrics import fact_day_sums
from adspipe.warehouse.copydata import CopyData, copy_encoded
from adspipe.warehouse.schema import daily_ad_metrics, fact_meta_daily, meta_insights_raw
from adspipe.warehouse.sql import money_ratio
from adspipe.warehouse.types import Money
from adspipe.warehouse.upsert import (
    OnConflictInsert,
    copy_applies,
    insert_new_rows,
    rows_written,
    upsert_select_statement,
)

ACCOUNT_LEVEL_AD_ID = ""  # the account-level cross-check row's ad_id


def raw_rows(
    *,
    ad_account_id: str,
    connection_id: int,
    day: date,
    ad_rows: Sequence[Mapping[str, Any]],
    account_rows: Sequence[Mapping[str, Any]],
    fetched_at: datetime,
) -> list[dict[str, Any]]:
    """The `meta_insights_raw` rows of one (account, day): one per ad, one account-level row."""
    common = {
        "ad_account_id": ad_account_id,
        "date": day,
        "connection_id": connection_id,
        "fetched_at": fetched_at,
    }
    rows = [{**common, "level": "ad", "ad_id": str(row["ad_id"]), "payload": row} for row in ad_rows]
    # Normally one account-level row per day; should Meta split it, keep the summed figure in one
    # payload so the grain (one row per account and day) holds.
    if account_rows:
        payload = dict(account_rows[0])
        if len(account_rows) > 1:
            payload = {
                **payload,
                "spend": str(transforms.account_spend(account_rows)),
                "rows": list(account_rows),
            }
        rows.append({**common, "level": "account", "ad_id": ACCOUNT_LEVEL_AD_ID, "payload": payload})
    return rows


def write_raw_day(
    db: Db, *, ad_account_id: str, day: date, rows: Sequence[Mapping[str, Any]],
    encoded: CopyData | None = None,
) -> int:  # fmt: skip
    """Make `meta_insights_raw` for (account, day) exactly `rows` (see `raw_rows`); `encoded`: the
    same rows in COPY format, shipped as they are."""
    _replace_day(db, meta_insights_raw, ad_account_id, day, rows, encoded)
    return len(rows)


def replace_facts_day(
    db: Db, *, ad_account_id: str, day: date, facts: Sequence[Mapping[str, Any]],
    encoded: CopyData | None = None,
) -> int:  # fmt: skip
    """Make `fact_meta_daily` for (account, day) exactly these rows (`encoded`: in COPY format)."""
    for fact in facts:
        if fact["date"] != day or fact["ad_account_id"] != ad_account_id:
            raise ValueError(
                f"fact row for {fact['ad_account_id']} {fact['date']} filed under {ad_account_id} {day}"
            )
    _replace_day(db, fact_meta_daily, ad_account_id, day, facts, encoded)
    return len(facts)


def _replace_day(
    db: Db, table: sa.Table, ad_account_id: str, day: date, rows: Sequence[Mapping[str, Any]],
    encoded: CopyData | None,
) -> None:  # fmt: skip
    """Delete the (account, day) rows of `table`, then insert `rows`."""
    if encoded is not None and encoded.rows != len(rows):
        raise ValueError(f"{table.name}: {encoded.rows} encoded rows for {len(rows)} rows")
    db.execute(sa.delete(table).where(table.c.ad_account_id == ad_account_id, table.c.date == day))
    # The day was just deleted in this transaction: its rows go straight in (COPY on Postgres;
    # should an ad repeat, the COPY fails and the upsert keeps its last row).
    if encoded is not None and copy_applies(db, encoded.rows) and copy_encoded(db, [encoded]):
        return
    insert_new_rows(db, [(table, rows)])


def account_spend_by_date(db: Db, ad_account_id: str, dates: Sequence[date]) -> dict[date, Decimal]:
    """The account-level spend stored in raw for these dates (dates without that row are absent)."""
    raw = meta_insights_raw
    rows = db.execute(
        sa.select(raw.c.date, raw.c.payload).where(
            raw.c.ad_account_id == ad_account_id, raw.c.level == "account", raw.c.date.in_(list(dates))
        )
    )
    return {row.date: transforms.account_spend([row.payload]) for row in rows}


def rebuild_meta_metrics(
    db: Db,
    *,
    store_id: int,
    ad_account_id: str,
    dates: Sequence[date],
    timezone: str | None,
    currency: str | None,
) -> int:
    """Recompute Meta's `daily_ad_metrics` rows (the `daily_meta_metrics` view) for (account,
    dates) from facts and the account-level rows.

    One INSERT … SELECT … ON CONFLICT over the facts; dates that have only the account-level row
    (every ad filtered out) still get a row, with zero ad-level figures and the full gap. The
    statements are built once per dialect and count of account-level dates (a committed day: 0 or
    1), the account, dates and figures their parameters.
    """
    dates_ = sorted(set(dates))
    if not dates_:
        return 0
    acct = account_spend_by_date(db, ad_account_id, dates_)
    upsert, delete_gone = _metrics_statements(db.dialect.name, len(acct))
    params: dict[str, Any] = {
        "store_id": store_id, "account": ad_account_id, "dates": dates_, "currency": currency,
        "timezone": timezone,
    }  # fmt: skip
    for i, (day, spend) in enumerate(acct.items()):
        params[f"acct_date_{i}"], params[f"acct_spend_{i}"] = day, spend
    written = rows_written(db.execute(upsert, params))
    # Dates with neither facts nor an account-level row have no Meta activity any more.
    db.execute(delete_gone, params)
    return written


@cache
def _metrics_statements(dialect: str, account_dates: int) -> tuple[OnConflictInsert, sa.Delete]:
    """`rebuild_meta_metrics`' upsert and delete, with `account_dates` (date, account spend)
    parameter pairs."""
    f, raw, dmm = fact_meta_daily, meta_insights_raw, daily_ad_metrics
    account = sa.bindparam("account", type_=sa.String)
    dates: sa.BindParameter[date] = sa.bindparam("dates", expanding=True)
    keys = sa.union(
        sa.select(f.c.date).where(f.c.ad_account_id == account, f.c.date.in_(dates)),
        sa.select(raw.c.date).where(
            raw.c.ad_account_id == account, raw.c.level == "account", raw.c.date.in_(dates)
        ),
    ).subquery("keys")
    agg = fact_day_sums(fact_meta_daily, "ad_account_id", account, dates).subquery("agg")
    zero = sa.literal(0)
    spend = sa.func.coalesce(agg.c.spend, zero)
    pairs = [
        (keys.c.date == sa.bindparam(f"acct_date_{i}", type_=sa.Date), sa.bindparam(f"acct_spend_{i}", type_=Money()))
        for i in range(account_dates)
    ]  # fmt: skip
    account_spend: sa.ColumnElement[Any] = sa.case(*pairs, else_=sa.null()) if pairs else sa.null()
    select = sa.select(
        sa.bindparam("store_id", type_=sa.Integer),
        sa.literal(PLATFORM),
        account,
        keys.c.date,
        sa.bindparam("currency", type_=sa.String),
        sa.bindparam("timezone", type_=sa.String),
        sa.func.coalesce(agg.c.ads, zero),
        spend,
        sa.func.coalesce(agg.c.impressions, zero),
        sa.func.coalesce(agg.c.clicks, zero),
        sa.func.coalesce(agg.c.purchases, zero),
        sa.func.coalesce(agg.c.purchase_value, zero),
        account_spend,
        account_spend - spend,
        money_ratio(dialect, agg.c.purchase_value, agg.c.spend),
    ).select_from(keys.outerjoin(agg, agg.c.date == keys.c.date))
    columns = [
        "store_id", "platform", "ad_account_id", "date", "currency", "timezone", "ads", "spend", "impressions",
        "clicks", "purchases", "purchase_value", "account_spend", "spend_gap", "roas",
    ]  # fmt: skip
    delete_gone = sa.delete(dmm).where(
        dmm.c.platform == PLATFORM,
        dmm.c.ad_account_id == account,
        dmm.c.date.in_(dates),
        ~sa.exists().where(f.c.ad_account_id == dmm.c.ad_account_id, f.c.date == dmm.c.date),
        ~sa.exists().where(
            raw.c.ad_account_id == dmm.c.ad_account_id, raw.c.level == "account", raw.c.date == dmm.c.date
        ),
    )
    return upsert_select_statement(dmm, select, columns), delete_gone
