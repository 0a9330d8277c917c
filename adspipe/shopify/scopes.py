"""What the granted access scopes let a sync read: without read_orders nothing, without
read_all_orders only the last 60 days (Shopify then hides older orders, silently)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from adspipe.errors import PermanentApiError
from adspipe.shopify import settings
from adspipe.shopify.client import ShopSession
from adspipe.shopify.transforms import local_date, local_midnight


def check_scopes(session: ShopSession) -> frozenset[str]:
    """The granted scopes; without read_orders nothing can be read (PermanentApiError)."""
    scopes = session.access_scopes()
    if settings.ORDERS_SCOPE not in scopes:
        raise PermanentApiError(
            f"{session.shop_domain}: the app is missing the {settings.ORDERS_SCOPE} scope (granted: "
            f"{', '.join(sorted(scopes)) or 'none'}); re-install or re-authorize it with {settings.ORDERS_SCOPE}"
        )
    return scopes


def oldest_readable_day(scopes: frozenset[str], now: datetime, timezone: str) -> date | None:
    """The oldest local date whose orders Shopify returns in full (None: every date).

    Without read_all_orders Shopify returns no order created more than 60 days before now, and
    says nothing: a date that started before that instant would load short, silently.
    """
    if settings.ALL_ORDERS_SCOPE in scopes:
        return None
    limit = now - settings.RECENT_ORDERS_WINDOW
    day = local_date(limit, timezone)
    return day if local_midnight(day, timezone) >= limit else day + timedelta(days=1)


def missing_all_orders_error(day: date, oldest: date) -> str:
    return (
        f"{day.isoformat()} is older than 60 days and the app lacks the {settings.ALL_ORDERS_SCOPE} scope: "
        f"Shopify returns only the last 60 days of orders without it (oldest readable date {oldest.isoformat()}); "
        f"nothing was written for this day; grant {settings.ALL_ORDERS_SCOPE} and re-run it"
    )
