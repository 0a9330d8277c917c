"""`adspipe connect shopify` (added to the CLI by the platform registry)."""

from __future__ import annotations

from typing import Any

import click

from adspipe import settings
from adspipe.cli_common import CliError
from adspipe.cli_connect import account, register, store_option, token_env_option, validated
from adspipe.warehouse import connections as conns


@click.command("shopify")
@store_option
@click.option("--shop", required=True, metavar="DOMAIN.myshopify.com")
@token_env_option
def connect(store: str, shop: str, token_env: str) -> None:
    """Connect a Shopify shop."""
    store = validated(conns.validate_store_name, store)
    shop = account("shopify", shop)
    token_env = validated(conns.validate_token_env, token_env)
    register("shopify", store, shop, token_env, None, verify=lambda: _verify_scopes(shop, token_env))


def _verify_scopes(shop: str, token_env: str) -> None:
    """Read the app's access scopes: missing read_orders refuses, missing read_all_orders warns."""
    from adspipe.platform.secrets import sanitize
    from adspipe.shopify.connect import ScopeRefused, check_scopes

    token = settings.env_value(token_env)
    try:
        check = check_scopes(shop, token)
    except ScopeRefused as exc:
        raise CliError(sanitize(str(exc), [token])) from None
    for warning in check.warnings:
        click.echo(f"warning: {sanitize(warning, [token])}", err=True)


# `connect --from-file`: a shop has no options and no window.
FILE_OPTIONS: tuple[str, ...] = ()


def file_line(cells: dict[str, str]) -> tuple[str, int | None, dict[str, Any]]:
    if cells["window"]:
        raise conns.ConnectionInputError("window must be empty for a store platform")
    return conns.validate_token_env(cells["token_env"]), None, {}
