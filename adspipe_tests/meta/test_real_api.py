"""Issue 14, Meta half, against the local simulator (real `MetaClient`, real HTTP, real sync):
the status filter keeps every ad's past spend, configured attribution windows count what the
truth counts, the served version is watched, an expired version is named, appsecret_proof.

Default world (seed 1) at 2026-04-15 12:00Z: on LA's 6–8 Apr, ad 121900002000030030 (ARCHIVED
since 14 Apr) and ad 121900002000160029 (CAMPAIGN_PAUSED since) spent; both are dropped by the
seed's `IN ['ACTIVE','PAUSED']`, which matches each ad's CURRENT status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.meta import report
from adspipe.meta import sync as meta_sync
from adspipe.meta.client import MetaClient
from adspipe.meta.settings import API_VERSION
from adspipe.simulator.compare import meta_differences
from adspipe.simulator.faults import Faults
from adspipe.simulator.truth import SEED_STATUSES
from adspipe.warehouse import connections as conns
from adspipe.warehouse.schema import (
    connections,
    daily_meta_metrics,
    daily_summary,
    fact_meta_daily,
    sync_runs,
)
from adspipe_tests.clocks import FakeClock
from adspipe_tests.faults.harness import TOKEN_ENV, meta_client
from adspipe_tests.simulator_fixtures import FIXED_NOW, RunningSimulator

LA = "act_719948244808154"
ARCHIVED_AD, CAMPAIGN_PAUSED_AD = "121900002000030030", "121900002000160029"
DAYS = [date(2026, 4, 6), date(2026, 4, 7), date(2026, 4, 8)]
SECRET = "sim-app-secret-5f1e0c"


def _setup(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch,
    *, now: datetime = FIXED_NOW, faults: Faults | None = None, **options: Any,
) -> tuple[RunningSimulator, MetaClient, conns.Connection]:  # fmt: skip
    running = make_simulator(now=now, faults=faults or Faults(meta_throttle_intensity=0))
    monkeypatch.setenv(TOKEN_ENV, "sim-token")
    with engine.begin() as db:
        connection, _ = conns.connect(
            db, store="Pioneer Botanicals", platform="meta", account_id=LA, token_env=TOKEN_ENV, **options
        )
    return running, meta_client(FakeClock()), connection


def _run(engine: Engine, client: MetaClient, running: RunningSimulator, **kw: Any) -> meta_sync.MetaResult:
    return meta_sync.run_dates(engine, client, DAYS, now=running.sim.clock.now(), **kw)


def _ok(result: meta_sync.MetaResult) -> None:
    assert [(o.status, o.error) for o in result.report.outcomes] == [("success", None)]


def _metrics(engine: Engine, day: date) -> Any:
    with engine.connect() as db:
        return db.execute(
            sa.select(daily_meta_metrics).where(
                daily_meta_metrics.c.ad_account_id == LA, daily_meta_metrics.c.date == day
            )
        ).one()


def _ad_spend(engine: Engine, ad_id: str, day: date) -> Decimal | None:
    with engine.connect() as db:
        value = db.execute(
            sa.select(fact_meta_daily.c.spend).where(
                fact_meta_daily.c.ad_id == ad_id, fact_meta_daily.c.date == day
            )
        ).scalar_one_or_none()
    return None if value is None else Decimal(str(value))


# -- 3. No spend lost to the status filter -----------------------------------------------------


def test_default_filter_keeps_archived_and_campaign_paused_spend(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    running, client, _ = _setup(engine, make_simulator, monkeypatch)
    _ok(_run(engine, client, running))
    truth = running.sim.truth
    for day in DAYS:
        every = {a.ad_id: a for a in truth.ads(LA, day, statuses=None)}
        assert (
            every[ARCHIVED_AD].status == "ARCHIVED" and every[CAMPAIGN_PAUSED_AD].status == "CAMPAIGN_PAUSED"
        )
        for ad_id in (ARCHIVED_AD, CAMPAIGN_PAUSED_AD):
            assert _ad_spend(engine, ad_id, day) == every[ad_id].spend > 0
        metrics = _metrics(engine, day)
        assert Decimal(str(metrics.spend_gap)) == 0
        assert (
            Decimal(str(metrics.spend))
            == Decimal(str(metrics.account_spend))
            == sum(a.spend for a in every.values())
        )
        _, diffs = meta_differences(engine, truth, LA, day, day)
        assert diffs == [], diffs


def test_seed_filter_shows_the_gap(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    running, client, _ = _setup(engine, make_simulator, monkeypatch, ad_statuses=SEED_STATUSES)
    _ok(_run(engine, client, running))
    truth = running.sim.truth
    for day in DAYS:
        dropped = [a for a in truth.ads(LA, day, statuses=None) if a.status not in SEED_STATUSES and a.spend]
        assert {ARCHIVED_AD, CAMPAIGN_PAUSED_AD} <= {a.ad_id for a in dropped}
        assert (
            _ad_spend(engine, ARCHIVED_AD, day) is None and _ad_spend(engine, CAMPAIGN_PAUSED_AD, day) is None
        )
        metrics = _metrics(engine, day)
        assert Decimal(str(metrics.spend_gap)) == sum(a.spend for a in dropped) > 0
        _, diffs = meta_differences(engine, truth, LA, day, day, statuses=SEED_STATUSES)
        assert diffs == [], diffs
        with engine.connect() as db:
            summary = db.execute(sa.select(daily_summary).where(daily_summary.c.date == day)).one()
        assert Decimal(str(summary.spend)) == Decimal(str(metrics.spend))  # ROAS's spend: the same ads
    with engine.connect() as db:
        sent = db.execute(sa.select(connections.c.ad_statuses)).scalar_one()
    assert sent == "ACTIVE,PAUSED"


# -- 2. Attribution windows as configured ------------------------------------------------------


@pytest.mark.parametrize("windows", [("7d_click", "1d_view"), ("1d_click",), ("28d_click", "1d_view")])
def test_configured_windows_count_purchases_as_the_truth_does(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch,
    windows: tuple[str, ...],
) -> None:  # fmt: skip
    running, client, _ = _setup(engine, make_simulator, monkeypatch, attribution_windows=windows)
    _ok(_run(engine, client, running))
    truth = running.sim.truth
    default = sum(d.purchases for d in truth.meta_daily(LA, DAYS[0], DAYS[-1]))
    configured = sum(d.purchases for d in truth.meta_daily(LA, DAYS[0], DAYS[-1], windows=windows))
    stored = sum(_metrics(engine, d).purchases for d in DAYS)
    assert stored == configured > 0
    _, diffs = meta_differences(engine, truth, LA, DAYS[0], DAYS[-1], windows=windows)
    assert diffs == [], diffs
    if windows == ("1d_click",):
        assert configured < default  # the shorter window really counts fewer
    else:
        assert configured == default  # 7-day click or 1-day view is the account's default window
    logged = [r for r in running.sim.request_log("meta") if r.endpoint == "insights"]
    assert logged, "no insights call was logged"


# -- 1. Versions ---------------------------------------------------------------------------------


def test_served_version_differing_is_warned_once_and_recorded(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    faults = Faults(meta_throttle_intensity=0, meta_served_version="v27.0")
    running, client, connection = _setup(engine, make_simulator, monkeypatch, faults=faults)
    warned: list[str] = []
    with caplog.at_level(logging.WARNING, logger="adspipe.meta.options"):
        result = _run(engine, client, running, warn=warned.append)
    _ok(result)
    assert (
        len(warned) == 1 and f"Meta served API version v27.0 for calls made with {API_VERSION}" in warned[0]
    )
    assert "ADSPIPE_META_API_VERSION" in warned[0]
    assert [r.getMessage() for r in caplog.records if r.name == "adspipe.meta.options"] == warned
    metadata = report.run_metadata(result)
    assert (metadata["api_version"], metadata["api_version_served"]) == (API_VERSION, "v27.0")
    with engine.connect() as db:
        row = db.execute(
            sa.select(sync_runs).where(sync_runs.c.connection_id == connection.connection_id)
        ).one()
    assert (row.api_version, row.api_version_served) == (API_VERSION, "v27.0")


def test_an_expired_version_fails_naming_the_version_and_the_setting(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)  # v24.0 expired on 2026-11-10
    running, _, connection = _setup(engine, make_simulator, monkeypatch, now=now)
    old = MetaClient(api_version="v24.0").with_transport(sleep=FakeClock().sleep)
    result = meta_sync.run_dates(engine, old, [now.date() - timedelta(days=1)], now=now)
    ((status, error),) = [(o.status, o.error) for o in result.report.outcomes]
    assert status == "failed" and error is not None
    assert error.startswith(
        f"PermanentApiError: {LA}: Meta refused API version v24.0 as deprecated (code 2635"
    )
    assert "set ADSPIPE_META_API_VERSION (or the `meta` resource's api_version)" in error
    with engine.connect() as db:
        row = db.execute(sa.select(sync_runs)).one()
        status_now = conns.get_connection(db, connection.connection_id).status
    assert (row.status, row.api_version, row.api_version_served) == ("failed", "v24.0", "v24.0")
    assert status_now == "active"  # not a token problem: no re-authorization asked
    # One call, refused: no retry of a version that will not come back.
    assert [r.status for r in running.sim.request_log("meta")] == [400]
    # The pinned version is still served on that date.
    _ok(meta_sync.run_dates(engine, meta_client(FakeClock()), [now.date() - timedelta(days=1)], now=now))


# -- 4. appsecret_proof --------------------------------------------------------------------------


def test_app_secret_required_by_the_app(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = Faults(meta_throttle_intensity=0, meta_app_secret=SECRET)
    running, client, connection = _setup(engine, make_simulator, monkeypatch, faults=faults)
    # Without the secret configured, Meta refuses every call (code 100).
    result = _run(engine, client, running)
    ((status, error),) = [(o.status, o.error) for o in result.report.outcomes]
    assert status == "failed" and error is not None
    assert "code 100: API calls from the server require an appsecret_proof argument" in error
    # A wrong secret: the proof does not match.
    monkeypatch.setenv("META_APP_SECRET", "not-the-secret")
    with engine.begin() as db:
        conns.connect(db, store="Pioneer Botanicals", platform="meta", account_id=LA, token_env=TOKEN_ENV,
                      app_secret_env="META_APP_SECRET")  # fmt: skip
    wrong = _run(engine, client, running)
    assert "Invalid appsecret_proof provided in the API argument" in str(wrong.report.outcomes[0].error)
    # The right one: the days land as the truth says.
    monkeypatch.setenv("META_APP_SECRET", SECRET)
    _ok(_run(engine, client, running))
    _, diffs = meta_differences(engine, running.sim.truth, LA, DAYS[0], DAYS[-1])
    assert diffs == [], diffs
    with engine.connect() as db:
        errors = [e for (e,) in db.execute(sa.select(sync_runs.c.error).where(
            sync_runs.c.connection_id == connection.connection_id, sync_runs.c.error.is_not(None)))]  # fmt: skip
    assert len(errors) == 2 and all(SECRET not in e for e in errors)
