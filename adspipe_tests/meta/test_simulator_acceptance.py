"""Issue 5's acceptance list, against the local simulator (real `MetaClient`, real HTTP).

The sync functions are called directly (no Dagster), with `now=` read from the simulator clock,
frozen and moved on purpose between runs: conversions of a day keep arriving for 7 days, so the
numbers of days already synced change as it moves. Waits (pacing, backoff) run on a virtual clock
shared by the client and the simulator's usage meters (adspipe_tests/faults/harness.py).

Accounts of the default world (seed 1): act_719948244808154 (Pioneer Botanicals, America/Los_Angeles)
with a 7-day window and act_381676873269249 (Summit Outfitters, Europe/Berlin) with a 3-day window.
The serial-requests criterion (a real Dagster instance) is not covered here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.meta import report
from adspipe.meta import sync as meta_sync
from adspipe.meta.client import MetaClient
from adspipe.simulator.compare import meta_differences
from adspipe.simulator.faults import Faults
from adspipe.warehouse import connections as conns
from adspipe.warehouse.connections import Connection
from adspipe.warehouse.schema import daily_meta_metrics, fact_meta_daily, meta_insights_raw, sync_runs
from adspipe_tests.clocks import FakeClock
from adspipe_tests.faults.harness import TOKEN_ENV, meta_client
from adspipe_tests.simulator_fixtures import RunningSimulator

LA, BERLIN = "act_719948244808154", "act_381676873269249"
WINDOWS = {LA: 7, BERLIN: 3}
STORES = {LA: "Pioneer Botanicals", BERLIN: "Summit Outfitters"}
T0 = datetime(2026, 4, 13, 20, 0, tzinfo=UTC)  # LA's ad 121900002000030030 is still ACTIVE
ARCHIVED_AD = "121900002000030030"  # ARCHIVED from LA's 14 Apr, after spending 9–13 Apr
STEPS = (timedelta(hours=6), timedelta(days=1), timedelta(days=1, hours=3), timedelta(days=2))
STATUSES = ("ACTIVE", "PAUSED")


@dataclass
class Env:
    engine: Engine
    running: RunningSimulator
    vt: FakeClock
    client: MetaClient
    accounts: dict[str, Connection] = field(default_factory=dict)

    @property
    def sim(self) -> Any:
        return self.running.sim

    def now(self) -> datetime:
        return self.sim.clock.now()

    def fill(self, client: MetaClient | None = None) -> meta_sync.MetaResult:
        return _ok(meta_sync.run_fill(self.engine, client or self.client, now=self.now()))

    def fresh(self, client: MetaClient | None = None) -> meta_sync.MetaResult:
        return _ok(meta_sync.run_fresh(self.engine, client or self.client, now=self.now()))


def _ok(result: meta_sync.MetaResult) -> meta_sync.MetaResult:
    bad = [
        (o.connection.account_id, o.status, o.error) for o in result.report.outcomes if o.status != "success"
    ]
    assert bad == [], bad
    return result


@pytest.fixture
def make_env(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Env]:
    def make(*, now: datetime = T0, accounts: tuple[str, ...] = (LA, BERLIN), quota_rate: float = 1.0,
             wait_budget_s: float = 3600.0, ad_statuses: tuple[str, ...] | None = None,
             attribution_windows: tuple[str, ...] | None = None, **kwargs: Any) -> Env:  # fmt: skip
        vt = FakeClock()
        running = make_simulator(now=now, monotonic=vt.slowed(quota_rate), **kwargs)
        monkeypatch.setenv(TOKEN_ENV, "sim-token")
        env = Env(engine, running, vt, meta_client(vt, wait_budget_s=wait_budget_s))
        with engine.begin() as db:
            for account in accounts:
                env.accounts[account], _ = conns.connect(
                    db, store=STORES[account], platform="meta", account_id=account, token_env=TOKEN_ENV,
                    attribution_window_days=WINDOWS[account], ad_statuses=ad_statuses,
                    attribution_windows=attribution_windows,
                )  # fmt: skip
        return env

    return make


def _today(account: str, env: Env, at: datetime | None = None) -> date:
    return (at or env.now()).astimezone(ZoneInfo(env.sim.truth.account(account).timezone)).date()


def _days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=i) for i in range((until - since).days + 1)]


def _pulled(env: Env, account: str) -> tuple[set[date], set[date]]:
    """Days covered by the logged insights calls of one account: (ad level, account level)."""
    ad: set[date] = set()
    acct: set[date] = set()
    for r in env.sim.request_log("meta"):
        if r.endpoint != "insights" or r.account != account or r.outcome != "ok":
            continue
        level, span = r.detail.split()[:2]
        since, until = (date.fromisoformat(x) for x in span.split(".."))
        (ad if level == "ad" else acct).update(_days(since, until))
    return ad, acct


def test_meta_marts_equal_truth_through_late_conversions(make_env: Callable[..., Env]) -> None:
    env = make_env()
    last_pull: dict[str, dict[date, datetime]] = {a: {} for a in env.accounts}
    compared = 0

    def run(job: str) -> None:
        nonlocal compared
        env.sim.reset_stats()
        result = env.fill() if job == "fill" else env.fresh()
        now = env.now()
        for account in env.accounts:
            today = _today(account, env)
            back = 7 if job == "fill" else WINDOWS[account] - 1
            window = _days(today - timedelta(days=back), today - timedelta(days=1))
            done = next(a for a in result.runs if a.connection.account_id == account)
            assert done.dates == window, (job, account, done.dates, window)
            # The request log proves which days were pulled: the window and nothing older.
            ad_days, account_days = _pulled(env, account)
            assert ad_days == set(window) and account_days == set(window), (
                job,
                account,
                ad_days,
                account_days,
            )
            for day in window:
                last_pull[account][day] = now
            # Every day ever pulled equals the truth as of its last pull (today's truth for the
            # days still inside the window; a day that left the window keeps its last numbers).
            for day, at in sorted(last_pull[account].items()):
                rows, diffs = meta_differences(env.engine, env.sim.truth, account, day, day, at=at)
                compared += rows
                assert diffs == [], (job, account, day, diffs[:10])

    run("fill")
    for step in STEPS:
        env.sim.clock.advance(step)
        run("fresh")

    # Conversions really arrived late: some day's purchases grew after it was first synced.
    late = 0
    for account in env.accounts:
        for day in last_pull[account]:
            first = env.sim.truth.meta_daily(account, day, day, at=T0)[0]
            final = env.sim.truth.meta_daily(account, day, day, at=last_pull[account][day])[0]
            late += final.purchases > first.purchases
    assert late > 0
    # Two zones; the 3-day account has days that left its window (kept as of their last pull)
    # while the 7-day account re-pulled every day of its fill but the oldest (today−7).
    assert env.sim.truth.account(LA).timezone != env.sim.truth.account(BERLIN).timezone
    end = env.now()
    assert any(at < end for at in last_pull[BERLIN].values())
    assert [d for d, at in last_pull[LA].items() if at == T0] == [min(last_pull[LA])]
    print(f"\nMETA ACCEPTANCE account-days compared {compared}, {late} days with late conversions")


def test_a_day_older_than_the_window_is_not_pulled_again(make_env: Callable[..., Env]) -> None:
    env = make_env()
    env.fill()
    env.sim.clock.advance(timedelta(days=1))
    env.sim.reset_stats()
    env.fresh()
    for account, n in WINDOWS.items():
        today = _today(account, env)
        ad_days, account_days = _pulled(env, account)
        oldest = today - timedelta(days=n - 1)
        assert min(ad_days | account_days) == oldest, (account, sorted(ad_days | account_days))
        assert max(ad_days | account_days) == today - timedelta(days=1)
        details = [r.detail for r in env.sim.request_log("meta") if r.account == account and r.detail]
        assert all(date.fromisoformat(d.split()[1].split("..")[0]) >= oldest for d in details), details


def test_archived_ad_is_the_gap_between_account_and_ad_level_spend(make_env: Callable[..., Env]) -> None:
    env = make_env(accounts=(LA,), ad_statuses=STATUSES)  # the seed's filter, a connection option
    env.fill()
    days = _days(date(2026, 4, 9), date(2026, 4, 12))
    with env.engine.connect() as db:
        before = set(
            db.execute(
                sa.select(fact_meta_daily.c.date).where(fact_meta_daily.c.ad_id == ARCHIVED_AD)
            ).scalars()
        )
    assert set(days) <= before  # still ACTIVE at the fill: stored at ad level

    env.sim.clock.set(datetime(2026, 4, 15, 12, tzinfo=UTC))  # LA's 15 Apr: the ad is ARCHIVED
    env.fresh()
    for day in days:
        every = env.sim.truth.ads(LA, day, statuses=None)
        excluded = [a for a in every if a.status not in STATUSES and a.spend]
        assert [(a.ad_id, a.status) for a in excluded] == [(ARCHIVED_AD, "ARCHIVED")], (day, excluded)
        with env.engine.connect() as db:
            ad_sum = db.execute(
                sa.select(sa.func.sum(fact_meta_daily.c.spend)).where(
                    fact_meta_daily.c.ad_account_id == LA, fact_meta_daily.c.date == day
                )
            ).scalar_one()
            metrics = db.execute(
                sa.select(daily_meta_metrics).where(
                    daily_meta_metrics.c.ad_account_id == LA, daily_meta_metrics.c.date == day
                )
            ).one()
            gone = db.execute(
                sa.select(sa.func.count()).where(
                    fact_meta_daily.c.ad_id == ARCHIVED_AD, fact_meta_daily.c.date == day
                )
            ).scalar_one()
        assert gone == 0
        assert Decimal(str(metrics.account_spend)) - Decimal(str(ad_sum)) == excluded[0].spend > 0
        assert Decimal(str(metrics.spend_gap)) == excluded[0].spend
        rows, diffs = meta_differences(env.engine, env.sim.truth, LA, day, day, statuses=STATUSES)
        assert diffs == [], diffs


def _actions(payload: dict[str, Any]) -> dict[str, int]:
    return {a["action_type"]: int(a["value"]) for a in payload.get("actions") or []}


def test_duplicate_purchase_action_types_are_counted_once(make_env: Callable[..., Env]) -> None:
    env = make_env(accounts=(LA,))
    env.fill()
    triple = {"purchase", "omni_purchase", "offsite_conversion.fb_pixel_purchase"}
    with env.engine.connect() as db:
        raw = db.execute(
            sa.select(meta_insights_raw.c.ad_id, meta_insights_raw.c.date, meta_insights_raw.c.payload).where(
                meta_insights_raw.c.ad_account_id == LA, meta_insights_raw.c.level == "ad"
            )
        ).all()
        facts = {
            (r.ad_id, r.date): r
            for r in db.execute(sa.select(fact_meta_daily).where(fact_meta_daily.c.ad_account_id == LA))
        }
    hits = [(r.ad_id, r.date, _actions(r.payload)) for r in raw if triple <= _actions(r.payload).keys()]
    hits = [h for h in hits if h[2]["omni_purchase"] > 0]
    assert hits, "no row with all three purchase types"
    days = {d for _, d, _ in hits}
    for ad_id, day, actions in hits:
        want = next(a for a in env.sim.truth.ads(LA, day) if a.ad_id == ad_id)
        got = facts[(ad_id, day)]
        assert got.purchases == want.purchases == actions["omni_purchase"], (ad_id, day, actions)
        assert got.purchases < sum(actions[t] for t in triple)
    for day in days:  # and the day's totals are the truth's (one type per ad)
        rows, diffs = meta_differences(env.engine, env.sim.truth, LA, day, day)
        assert diffs == [], diffs
    print(f"\n{len(hits)} ad-days carried purchase, omni_purchase and the pixel type, on {len(days)} days")


def _runs(engine: Engine, job: str) -> list[Any]:
    with engine.connect() as db:
        return db.execute(
            sa.select(sync_runs).where(sync_runs.c.job == job).order_by(sync_runs.c.sync_run_id)
        ).all()


# Heavy throttling: each call adds 25× the normal usage, and the meters fall at a fifth of the
# client's clock (a quota shared with another app), so the client paces, meets throttle errors
# and backs off.
THROTTLING = {"meta_throttle_intensity": 60.0, "meta_usage_per_call": 1.0}


def test_heavy_throttling_completes_and_reports_its_waits(make_env: Callable[..., Env]) -> None:
    env = make_env(quota_rate=0.1, faults=Faults(**THROTTLING))
    result = env.fill()
    counts = env.sim.counts()["meta"]
    metadata = report.run_metadata(result)
    runs = _runs(env.engine, "meta_7d_fill")
    assert {r.status for r in runs} == {"success"}
    assert counts["throttled"] > 0
    assert sum(r.throttled for r in runs) == counts["throttled"] == metadata["throttled"]
    assert sum(r.throttle_wait_s for r in runs) > 0
    assert metadata["backoff_wait_s"] > 0 and metadata["throttle_wait_s"] > 0
    for account in env.accounts:
        today = _today(account, env)
        rows, diffs = meta_differences(
            env.engine, env.sim.truth, account, today - timedelta(days=7), today - timedelta(days=1)
        )
        assert diffs == [], diffs[:10]
    print(
        f"\nMETA THROTTLING {counts['throttled']} throttled answers, backoff {metadata['backoff_wait_s']:.0f} s, "
        f"pace {metadata['pace_wait_s']:.0f} s, throttle wait {metadata['throttle_wait_s']:.0f} s (virtual)"
    )


def _day_rows(engine: Engine, account: str, day: date) -> dict[str, tuple[Any, ...]]:
    with engine.connect() as db:
        rows = db.execute(
            sa.select(fact_meta_daily).where(
                fact_meta_daily.c.ad_account_id == account, fact_meta_daily.c.date == day
            )
        ).all()
    return {
        r.ad_id: (Decimal(str(r.spend)), r.impressions, r.clicks, r.purchases, Decimal(str(r.purchase_value)))
        for r in rows
    }


def _truth_rows(env: Env, account: str, day: date, at: datetime) -> dict[str, tuple[Any, ...]]:
    return {
        a.ad_id: (a.spend, a.impressions, a.clicks, a.purchases, a.purchase_value)
        for a in env.sim.truth.ads(account, day, at=at)
    }


BUDGET_S = 800.0  # virtual seconds: enough for a few days of the window under THROTTLING


def test_spent_wait_budget_leaves_rate_limited_and_no_half_written_day(make_env: Callable[..., Env]) -> None:
    env = make_env(accounts=(LA,), quota_rate=0.2, faults=Faults(**THROTTLING), ads_per_account=60)
    env.sim.faults.update(meta_throttle_intensity=0.0)
    env.fill()  # unthrottled
    t0 = env.now()
    window = _days(_today(LA, env) - timedelta(days=7), _today(LA, env) - timedelta(days=1))
    before = {day: _day_rows(env.engine, LA, day) for day in window}

    env.sim.clock.advance(timedelta(days=1))  # late conversions: every recent day changes
    t1 = env.now()
    env.sim.faults.update(**THROTTLING)
    # Pages of 25 (the day has more ads than that) so the budget can run out inside a day.
    tight = meta_client(env.vt, wait_budget_s=BUDGET_S, page_limit=25)
    env.sim.reset_stats()
    result = meta_sync.run_fresh(env.engine, tight, now=t1)
    outcome = result.report.outcomes[0]
    assert outcome.status == "rate_limited", (outcome.status, outcome.error)
    run = _runs(env.engine, "meta_fresh")[-1]
    assert run.status == "rate_limited" and "budget" in (run.error or "")

    committed = kept = 0
    kept_days: list[date] = []
    for day in _days(_today(LA, env) - timedelta(days=6), _today(LA, env) - timedelta(days=1)):
        old, new, got = before.get(day, {}), _truth_rows(env, LA, day, t1), _day_rows(env.engine, LA, day)
        assert got in (old, new), f"{day} is half-written"
        if old != new:  # a day the clock changed: which version it holds is telling
            committed += got == new
            kept += got == old
            if got == old:
                kept_days.append(day)
    assert committed > 0 and kept > 0  # the budget ran out inside the window, not at its ends
    pages = [r.detail for r in env.sim.request_log("meta") if r.detail.endswith(" after")]
    assert pages, "no day needed a second page"
    # The budget ran out inside a day: its first pages were read, and none of it was written.
    ad_days, _ = _pulled(env, LA)
    assert kept_days[0] in ad_days, (kept_days, sorted(ad_days))
    print(f"\nrate_limited fresh: {committed} day(s) committed whole, {kept} left as before ({t0} → {t1})")
