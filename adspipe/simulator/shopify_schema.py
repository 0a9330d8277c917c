"""The Shopify Admin GraphQL schema subset (names and types as in 2026-10) and the query cost.

Only what adspipe reads: `shop`, `order(id:)` and `orders(...)` with the order fields, money bags,
line items and refunds, `currentAppInstallation { accessScopes { handle } }`, and the bulk
operations (`bulkOperationRunQuery`, `bulkOperationCancel`, `bulkOperation(id:)`, `bulkOperations`).
Deprecated fields carry `@deprecated` (the API then names them in X-Shopify-API-Deprecated-Reason). Queries are parsed and validated against it with
graphql-core, so a misspelt field fails the way it fails on Shopify.

Cost (`default_cost`): scalars and enums cost 0; a plain object 0 inside a node and 1 at the top;
a connection (or a list with `first`) costs `2 + ceil(n × node / 25)` where n is `first` for the
requested cost and the number of items returned for the actual cost, and `node` is 1 plus the cost
of its nested connections (a LineItem node weighs `Faults.shopify_line_item_cost`, default 1). 250
flat orders → 12; with `lineItems(first: 250)` → 132. Any callable
with the same signature can replace it (`Simulator(cost_fn=…)`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from graphql import GraphQLSchema, build_schema

SDL = """
"An ISO-8601 encoded UTC date time string."
scalar DateTime
"A signed decimal number, serialized as a string."
scalar Decimal
"An unsigned 64-bit integer, serialized as a string."
scalar UnsignedInt64
"A valid URL."
scalar URL

schema { query: QueryRoot mutation: Mutation }

type QueryRoot {
  shop: Shop!
  currentAppInstallation: AppInstallation!
  order(id: ID!): Order
  orders(first: Int, after: String, last: Int, before: String, reverse: Boolean = false,
         sortKey: OrderSortKeys = PROCESSED_AT, query: String, savedSearchId: ID): OrderConnection!
  bulkOperation(id: ID!): BulkOperation
  bulkOperations(first: Int, after: String, last: Int, before: String, query: String,
                 reverse: Boolean = false, sortKey: BulkOperationsSortKeys = CREATED_AT): BulkOperationConnection!
}

type Mutation {
  bulkOperationRunQuery(query: String!, groupObjects: Boolean! = false): BulkOperationRunQueryPayload
  bulkOperationCancel(id: ID!): BulkOperationCancelPayload
}

enum BulkOperationStatus { CANCELED CANCELING COMPLETED CREATED EXPIRED FAILED RUNNING }
enum BulkOperationErrorCode { ACCESS_DENIED INTERNAL_SERVER_ERROR TIMEOUT }
enum BulkOperationType { MUTATION QUERY }
enum BulkOperationUserErrorCode { INVALID LIMIT_REACHED OPERATION_IN_PROGRESS }
enum BulkOperationsSortKeys { COMPLETED_AT CREATED_AT }
type BulkOperation {
  completedAt: DateTime
  createdAt: DateTime!
  errorCode: BulkOperationErrorCode
  fileSize: UnsignedInt64
  id: ID!
  objectCount: UnsignedInt64!
  partialDataUrl: URL
  query: String!
  rootObjectCount: UnsignedInt64!
  status: BulkOperationStatus!
  type: BulkOperationType!
  url: URL
}
type BulkOperationEdge { cursor: String! node: BulkOperation! }
type BulkOperationConnection { edges: [BulkOperationEdge!]! nodes: [BulkOperation!]! pageInfo: PageInfo! }
type BulkOperationUserError { code: BulkOperationUserErrorCode field: [String!] message: String! }
type BulkOperationRunQueryPayload { bulkOperation: BulkOperation userErrors: [BulkOperationUserError!]! }
type BulkOperationCancelPayload { bulkOperation: BulkOperation userErrors: [BulkOperationUserError!]! }

enum CurrencyCode { AUD BRL CAD CHF DKK EUR GBP INR JPY NZD SEK SGD USD }
enum OrderSortKeys { CREATED_AT CUSTOMER_NAME DESTINATION FINANCIAL_STATUS FULFILLMENT_STATUS ID
  ORDER_NUMBER PO_NUMBER PROCESSED_AT RELEVANCE TOTAL_ITEMS_QUANTITY TOTAL_PRICE UPDATED_AT }
enum OrderCancelReason { CUSTOMER DECLINED FRAUD INVENTORY OTHER STAFF }
enum OrderDisplayFinancialStatus { AUTHORIZED EXPIRED PAID PARTIALLY_PAID PARTIALLY_REFUNDED PENDING
  REFUNDED VOIDED }
enum OrderDisplayFulfillmentStatus { FULFILLED IN_PROGRESS ON_HOLD OPEN PARTIALLY_FULFILLED
  PENDING_FULFILLMENT REQUEST_DECLINED RESTOCKED SCHEDULED UNFULFILLED }

type ShopPlan {
  displayName: String! @deprecated(reason: "Use `publicDisplayName` instead.")
  publicDisplayName: String!
  partnerDevelopment: Boolean!
  shopifyPlus: Boolean!
}

type AccessScope { handle: String! description: String! }
type AppInstallation { id: ID! accessScopes: [AccessScope!]! }

type Shop {
  id: ID!
  name: String!
  email: String!
  myshopifyDomain: String!
  url: URL!
  ianaTimezone: String!
  timezoneAbbreviation: String!
  timezoneOffset: String!
  timezoneOffsetMinutes: Int!
  currencyCode: CurrencyCode!
  enabledPresentmentCurrencies: [CurrencyCode!]!
  plan: ShopPlan!
}

type MoneyV2 { amount: Decimal! currencyCode: CurrencyCode! }
type MoneyBag { shopMoney: MoneyV2! presentmentMoney: MoneyV2! }

type PageInfo { hasNextPage: Boolean! hasPreviousPage: Boolean! startCursor: String endCursor: String }

type Customer { id: ID! legacyResourceId: UnsignedInt64! }

type LineItem {
  id: ID!
  name: String!
  title: String!
  sku: String
  quantity: Int!
  currentQuantity: Int!
  originalUnitPriceSet: MoneyBag!
  originalTotalSet: MoneyBag!
  discountedUnitPriceSet: MoneyBag!
  discountedTotalSet: MoneyBag!
  totalDiscountSet: MoneyBag!
}
type LineItemEdge { cursor: String! node: LineItem! }
type LineItemConnection { edges: [LineItemEdge!]! nodes: [LineItem!]! pageInfo: PageInfo! }

type RefundLineItem {
  id: ID
  lineItem: LineItem!
  quantity: Int!
  restocked: Boolean!
  priceSet: MoneyBag!
  subtotalSet: MoneyBag!
}
type RefundLineItemEdge { cursor: String! node: RefundLineItem! }
type RefundLineItemConnection { edges: [RefundLineItemEdge!]! nodes: [RefundLineItem!]! pageInfo: PageInfo! }

type Refund {
  id: ID!
  legacyResourceId: UnsignedInt64!
  createdAt: DateTime
  updatedAt: DateTime!
  note: String
  totalRefundedSet: MoneyBag!
  refundLineItems(first: Int, after: String, last: Int, before: String, reverse: Boolean = false): RefundLineItemConnection!
}

type Order {
  id: ID!
  legacyResourceId: UnsignedInt64!
  name: String!
  email: String
  createdAt: DateTime!
  updatedAt: DateTime!
  processedAt: DateTime!
  cancelledAt: DateTime
  cancelReason: OrderCancelReason
  closed: Boolean!
  closedAt: DateTime
  confirmed: Boolean!
  test: Boolean!
  sourceName: String
  tags: [String!]!
  displayFinancialStatus: OrderDisplayFinancialStatus
  displayFulfillmentStatus: OrderDisplayFulfillmentStatus!
  currencyCode: CurrencyCode!
  presentmentCurrencyCode: CurrencyCode!
  totalPriceSet: MoneyBag!
  subtotalPriceSet: MoneyBag
  totalDiscountsSet: MoneyBag
  totalTaxSet: MoneyBag
  totalShippingPriceSet: MoneyBag!
  totalRefundedSet: MoneyBag!
  currentTotalPriceSet: MoneyBag!
  currentSubtotalPriceSet: MoneyBag!
  netPaymentSet: MoneyBag!
  customer: Customer
  lineItems(first: Int, after: String, last: Int, before: String, reverse: Boolean = false): LineItemConnection!
  refunds(first: Int): [Refund!]!
}
type OrderEdge { cursor: String! node: Order! }
type OrderConnection { edges: [OrderEdge!]! nodes: [Order!]! pageInfo: PageInfo! }
"""

_schema: GraphQLSchema | None = None


def schema() -> GraphQLSchema:
    global _schema
    if _schema is None:
        _schema = build_schema(SDL)
    return _schema


@dataclass
class CostNode:
    """One selected field, for the cost function: kind is scalar, object, connection or list."""

    path: str
    kind: str
    first: int | None = None
    children: list[CostNode] = field(default_factory=list)
    weight: int = 1  # the cost of one node of a connection or list


# (tree of the selected fields, actual sizes by path or None for the requested cost) -> cost
CostFunction = Callable[[list[CostNode], Mapping[str, int] | None], int]


def default_cost(roots: list[CostNode], sizes: Mapping[str, int] | None) -> int:
    def node_cost(children: list[CostNode], weight: int) -> int:
        return weight + sum(field_cost(c, nested=True) for c in children)

    def field_cost(f: CostNode, nested: bool) -> int:
        if f.kind == "scalar":
            return 0
        if f.kind in ("connection", "list") and f.first is not None:
            n = f.first if sizes is None else sizes.get(f.path, 0)
            return 2 + math.ceil(n * node_cost(f.children, f.weight) / 25)
        inner = sum(field_cost(c, nested) for c in f.children)
        return inner if nested else 1 + inner

    return sum(field_cost(f, nested=False) for f in roots)
