"""The Google Ads jobs against the simulator: days pulled, facts and mart rows equal to the truth,
a revoked refresh token → needs_reauth, secrets out of sync_runs, the connect command."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from adspipe.cli import main
from adspipe.google_ads import sync
from adspipe.google_ads.tables import fact_google_ads_daily, google_ads_raw
from adspipe.warehouse import connections as conns
from adspipe.warehouse.schema import daily_ad_metrics, sync_runs
from adspipe_tests.google_ads.gads_env import SECRETS, GadsEnv, days, make_gads_env, truth_totals
from adspipe_tests.simulator_fixtures import RunningSimulator

NOW = datetime(2026, 4, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def gads(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> GadsEnv:
    return make_gads_env(engine, make_simulator, monkeypatch, now=NOW, lag_days=5)


def test_fill_pulls_seven_local_days_and_facts_equal_the_truth_per_ad(gads: GadsEnv) -> None:
    result = gads.fill()
    assert len(gads.customers) == 3
    zones = {gads.timezone(c) for c in gads.customers}
    assert len(zones) == 3  # three time zones
    with gads.engine.connect() as db:
        for customer_id in gads.customers:
            today = gads.today(customer_id)
            window = days(today - timedelta(days=7), today - timedelta(days=1))
            run = next(r for r in result.runs if r.connection.account_id == customer_id)
            assert run.dates == window
            for day in window:
                truth = gads.truth(customer_id, day)
                f = fact_google_ads_daily
                facts = {
                    r.ad_id: r
                    for r in db.execute(sa.select(f).where(f.c.customer_id == customer_id, f.c.date == day))
                }
                assert set(facts) == set(truth), (customer_id, day)
                for ad_id, row in truth.items():
                    fact = facts[ad_id]
                    assert fact.spend == row.spend
                    assert Decimal(fact.conversions_micros) / 1_000_000 == row.conversions
                    assert fact.conversions_value == row.conversions_value
                    assert (fact.impressions, fact.clicks, fact.status) == (
                        row.impressions,
                        row.clicks,
                        row.status,
                    )
                spend, _, value = truth_totals(gads, customer_id, day)
                dam = daily_ad_metrics
                mart = db.execute(
                    sa.select(dam).where(
                        dam.c.platform == "google_ads", dam.c.ad_account_id == customer_id, dam.c.date == day
                    )
                ).one()
                assert (mart.spend, mart.purchase_value, mart.ads) == (spend, value, len(truth))
                assert mart.timezone == gads.timezone(customer_id)
            raw = db.execute(
                sa.select(sa.func.count())
                .select_from(google_ads_raw)
                .where(google_ads_raw.c.customer_id == customer_id)
            ).scalar_one()
            facts_n = db.execute(
                sa.select(sa.func.count()).select_from(f).where(f.c.customer_id == customer_id)
            ).scalar_one()
            assert raw == facts_n > 0
        jobs = {(r.job, r.status) for r in db.execute(sa.select(sync_runs.c.job, sync_runs.c.status))}
        assert jobs == {("google_ads_7d_fill", "success")}


def test_fresh_rereads_the_conversion_lag_window_and_late_conversions_land(gads: GadsEnv) -> None:
    gads.fill()
    customer_id = next(iter(gads.customers))
    first_day = gads.today(customer_id) - timedelta(days=2)
    with gads.engine.connect() as db:
        f = fact_google_ads_daily
        before = db.execute(
            sa.select(sa.func.sum(f.c.conversions_micros)).where(
                f.c.customer_id == customer_id, f.c.date == first_day
            )
        ).scalar_one()
    gads.move(timedelta(days=3))
    result = gads.fresh()
    today = gads.today(customer_id)
    run = next(r for r in result.runs if r.connection.account_id == customer_id)
    assert run.dates == days(today - timedelta(days=5), today - timedelta(days=1))  # lag window 5
    _, conversions, _ = truth_totals(gads, customer_id, first_day)
    with gads.engine.connect() as db:
        after = db.execute(
            sa.select(sa.func.sum(f.c.conversions_micros)).where(
                f.c.customer_id == customer_id, f.c.date == first_day
            )
        ).scalar_one()
    assert Decimal(int(after)) / 1_000_000 == conversions
    assert int(after) > int(before)  # late conversions arrived for a day already synced


def test_a_revoked_refresh_token_marks_needs_reauth_and_no_secret_reaches_sync_runs(gads: GadsEnv) -> None:
    gads.sim.google_ads.faults.update(revoked_refresh_tokens=[SECRETS["GADS_SIM_REFRESH"]])
    result = sync.run_fill(gads.engine, gads.client, now=gads.now())
    assert {o.status for o in result.report.outcomes} == {"failed"}
    with gads.engine.connect() as db:
        statuses = {c.status for c in conns.list_connections(db, platform="google_ads")}
        errors = [r.error for r in db.execute(sa.select(sync_runs.c.error))]
    assert statuses == {"needs_reauth"}
    assert errors and all(e and "re-authorize" in e for e in errors)
    for secret in SECRETS.values():
        assert all(secret not in e for e in errors if e)


def test_connect_google_ads_validates_then_stores_the_manager_and_lag(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, warehouse_url: str
) -> None:
    monkeypatch.setenv("ADSPIPE_DATABASE_URL", warehouse_url)
    monkeypatch.setenv("GADS_REFRESH", "1//secret-refresh")
    runner = CliRunner()
    base = ["connect", "google_ads", "--store", "Acme", "--refresh-token-env", "GADS_REFRESH"]
    bad = runner.invoke(main, [*base, "--customer-id", "12-34"])
    assert bad.exit_code != 0 and "123-456-7890" in bad.output
    bad_lag = runner.invoke(main, [*base, "--customer-id", "123-456-7890", "--conversion-lag-days", "91"])
    assert bad_lag.exit_code != 0 and "between 1 and 90" in bad_lag.output
    done = runner.invoke(
        main,
        [
            *base,
            "--customer-id",
            "123-456-7890",
            "--login-customer-id",
            "999-888-7777",
            "--conversion-lag-days",
            "45",
        ],
    )
    assert done.exit_code == 0, done.output
    assert "1//secret-refresh" not in done.output
    with engine.connect() as db:
        found = conns.find_connection(db, platform="google_ads", account_id="1234567890")
    assert found is not None
    assert (found.options["login_customer_id"], found.attribution_window_days, found.token_ref) == (
        "9998887777", 45, "env:GADS_REFRESH",
    )  # fmt: skip
