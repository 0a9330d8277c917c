"""`adspipe connect meta` (added to the CLI by the platform registry)."""

from __future__ import annotations

import click

from adspipe.cli_connect import (
    account,
    register,
    store_option,
    token_env_option,
    validated,
    window_days_option,
)
from adspipe.meta import options as meta_options
from adspipe.warehouse import connections as conns


@click.command("meta")
@store_option
@click.option("--ad-account", required=True, metavar="act_ID")
@token_env_option
@window_days_option("--attribution-window-days", conns.DEFAULT_ATTRIBUTION_WINDOW_DAYS, "meta_fresh", 1, 28)
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
def connect(
    store: str, ad_account: str, token_env: str, attribution_window_days: int,
    attribution_windows: str | None, ad_statuses: str | None, app_secret_env: str | None,
) -> None:  # fmt: skip
    """Connect a Meta ad account."""
    store = validated(conns.validate_store_name, store)
    ad_account = account("meta", ad_account)
    window = validated(conns.validate_window, attribution_window_days)
    windows = validated(_meta_windows, attribution_windows)
    statuses = validated(_meta_statuses, ad_statuses)
    secret_env = validated(_app_secret_env, app_secret_env)
    token_env = validated(conns.validate_token_env, token_env)
    register(
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
    return None if var is None else conns.validate_env_var(var, "--app-secret-env", "the app secret")
