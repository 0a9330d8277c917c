"""The `adspipe` command: warehouse migrations, connections, the simulator, the demo, syncs."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from adspipe import settings
from adspipe.cli_common import CliError, console, demo_hint, warehouse
from adspipe.marts import connections as store_changes
from adspipe.platform import registry
from adspipe.warehouse import connections as conns
from adspipe.warehouse import db


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
def connections() -> None:
    """List registered connections."""


@connections.command("list")
@click.option("--store", default=None, help="Only this store's connections.")
@click.option("--platform", type=click.Choice(registry.names()), default=None)
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
            "options": connection_options(c),
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


def connection_options(c: conns.Connection) -> dict[str, Any]:
    """What a connection sets beyond the shared columns (Meta's windows, status filter and app
    secret variable; a platform's own options such as Google Ads' manager), unset ones left out."""
    found: dict[str, Any] = {
        "attribution_windows": ",".join(c.attribution_windows) if c.attribution_windows else None,
        "ad_statuses": ",".join(c.ad_statuses) if c.ad_statuses else None,
        "app_secret": c.app_secret_ref,
        **c.options,
    }
    return {name: value for name, value in found.items() if value is not None}


def connections_table(rows: list[dict[str, Any]]) -> Any:
    """Fits the terminal: rich narrows the columns and folds long values inside them."""
    from rich.table import Table

    table = Table(
        caption="window: the days re-read for late conversions (Meta: attribution window; Google Ads: conversion lag); "
        "token: the environment variable the token is read from"
    )
    for column in rows[0]:
        # Ids and accounts never wrap (they are copied into commands); the rest fold to fit.
        name = "window" if column == "window_days" else column
        table.add_column(name, no_wrap=column in ("id", "account"), overflow="fold")
    for row in rows:
        table.add_row(*(_cell(v) for v in row.values()))
    return table


@main.command()
@click.argument("connection_id", type=int)
def disconnect(connection_id: int) -> None:
    """Stop syncing a connection (its data stays in the warehouse)."""
    with warehouse(write=True) as engine, engine.begin() as conn:
        found = store_changes.disconnect(conn, connection_id)
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
    from adspipe.platform import registry

    with warehouse(write=False) as engine, engine.connect() as conn:
        outcomes = rules.run_all(conn, clock.now(), registry.fresh_intervals())
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
    from adspipe.cli_connect import add_platform_commands, connect
    from adspipe.cli_report import report
    from adspipe.cli_sync import sync

    add_platform_commands()
    main.add_command(connect)
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


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items())
    return "" if value is None else str(value)
