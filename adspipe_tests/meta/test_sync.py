"""The Meta jobs in plain Python against the simulator (its world, truth and scripted answers), on
SQLite and Postgres."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
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
from adspipe.simulator.faults import Faults
from adspipe.simulator.server import RequestRecord
from adspipe.simulator.truth import MetaDay
from adspipe.warehouse import connections as conns
from adspipe.warehouse.cursors import META_WINDOW_END, get_date_cursor
from adspipe.warehouse.schema import (
    daily_meta_metrics,
    daily_summary,
    fact_meta_daily,
    meta_insights_raw,
    sync_runs,
)
from adspipe_tests.simulator_fixtures import TOKEN, RunningSimulator

# 02:00 UTC: still the 9th in Los Angeles, already the 10th in Berlin.
NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
# The simulator's world (seed 1): store 0's first account (Los Angeles, USD; on 2 to 5 March an
# ad archived since spent), store 1's (Berlin, EUR).
WEST, EAST = "act_719948244808154", "act_381676873269249"
FILTER = ("ACTIVE", "PAUSED")  # WEST's per-connection status filter
EVERY = meta_settings.AD_EFFECTIVE_STATUSES


@pytest.fixture
def graph(make_simulator: Callable[..., RunningSimulator]) -> RunningSimulator:
    # No usage growth: the waits a test counts are its throttles' alone.
    return make_simulator(now=NOW, faults=Faults(meta_throttle_intensity=0.0))


@pytest.fixture
def accounts(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> dict[str, conns.Connection]:
    monkeypatch.setenv("META_TOK", TOKEN)
    with engine.begin() as db:
        # act_1 keeps the seed's ACTIVE,PAUSED filter (a per-connection option), act_2 the default
        # (every status): the archived ad's spend is the gap on act_1 and a fact on act_2.
        one, _ = conns.connect(db, store="West", platform="meta", account_id=WEST, token_env="META_TOK",
                               attribution_window_days=7, ad_statuses=FILTER)  # fmt: skip
        two, _ = conns.connect(db, store="East", platform="meta", account_id=EAST, token_env="META_TOK",
                               attribution_window_days=3)  # fmt: skip
    return {"act_1": one, "act_2": two}


def _client(graph: RunningSimulator, waits: list[float] | None = None, **config: Any) -> MetaClient:
    sleep = waits.append if waits is not None else (lambda s: None)
    return MetaClient(graph_url=graph.meta_graph_url, **config).with_transport(
        sleep=sleep, rng=random.Random(1)
    )


def _requests(graph: RunningSimulator, account: str | None = None) -> list[RequestRecord]:
    return [r for r in graph.sim.request_log("meta") if account is None or r.account == account]


def _insights_days(graph: RunningSimulator, account: str) -> list[str]:
    """The days of an account's ad-level insights calls (first pages), in order."""
    return [d for r in _requests(graph, account) if (d := r.ad_level_day) is not None]


def _truth(graph: RunningSimulator, account: str, day: date, statuses: tuple[str, ...]) -> MetaDay:
    (row,) = graph.sim.truth.meta_daily(account, day, day, statuses=statuses)
    return row


def _ads(graph: RunningSimulator, account: str, day: date, statuses: tuple[str, ...]) -> int:
    return len(graph.sim.truth.ads(account, day, statuses=statuses))


def _metrics(engine: Engine, account: str, day: date) -> Any:
    with engine.connect() as db:
        return db.execute(
            sa.select(daily_meta_metrics).where(
                daily_meta_metrics.c.ad_account_id == account, daily_meta_metrics.c.date == day
            )
        ).one()


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
    engine: Engine, graph: RunningSimulator, accounts: dict[str, conns.Connection]
) -> None:
    result = sync.run_fill(engine, _client(graph), now=NOW)
    assert [o.status for o in result.report.outcomes] == ["success", "success"]
    assert _insights_days(graph, WEST) == [f"2026-03-0{d}" for d in range(2, 9)]
    # The spend cross-check: one account-level call for the whole window, one row per day.
    spans = [
        (json.loads(r.params["time_range"]), r.params["time_increment"])
        for r in _requests(graph, EAST)
        if r.endpoint == "insights" and r.params.get("level") == "account"
    ]
    assert spans == [({"since": "2026-03-03", "until": "2026-03-09"}, "1")]
    assert {r.endpoint for r in _requests(graph)} == {"account", "insights"}
    assert {r.account for r in _requests(graph)} == {WEST, EAST}
    with engine.connect() as db:
        assert get_date_cursor(db, accounts["act_1"].connection_id, META_WINDOW_END) == date(2026, 3, 8)
        assert get_date_cursor(db, accounts["act_2"].connection_id, META_WINDOW_END) == date(2026, 3, 9)
        acct = conns.get_connection(db, accounts["act_2"].connection_id)
        assert (acct.timezone, acct.currency) == ("Europe/Berlin", "EUR")
    day = date(2026, 3, 5)
    row, east = _metrics(engine, WEST, day), _metrics(engine, EAST, day)
    # act_1 (ACTIVE,PAUSED): the ARCHIVED ad is filtered out of the ad level; the account level
    # still has its spend, the gap.
    west = _truth(graph, WEST, day, FILTER)
    assert west.spend_gap > 0 and _ads(graph, WEST, day, EVERY) > _ads(graph, WEST, day, FILTER)
    assert (row.ads, row.spend, row.purchases, row.purchase_value) == (
        _ads(graph, WEST, day, FILTER), west.spend, west.purchases, west.purchase_value
    )  # fmt: skip
    assert (row.account_spend, row.spend_gap, row.currency, row.timezone) == (
        west.account_spend,
        west.spend_gap,
        "USD",
        "America/Los_Angeles",
    )
    # act_2 (the default filter, every status): every ad's spend is a fact, no gap.
    every = _truth(graph, EAST, day, EVERY)
    assert (east.ads, east.spend, east.purchases, east.account_spend, east.spend_gap, east.currency) == (
        _ads(graph, EAST, day, EVERY), every.spend, every.purchases, every.account_spend, Decimal(0), "EUR"
    )  # fmt: skip
    filters = {
        r.account: json.loads(r.params["filtering"])[0]["value"]
        for r in _requests(graph)
        if r.params.get("level") == "ad"
    }
    assert filters == {WEST: list(FILTER), EAST: list(meta_settings.AD_EFFECTIVE_STATUSES)}
    runs = _runs(engine)

    def rows(account: str, statuses: tuple[str, ...], since: date) -> int:
        days = [since + timedelta(days=i) for i in range(7)]  # ad rows, plus one account row a day
        return sum(_ads(graph, account, d, statuses) + (_ads(graph, account, d, EVERY) > 0) for d in days)

    assert [(r["job"], r["status"], r["api_calls"], r["rows"], r["window_start"]) for r in runs] == [
        ("meta_7d_fill", "success", 9, rows(WEST, FILTER, date(2026, 3, 2)), None),  # account read + 7 + 1
        ("meta_7d_fill", "success", 9, rows(EAST, EVERY, date(2026, 3, 3)), None),  # zone unknown at first
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
    engine: Engine, graph: RunningSimulator, accounts: dict[str, conns.Connection]
) -> None:
    result = sync.run_fresh(engine, _client(graph), now=NOW)
    assert _insights_days(graph, WEST) == [
        f"2026-03-0{d}" for d in range(3, 9)
    ]  # N = 7: [today-6 … yesterday]
    assert _insights_days(graph, EAST) == ["2026-03-08", "2026-03-09"]  # N = 3: [today-2 … yesterday]
    assert {a.connection.account_id: a.window for a in result.runs} == {
        WEST: (date(2026, 3, 3), date(2026, 3, 8)),
        EAST: (date(2026, 3, 8), date(2026, 3, 9)),
    }
    with engine.connect() as db:
        assert get_date_cursor(db, accounts["act_2"].connection_id, META_WINDOW_END) == date(2026, 3, 9)
    graph.sim.reset_stats()
    sync.run_fresh(
        engine, _client(graph), now=NOW, include_today=True, connection_id=accounts["act_2"].connection_id
    )
    assert _insights_days(graph, EAST) == ["2026-03-08", "2026-03-09", "2026-03-10"]
    assert _insights_days(graph, WEST) == []
    with engine.connect() as db:
        assert get_date_cursor(db, accounts["act_2"].connection_id, META_WINDOW_END) == date(2026, 3, 10)
    # An earlier clock never moves the cursor back.
    sync.run_fresh(
        engine, _client(graph), now=NOW - timedelta(days=2), connection_id=accounts["act_2"].connection_id
    )
    with engine.connect() as db:
        assert get_date_cursor(db, accounts["act_2"].connection_id, META_WINDOW_END) == date(2026, 3, 10)


def test_paging_with_a_small_limit_gives_the_same_day(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], accounts: dict[str, conns.Connection]
) -> None:
    # A world with 100 ads per account (the same account ids): about 90 delivered on the day.
    graph = make_simulator(now=NOW, faults=Faults(meta_throttle_intensity=0.0), ads_per_account=100)
    day = date(2026, 3, 5)
    ads = _ads(graph, WEST, day, FILTER)
    limit = math.ceil(ads / 3)  # three pages: limit + limit + the rest
    assert 2 * limit < ads and limit >= meta_settings.MIN_PAGE_LIMIT
    sync.run_dates(
        engine,
        _client(graph, page_limit=limit),
        [day],
        now=NOW,
        connection_id=accounts["act_1"].connection_id,
    )
    row, truth = _metrics(engine, WEST, day), _truth(graph, WEST, day, FILTER)
    assert (row.ads, row.spend, row.purchases, row.purchase_value, row.spend_gap) == (
        ads, truth.spend, truth.purchases, truth.purchase_value, truth.spend_gap
    )  # fmt: skip
    assert len([r for r in _requests(graph) if r.params.get("level") == "ad"]) == 3
    # The next pages' links carry Meta's access_token; the client sends its token in a header only.
    assert len([r for r in _requests(graph) if r.params.get("after")]) == 2
    assert all("access_token" not in r.params for r in _requests(graph))


THROTTLED = (400, {"error": {"message": "too many calls", "code": 80000}})


def test_exhausted_rate_limit_leaves_whole_days_and_rate_limited(
    engine: Engine, graph: RunningSimulator, accounts: dict[str, conns.Connection]
) -> None:
    act_1, day = accounts["act_1"].connection_id, date(2026, 3, 5)
    # First pulled on the 6th (Los Angeles), when the 5th's late conversions had not all arrived.
    earlier = datetime(2026, 3, 6, 20, 0, tzinfo=UTC)
    graph.sim.clock.set(earlier)
    sync.run_dates(engine, _client(graph), [day], now=earlier, connection_id=act_1)
    before = _snapshot(engine, day)
    assert before["fact_meta_daily"]
    # Meta's numbers for the 5th changed since (late conversions), but the re-pull is throttled
    # half-way through the day's calls: the day must stay exactly as it was.
    graph.sim.clock.set(NOW)
    late = _truth(graph, WEST, day, FILTER)
    assert late.purchases != _metrics(engine, WEST, day).purchases
    # Call 0: account read; 1: account level of the 4th..6th; 2: ad level of the 4th; from 3 on
    # (the 5th's ad level) throttled.
    graph.sim.faults.update(meta_scripted={WEST: [None, None, None, *[THROTTLED] * 4]})
    waits: list[float] = []
    result = sync.run_dates(
        engine, _client(graph, waits, max_throttle_retries=3), [date(2026, 3, 4), day, date(2026, 3, 6)],
        now=NOW, connection_id=act_1,
    )  # fmt: skip
    (outcome,) = result.report.outcomes
    assert outcome.status == "rate_limited"
    assert f"{WEST}: Meta HTTP 400, code 80000: too many calls; still throttled after 3 retries" in (
        outcome.error or ""
    )
    assert result.runs[0].dates == [date(2026, 3, 4)]
    assert _snapshot(engine, day) == before
    assert _snapshot(engine, date(2026, 3, 6))["fact_meta_daily"] == []
    run = _runs(engine)[-1]
    assert (run["status"], run["throttled"], run["api_calls"], run["dates"]) == (
        "rate_limited",
        4,
        7,  # 3 answered + the throttled call and its 3 retries
        ["2026-03-04"],
    )
    assert run["throttle_wait_s"] == pytest.approx(round(sum(waits), 3))
    assert graph.sim.faults.meta_scripted[WEST] == []  # every scripted answer was asked for
    # The next run (no throttling) finishes the day with Meta's current numbers.
    sync.run_dates(engine, _client(graph), [day], now=NOW, connection_id=act_1)
    row = _metrics(engine, WEST, day)
    assert (row.ads, row.spend, row.purchases, row.purchase_value, row.account_spend) == (
        _ads(graph, WEST, day, FILTER), late.spend, late.purchases, late.purchase_value, late.account_spend
    )  # fmt: skip


def test_bad_token_marks_needs_reauth_and_the_other_account_still_syncs(
    engine: Engine, graph: RunningSimulator, accounts: dict[str, conns.Connection]
) -> None:
    rejected = {"error": {"message": "Error validating access token", "code": 190, "error_subcode": 463}}
    graph.sim.faults.update(meta_scripted={WEST: [(400, rejected)]})
    result = sync.run_fresh(engine, _client(graph), now=NOW)
    statuses = {o.connection.account_id: (o.status, o.error) for o in result.report.outcomes}
    assert statuses[EAST] == ("success", None)
    status, error = statuses[WEST]
    assert status == "failed"
    assert error == (
        f"{WEST}: Meta HTTP 400, code 190/463: Error validating access token: the access token was rejected; "
        "re-authorize it: export a valid token and run `adspipe connect` again"
    )
    assert len(_requests(graph, WEST)) == 1  # no retry loop
    with engine.connect() as db:
        assert conns.get_connection(db, accounts["act_1"].connection_id).status == "needs_reauth"
    assert all(TOKEN not in str(r.get("error")) for r in _runs(engine))


def test_missing_token_fails_that_account_with_a_clear_message(
    engine: Engine,
    graph: RunningSimulator,
    accounts: dict[str, conns.Connection],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("META_TOK")
    result = sync.run_fill(engine, _client(graph), now=NOW)
    assert {o.status for o in result.report.outcomes} == {"failed"}
    assert "environment variable META_TOK is not set" in (result.report.outcomes[0].error or "")
    assert _requests(graph) == []


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
    engine: Engine, graph: RunningSimulator, accounts: dict[str, conns.Connection]
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
    assert [(a, d) for a, d, _, _ in seen] == [(WEST, d) for d in days] + [(EAST, d) for d in days]
    # act_1 (ACTIVE,PAUSED): the archived ad is filtered out; act_2 (every status): every ad.
    assert [facts for _, _, facts, _ in seen] == [_ads(graph, WEST, d, FILTER) for d in days] + [
        _ads(graph, EAST, d, EVERY) for d in days
    ]
    assert _ads(graph, WEST, days[0], FILTER) < _ads(graph, WEST, days[0], EVERY)
    # The second account's call for a date sees both accounts as having committed it.
    assert seen[0][3] == [WEST] and seen[3][3] == [WEST, EAST]
