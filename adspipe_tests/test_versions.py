"""Pinned API versions against their published support ends: the asset checks and `adspipe doctor`."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from adspipe import cli, versions
from adspipe.checks import rules
from adspipe.counters import SyncStats
from adspipe.meta import settings as meta_settings
from adspipe.shopify import settings as shopify_settings
from adspipe.warehouse import connections as conns
from adspipe.warehouse.sync_runs import finish_sync_run, start_sync_run

ENDS = {"2026-01": date(2027, 1, 1), "2026-10": date(2027, 10, 1), "2027-01": None}


def status(version: str, today: date) -> versions.VersionStatus:
    return versions.version_status(
        "shopify", version, ENDS, today, setting="THE_SETTING", recommended="2026-10"
    )


def test_a_version_is_ok_then_warns_60_days_before_its_end_then_errors() -> None:
    assert status("2026-01", date(2026, 11, 1)).severity == "OK"  # 61 days before 2027-01-01
    warn = status("2026-01", date(2026, 11, 2))  # 60 days before
    assert (
        warn.severity == "WARN" and "2027-01-01 (60 days)" in warn.message and "THE_SETTING" in warn.message
    )
    gone = status("2026-01", date(2027, 1, 1))
    assert gone.severity == "ERROR" and "left support on 2027-01-01" in gone.message
    assert "set THE_SETTING to 2026-10" in gone.message


def test_an_unknown_version_warns_and_an_unannounced_end_is_ok() -> None:
    unknown = status("2024-04", date(2026, 11, 30))
    assert unknown.severity == "WARN" and "not one adspipe knows" in unknown.message
    assert status("2027-01", date(2026, 11, 30)).severity == "OK"


def test_the_pinned_defaults_are_live_today_and_the_expired_pins_of_before_are_errors() -> None:
    today = date(2026, 11, 30)
    for pinned in (shopify_settings, meta_settings):
        ends = pinned.SUPPORT_ENDS
        assert pinned.DEFAULT_API_VERSION in ends
        got = versions.version_status(
            "x", pinned.DEFAULT_API_VERSION, ends, today, setting="S", recommended=pinned.DEFAULT_API_VERSION
        )
        assert got.severity == "OK", got.message
    # What adspipe pinned before: both past their end on this date.
    assert versions.version_status("shopify", "2025-01", shopify_settings.SUPPORT_ENDS, today, setting="S",
                                   recommended="2026-10").severity == "ERROR"  # fmt: skip
    assert versions.version_status("meta", "v23.0", meta_settings.SUPPORT_ENDS, today, setting="S",
                                   recommended="v26.0").severity == "ERROR"  # fmt: skip


def _run(engine: Engine, connection_id: int, asked: str, served: str) -> int:
    with engine.begin() as db:
        run = start_sync_run(db, job="shopify_fresh", connection_id=connection_id)
        finish_sync_run(
            db, run, status="success", stats=SyncStats(), api_version=asked, api_version_served=served
        )
    return run


def test_the_check_warns_when_the_last_sync_was_served_another_version(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_TOKEN", "t")
    with engine.begin() as db:
        shop, _ = conns.connect(
            db, store="S", platform="shopify", account_id="s.myshopify.com", token_env="SHOP_TOKEN"
        )
    today = date(2026, 11, 30)

    def check() -> rules.CheckOutcome:
        with engine.connect() as db:
            return rules.api_version(db, "shopify", "2026-10", shopify_settings.SUPPORT_ENDS, today,
                                     recommended="2026-10")  # fmt: skip

    assert check().passed
    first = _run(engine, shop.connection_id, "2025-01", "2026-01")
    outcome = check()
    assert not outcome.passed and outcome.severity == "WARN"
    assert outcome.problems == [
        f"the last shopify sync (sync_run {first}, shopify_fresh) asked for 2025-01 and was served 2026-01"
    ]
    assert outcome.metadata["api_version_served"] == "2026-01"
    _run(engine, shop.connection_id, "2026-10", "2026-10")  # the latest run is what counts
    assert check().passed
    with engine.connect() as db:
        expired = rules.api_version(db, "shopify", "2025-01", shopify_settings.SUPPORT_ENDS, today,
                                    recommended="2026-10")  # fmt: skip
    assert not expired.passed and expired.severity == "ERROR"
    assert "ADSPIPE_SHOPIFY_API_VERSION" in expired.problems[0]


def test_doctor_reports_versions_warehouse_and_missing_variables_without_creating_anything(
    tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, engine: Engine, warehouse_url: str
) -> None:
    monkeypatch.setenv("ADSPIPE_NOW", datetime(2026, 11, 30, tzinfo=UTC).isoformat())
    monkeypatch.setenv("META_TOKEN", "t")
    with engine.begin() as db:
        conns.connect(db, store="S", platform="meta", account_id="act_1", token_env="META_TOKEN",
                      app_secret_env="META_APP_SECRET")  # fmt: skip
    monkeypatch.delenv("META_APP_SECRET", raising=False)
    result = CliRunner().invoke(cli.main, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "OK    shopify API version: shopify API 2026-10: supported until 2027-10-01" in result.output
    assert (
        "WARN  connection 1 (meta act_1): META_APP_SECRET (its app secret) is not set here" in result.output
    )

    monkeypatch.setenv("ADSPIPE_META_API_VERSION", "v24.0")
    monkeypatch.setattr(
        meta_settings, "API_VERSION", "v24.0"
    )  # read at import; the env var is for new processes
    result = CliRunner().invoke(cli.main, ["doctor"])
    assert result.exit_code == 1
    assert (
        "ERROR meta API version: meta API v24.0 left support on 2026-11-10; set ADSPIPE_META_API_VERSION to v26.0"
        in result.output
    )

    missing = tmp_path / "nowhere" / "warehouse.db"  # type: ignore[operator]
    monkeypatch.setenv("ADSPIPE_DATABASE_URL", f"sqlite:///{missing}")
    result = CliRunner().invoke(cli.main, ["doctor"])
    assert (
        result.exit_code == 1 and "no warehouse at" in result.output and "adspipe db upgrade" in result.output
    )
    assert not missing.exists() and not missing.parent.exists()


def test_a_malformed_version_setting_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from adspipe import settings

    with pytest.raises(
        settings.SettingsError, match="ADSPIPE_META_API_VERSION must look like vNN.0, got 'v24'"
    ):
        monkeypatch.setenv("ADSPIPE_META_API_VERSION", "v24")
        settings.meta_api_version("v26.0")
    with pytest.raises(settings.SettingsError, match="YYYY-MM"):
        monkeypatch.setenv("ADSPIPE_SHOPIFY_API_VERSION", "2026-11")
        settings.shopify_api_version("2026-10")
