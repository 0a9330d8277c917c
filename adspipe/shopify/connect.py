"""What `adspipe connect shopify` asks the shop before it registers a connection.

The access scopes are read, not assumed: without `read_orders` nothing can be read, so the
connection is refused; without `read_all_orders` Shopify silently hides orders older than 60
days, so the connection is made with a warning (a backfill past 60 days will fail those days).
A shop that cannot be reached (no network, a timeout) is connected with a warning: the scopes
are read again before every fill and partition range.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adspipe.errors import AuthError, PermanentApiError, TransientApiError
from adspipe.shopify import settings
from adspipe.shopify.client import ShopifyClient


class ScopeRefused(Exception):
    """The shop refused the token, is unknown, or the app lacks read_orders: do not connect."""


@dataclass
class ScopeCheck:
    scopes: frozenset[str] | None  # None: the shop could not be reached
    warnings: list[str] = field(default_factory=list)


def check_scopes(shop_domain: str, token: str, client: ShopifyClient | None = None) -> ScopeCheck:
    """Read the app's access scopes on the shop; raise `ScopeRefused` when it cannot sync."""
    # Few attempts: a person is waiting at the prompt.
    client = client or ShopifyClient(max_transient_retries=1, backoff_base_s=0.2, backoff_cap_s=1.0)
    try:
        session = client.session(shop_domain, token)
        scopes = session.access_scopes()
    except (AuthError, PermanentApiError) as exc:
        raise ScopeRefused(str(exc)) from None
    except TransientApiError as exc:
        return ScopeCheck(
            None,
            [
                f"could not read the access scopes of {shop_domain} ({exc}); connected anyway: "
                f"they are checked again before every fill and backfill"
            ],
        )
    finally:
        client.close()
    if settings.ORDERS_SCOPE not in scopes:
        raise ScopeRefused(
            f"the app is missing the {settings.ORDERS_SCOPE} scope on {shop_domain} (granted: "
            f"{', '.join(sorted(scopes)) or 'none'}); re-install or re-authorize it with "
            f"{settings.ORDERS_SCOPE} and {settings.ALL_ORDERS_SCOPE}"
        )
    check = ScopeCheck(scopes)
    if settings.ALL_ORDERS_SCOPE not in scopes:
        check.warnings.append(
            f"the app lacks the {settings.ALL_ORDERS_SCOPE} scope on {shop_domain}: Shopify returns only "
            f"orders of the last 60 days, so days older than 60 days cannot be read (a backfill of them "
            f"fails); grant {settings.ALL_ORDERS_SCOPE} to read the full history"
        )
    return check
