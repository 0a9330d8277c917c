"""The `adspipe` command: warehouse migrations, connections, the simulator, the demo, syncs."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from adspipe import settings
from adspipe.meta import options as meta_options
from adspipe.warehouse import connections as conns
from adspipe.warehouse import db


class CliError(click.ClickException):
    """A one-line error: `error: <message>` on stderr, exit code 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


@contextmanager
def _warehouse() -> Iterator[Engine]:
    """The migrated warehouse engine; unreachable or broken databases become one-line errors."""
    url = settings.database_url()
    try:
        engine = db.get_engine(url)
        db.ensure_schema(engine)
        yield engine
    except db.WarehouseUnavailable as exc:
        raise CliError(str(exc)) from None
    except conns.ConnectionInputError as exc:
        raise CliError(str(exc)) from None
    except SQLAlchemyError as exc:
        raise CliError(f"warehouse error at {db.safe_url(url)}: {type(exc).__name__}") from None
    except ModuleNotFoundError as exc:
        raise CliError(f"cannot use database URL {db.safe_url(url)}: missing driver {exc.name}") from None


def _validated(check: Callable[[Any], Any], value: Any) -> Any:
    try:
        return check(value)
    except conns.ConnectionInputError as exc:
        raise CliError(str(exc)) from None


@click.group()
@click.version_option(package_name="adspipe")
def main() -> None:
    """adspipe: Shopify orders and Meta Ads insights in your warehouse, run by Dagster."""


@main.group(name="db")
def db_group() -> None:
    """Warehouse schema migrations."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the warehouse schema to the latest migration."""
    url = settings.database_url()
    with _warehouse() as engine:
        click.echo(f"warehouse {db.safe_url(url)} is at revision {db.current_revision(engine)}")


@main.group()
def connect() -> None:
    """Register (or re-authorize) a platform account for a store."""


def _token_env_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--token-env",
        required=True,
        metavar="VAR",
        help="Name of the environment variable that holds the access token (the token is never stored).",
    )(fn)


def _register(
    platform: str, store: str, account: str, token_env: str, window: int | None, **meta_options: Any
) -> None:
    with _warehouse() as engine, engine.begin() as conn:
        connection, created = conns.connect(
            conn,
            store=store,
            platform=platform,
            account_id=account,
            token_env=token_env,
            attribution_window_days=window,
            **meta_options,
        )
    verb = "connected" if created else "updated"
    click.echo(
        f"{verb} {platform} {connection.account_id} for store {connection.store_name!r} "
        f"as connection {connection.connection_id}"
    )


@connect.command("shopify")
@click.option("--store", required=True, help="Store (brand) name; created on first use.")
@click.option("--shop", required=True, metavar="DOMAIN.myshopify.com")
@_token_env_option
def connect_shopify(store: str, shop: str, token_env: str) -> None:
    """Connect a Shopify shop."""
    store = _validated(conns.validate_store_name, store)
    shop = _validated(conns.validate_shop_domain, shop)
    token_env = _validated(conns.validate_token_env, token_env)
    _register("shopify", store, shop, token_env, None)


@connect.command("meta")
@click.option("--store", required=True, help="Store (brand) name; created on first use.")
@click.option("--ad-account", required=True, metavar="act_ID")
@_token_env_option
@click.option(
    "--attribution-window-days",
    type=int,
    default=conns.DEFAULT_ATTRIBUTION_WINDOW_DAYS,
    show_default=True,
    help="Days meta_fresh re-pulls for late conversions (1-28).",
)
@click.option(
    "--attribution-windows",
    default=None,
    metavar="WINDOWS",
    help="Attribution windows purchases are counted in, e.g. 7d_click,1d_view (at most one click and one "
    "view window); default: the ad account's own setting.",
)
@click.option(
    "--ad-statuses",
    default=None,
    metavar="STATUSES",
    help="Ad effective statuses the ad-level insights keep, e.g. ACTIVE,PAUSED; default: every status "
    "(an ad archived or paused since still spent, and its spend is kept).",
)
@click.option(
    "--app-secret-env",
    default=None,
    metavar="VAR",
    help="Name of the environment variable that holds the Meta app secret, when the app requires "
    "appsecret_proof (the secret is never stored).",
)
def connect_meta(
    store: str, ad_account: str, token_env: str, attribution_window_days: int,
    attribution_windows: str | None, ad_statuses: str | None, app_secret_env: str | None,
) -> None:  # fmt: skip
    """Connect a Meta ad account."""
    store = _validated(conns.validate_store_name, store)
    ad_account = _validated(conns.validate_ad_account, ad_account)
    window = _validated(conns.validate_window, attribution_window_days)
    windows = _validated(_meta_windows, attribution_windows)
    statuses = _validated(_meta_statuses, ad_statuses)
    secret_env = _validated(_app_secret_env, app_secret_env)
    token_env = _validated(conns.validate_token_env, token_env)
    _register(
        "meta", store, ad_account, token_env, window,
        attribution_windows=windows, ad_statuses=statuses, app_secret_env=secret_env,
    )  # fmt: skip


def _meta_windows(raw: str | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    try:
        windows = meta_options.validate_attribution_windows(raw.split(","))
    except ValueError as exc:
        raise conns.ConnectionInputError(f"--attribution-windows: {exc}") from None
    if not windows:
        raise conns.ConnectionInputError("--attribution-windows must name at least one window, e.g. 7d_click")
    return tuple(windows)


def _meta_statuses(raw: str | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    try:
        return tuple(meta_options.validate_statuses(raw.split(",")))
    except ValueError as exc:
        raise conns.ConnectionInputError(f"--ad-statuses: {exc}") from None


def _app_secret_env(var: str | None) -> str | None:
    if var is None:
        return None
    if not conns.ENV_VAR_RE.match(var):
        raise conns.ConnectionInputError(
            f"--app-secret-env must be an environment variable name (got {var!r})"
        )
    if not os.environ.get(var):
        raise conns.ConnectionInputError(
            f"environment variable {var} is not set; export the app secret in it first"
        )
    return var


@main.group()
def connections() -> None:
    """List registered connections."""


@connections.command("list")
@click.option("--store", default=None, help="Only this store's connections.")
@click.option("--platform", type=click.Choice(["shopify", "meta"]), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def connections_list(store: str | None, platform: str | None, as_json: bool) -> None:
    with _warehouse() as engine, engine.connect() as conn:
        found = conns.list_connections(conn, platform=platform, store=store)
    rows = [
        {
            "id": c.connection_id,
            "store": c.store_name,
            "platform": c.platform,
            "account": c.account_id,
            "status": c.status,
            "timezone": c.timezone,
            "currency": c.currency,
            "window_days": c.attribution_window_days,
            "token": c.token_ref,
        }
        for c in found
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no connections yet: see `adspipe connect --help`")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=False)
    for column in rows[0]:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    Console(width=200).print(table)


@main.command()
@click.argument("connection_id", type=int)
def disconnect(connection_id: int) -> None:
    """Stop syncing a connection (its data stays in the warehouse)."""
    with _warehouse() as engine, engine.begin() as conn:
        found = conns.disconnect(conn, connection_id)
    click.echo(f"disconnected {found.platform} {found.account_id} (connection {connection_id})")


@main.group()
def checks() -> None:
    """Data checks over the warehouse (the same rules as the Dagster asset checks)."""


@checks.command("run")
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
def checks_run(strict: bool) -> None:
    """Run every check; exit 1 when an ERROR check fails (or any check, with --strict)."""
    from adspipe import clock
    from adspipe.checks import rules
    from adspipe.checks.assets import fresh_intervals

    shopify_every, meta_every = fresh_intervals()
    with _warehouse() as engine, engine.connect() as conn:
        outcomes = rules.run_all(conn, clock.now(), shopify_every=shopify_every, meta_every=meta_every)
    failed = False
    for outcome in outcomes:
        mark = "PASS" if outcome.passed else outcome.severity
        click.echo(f"{mark:5} {outcome.name}: {outcome.summary}")
        for problem in outcome.problems:
            click.echo(f"        - {problem}")
        failed |= not outcome.passed and (strict or outcome.severity == "ERROR")
    if failed:
        raise CliError("data checks failed")


def _definition_op_names(platform: str) -> tuple[str, str]:
    """The op of the platform's asset chain and of its 7-day fill job (they take ScopeConfig)."""
    import dagster as dg

    from adspipe.definitions import defs
    from adspipe.orchestration.sync_request import FILL_JOBS, PLATFORM_ASSETS

    asset_op = defs.resolve_assets_def(dg.AssetKey(PLATFORM_ASSETS[platform][0])).node_def.name
    fill_job = defs.resolve_job_def(FILL_JOBS[platform])
    return asset_op, fill_job.graph.node_defs[0].name


@main.command()
@click.argument("platform", type=click.Choice(["meta", "shopify"]))
@click.option("--from", "from_", metavar="YYYY-MM-DD", help="First day (local date of the account).")
@click.option("--to", "to", metavar="YYYY-MM-DD", help="Last day, inclusive.")
@click.option("--last-7-days", is_flag=True, help="Run the 7-day fill job instead of a date range.")
@click.option("--connection", "connection_id", type=int, default=None, help="Only this connection.")
@click.option(
    "--dagster-url",
    default=None,
    help="Dagster webserver URL [default: $ADSPIPE_DAGSTER_URL or http://127.0.0.1:3000].",
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
    """Sync a date range as one Dagster asset backfill (one partition per day), or the last 7 days."""
    import os

    from adspipe import clock
    from adspipe.orchestration import sync_request as req
    from adspipe.orchestration.dagster_api import DEFAULT_DAGSTER_URL, DagsterApi, DagsterApiError

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
        with _warehouse() as engine:
            req.validate_connection(engine, platform, connection_id)
    except req.SyncInputError as exc:
        raise CliError(str(exc)) from None

    api = DagsterApi(dagster_url or os.environ.get("ADSPIPE_DAGSTER_URL") or DEFAULT_DAGSTER_URL)
    # Scoping to one connection needs the op names (run config); all-connections needs none.
    asset_op, fill_op = _definition_op_names(platform) if connection_id is not None else ("", "")
    try:
        if request is None:
            job = req.FILL_JOBS[platform]
            tags = {"adspipe/trigger": "adspipe-sync"}
            if connection_id is not None:
                tags[req.CONNECTION_TAG] = str(connection_id)
            run_id = api.launch_job(job, req.scope_run_config(fill_op, connection_id), tags)
            click.echo(f"Launched {job} run {run_id}")
            if wait:
                _wait_for_run(api, run_id)
            return
        backfill_id = api.launch_asset_backfill(
            request.asset_keys,
            request.start.isoformat(),
            request.end.isoformat(),
            title=request.title,
            tags=request.tags,
            run_config=req.scope_run_config(asset_op, connection_id),
        )
        click.echo(
            f"Enqueued {request.days} daily partitions for {request.start} to {request.end} (backfill {backfill_id})"
        )
        if wait:
            _wait_for_backfill(api, backfill_id, request.days)
    except DagsterApiError as exc:
        raise CliError(str(exc)) from None


def _wait_for_backfill(api: Any, backfill_id: str, days: int) -> None:
    import time

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


def _wait_for_run(api: Any, run_id: str) -> None:
    import time

    while (status := api.run_status(run_id)) not in ("SUCCESS", "FAILURE", "CANCELED"):
        time.sleep(2)
    if status != "SUCCESS":
        raise CliError(f"run {run_id} ended {status}; see its logs in the Dagster UI")
    click.echo(f"run {run_id}: SUCCESS")


@main.command()
@click.option("--seed", type=int, default=1, show_default=True, help="The simulator's world.")
@click.option("--ui", is_flag=True, help="Afterwards keep the simulator and `dagster dev` running.")
@click.option("--port", type=int, default=0, help="Simulator port (default: a free one).")
def demo(seed: int, ui: bool, port: int) -> None:
    """Run the four jobs for the last 7 days against the simulator and print daily_summary."""
    from adspipe.demo import run_demo

    run_demo(seed=seed, ui=ui, port=port)


def _register_optional_commands() -> None:
    """Commands owned by other packages, added when present."""
    try:
        from adspipe.simulator.cli import simulator
    except ImportError:  # the simulator package is optional at import time of this module
        return
    main.add_command(simulator)


_register_optional_commands()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
