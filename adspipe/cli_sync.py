"""`adspipe sync`: validate everything, launch atomically, and with --wait follow it to the end.

A range that fits one run (ADSPIPE_BACKFILL_DAYS_PER_RUN days) is launched as ONE run over the
partition range, exactly the run a backfill would create, but queued at once by the run
coordinator instead of on the backfill daemon's next 30 s tick; a longer range is one asset
backfill. Either way: all or nothing, oldest day first, one partition per day, Meta serial
through the `meta_api` pool. --wait follows the run's events (days commit one by one) and returns
as soon as the run ends; a failure prints the reason the run gave (e.g. a token variable that is
not set where the run executes), not only "see the logs".
"""

from __future__ import annotations

import time
from typing import Any

import click
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe import settings
from adspipe.cli_common import CliError, warehouse
from adspipe.orchestration import sync_request as req
from adspipe.orchestration.dagster_api import DagsterApi, DagsterApiError, RunEvents
from adspipe.platform import registry
from adspipe.warehouse.schema import sync_runs

POLL_S = 0.5
QUEUED_HINT_AFTER_S = 20.0
TOKEN_HINT = (
    "token variables must be exported in the environment of the process that runs the steps "
    "(`dagster dev`, or the daemon and its run workers), not only in this shell"
)


@click.command()
@click.argument("platform", type=click.Choice(sorted(registry.names())))
@click.option("--from", "from_", metavar="YYYY-MM-DD", help="First day (local date of the account).")
@click.option("--to", "to", metavar="YYYY-MM-DD", help="Last day, inclusive.")
@click.option("--last-7-days", is_flag=True, help="Run the 7-day fill job instead of a date range.")
@click.option("--connection", "connection_id", type=int, default=None, help="Only this connection.")
@click.option(
    "--dagster-url",
    default=None,
    help=f"Dagster webserver URL [default: ${settings.DAGSTER_URL_ENV} or {settings.DEFAULT_DAGSTER_URL}].",
)
@click.option("--wait", is_flag=True, help="Show progress until it ends; exit non-zero if any day failed.")
def sync(
    platform: str,
    from_: str | None,
    to: str | None,
    last_7_days: bool,
    connection_id: int | None,
    dagster_url: str | None,
    wait: bool,
) -> None:
    """Sync a date range (one partition per day, as one run or one backfill), or the last 7 days."""
    from adspipe import clock

    try:
        if last_7_days and (from_ or to):
            raise req.SyncInputError("use either --last-7-days or --from/--to, not both")
        if not last_7_days and not (from_ and to):
            raise req.SyncInputError("give --from and --to (YYYY-MM-DD), or --last-7-days")
        request = None
        if not last_7_days:
            assert from_ is not None and to is not None
            start, end = req.parse_day(from_, "--from"), req.parse_day(to, "--to")
            req.validate_range(start, end, today=clock.now().date())
            request = req.BackfillRequest(platform, start, end, connection_id)
        with warehouse(write=False) as engine:
            req.validate_connection(engine, platform, connection_id)
    except req.SyncInputError as exc:
        raise CliError(str(exc)) from None

    try:
        api = DagsterApi(settings.dagster_url(dagster_url))
        asset_op, fill_op = req.ASSET_OPS[platform], req.FILL_OPS[platform]
        if request is None:
            job = req.FILL_JOBS[platform]
            tags = {"adspipe/trigger": "adspipe-sync"}
            if connection_id is not None:
                tags[req.CONNECTION_TAG] = str(connection_id)
            run_id = api.launch_job(job, req.scope_run_config(fill_op, connection_id), tags)
            click.echo(f"Launched {job} run {run_id}")
            if wait:
                _wait_for_run(api, engine, run_id, days=7, asset=None)
            return
        run_config = req.scope_run_config(asset_op, connection_id)
        # The chain's BackfillPolicy: a pooled platform's runs carry fewer days (adspipe/platform/assets.py).
        if request.days <= settings.platform_backfill_days_per_run(registry.get(platform).pool is not None):
            run_id = api.launch_asset_run(
                request.asset_keys,
                request.start.isoformat(),
                request.end.isoformat(),
                tags=request.tags,
                run_config=run_config,
            )
            click.echo(
                f"Launched run {run_id} for {request.days} daily partitions, {request.start} to {request.end} "
                f"(one run, oldest day first; {api.url}/runs/{run_id})"
            )
            if wait:
                _wait_for_run(api, engine, run_id, days=request.days, asset=request.asset_keys)
            return
        backfill_id = api.launch_asset_backfill(
            request.asset_keys,
            request.start.isoformat(),
            request.end.isoformat(),
            title=request.title,
            tags=request.tags,
            run_config=run_config,
        )
        click.echo(
            f"Enqueued {request.days} daily partitions for {request.start} to {request.end} (backfill {backfill_id})"
        )
        if wait:
            _wait_for_backfill(api, backfill_id, request.days)
    except DagsterApiError as exc:
        raise CliError(str(exc)) from None


def _days_done(events: RunEvents, assets: list[str] | None) -> int:
    """Days committed so far: the most partitions any asset of the chain (or daily_summary) reported."""
    keys = [*(assets or []), "daily_summary"]
    return max((events.days_done(key) for key in keys), default=0)


def _wait_for_run(
    api: DagsterApi, engine: Engine, run_id: str, *, days: int, asset: list[str] | None
) -> None:
    from tqdm import tqdm

    began = time.monotonic()
    events = RunEvents()
    hinted = False
    with tqdm(total=days, unit="day", desc=f"run {run_id[:8]}", leave=True) as bar:
        while True:
            status = api.run_status_gql(run_id)
            events = api.run_events(run_id, events)
            bar.n = min(days, _days_done(events, asset))
            bar.set_postfix(status=status.lower())
            bar.refresh()
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                break
            if status == "QUEUED" and not hinted and time.monotonic() - began > QUEUED_HINT_AFTER_S:
                bar.write("still queued: is the Dagster daemon running (`dagster dev` starts one)?")
                hinted = True
            time.sleep(POLL_S)
    if status != "SUCCESS":
        raise CliError(_failure_message(engine, run_id, status, events.failures, api.url))
    click.echo(f"run {run_id}: SUCCESS, {_days_done(events, asset) or days} day(s) materialized")


def failure_reasons(engine: Engine, run_id: str, from_dagster: list[str]) -> list[str]:
    """Why a run failed: the warehouse's sync_runs errors for it first (they name the connection
    and, for a missing token, its variable), then the run's own failure messages; no repeats."""
    reasons: list[str] = []
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(sync_runs.c.error)
                .where(sync_runs.c.dagster_run_id == run_id, sync_runs.c.error.is_not(None))
                .order_by(sync_runs.c.sync_run_id)
            )
            reasons += [line for (error,) in rows if (line := str(error).strip().splitlines()[0])]
    except sa.exc.SQLAlchemyError:
        pass  # the reasons from Dagster still stand
    for line in from_dagster:
        if line not in reasons and not any(line in r or r in line for r in reasons):
            reasons.append(line)
    return reasons


def _failure_message(engine: Engine, run_id: str, status: str, failures: list[str], url: str) -> str:
    reasons = failure_reasons(engine, run_id, failures)
    text = f"run {run_id} ended {status}"
    if reasons:
        text += ": " + " | ".join(reasons[:3])
    if any("is not set" in r for r in reasons):
        text += f"; {TOKEN_HINT}"
    return f"{text}; the run: {url}/runs/{run_id}"


def _wait_for_backfill(api: Any, backfill_id: str, days: int) -> None:
    from tqdm import tqdm

    with tqdm(total=days, unit="day", desc=f"backfill {backfill_id}") as bar:
        while True:
            progress = api.backfill_progress(backfill_id)
            bar.n = progress.materialized + progress.failed
            bar.set_postfix(failed=progress.failed, status=progress.status.lower())
            bar.refresh()
            if progress.finished:
                break
            time.sleep(2)
    if not progress.succeeded:
        raise CliError(
            f"backfill {backfill_id} ended {progress.status}: {progress.failed} of {days} day(s) failed; "
            "re-run the failed days from the UI or with `adspipe sync` for those dates"
        )
    click.echo(f"backfill {backfill_id}: all {days} day(s) materialized")
