"""The GraphQL documents the client sends (Admin API `settings.API_VERSION`, 2026-10 by default).

Money is read from `shopMoney` (the shop's currency): the marts never convert. The orders query
also reads `shop { ianaTimezone currencyCode }` (cost 1), so that every page carries the zone its
orders' local dates are computed in, and an idle `shopify_fresh` needs a single request.
"""

from __future__ import annotations

from datetime import UTC, datetime

from adspipe.shopify import settings

MONEY = "shopMoney { amount currencyCode }"

SHOP_QUERY = """
query ShopInfo {
  shop { ianaTimezone currencyCode myshopifyDomain }
}
""".strip()

ORDER_SCALARS = f"""
id
legacyResourceId
name
createdAt
updatedAt
processedAt
cancelledAt
cancelReason
displayFinancialStatus
currencyCode
test
totalPriceSet {{ {MONEY} }}
subtotalPriceSet {{ {MONEY} }}
totalDiscountsSet {{ {MONEY} }}
totalTaxSet {{ {MONEY} }}
totalShippingPriceSet {{ {MONEY} }}
totalRefundedSet {{ {MONEY} }}
customer {{ id }}
""".strip()
LINE_ITEM_FIELDS = (
    f"id quantity sku title originalUnitPriceSet {{ {MONEY} }} discountedTotalSet {{ {MONEY} }}"
)
REFUNDS = f"refunds(first: {settings.REFUNDS_PER_ORDER}) {{ id createdAt totalRefundedSet {{ {MONEY} }} }}"

ORDER_FIELDS = f"""
{ORDER_SCALARS}
lineItems(first: $lineItems) {{
  pageInfo {{ hasNextPage endCursor }}
  nodes {{ {LINE_ITEM_FIELDS} }}
}}
{REFUNDS}
""".strip()
# The top-level keys of an order payload, in the order the orders query returns them.
ORDER_KEYS = (*(line.split()[0] for line in ORDER_SCALARS.splitlines()), "lineItems", "refunds")

ORDERS_QUERY = f"""
query Orders($first: Int!, $after: String, $query: String, $sortKey: OrderSortKeys, $reverse: Boolean,
             $lineItems: Int = {settings.LINE_ITEMS_PER_ORDER}) {{
  shop {{ ianaTimezone currencyCode }}
  orders(first: $first, after: $after, query: $query, sortKey: $sortKey, reverse: $reverse) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
{ORDER_FIELDS}
    }}
  }}
}}
""".strip()

# The scopes the app holds on the shop: read before a fill or a range and when connecting.
ACCESS_SCOPES_QUERY = """
query AccessScopes {
  currentAppInstallation { accessScopes { handle } }
}
""".strip()

# The rest of an order's line items, when it has more than fit inline; `first` starts at 250 and
# is halved on MAX_COST_EXCEEDED (see `ShopSession._complete_line_items`).
ORDER_LINE_ITEMS_QUERY = f"""
query OrderLineItems($id: ID!, $first: Int!, $after: String) {{
  order(id: $id) {{
    lineItems(first: $first, after: $after) {{
      pageInfo {{ hasNextPage endCursor }}
      nodes {{ {LINE_ITEM_FIELDS} }}
    }}
  }}
}}
""".strip()


def search_since(field: str, since: datetime) -> str:
    """The search term `field:>='YYYY-MM-DDTHH:MM:SSZ'`.

    The timestamp MUST be quoted: Shopify silently mis-parses an unquoted one into another search
    term and the call does not fail. Sub-seconds are dropped (floor), which keeps `>=` inclusive.
    """
    if field not in ("created_at", "updated_at"):
        raise ValueError(f"unsupported search field {field!r}")
    if since.tzinfo is None:
        raise ValueError("search timestamps must be timezone-aware")
    return f"{field}:>='{since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'"


def search_before(field: str, until: datetime) -> str:
    """The search term `field:<'YYYY-MM-DDTHH:MM:SSZ'` (quoted, like `search_since`)."""
    if field not in ("created_at", "updated_at"):
        raise ValueError(f"unsupported search field {field!r}")
    if until.tzinfo is None:
        raise ValueError("search timestamps must be timezone-aware")
    return f"{field}:<'{until.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'"
