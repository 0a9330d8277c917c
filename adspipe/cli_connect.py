"""`adspipe connect <platform>`: the shared steps; each platform's command lives in its package
(`adspipe/<platform>/cli.py`, its `connect` command) and is added from the registry by the main
command (`add_platform_commands`)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import click

from adspipe import settings
from adspipe.cli_common import CliError, warehouse
from adspipe.marts import connections as store_changes
from adspipe.platform import registry
from adspipe.warehouse import connections as conns
from adspipe.warehouse import db


def validated(check: Callable[[Any], Any], value: Any) -> Any:
    try:
        return check(value)
    except conns.ConnectionInputError as exc:
        raise CliError(str(exc)) from None


def account(platform: str, value: str) -> str:
    """The account id as the platform's spec validates it (a bad shape is a one-line error)."""
    return str(validated(registry.get(platform).validate_account, value))


def token_env_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--token-env",
        required=True,
        metavar="VAR",
        help="Name of the environment variable that holds the access token (the token is never stored).",
    )(fn)


def window_days_option(option: str, default: int, job: str, low: int, high: int) -> Callable[..., Any]:
    """The days an ad platform's fresh job re-pulls for late conversions (validated by the platform)."""
    return click.option(
        option, type=int, default=default, show_default=True,
        help=f"Days {job} re-pulls for late conversions ({low}-{high}).",
    )  # fmt: skip


def store_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--store", required=True, help="Store (brand) name; created on first use.")(fn)


def register(
    platform: str, store: str, account: str, token_env: str, window: int | None,
    verify: Callable[[], None] | None = None, **options: Any,
) -> None:  # fmt: skip
    with warehouse(write=True) as engine:
        if verify is not None:  # once the warehouse answered, before anything is written
            verify()
        with engine.begin() as conn:
            connection, created = store_changes.connect(
                conn,
                store=store,
                platform=platform,
                account_id=account,
                token_env=token_env,
                attribution_window_days=window,
                **options,  # per platform, e.g. Meta: attribution_windows, ad_statuses, app_secret_env
            )
    verb = "connected" if created else "updated"
    click.echo(
        f"{verb} {platform} {connection.account_id} for store {connection.store_name!r} "
        f"as connection {connection.connection_id} (warehouse {db.safe_url(settings.database_url())})"
    )


@click.group()
def connect() -> None:
    """Register (or re-authorize) a platform account for a store."""


def add_platform_commands() -> None:
    """Each registered platform's `connect <platform>` command (its package's `cli.connect`)."""
    for spec in registry.platforms():
        connect.add_command(importlib.import_module(f"adspipe.{spec.name}.cli").connect, spec.name)
