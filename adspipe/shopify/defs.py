"""The Shopify definitions: the partitioned asset chain, the two seed jobs, the API resource."""

import dagster as dg

from adspipe.shopify.assets import shopify_7d_fill_job, shopify_fresh_job, shopify_orders_assets
from adspipe.shopify.client import ShopifyClient

defs = dg.Definitions(
    assets=[shopify_orders_assets],
    jobs=[shopify_7d_fill_job, shopify_fresh_job],
    resources={"shopify": ShopifyClient()},
)
