"""The `adspipe` command: warehouse migrations, connections, the simulator, the demo, syncs."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from adspipe import settings
from adspipe.cli_common import CliError, console, demo_hint, warehouse
from adspipe.meta import options as meta_options
from adspipe.warehouse import connections as conns
from adspipe.warehouse import db


def _validated(check: Callable[[Any], Any], value: Any) -> Any:
    try:
        return check(value)
    except conns.ConnectionInputError as exc:
        raise CliError(str(exc)) from None


class _Main(click.Group):
    """Settings are read when a command imports the pipeline: a bad one is a one-line error."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except settings.SettingsError as exc:
            raise CliError(str(exc)) from None


@click.group(cls=_Main)
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
    with warehouse(write=True) as engine:
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
    platform: str, store: str, account: str, token_env: str, window: int | None,
    verify: Callable[[], None] | None = None, **options: Any,
) -> None:  # fmt: skip
    with warehouse(write=True) as engine:
        if verify is not None:  # once the warehouse answered, before anything is written
            verify()
        with engine.begin() as conn:
            connection, created = conns.connect(
                conn,
                store=store,
                platform=platform,
                account_id=account,
                token_env=token_env,
                attribution_window_days=window,
                **options,  # Meta: attribution_windows, ad_statuses, app_secret_env
            )
    verb = "connected" if created else "updated"
    click.echo(
        f"{verb} {platform} {connection.account_id} for store {connection.store_name!r} "
        f"as connection {connection.connection_id} (warehouse {db.safe_url(settings.database_url())})"
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
    _register("shopify", store, shop, token_env, None, verify=lambda: _verify_shopify_scopes(shop, token_env))


def _verify_shopify_scopes(shop: str, token_env: str) -> None:
    """Read the app's access scopes: missing read_orders refuses, missing read_all_orders warns."""
    import os

    from adspipe.shopify.connect import ScopeRefused, check_scopes
    from adspipe.warehouse.sync_runs import sanitize_error

    token = os.environ.get(token_env, "")
    try:
        check = check_scopes(shop, token)
    except ScopeRefused as exc:
        raise CliError(sanitize_error(str(exc), [token])) from None
    for warning in check.warnings:
        click.echo(f"warning: {sanitize_error(warning, [token])}", err=True)


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
    with warehouse(write=False) as engine, engine.connect() as conn:
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
        click.echo(
            f"no connections yet in the warehouse {db.safe_url(settings.database_url())}: "
            f"see `adspipe connect --help`{demo_hint()}"
        )
        return
    click.echo(f"warehouse {db.safe_url(settings.database_url())}")
    console().print(connections_table(rows))


def connections_table(rows: list[dict[str, Any]]) -> Any:
    """Fits the terminal: rich narrows the columns and folds long values inside them."""
    from rich.table import Table

    table = Table(
        caption="window: Meta attribution window (days); token: the environment variable the token is read from"
    )
    for column in rows[0]:
        # Ids and accounts never wrap (they are copied into commands); the rest fold to fit.
        name = "window" if column == "window_days" else column
        table.add_column(name, no_wrap=column in ("id", "account"), overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    return table


@main.command()
@click.argument("connection_id", type=int)
def disconnect(connection_id: int) -> None:
    """Stop syncing a connection (its data stays in the warehouse)."""
    with warehouse(write=True) as engine, engine.begin() as conn:
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
    with warehouse(write=False) as engine, engine.connect() as conn:
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


@main.command()
def doctor() -> None:
    """Check API versions, the warehouse and connections' variables; exit 1 on an error. Read-only."""
    from adspipe import clock
    from adspipe import doctor as checkup

    findings = checkup.diagnose(clock.now().date())
    for f in findings:
        click.echo(f"{f.severity:5} {f.topic}: {f.message}")
    if any(f.severity == "ERROR" for f in findings):
        raise CliError("doctor found errors")


@main.command()
@click.option("--seed", type=int, default=1, show_default=True, help="The simulator's world.")
@click.option("--ui", is_flag=True, help="Afterwards keep the simulator and `dagster dev` running.")
@click.option("--port", type=int, default=0, help="Simulator port (default: a free one).")
def demo(seed: int, ui: bool, port: int) -> None:
    """Run the four jobs for the last 7 days against the simulator and print daily_summary."""
    from adspipe.demo import run_demo

    run_demo(seed=seed, ui=ui, port=port)


def _register_commands() -> None:
    from adspipe.cli_report import report
    from adspipe.cli_sync import sync

    main.add_command(sync)
    main.add_command(report)


_register_commands()


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
