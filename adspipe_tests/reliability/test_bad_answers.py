"""Bad answers of the ad platforms on the simulator, through the platform adapters: the same test
functions run for Meta and Google Ads where the case applies to both (rejected credentials →
needs_reauth; a missing credential variable), and Google Ads' own payload cases (scripted answers:
wrong types, missing fields, rows outside the range, a stream broken by an error, a manager
missing). Each case asserts the message (outcome and `sync_runs.error`) AND the state: the
committed days are the old dump exactly, the other connection gets all its new figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from adspipe.simulator.server import Simulator
from adspipe.warehouse import connections as conns
from adspipe.warehouse.connections import Connection
from adspipe.warehouse.schema import connections
from adspipe_tests.clocks import FakeClock
from adspipe_tests.faults.harness import (
    GOOGLE_REFRESH_ENV,
    TOKEN_ENV,
    Compared,
    World,
    register,
    simulator_credentials,
)
from adspipe_tests.faults.platforms import ADS, HARNESSES, Harness, Knobs
from adspipe_tests.reliability.conftest import sqlite_only
from adspipe_tests.reliability.helpers import connection_row, last_sync_run, snapshot
from adspipe_tests.simulator_fixtures import FIXED_NOW, RunningSimulator

DAYS = [date(2026, 4, 1) + timedelta(days=i) for i in range(3)]


@dataclass
class AdsEnv:
    engine: Engine
    running: RunningSimulator
    sim: Simulator
    h: Harness
    world: World
    vt: FakeClock

    @property
    def connections(self) -> list[Connection]:
        return list(self.world.connections(self.h.name).values())

    def run(self, days: list[date] = DAYS) -> Any:
        """A partition range with a new client (as a new run: no access token cached)."""
        client = self.h.client(self.vt, self.running.handle, Knobs())
        return self.h.dates(self.engine, client, days, self.sim.clock.now())

    def equal_truth(self, account: str, days: list[date] = DAYS) -> list[str]:
        out = Compared()
        for day in days:
            self.h.compare(self.engine, self.sim, account, (day, day), out)
        return out.diffs


def _ads_env(engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch,
             platform: str) -> AdsEnv:  # fmt: skip
    running = make_simulator(seed=5, stores=2, ads_per_account=6, now=FIXED_NOW)
    for name, value in simulator_credentials().items():
        monkeypatch.setenv(name, value)
    world = register(engine, running.sim, shopify=False, meta=platform == "meta",
                     google_ads=platform == "google_ads")  # fmt: skip
    return AdsEnv(engine, running, running.sim, HARNESSES[platform], world, FakeClock())


@pytest.fixture(params=ADS)
def ads(engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest) -> AdsEnv:  # fmt: skip
    return _ads_env(engine, make_simulator, monkeypatch, request.param)


@pytest.fixture
def gads(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> AdsEnv:
    return _ads_env(engine, make_simulator, monkeypatch, "google_ads")


def _committed(env: AdsEnv) -> dict[str, list[tuple[Any, ...]]]:
    first = env.run()
    assert [o.status for o in first.report.outcomes] == ["success"] * len(env.connections)
    return snapshot(env.engine, skip={"sync_runs", "connections"})


# -- rejected credentials: needs_reauth, nothing written, the message says what to do -------------

REVOKE = {
    "meta": lambda sim: sim.faults.update(revoked_tokens=["sim-token"]),
    "google_ads": lambda sim: sim.google_ads.faults.update(revoked_refresh_tokens=["sim-refresh-token"]),
}
REJECTED = {
    "meta": "Error validating access token",
    "google_ads": "Google OAuth HTTP 400 invalid_grant: Token has been expired or revoked.",
}


@pytest.mark.parametrize("warehouse_url", ["sqlite", "postgres"], indirect=True)
def test_a_rejected_token_marks_needs_reauth_and_keeps_every_committed_day(ads: AdsEnv) -> None:
    before = _committed(ads)
    REVOKE[ads.h.name](ads.sim)
    result = ads.run()
    assert {o.status for o in result.report.outcomes} == {"failed"}
    for connection in ads.connections:
        assert connection_row(ads.engine, connection.connection_id)["status"] == "needs_reauth"
        error = last_sync_run(ads.engine, connection.connection_id)["error"]
        assert REJECTED[ads.h.name] in error and "re-authorize" in error, error
        assert "sim-token" not in error and "sim-refresh-token" not in error
    assert snapshot(ads.engine, skip={"sync_runs", "connections"}) == before


MISSING = {
    "meta": (TOKEN_ENV, f"environment variable {TOKEN_ENV} is not set"),
    "google_ads": (
        "GOOGLE_ADS_CLIENT_SECRET",
        "environment variable GOOGLE_ADS_CLIENT_SECRET (the Google OAuth client secret) is not set; export it "
        "where the job runs",
    ),
}


def test_a_missing_credential_variable_is_named_and_no_call_is_made(
    ads: AdsEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    variable, message = MISSING[ads.h.name]
    before = snapshot(ads.engine, skip={"sync_runs"})
    monkeypatch.delenv(variable)
    result = ads.run()
    assert {o.status for o in result.report.outcomes} == {"failed"}
    for outcome in result.report.outcomes:
        assert message in (outcome.error or ""), outcome.error
    assert ads.sim.counts()[ads.h.name]["ok"] == 0  # refused before the API was asked
    assert snapshot(ads.engine, skip={"sync_runs"}) == before  # nothing written, no status changed


# -- Google Ads payloads: one customer's day answers badly, the rest commits -----------------------


def _row(day: date, **metrics: Any) -> dict[str, Any]:
    cid = "0"  # replaced by the customer's own id in the test
    return {
        "customer": {"resourceName": f"customers/{cid}", "id": cid, "timeZone": "America/Los_Angeles",
                     "currencyCode": "USD"},
        "campaign": {"id": "1"}, "adGroup": {"id": "2"},
        "adGroupAd": {"ad": {"id": "3"}, "status": "ENABLED"},
        "segments": {"date": day.isoformat()},
        "metrics": {"impressions": "10", "clicks": "1", "costMicros": "1500000", **metrics},
    }  # fmt: skip


BAD_DAY = DAYS[1]
ATTEMPTS = Knobs().max_attempts  # a transient answer is retried: every attempt answers it
QUERY_ERROR = [{"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "Request contains an invalid argument.",
                "details": [{"@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
                             "errors": [{"errorCode": {"queryError": "UNRECOGNIZED_FIELD"}, "message": "x"}]}]}}]  # fmt: skip
# (case, HTTP status, body, message, requests answered so): an unreadable day fails alone and the
# next days commit — an answer the HTTP layer rejects is retried (every attempt answers it), rows
# that do not parse are not (one answer); a permanent error stops the customer (STOPS: the days
# after it keep their old dump).
STOPS = 0
PAYLOADS = [
    ("cost-not-a-number", 200, [{"results": [_row(BAD_DAY, costMicros="1.5 USD")]}],
     "Google Ads result: 'costMicros' is not an int64 ('1.5 USD')", 1),
    ("conversions-text", 200, [{"results": [_row(BAD_DAY, conversions="two")]}],
     "Google Ads result: 'conversions' is not a number ('two')", 1),
    ("no-date", 200, [{"results": [{**_row(BAD_DAY), "segments": {}}]}], "Google Ads result: 'date' is missing", 1),
    ("row-outside-the-day", 200, [{"results": [_row(DAYS[0])]}],
     f"rows dated outside {BAD_DAY}..{BAD_DAY}: {DAYS[0]}", 1),
    ("results-not-a-list", 200, [{"results": {"oops": 1}}], "'results' is not a list", 1),
    ("not-an-array", 200, {"results": []}, "malformed searchStream answer", ATTEMPTS),
    ("stream-broken", 200, [{"results": []}, {"error": {"code": 500, "status": "INTERNAL", "message": "boom"}}],
     "Google Ads HTTP 500 INTERNAL", ATTEMPTS),
    ("query-error", 400, QUERY_ERROR, "HTTP 400 INVALID_ARGUMENT (queryError: UNRECOGNIZED_FIELD)", STOPS),
]  # fmt: skip


def _day_rows(dump: dict[str, list[tuple[Any, ...]]], customer: str, day: date) -> dict[str, list[Any]]:
    return {t: [r for r in dump[t] if r[0] == customer and r[2] == day.isoformat()]
            for t in ("google_ads_raw", "fact_google_ads_daily")}  # fmt: skip


@sqlite_only()
@pytest.mark.parametrize(
    ("case", "status", "body", "message", "times"), PAYLOADS, ids=[p[0] for p in PAYLOADS]
)
def test_google_ads_bad_payload_never_files_a_wrong_number_and_keeps_days_whole(
    gads: AdsEnv, case: str, status: int, body: Any, message: str, times: int
) -> None:
    before = _committed(gads)
    bad, good = gads.connections[0].account_id, gads.connections[1].account_id
    gads.sim.clock.advance(timedelta(days=2))  # late conversions: every day has new figures
    # The customer read and the first day answered normally; the second day (each attempt) badly.
    stops = times == STOPS
    answers = [(status, body)] * (times or 1)
    gads.sim.google_ads.faults.update(scripted={bad: [None, None, *answers]})
    result = gads.run()
    outcome = {o.connection.account_id: o for o in result.report.outcomes}
    assert outcome[good].status == "success" and gads.equal_truth(good) == []
    error = outcome[bad].error or ""
    assert outcome[bad].status == "failed" and message in error, error
    assert message in last_sync_run(gads.engine, gads.connections[0].connection_id)["error"]
    after = snapshot(gads.engine, skip={"sync_runs", "connections"})
    new_days = [DAYS[0]] if stops else [DAYS[0], DAYS[2]]
    if not stops:
        assert f"1 of 3 day(s) failed ({BAD_DAY})" in error, error
    # The days that ran committed their new figures; the others are the old dump exactly.
    assert gads.equal_truth(bad, new_days) == []
    for day in (d for d in DAYS if d not in new_days):
        old = _day_rows(before, bad, day)
        assert all(old.values()) and _day_rows(after, bad, day) == old, day


def test_google_ads_managed_customer_without_its_manager_is_refused_naming_the_header(gads: AdsEnv) -> None:
    managed = next(c for c in gads.connections if c.options.get("login_customer_id"))
    with gads.engine.begin() as db:
        db.execute(connections.update().where(connections.c.connection_id == managed.connection_id)
                   .values(login_customer_id=None))  # fmt: skip
    result = gads.run()
    outcome = {o.connection.account_id: o for o in result.report.outcomes}
    error = outcome[managed.account_id].error or ""
    assert outcome[managed.account_id].status == "failed"
    assert "authorizationError: USER_PERMISSION_DENIED" in error and "login-customer-id" in error, error
    assert (
        connection_row(gads.engine, managed.connection_id)["status"] == "active"
    )  # not a credential problem
    others = [c for c in gads.connections if c is not managed]
    assert all(outcome[c.account_id].status == "success" for c in others)


def test_google_ads_unknown_customer_is_refused_and_the_refresh_token_env_is_not_echoed(gads: AdsEnv) -> None:
    with gads.engine.begin() as db:
        stranger, _ = conns.connect(db, store="Stranger", platform="google_ads", account_id="1112223334",
                                    token_env=GOOGLE_REFRESH_ENV)  # fmt: skip
    result = gads.run()
    outcome = {o.connection.account_id: o for o in result.report.outcomes}
    error = outcome["1112223334"].error or ""
    assert outcome["1112223334"].status == "failed" and "USER_PERMISSION_DENIED" in error, error
    assert "sim-refresh-token" not in error
    assert all(outcome[c.account_id].status == "success" for c in gads.connections)
    assert stranger.connection_id not in {c.connection_id for c in gads.connections}
