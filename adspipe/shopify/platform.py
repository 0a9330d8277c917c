"""Shopify in the platform registry: a store platform (orders, revenue)."""

from __future__ import annotations

import re
from datetime import timedelta

from adspipe import settings as app_settings
from adspipe.platform.registry import PlatformSpec
from adspipe.shopify import settings
from adspipe.warehouse import cursors
from adspipe.warehouse.connections import ConnectionInputError

SHOP_DOMAIN_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}\.myshopify\.com$")


def validate_shop_domain(shop: str) -> str:
    domain = shop.strip().lower()
    if not SHOP_DOMAIN_RE.match(domain):
        raise ConnectionInputError(f"shop must look like NAME.myshopify.com (got {shop!r})")
    return domain


SPEC = PlatformSpec(
    name="shopify", kind="store", vendor="Shopify Admin", account_label="shop",
    settings=settings, version_env=app_settings.SHOPIFY_API_VERSION_ENV, validate_account=validate_shop_domain,
    asset_keys=("shopify_orders_raw", "fact_orders", "daily_shopify_metrics"), asset_op="shopify_orders_assets",
    fresh_interval=lambda: timedelta(minutes=app_settings.shopify_fresh_minutes()),
    cursor_keys=(cursors.SHOPIFY_UPDATED_AT,),
    token_patterns=(
        (re.compile(r"(X-Shopify-Access-Token[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+", re.I), r"\1***"),
        (re.compile(r"\b(shpat_|shpca_|shppa_)[A-Za-z0-9]{6,}"), r"\1***"),
    ),
)  # fmt: skip
