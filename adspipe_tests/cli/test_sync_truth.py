"""`adspipe sync`: strict input, fix-it hints, one run over the range, failure reasons, progress."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from adspipe.cli import main
from adspipe.cli_common import CliError
from adspipe.cli_sync import TOKEN_HINT, _wait_for_run
from adspipe.orchestration import sync_request as req
from adspipe.orchestration.dagster_api import DagsterApi, RunEvents
from adspipe.warehouse import connections as conns
from adspipe.warehouse import db
from adspipe.warehouse.schema import sync_runs

NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)


@pytest.fixture
def meta_connection(warehouse_url: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("ADSPIPE_NOW", NOW.isoformat())
    monkeypatch.setenv("TOK", "token-value")
    engine = db.get_engine(warehouse_url)
    db.upgrade(engine)
    with engine.begin() as conn:
        meta, _ = conns.connect(conn, store="S & Co", platform="meta", account_id="act_1", token_env="TOK")
    return meta.connection_id


def test_compact_dates_are_refused(meta_connection: int) -> None:
    result = CliRunner().invoke(main, ["sync", "meta", "--from", "20260301", "--to", "2026-03-02"])
    assert result.exit_code == 1
    assert result.output.strip() == "error: --from must be a date as YYYY-MM-DD (got '20260301')"


def test_a_url_without_scheme_suggests_http(meta_connection: int) -> None:
    result = CliRunner().invoke(
        main,
        ["sync", "meta", "--from", "2026-03-01", "--to", "2026-03-02", "--dagster-url", "localhost:3000"],
    )
    assert result.exit_code == 1
    assert "the Dagster URL must start with http:// or https:// (got 'localhost:3000'; " in result.output
    assert "did you mean http://localhost:3000?" in result.output


def test_needs_reauth_says_how_to_fix_it(warehouse_url: str, meta_connection: int) -> None:
    with db.get_engine(warehouse_url).begin() as conn:
        conns.mark_needs_reauth(conn, meta_connection, "token rejected")
    result = CliRunner().invoke(
        main,
        [
            "sync",
            "meta",
            "--last-7-days",
            "--connection",
            str(meta_connection),
            "--dagster-url",
            "http://127.0.0.1:9",
        ],
    )
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: connection {meta_connection} is needs_reauth, not active; re-authorize it with a valid token: "
        "export TOK=<token> and run `adspipe connect meta --store 'S & Co' --ad-account act_1 --token-env TOK`"
    )


def test_op_names_match_the_definitions() -> None:
    # `adspipe sync` names the ops without loading the definitions: they must stay the same.
    code = (
        "import json; import dagster as dg; from adspipe.definitions import defs; "
        "from adspipe.orchestration.sync_request import PLATFORM_ASSETS, FILL_JOBS; "
        "print(json.dumps({p: [defs.resolve_assets_def(dg.AssetKey(PLATFORM_ASSETS[p][0])).node_def.name, "
        "defs.resolve_job_def(FILL_JOBS[p]).graph.node_defs[0].name] for p in PLATFORM_ASSETS}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == {
        p: [req.ASSET_OPS[p], req.FILL_OPS[p]] for p in req.PLATFORM_ASSETS
    }


def test_our_sensors_print_no_beta_warning() -> None:
    code = (
        "import warnings, dagster as dg; warnings.simplefilter('error', dg.BetaWarning); "
        "from adspipe.definitions import defs; defs.get_repository_def(); print('clean')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "clean" in done.stdout, done.stderr[-2000:]


def _fake_dagster(responses: list[dict[str, Any]], seen: list[dict[str, Any]]) -> DagsterApi:
    api = DagsterApi("http://dagster.test")

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"data": responses.pop(0)})

    api._http = httpx.Client(transport=httpx.MockTransport(handler))
    return api


def test_a_range_is_one_run_with_the_partition_range_tags() -> None:
    seen: list[dict[str, Any]] = []
    api = _fake_dagster(
        [
            {"repositoriesOrError": {"__typename": "RepositoryConnection", "nodes": [
                {"name": "__repository__", "location": {"name": "adspipe"}, "jobs": [{"name": "__ASSET_JOB"}]}]}},
            {"launchRun": {"__typename": "LaunchRunSuccess", "run": {"runId": "r-1"}}},
        ],
        seen,
    )  # fmt: skip
    run_id = api.launch_asset_run(
        req.PLATFORM_ASSETS["meta"], "2026-03-01", "2026-03-03", tags={"adspipe/trigger": "adspipe-sync"},
        run_config={"ops": {"meta_insights": {"config": {"connection_id": 4}}}},
    )  # fmt: skip
    assert run_id == "r-1"
    params = seen[1]["variables"]["params"]
    assert params["selector"] == {
        "repositoryName": "__repository__",
        "repositoryLocationName": "adspipe",
        "jobName": "__ASSET_JOB",
        "assetSelection": [{"path": ["meta_insights_raw"]}, {"path": ["fact_meta_daily"]}, {"path": ["daily_meta_metrics"]}],
    }  # fmt: skip
    assert {t["key"]: t["value"] for t in params["executionMetadata"]["tags"]} == {
        "adspipe/trigger": "adspipe-sync",
        "dagster/asset_partition_range_start": "2026-03-01",
        "dagster/asset_partition_range_end": "2026-03-03",
    }
    assert params["runConfigData"] == {"ops": {"meta_insights": {"config": {"connection_id": 4}}}}


def test_run_events_fold_partitions_and_failures() -> None:
    api = _fake_dagster(
        [
            {"logsForRun": {"__typename": "EventConnection", "cursor": "5", "hasMore": False, "events": [
                {"__typename": "MaterializationEvent", "partition": "2026-03-01", "assetKey": {"path": ["daily_summary"]}},
                {"__typename": "MaterializationEvent", "partition": "2026-03-02", "assetKey": {"path": ["daily_summary"]}},
                {"__typename": "ExecutionStepFailureEvent", "stepKey": "meta_insights", "error": {
                    "message": "dagster._core.errors.Failure: meta_insights: 1 day(s) failed: 2026-03-03\n  stack",
                    "causes": [{"message": "TokenUnavailable: TOK is not set"}]}},
            ]}},
        ],
        [],
    )  # fmt: skip
    events = api.run_events("r-1")
    assert events.cursor == "5"
    assert events.partitions == {"daily_summary": {"2026-03-01", "2026-03-02"}}
    assert events.failures == [
        "dagster._core.errors.Failure: meta_insights: 1 day(s) failed: 2026-03-03",
        "TokenUnavailable: TOK is not set",
    ]


class ScriptedRun:
    """A run that commits one day per poll, then ends with the given status."""

    url = "http://dagster.test"

    def __init__(self, days: int, final: str, failures: list[str]) -> None:
        self.polls, self.days, self.final, self.failures = 0, days, final, failures

    def run_status_gql(self, run_id: str) -> str:
        self.polls += 1
        return "STARTED" if self.polls <= self.days else self.final

    def run_events(self, run_id: str, seen: RunEvents | None = None) -> RunEvents:
        seen = seen or RunEvents()
        done = min(self.polls, self.days) if self.final == "SUCCESS" else min(self.polls, self.days - 1)
        seen.partitions["daily_summary"] = {f"2026-03-0{i + 1}" for i in range(done)}
        if self.polls > self.days:
            seen.failures = list(self.failures)
        return seen


def test_wait_reports_each_committed_day_and_returns_when_the_run_ends(
    engine: sa.engine.Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("adspipe.cli_sync.POLL_S", 0.0)
    run = ScriptedRun(3, "SUCCESS", [])
    _wait_for_run(run, engine, "r-1", days=3, asset=req.PLATFORM_ASSETS["meta"])  # type: ignore[arg-type]
    out = capsys.readouterr()
    assert run.polls == 4  # returns on the first poll that sees the run ended
    assert "run r-1: SUCCESS, 3 day(s) materialized" in out.out
    assert "3/3" in out.err  # the bar reached every day


def test_a_missing_token_variable_is_named_in_the_wait_failure(
    engine: sa.engine.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("adspipe.cli_sync.POLL_S", 0.0)
    with engine.begin() as conn:
        connection, _ = conns.connect(
            conn, store="S", platform="meta", account_id="act_7", token_env="ACME_META_TOKEN"
        )
        conn.execute(
            sa.insert(sync_runs).values(
                job="meta_insights", connection_id=connection.connection_id, status="failed",
                started_at=NOW, finished_at=NOW, dagster_run_id="r-2",
                error=f"connection {connection.connection_id} (act_7): environment variable ACME_META_TOKEN "
                "is not set; export it where the job runs",
            )
        )  # fmt: skip
    run = ScriptedRun(3, "FAILURE", ["dagster._core.errors.Failure: meta_insights: 3 day(s) failed"])
    with pytest.raises(CliError) as raised:
        _wait_for_run(run, engine, "r-2", days=3, asset=req.PLATFORM_ASSETS["meta"])  # type: ignore[arg-type]
    message = raised.value.format_message()
    assert message.startswith(
        f"run r-2 ended FAILURE: connection {connection.connection_id} (act_7): environment variable "
        "ACME_META_TOKEN is not set; export it where the job runs | dagster._core.errors.Failure: "
        "meta_insights: 3 day(s) failed"
    )
    assert TOKEN_HINT in message and message.endswith("the run: http://dagster.test/runs/r-2")
