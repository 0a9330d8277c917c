"""The Meta jobs in plain Python against a scripted Graph API, on SQLite and Postgres."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.meta import settings as meta_settings
from adspipe.meta import sync
from adspipe.meta.client import MetaClient
from adspipe.meta.settings import API_VERSION
from adspipe.warehouse import connections as conns
from adspipe.warehouse.cursors import META_WINDOW_END, get_date_cursor
from adspipe.warehouse.schema import (
    daily_meta_metrics,
    daily_summary,
    fact_meta_daily,
    meta_insights_raw,
    sync_runs,
)
from adspipe_tests.meta.fake_graph import FakeAccount, FakeGraph

# 02:00 UTC: still the 9th in Los Angeles, already the 10th in Tokyo.
NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
TOKEN = "EAAfake-token-0123456789"


def _ads(day: date) -> list[tuple[str, str, str, int, str]]:
    n = day.day
    return [
        ("a1", "ACTIVE", f"{n}.10", 1, f"{n}.50"),
        ("a2", "PAUSED", "0.25", 0, "0"),
        ("gone", "ARCHIVED", "3.33", 2, "9.99"),  # spent, then archived: the filter drops it
    ]


@pytest.fixture
def graph() -> FakeGraph:
    days = [date(2026, 2, 20) + timedelta(days=i) for i in range(20)]
    return FakeGraph(
        {
            "act_1": FakeAccount("America/Los_Angeles", "USD", {d: _ads(d) for d in days}),
            "act_2": FakeAccount("Asia/Tokyo", "JPY", {d: _ads(d) for d in days}),
        }
    )


@pytest.fixture
def accounts(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> dict[str, conns.Connection]:
    monkeypatch.setenv("META_TOK", TOKEN)
    with engine.begin() as db:
        # act_1 keeps the seed's ACTIVE,PAUSED filter (a per-connection option), act_2 the default
        # (every status): the archived ad's spend is the gap on act_1 and a fact on act_2.
        one, _ = conns.connect(db, store="West", platform="meta", account_id="act_1", token_env="META_TOK",
                               attribution_window_days=7, ad_statuses=("ACTIVE", "PAUSED"))  # fmt: skip
        two, _ = conns.connect(db, store="East", platform="meta", account_id="act_2", token_env="META_TOK",
                               attribution_window_days=3)  # fmt: skip
    return {"act_1": one, "act_2": two}


def _client(graph: FakeGraph, waits: list[float] | None = None, **config: Any) -> MetaClient:
    sleep = waits.append if waits is not None else (lambda s: None)
    return MetaClient(graph_url="http://graph.test", **config).with_transport(
        transport=graph.transport(), sleep=sleep, rng=random.Random(1)
    )


def _runs(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as db:
        return [dict(r._mapping) for r in db.execute(sa.select(sync_runs).order_by(sync_runs.c.sync_run_id))]


def _snapshot(engine: Engine, day: date) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with engine.connect() as db:
        for table in (meta_insights_raw, fact_meta_daily, daily_meta_metrics, daily_summary):
            cols = [c for c in table.c if c.name not in ("fetched_at",)]
            out[table.name] = sorted(
                tuple(map(str, r)) for r in db.execute(sa.select(*cols).where(table.c.date == day))
            )
    return out


def test_windows_follow_each_account_time_zone() -> None:
    assert sync.fill_window("America/Los_Angeles", NOW) == (date(2026, 3, 2), date(2026, 3, 8))
    assert sync.fill_window("Asia/Tokyo", NOW) == (date(2026, 3, 3), date(2026, 3, 9))
    assert sync.fresh_window("Asia/Tokyo", NOW, 3) == (date(2026, 3, 8), date(2026, 3, 9))
    assert sync.fresh_window("Asia/Tokyo", NOW, None) == (date(2026, 3, 4), date(2026, 3, 9))
    assert sync.fresh_window("Asia/Tokyo", NOW, 3, include_today=True) == (
        date(2026, 3, 8),
        date(2026, 3, 10),
    )
    start, end = sync.fresh_window("Asia/Tokyo", NOW, 1)
    assert end < start  # N = 1 without today: nothing to re-pull


def test_fill_pulls_seven_days_per_account_and_sets_the_cursor(
    engine: Engine, graph: FakeGraph, accounts: dict[str, conns.Connection]
) -> None:
    result = sync.run_fill(engine, _client(graph), now=NOW)
    assert [o.status for o in result.report.outcomes] == ["success", "success"]
    assert graph.insights_days("act_1") == [f"2026-03-0{d}" for d in range(2, 9)]
    # The spend cross-check: one account-level call for the whole window, one row per day.
    spans = [
        (json.loads(r.params["time_range"]), r.params["time_increment"])
        for r in graph.requests
        if r.path.endswith("act_2/insights") and r.params.get("level") == "account"
    ]
    assert spans == [({"since": "2026-03-03", "until": "2026-03-09"}, "1")]
    assert all(
        r.path in (f"/{API_VERSION}/act_1", f"/{API_VERSION}/act_2") or r.path.endswith("/insights")
        for r in graph.requests
    )
    with engine.connect() as db:
        assert get_date_cursor(db, accounts["act_1"].connection_id, META_WINDOW_END) == date(2026, 3, 8)
        assert get_date_cursor(db, accounts["act_2"].connection_id, META_WINDOW_END) == date(2026, 3, 9)
        acct = conns.get_connection(db, accounts["act_2"].connection_id)
        assert (acct.timezone, acct.currency) == ("Asia/Tokyo", "JPY")
        row = db.execute(
            sa.select(daily_meta_metrics).where(
                daily_meta_metrics.c.ad_account_id == "act_1", daily_meta_metrics.c.date == date(2026, 3, 5)
            )
        ).one()
        east = db.execute(
            sa.select(daily_meta_metrics).where(
                daily_meta_metrics.c.ad_account_id == "act_2", daily_meta_metrics.c.date == date(2026, 3, 5)
            )
        ).one()
    # act_1 (ACTIVE,PAUSED): ARCHIVED `gone` is filtered out of the ad level; the account level
    # still has its 3.33.
    assert (row.ads, row.spend, row.purchases, row.purchase_value) == (2, Decimal("5.35"), 1, Decimal("5.50"))
    assert (row.account_spend, row.spend_gap, row.currency, row.timezone) == (
        Decimal("8.68"),
        Decimal("3.33"),
        "USD",
        "America/Los_Angeles",
    )
    # act_2 (the default filter, every status): the archived ad's past spend stays, no gap.
    assert (east.ads, east.spend, east.purchases, east.account_spend, east.spend_gap) == (
        3, Decimal("8.68"), 3, Decimal("8.68"), Decimal(0)
    )  # fmt: skip
    filters = {
        r.path.split("/")[2]: json.loads(r.params["filtering"])[0]["value"]
        for r in graph.requests
        if r.params.get("level") == "ad"
    }
    assert filters == {"act_1": ["ACTIVE", "PAUSED"], "act_2": list(meta_settings.AD_EFFECTIVE_STATUSES)}
    runs = _runs(engine)
    assert [(r["job"], r["status"], r["api_calls"], r["rows"], r["window_start"]) for r in runs] == [
        ("meta_7d_fill", "success", 9, 21, None),  # account read + 7 ad-level + 1 account-level range
        ("meta_7d_fill", "success", 9, 28, None),  # time zone unknown before the first read
    ]
    # sync_runs records the version asked for and the one Meta's header named.
    assert {(r["api_version"], r["api_version_served"]) for r in runs} == {(API_VERSION, API_VERSION)}
    assert runs[0]["dates"] == [f"2026-03-0{d}" for d in range(2, 9)]
    # A second fill does not move the cursor set by the first (only fills an empty one).
    sync.run_fill(engine, _client(graph), now=NOW + timedelta(days=3))
    with engine.connect() as db:
        assert get_date_cursor(db, accounts["act_1"].connection_id, META_WINDOW_END) == date(2026, 3, 8)
    # Now the stored time zones give each sync_runs row its window.
    assert [(r["window_start"], r["window_end"]) for r in _runs(engine)[-2:]] == [
        (date(2026, 3, 5), date(2026, 3, 11)),
        (date(2026, 3, 6), date(2026, 3, 12)),
    ]


def test_fresh_pulls_only_each_account_window_and_advances_the_cursor(
    engine: Engine, graph: FakeGraph, accounts: dict[str, conns.Connection]
) -> None:
    result = sync.run_fresh(engine, _client(graph), now=NOW)
    assert graph.insights_days("act_1") == [
        f"2026-03-0{d}" for d in range(3, 9)
    ]  # N = 7: [today-6 … yesterday]
    assert graph.insights_days("act_2") == ["2026-03-08", "2026-03-09"]  # N = 3: [today-2 … yesterday]
    assert {a.connection.account_id: a.window for a in result.runs} == {
        "act_1": (date(2026, 3, 3), date(2026, 3, 8)),
        "act_2": (date(2026, 3, 8), date(2026, 3, 9)),
    }
    with engine.connect() as db:
        assert get_date_cursor(db, accounts["act_2"].connection_id, META_WINDOW_END) == date(2026, 3, 9)
    graph.requests.clear()
    sync.run_fresh(
        engine, _client(graph), now=NOW, include_today=True, connection_id=accounts["act_2"].connection_id
    )
    assert graph.insights_days("act_2") == ["2026-03-08", "2026-03-09", "2026-03-10"]
    assert graph.insights_days("act_1") == []
    with engine.connect() as db:
        assert get_date_cursor(db, accounts["act_2"].connection_id, META_WINDOW_END) == date(2026, 3, 10)
    # An earlier clock never moves the cursor back.
    sync.run_fresh(
        engine, _client(graph), now=NOW - timedelta(days=2), connection_id=accounts["act_2"].connection_id
    )
    with engine.connect() as db:
        assert get_date_cursor(db, accounts["act_2"].connection_id, META_WINDOW_END) == date(2026, 3, 10)


def test_paging_with_a_small_limit_gives_the_same_day(
    engine: Engine, graph: FakeGraph, accounts: dict[str, conns.Connection]
) -> None:
    day = date(2026, 3, 5)
    graph.accounts["act_1"].ads[day] = [(f"x{i}", "ACTIVE", "1.01", 1, "2.02") for i in range(60)]
    sync.run_dates(
        engine, _client(graph, page_limit=25), [day], now=NOW, connection_id=accounts["act_1"].connection_id
    )
    with engine.connect() as db:
        row = db.execute(sa.select(daily_meta_metrics).where(daily_meta_metrics.c.date == day)).one()
    assert (row.ads, row.spend, row.purchases, row.purchase_value, row.spend_gap) == (
        60,
        Decimal("60.60"),
        60,
        Decimal("121.20"),
        Decimal(0),
    )
    assert len([r for r in graph.requests if r.params.get("level") == "ad"]) == 3  # 25 + 25 + 10
    assert all("access_token" not in r.params for r in graph.requests)


def test_exhausted_rate_limit_leaves_whole_days_and_rate_limited(
    engine: Engine, graph: FakeGraph, accounts: dict[str, conns.Connection]
) -> None:
    act_1 = accounts["act_1"].connection_id
    sync.run_dates(engine, _client(graph), [date(2026, 3, 5)], now=NOW, connection_id=act_1)
    before = _snapshot(engine, date(2026, 3, 5))
    assert before["fact_meta_daily"]
    # Meta's numbers for the 5th changed since (late conversions, an ad gone), but the re-pull is
    # throttled half-way through the day's calls: the day must stay exactly as it was.
    graph.accounts["act_1"].ads[date(2026, 3, 5)] = [("a1", "ACTIVE", "99.99", 9, "999.00")]
    # Call 0: account read; 1: account level of the 4th..6th; 2: ad level of the 4th; from 3 on
    # (the 5th's ad level) throttled.
    graph.throttle_from = len(graph.requests) + 3
    waits: list[float] = []
    result = sync.run_dates(
        engine, _client(graph, waits, max_throttle_retries=3), [date(2026, 3, 4), date(2026, 3, 5), date(2026, 3, 6)],
        now=NOW, connection_id=act_1,
    )  # fmt: skip
    (outcome,) = result.report.outcomes
    assert outcome.status == "rate_limited"
    assert "act_1: Meta HTTP 400, code 80000: too many calls; still throttled after 3 retries" in (
        outcome.error or ""
    )
    assert result.runs[0].dates == [date(2026, 3, 4)]
    assert _snapshot(engine, date(2026, 3, 5)) == before
    assert _snapshot(engine, date(2026, 3, 6))["fact_meta_daily"] == []
    run = _runs(engine)[-1]
    assert (run["status"], run["throttled"], run["api_calls"], run["dates"]) == (
        "rate_limited",
        4,
        7,  # 3 answered + the throttled call and its 3 retries
        ["2026-03-04"],
    )
    assert run["throttle_wait_s"] == pytest.approx(round(sum(waits), 3))
    # The next run (no throttling) finishes the day with Meta's current numbers.
    graph.throttle_from = None
    sync.run_dates(engine, _client(graph), [date(2026, 3, 5)], now=NOW, connection_id=act_1)
    with engine.connect() as db:
        row = db.execute(
            sa.select(daily_meta_metrics).where(
                daily_meta_metrics.c.ad_account_id == "act_1", daily_meta_metrics.c.date == date(2026, 3, 5)
            )
        ).one()
    assert (row.ads, row.spend, row.purchases, row.account_spend) == (
        1,
        Decimal("99.99"),
        9,
        Decimal("99.99"),
    )


def test_bad_token_marks_needs_reauth_and_the_other_account_still_syncs(
    engine: Engine, graph: FakeGraph, accounts: dict[str, conns.Connection]
) -> None:
    graph.auth_fail.add("act_1")
    result = sync.run_fresh(engine, _client(graph), now=NOW)
    statuses = {o.connection.account_id: (o.status, o.error) for o in result.report.outcomes}
    assert statuses["act_2"] == ("success", None)
    status, error = statuses["act_1"]
    assert status == "failed"
    assert error == (
        "act_1: Meta HTTP 400, code 190/463: Error validating access token: the access token was rejected; "
        "re-authorize it: export a valid token and run `adspipe connect` again"
    )
    assert len([r for r in graph.requests if "act_1" in r.path]) == 1  # no retry loop
    with engine.connect() as db:
        assert conns.get_connection(db, accounts["act_1"].connection_id).status == "needs_reauth"
    assert all(TOKEN not in str(r.get("error")) for r in _runs(engine))


def test_missing_token_fails_that_account_with_a_clear_message(
    engine: Engine, graph: FakeGraph, accounts: dict[str, conns.Connection], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("META_TOK")
    result = sync.run_fill(engine, _client(graph), now=NOW)
    assert {o.status for o in result.report.outcomes} == {"failed"}
    assert "environment variable META_TOK is not set" in (result.report.outcomes[0].error or "")
    assert graph.requests == []


@pytest.mark.parametrize(
    ("timezone", "now", "fill", "fresh"),
    [
        # One second before and at Los Angeles midnight (UTC−8 in winter): the window moves by a day.
        ("America/Los_Angeles", datetime(2026, 1, 15, 7, 59, 59, tzinfo=UTC),
         (date(2026, 1, 7), date(2026, 1, 13)), (date(2026, 1, 9), date(2026, 1, 13))),
        ("America/Los_Angeles", datetime(2026, 1, 15, 8, 0, 0, tzinfo=UTC),
         (date(2026, 1, 8), date(2026, 1, 14)), (date(2026, 1, 10), date(2026, 1, 14))),
        # Sydney midnight is 13:00 UTC the day before in January (UTC+11, daylight time).
        ("Australia/Sydney", datetime(2026, 1, 14, 12, 59, 59, tzinfo=UTC),
         (date(2026, 1, 7), date(2026, 1, 13)), (date(2026, 1, 9), date(2026, 1, 13))),
        ("Australia/Sydney", datetime(2026, 1, 14, 13, 0, 0, tzinfo=UTC),
         (date(2026, 1, 8), date(2026, 1, 14)), (date(2026, 1, 10), date(2026, 1, 14))),
        # US DST starts 2026-03-08 02:00 local: midnight of 03-09 is 07:00 UTC (UTC−7), not 08:00.
        ("America/Los_Angeles", datetime(2026, 3, 9, 6, 59, 59, tzinfo=UTC),
         (date(2026, 3, 1), date(2026, 3, 7)), (date(2026, 3, 3), date(2026, 3, 7))),
        ("America/Los_Angeles", datetime(2026, 3, 9, 7, 0, 0, tzinfo=UTC),
         (date(2026, 3, 2), date(2026, 3, 8)), (date(2026, 3, 4), date(2026, 3, 8))),
        # Europe's DST ends 2026-10-25: midnight of 10-26 in Berlin is 23:00 UTC (UTC+1 again).
        ("Europe/Berlin", datetime(2026, 10, 25, 22, 59, 59, tzinfo=UTC),
         (date(2026, 10, 18), date(2026, 10, 24)), (date(2026, 10, 20), date(2026, 10, 24))),
        ("Europe/Berlin", datetime(2026, 10, 25, 23, 0, 0, tzinfo=UTC),
         (date(2026, 10, 19), date(2026, 10, 25)), (date(2026, 10, 21), date(2026, 10, 25))),
    ],
)  # fmt: skip
def test_windows_turn_at_the_account_midnight_around_dst(
    timezone: str, now: datetime, fill: tuple[date, date], fresh: tuple[date, date]
) -> None:
    assert sync.fill_window(timezone, now) == fill
    assert sync.fresh_window(timezone, now, 6) == fresh  # a 6-day attribution window


def test_on_day_runs_after_each_commit_in_date_order_per_account(
    engine: Engine, graph: FakeGraph, accounts: dict[str, conns.Connection]
) -> None:
    days = [date(2026, 3, 3), date(2026, 3, 4), date(2026, 3, 5)]
    seen: list[tuple[str, date, int, list[str]]] = []

    def on_day(result: sync.MetaResult, account: sync.AccountRun, day: date) -> None:
        with engine.connect() as db:  # the day is committed: another connection sees its facts
            facts = db.execute(
                sa.select(sa.func.count())
                .select_from(fact_meta_daily)
                .where(
                    fact_meta_daily.c.ad_account_id == account.connection.account_id,
                    fact_meta_daily.c.date == day,
                )
            ).scalar_one()
        touched = [a.connection.account_id for a in result.touched().get(day, [])]
        seen.append((account.connection.account_id, day, facts, touched))

    sync.run_dates(engine, _client(graph), days, now=NOW, on_day=on_day)
    assert [(a, d) for a, d, _, _ in seen] == [("act_1", d) for d in days] + [("act_2", d) for d in days]
    # act_1 (ACTIVE,PAUSED): a1 and a2, the archived ad is filtered out; act_2 (every status): all 3.
    assert [facts for _, _, facts, _ in seen] == [2, 2, 2, 3, 3, 3]
    # The second account's call for a date sees both accounts as having committed it.
    assert seen[0][3] == ["act_1"] and seen[3][3] == ["act_1", "act_2"]
