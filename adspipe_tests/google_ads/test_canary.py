"""Google Ads secrets (refresh token, OAuth client secret, developer token, issued access tokens)
are never written anywhere: the Google Ads jobs and asset run on a persistent Dagster instance
against the simulator, then once more with the refresh token revoked (the error path); every
event, run tag and config, file under DAGSTER_HOME, warehouse row and captured output is searched."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._serdes import serialize_value
from sqlalchemy.engine import Engine

from adspipe.google_ads.assets import google_ads_7d_fill, google_ads_ads, google_ads_fresh
from adspipe.google_ads.client import GoogleAdsClient
from adspipe.resources import ClockResource, WarehouseResource
from adspipe_tests.google_ads.gads_env import REFRESH_ENV, make_gads_env
from adspipe_tests.simulator_fixtures import RunningSimulator

CORE = "c4n4ry9e1d7b3a55"
REFRESH = f"1//0g{CORE}refresh"
CLIENT_SECRET = f"GOCSPX-{CORE}"
DEVELOPER = f"dev{CORE}token"
NOW = datetime(2026, 4, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)  # what is searched is dialect-free
def test_google_ads_secrets_are_found_nowhere(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    gads = make_gads_env(engine, make_simulator, monkeypatch, now=NOW, lag_days=3)
    api = gads.sim.google_ads
    api.refresh_tokens, api.client_secret, api.developer_tokens = {REFRESH}, CLIENT_SECRET, {DEVELOPER}
    monkeypatch.setenv(REFRESH_ENV, REFRESH)
    monkeypatch.setenv("GOOGLE_ADS_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("GOOGLE_ADS_DEVELOPER_TOKEN", DEVELOPER)
    handle = gads.running.handle
    resources: dict[str, Any] = {
        "warehouse": WarehouseResource(),
        "clock": ClockResource(),
        "google_ads": GoogleAdsClient(api_url=handle.google_ads_url, oauth_url=handle.google_oauth_url),
    }
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    day = NOW.date().replace(day=12).isoformat()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        results = [
            google_ads_7d_fill.execute_in_process(instance=instance, resources=resources, raise_on_error=False),
            google_ads_fresh.execute_in_process(instance=instance, resources=resources, raise_on_error=False),
            dg.materialize([google_ads_ads], instance=instance, resources=resources, partition_key=day,
                           raise_on_error=False),
        ]  # fmt: skip
        issued = list(api._issued)  # the access tokens the simulator handed out
        api.faults.update(revoked_refresh_tokens=[REFRESH])
        # A fresh client (no cached access token): the refresh-token exchange meets the revocation.
        resources["google_ads"] = GoogleAdsClient(
            api_url=handle.google_ads_url, oauth_url=handle.google_oauth_url
        )
        results.append(
            google_ads_7d_fill.execute_in_process(
                instance=instance, resources=resources, raise_on_error=False
            )
        )
        assert [r.success for r in results] == [True, True, True, False]
        assert issued and all(t.startswith("ya29.") for t in issued)
        needles = (REFRESH, CLIENT_SECRET, DEVELOPER, CORE, *issued)

        def count(text: str) -> int:
            return sum(text.count(n) for n in needles)

        found: dict[str, int] = {}
        runs = instance.get_runs()
        events = [e for run in runs for e in instance.all_logs(run.run_id)]
        found["events"] = sum(count(serialize_value(e)) for e in events)
        found["run tags"] = sum(count(json.dumps(run.tags)) for run in runs)
        found["run config"] = sum(count(json.dumps(run.run_config, default=str)) for run in runs)
        files = [p for p in home.rglob("*") if p.is_file()]
        found["files"] = sum(count(p.read_bytes().decode("utf-8", "replace")) for p in files)
    rows = 0
    with engine.connect() as db:
        for name in sa.inspect(engine).get_table_names():
            columns = [sa.column(c["name"]) for c in sa.inspect(engine).get_columns(name)]
            for row in db.execute(sa.select(sa.table(name, *columns))):
                rows += 1
                found[f"table {name}"] = found.get(f"table {name}", 0) + count(repr(tuple(row)))
        errors = [e for (e,) in db.execute(sa.text("SELECT error FROM sync_runs WHERE error IS NOT NULL"))]
        statuses = {s for (s,) in db.execute(sa.text("SELECT status FROM connections"))}
    out, err = capfd.readouterr()
    found["stdout/stderr"] = count(out) + count(err)
    found["log records"] = sum(count(r.getMessage()) for r in caplog.records)
    assert {k: v for k, v in found.items() if v} == {}
    # The search covered what it claims: runs, events, rows, and the revoked token's failures.
    assert len(runs) == 4 and len(events) > 50 and rows > 100
    assert len(errors) == 3 and statuses == {"needs_reauth"}
