"""Shared tools of the fault and crash suites: a virtual clock shared by the simulator and the
clients, clients tuned for a test, connections for the simulator's world (Shopify, Meta, Google
Ads), and the warehouse-vs-truth assertions (compare.py plus row counts and key uniqueness). The
per-platform adapters the suites are parametrized with are in `platforms.py`.

Virtual time: the simulator's Shopify bucket and Meta usage meters refill on `monotonic`, and
the clients wait with `sleep`; giving both the same `FakeClock` makes every pacing, throttle
and backoff wait instantaneous in real time yet exact in the simulator's eyes. Only the
injected hangs (timeouts) cost real time: the clients' read timeout is set just below
`timeout_hang_s`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.google_ads.client import GoogleAdsClient
from adspipe.google_ads.tables import fact_google_ads_daily, google_ads_raw
from adspipe.meta.client import MetaClient
from adspipe.shopify.client import ShopifyClient
from adspipe.simulator.compare import (
    SUMMARY_FIELDS,
    meta_differences,
    orders_differences,
    summary_differences,
)
from adspipe.simulator.google_ads_compare import google_ads_differences, summary_spend_differences
from adspipe.simulator.server import Simulator, SimulatorHandle
from adspipe.warehouse import connections as conns
from adspipe.warehouse.connections import Connection
from adspipe.warehouse.schema import (
    fact_meta_daily,
    fact_orders,
    meta_insights_raw,
    shopify_orders_raw,
)
from adspipe_tests.clocks import FakeClock

TOKEN_ENV = "FAULT_SIM_TOKEN"
SEED = 20260415  # the fault draws and the clients' jitter
FAULT_KINDS = ("5xx", "timeout", "drop", "malformed", "internal", "throttled")
# Google Ads credentials: the app's three variables and the connections' refresh token variable.
GOOGLE_REFRESH_ENV = "GADS_SIM_REFRESH"
GOOGLE_SECRETS = {
    "GOOGLE_ADS_DEVELOPER_TOKEN": "sim-developer-token",
    "GOOGLE_ADS_CLIENT_ID": "sim-client-id",
    "GOOGLE_ADS_CLIENT_SECRET": "sim-client-secret",
    GOOGLE_REFRESH_ENV: "sim-refresh-token",
}


def simulator_credentials() -> dict[str, str]:
    """Every credential variable the simulator accepts (set them with monkeypatch.setenv)."""
    return {TOKEN_ENV: "sim-token", **GOOGLE_SECRETS}


def shopify_client(
    vt: FakeClock,
    *,
    read_timeout_s: float = 30.0,
    page_size: int = 250,
    max_attempts: int = 5,
    seed: int = SEED,
) -> ShopifyClient:
    client = ShopifyClient(
        read_timeout_s=read_timeout_s, page_size=page_size, max_transient_retries=max_attempts - 1
    )
    return client.with_transport(sleep=vt.sleep, monotonic=vt.monotonic, rng=random.Random(seed))


# Meta's per-run wait budget (180 s by default) guards real time; in this suite waits are virtual
# and the usage is driven far above anything real, so the budget is an hour of virtual time.
def meta_client(
    vt: FakeClock, *, read_timeout_s: float = 60.0, max_transient_retries: int = 4,
    wait_budget_s: float = 3600.0, page_limit: int = 500, seed: int = SEED,
) -> MetaClient:  # fmt: skip
    client = MetaClient(read_timeout_s=read_timeout_s, max_transient_retries=max_transient_retries,
                        wait_budget_s=wait_budget_s, page_limit=page_limit)  # fmt: skip
    return client.with_transport(sleep=vt.sleep, rng=random.Random(seed))


def google_ads_client(
    vt: FakeClock, handle: SimulatorHandle, *, read_timeout_s: float = 30.0, max_transient_retries: int = 4,
    wait_budget_s: float = 3600.0, seed: int = SEED,
) -> GoogleAdsClient:  # fmt: skip
    """A Google Ads client on the simulator; its waits (quota retry delays, backoff) are virtual."""
    client = GoogleAdsClient(api_url=handle.google_ads_url, oauth_url=handle.google_oauth_url,
                             read_timeout_s=read_timeout_s, max_transient_retries=max_transient_retries,
                             wait_budget_s=wait_budget_s)  # fmt: skip
    return client.with_transport(None, sleep=vt.sleep, monotonic=vt.monotonic, rng=random.Random(seed))


@dataclass
class World:
    """The simulator's stores as registered connections."""

    shops: dict[str, Connection] = field(default_factory=dict)  # shop domain → connection
    accounts: dict[str, Connection] = field(default_factory=dict)  # act_… → connection
    customers: dict[str, Connection] = field(default_factory=dict)  # Google Ads customer id → connection
    store_names: list[str] = field(default_factory=list)
    timezones: dict[str, str] = field(default_factory=dict)  # shop domain / act_… / customer id → zone

    def connections(self, platform: str) -> dict[str, Connection]:
        return {"shopify": self.shops, "meta": self.accounts, "google_ads": self.customers}[platform]


def register(engine: Engine, sim: Simulator, *, stores: Iterable[int] | None = None, meta: bool = True,
             shopify: bool = True, google_ads: bool = False, google_lag_days: int | None = None) -> World:  # fmt: skip
    world = World()
    described = sim.world.describe()["stores"]
    picked = list(stores) if stores is not None else list(range(len(described)))
    gworld = sim.google_ads.world
    with engine.begin() as db:
        for index in picked:
            store = described[index]
            world.store_names.append(store["name"])
            world.timezones[store["shop_domain"]] = store["timezone"]
            if shopify:
                world.shops[store["shop_domain"]], _ = conns.connect(
                    db,
                    store=store["name"],
                    platform="shopify",
                    account_id=store["shop_domain"],
                    token_env=TOKEN_ENV,
                )
            for account in store.get("ad_accounts", []) if meta else []:
                world.timezones[account["id"]] = account["timezone"]
                world.accounts[account["id"]], _ = conns.connect(
                    db, store=store["name"], platform="meta", account_id=account["id"], token_env=TOKEN_ENV,
                    attribution_window_days=account.get("attribution_window_days"),
                )  # fmt: skip
        for customer in gworld.customers if google_ads else []:
            if customer.store_index not in picked:
                continue
            world.timezones[customer.customer_id] = customer.time_zone
            world.customers[customer.customer_id], _ = conns.connect(
                db, store=described[customer.store_index]["name"], platform="google_ads",
                account_id=customer.customer_id, token_env=GOOGLE_REFRESH_ENV, attribution_window_days=google_lag_days,
                login_customer_id=gworld.manager_id if customer.managed else None,
            )  # fmt: skip
    return world


def local_today(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


@dataclass
class Compared:
    """Rows compared with the truth, and every difference found."""

    rows: int = 0
    diffs: list[str] = field(default_factory=list)

    def add(self, result: tuple[int, list[str]]) -> None:
        self.rows += result[0]
        self.diffs += result[1]


def _counts(engine: Engine, table: sa.Table, keys: list[str], where: Any) -> tuple[int, int]:
    with engine.connect() as db:
        total = db.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar_one()
        distinct = db.execute(
            sa.select(sa.func.count()).select_from(sa.select(*[table.c[k] for k in keys]).where(where).distinct().subquery())
        ).scalar_one()  # fmt: skip
    return int(total), int(distinct)


def check_orders(engine: Engine, sim: Simulator, shop: str, since: date, until: date, out: Compared,
                 *, at: datetime | None = None) -> None:  # fmt: skip
    """fact_orders vs truth order by order, plus: row count = truth count, no duplicate key,
    raw rows = fact rows over the range."""
    out.add(orders_differences(engine, sim.truth, shop, since, until, at=at))
    want = len(sim.truth.orders(shop, since, until, at=at))
    in_range = sa.and_(fact_orders.c.shop_domain == shop, fact_orders.c.order_date.between(since, until))
    total, distinct = _counts(engine, fact_orders, ["shop_domain", "order_id"], in_range)
    raw_range = sa.and_(
        shopify_orders_raw.c.shop_domain == shop, shopify_orders_raw.c.order_date.between(since, until)
    )
    raw_total, raw_distinct = _counts(engine, shopify_orders_raw, ["shop_domain", "order_id"], raw_range)
    if not (total == distinct == want == raw_total == raw_distinct):
        out.diffs.append(f"{shop} {since}..{until}: fact rows {total} ({distinct} distinct), raw {raw_total} "
                         f"({raw_distinct} distinct), truth {want}")  # fmt: skip


def check_meta(engine: Engine, sim: Simulator, account: str, since: date, until: date, out: Compared,
               *, at: datetime | None = None) -> None:  # fmt: skip
    """fact_meta_daily and daily_meta_metrics vs truth, plus row counts and key uniqueness.
    Rows compared: the ad rows and the account-days."""
    out.add(meta_differences(engine, sim.truth, account, since, until, at=at))
    want = sum(
        len(sim.truth.ads(account, since + timedelta(days=i), at=at)) for i in range((until - since).days + 1)
    )
    in_range = sa.and_(
        fact_meta_daily.c.ad_account_id == account, fact_meta_daily.c.date.between(since, until)
    )
    total, distinct = _counts(engine, fact_meta_daily, ["ad_account_id", "ad_id", "date"], in_range)
    raw_range = sa.and_(meta_insights_raw.c.ad_account_id == account, meta_insights_raw.c.level == "ad",
                        meta_insights_raw.c.date.between(since, until))  # fmt: skip
    raw_total, _ = _counts(engine, meta_insights_raw, ["ad_account_id", "level", "ad_id", "date"], raw_range)
    out.rows += want  # the ad rows, beside the account-days counted by meta_differences
    if not (total == distinct == want == raw_total):
        out.diffs.append(f"{account} {since}..{until}: fact rows {total} ({distinct} distinct), raw {raw_total}, "
                         f"truth {want}")  # fmt: skip


def check_google_ads(engine: Engine, sim: Simulator, customer: str, since: date, until: date, out: Compared,
                     *, at: datetime | None = None) -> None:  # fmt: skip
    """fact_google_ads_daily and its daily_ad_metrics rows vs truth (spend to the cent from micros,
    fractional conversions exactly), plus: fact rows = distinct keys = raw rows = truth rows."""
    when = at or sim.clock.now()
    gworld = sim.google_ads.world
    out.add(google_ads_differences(engine, gworld, customer, since, until, at=when))
    want = sum(
        len(gworld.truth(customer, since + timedelta(days=i), when.timestamp()))
        for i in range((until - since).days + 1)
    )
    fact_range = sa.and_(fact_google_ads_daily.c.customer_id == customer,
                         fact_google_ads_daily.c.date.between(since, until))  # fmt: skip
    total, distinct = _counts(engine, fact_google_ads_daily, ["customer_id", "ad_id", "date"], fact_range)
    raw_range = sa.and_(google_ads_raw.c.customer_id == customer, google_ads_raw.c.date.between(since, until))
    raw_total, _ = _counts(engine, google_ads_raw, ["customer_id", "ad_id", "date"], raw_range)
    out.rows += want  # the ad rows, beside the customer-days counted by google_ads_differences
    if not (total == distinct == want == raw_total):
        out.diffs.append(f"{customer} {since}..{until}: fact rows {total} ({distinct} distinct), raw {raw_total}, "
                         f"truth {want}")  # fmt: skip


AD_FIGURES = ("spend", "impressions", "clicks", "purchases", "purchase_value", "roas", "mer")


def check_summary(engine: Engine, sim: Simulator, stores: list[str], since: date, until: date, out: Compared,
                  *, at: datetime | None = None, google_ads: bool = False) -> None:  # fmt: skip
    """daily_summary vs truth; with Google Ads connected, the shop figures and flags per store-day,
    then spend and MER over Meta + Google Ads (as the demo compares them)."""
    if not google_ads:
        out.add(summary_differences(engine, sim.truth, stores, since, until, at=at))
        return
    shop_fields = tuple(f for f in SUMMARY_FIELDS if f not in AD_FIGURES)
    out.add(summary_differences(engine, sim.truth, stores, since, until, at=at, fields=shop_fields))
    spend = summary_spend_differences(
        engine, sim.truth, sim.google_ads.world, stores, since, until, at=at or sim.clock.now()
    )
    out.diffs += spend[1]


def retried(calls: Iterable[Any]) -> int:
    return sum(getattr(c, "retries", 0) for c in calls)


def injected(sim: Simulator) -> dict[str, dict[str, int]]:
    """Faults met per platform and kind (from the simulator's counters; zeros left out)."""
    counts = sim.counts()
    return {
        p: {k: counts[p][k] for k in FAULT_KINDS if counts[p][k]} | {"ok": counts[p]["ok"]} for p in counts
    }
