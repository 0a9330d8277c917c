"""Truth agrees with the API: summing the simulator's own responses per store/account and local date
gives exactly its ground truth, for every day of a 60-day window in three time zones."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from adspipe.simulator.faults import Faults
from adspipe.simulator.truth import SEED_STATUSES
from adspipe_tests.simulator.helpers import gql, make_sim, meta
from adspipe_tests.simulator.test_meta_api import FILTER
from adspipe_tests.simulator_fixtures import FIXED_NOW

ORDERS = """query($q: String, $after: String) { orders(first: 250, after: $after, query: $q, sortKey: ID) {
  pageInfo { hasNextPage endCursor }
  nodes { legacyResourceId createdAt cancelledAt test
          totalPriceSet { shopMoney { amount } } totalRefundedSet { shopMoney { amount } } } } }"""
DAYS = 60


def read_orders(sim: Any, shop: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    search = f"created_at:>='{start.strftime(fmt)}' AND created_at:<'{end.strftime(fmt)}'"
    out: list[dict[str, Any]] = []
    after = None
    while True:
        _, body = gql(sim, shop, ORDERS, {"q": search, "after": after})
        page = body["data"]["orders"]
        out += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return out
        after = page["pageInfo"]["endCursor"]


def test_orders_truth_matches_a_full_paged_read() -> None:
    sim = make_sim(orders_per_day=12)
    for store in sim.world.stores:  # Los Angeles, Berlin, Auckland
        tz = ZoneInfo(store.timezone)
        last = FIXED_NOW.astimezone(tz).date()
        first = last - timedelta(days=DAYS - 1)
        start = datetime(first.year, first.month, first.day, tzinfo=tz).astimezone(UTC)
        nodes = read_orders(sim, store.domain, start, FIXED_NOW + timedelta(seconds=1))
        per_day: dict[date, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0), Decimal(0)])
        for n in nodes:
            local = datetime.fromisoformat(n["createdAt"].replace("Z", "+00:00")).astimezone(tz).date()
            if n["test"] or n["cancelledAt"]:
                continue
            row = per_day[local]
            row[0] += 1
            row[1] += Decimal(n["totalPriceSet"]["shopMoney"]["amount"])
            row[2] += Decimal(n["totalRefundedSet"]["shopMoney"]["amount"])
        truth = sim.truth.shopify_daily(store, first, last)
        assert len(truth) == DAYS
        for day in truth:
            count, gross, refunds = per_day.get(day.date, [Decimal(0)] * 3)
            assert (day.orders, day.gross_revenue, day.refunds, day.net_revenue) == (
                count, gross, refunds, gross - refunds), day  # fmt: skip
        facts = sim.truth.orders(store, first, last)
        assert sorted(int(n["legacyResourceId"]) for n in nodes) == sorted(f.order_id for f in facts)
        assert (
            sum(d.refunds for d in truth) > 0
            and any(f.cancelled for f in facts)
            and any(f.test for f in facts)
        )


def _one(actions: list[dict[str, str]] | None) -> Decimal:
    """ONE purchase type (metrics.md): omni_purchase, else purchase, else the pixel's."""
    found = {a["action_type"]: a["value"] for a in actions or []}
    for kind in ("omni_purchase", "purchase", "offsite_conversion.fb_pixel_purchase"):
        if kind in found:
            return Decimal(found[kind])
    return Decimal(0)


def test_insights_truth_matches_the_api_per_ad_and_per_day() -> None:
    sim = make_sim(faults=Faults(meta_throttle_intensity=0))
    for acct in sim.world.accounts:
        last = FIXED_NOW.astimezone(ZoneInfo(acct.timezone)).date()
        days = [last - timedelta(days=i) for i in range(DAYS)]
        # FILTER is the seed's ACTIVE,PAUSED: the truth with the same filter (its default keeps all).
        truth = {d.date: d for d in sim.truth.meta_daily(acct, days[-1], last, statuses=SEED_STATUSES)}
        for day in days:
            span = {"since": day.isoformat(), "until": day.isoformat()}
            _, body = meta(sim, acct.id, level="ad", time_range=span, time_increment=1, filtering=FILTER, limit=500,
                           fields="ad_id,spend,impressions,clicks,actions,action_values")  # fmt: skip
            rows = body["data"]
            want = truth[day]
            assert sum(Decimal(r["spend"]) for r in rows) == want.spend
            assert sum(int(r["impressions"]) for r in rows) == want.impressions
            assert sum(int(r["clicks"]) for r in rows) == want.clicks
            assert sum(_one(r.get("actions")) for r in rows) == want.purchases
            assert sum(_one(r.get("action_values")) for r in rows) == want.purchase_value
            ads = {a.ad_id: a for a in sim.truth.ads(acct, day, statuses=SEED_STATUSES)}
            assert {r["ad_id"] for r in rows} == set(ads)
            _, total = meta(sim, acct.id, level="account", time_range=span, time_increment=1, fields="spend")
            assert sum((Decimal(r["spend"]) for r in total["data"]), Decimal(0)) == want.account_spend
        assert any(d.spend_gap > 0 for d in truth.values())  # archived/deleted ads' spend


def test_store_truth_combines_shop_and_accounts() -> None:
    sim = make_sim(orders_per_day=10)
    day = FIXED_NOW.date() - timedelta(days=3)
    west, east, far = (sim.truth.store_daily(i, day, day)[0] for i in range(3))
    # store 0 has a second ad account in another time zone: MER is withheld, ROAS is not
    assert west.timezone_mismatch and west.mer is None and west.roas is not None
    # MER over the account-level spend (every ad); the default filter keeps every ad, so equal.
    east_meta = sim.truth.meta_daily(sim.world.stores[1].accounts[0], day, day)[0]
    assert east.spend == east_meta.account_spend and east_meta.spend_gap == 0
    assert not east.currency_mismatch and east.mer == (east.net_revenue / east_meta.account_spend).quantize(
        Decimal("0.0001")
    )
    assert far.currency_mismatch and far.mer is None  # NZD shop, USD ad account
    meta_days = [sim.truth.meta_daily(a, day, day)[0] for a in sim.world.stores[0].accounts]
    assert west.spend == sum(m.spend for m in meta_days)
