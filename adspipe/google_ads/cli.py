"""`adspipe connect google_ads` (added to the CLI by the platform registry).

The refresh token is per connection (a variable NAME is stored); the developer token and the OAuth
client id and secret are the deployment's (GOOGLE_ADS_DEVELOPER_TOKEN, GOOGLE_ADS_CLIENT_ID,
GOOGLE_ADS_CLIENT_SECRET: see adspipe/google_ads/settings.py).
"""

from __future__ import annotations

import click

from adspipe.cli_connect import account, register, store_option, validated, window_days_option
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
    return conns.validate_env_var(var, "--refresh-token-env", "the refresh token")


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
@window_days_option(
    "--conversion-lag-days", settings.CONVERSION_LAG_DAYS, "google_ads_fresh",
    settings.MIN_CONVERSION_LAG_DAYS, settings.MAX_CONVERSION_LAG_DAYS,
)  # fmt: skip
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
