"""The Shopify definitions: the partitioned asset chain, the two seed jobs, their schedule and
sensor, the API resource (assembled from the registry's spec by adspipe.platform.definitions)."""

from adspipe.platform.definitions import platform_definitions
from adspipe.shopify.assets import shopify_7d_fill, shopify_fresh, shopify_orders_assets
from adspipe.shopify.client import ShopifyClient
from adspipe.shopify.platform import SPEC

DEFS = platform_definitions(
    SPEC, assets=[shopify_orders_assets], fill_job=shopify_7d_fill, fresh_job=shopify_fresh, resources={"shopify": ShopifyClient()},
)  # fmt: skip
