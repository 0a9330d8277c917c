"""`adspipe connect google_ads` (added to the CLI by the platform registry).

The refresh token is per connection (a variable NAME is stored); the developer token and the OAuth
client id and secret are the deployment's (GOOGLE_ADS_DEVELOPER_TOKEN, GOOGLE_ADS_CLIENT_ID,
GOOGLE_ADS_CLIENT_SECRET: see adspipe/google_ads/settings.py).
"""

from __future__ import annotations

import click

from adspipe import settings as app_settings
from adspipe.cli_connect import account, register, store_option, validated
from adspipe.google_ads import settings
from adspipe.google_ads.platform import validate_customer_id
from adspipe.warehouse import connections as conns


def validate_lag_days(days: int) -> int:
    low, high = settings.MIN_CONVERSION_LAG_DAYS, settings.MAX_CONVERSION_LAG_DAYS
    if not low <= days <= high:
        raise conns.ConnectionInputError(
            f"--conversion-lag-days must be between {low} and {high} (got {days})"
        )
    return days


def validate_refresh_token_env(var: str) -> str:
    if not conns.ENV_VAR_RE.match(var):
        raise conns.ConnectionInputError(
            f"--refresh-token-env must be an environment variable name (got {var!r})"
        )
    if not app_settings.env_value(var):
        raise conns.ConnectionInputError(
            f"environment variable {var} is not set; export the refresh token in it first"
        )
    return var


def validate_login_customer_id(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return validate_customer_id(value)
    except conns.ConnectionInputError:
        raise conns.ConnectionInputError(
            f"--login-customer-id must look like 123-456-7890 (got {value!r})"
        ) from None


@click.command("google_ads")
@store_option
@click.option(
    "--customer-id", required=True, metavar="123-456-7890", help="The Google Ads customer (account)."
)
@click.option(
    "--refresh-token-env",
    required=True,
    metavar="VAR",
    help="Name of the environment variable that holds the OAuth refresh token (never stored).",
)
@click.option(
    "--login-customer-id",
    default=None,
    metavar="123-456-7890",
    help="The manager account the customer is reached through, when it is.",
)
@click.option(
    "--conversion-lag-days",
    type=int,
    default=settings.CONVERSION_LAG_DAYS,
    show_default=True,
    help="Days google_ads_fresh re-pulls for late conversions (1-90).",
)
def connect(
    store: str,
    customer_id: str,
    refresh_token_env: str,
    login_customer_id: str | None,
    conversion_lag_days: int,
) -> None:
    """Connect a Google Ads customer."""
    store = validated(conns.validate_store_name, store)
    customer = account(settings.PLATFORM, customer_id)
    lag = validated(validate_lag_days, conversion_lag_days)
    manager = validated(validate_login_customer_id, login_customer_id)
    token_env = validated(validate_refresh_token_env, refresh_token_env)
    register(settings.PLATFORM, store, customer, token_env, lag, login_customer_id=manager)
