"""`adspipe demo` leaves an instance whose UI shows every asset check evaluated."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from adspipe import settings
from adspipe.definitions import defs
from adspipe.demo import run_demo


def test_the_demo_evaluates_every_asset_check_in_its_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(settings.HOME_ENV, str(tmp_path))
    monkeypatch.delenv(settings.DATABASE_URL_ENV, raising=False)
    run_demo(seed=3, ui=False, port=0)
    out = capsys.readouterr().out
    assert "adspipe_checks   ok" in out
    assert "daily_summary/summary_matches_facts: passed" in out
    # Google Ads is connected per store and its jobs ran; the comparison covers its spend and MER.
    assert "google_ads_7d_fill ok" in out and "google_ads_fresh ok" in out, out
    assert (
        "daily_summary equals the simulator's ground truth, Meta and Google Ads spend and MER included" in out
    ), out
    assert "registered 10 connections" in out, out  # 3 shops, 4 Meta accounts, 3 Google Ads customers
    check_keys = list(defs.resolve_asset_graph().asset_check_keys)
    assert len(check_keys) == 10  # with Google Ads: api_version on google_ads_raw
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
        assert set(latest) == set(check_keys)  # none "Not evaluated"
        statuses = {key.name: record.status.value for key, record in latest.items()}
    # The demo's warehouse agrees with its facts: the blocking checks pass.
    for name in ("summary_matches_facts", "raw_fact_parity", "cursor_consistency", "api_version"):
        assert statuses[name] == "SUCCEEDED", statuses
