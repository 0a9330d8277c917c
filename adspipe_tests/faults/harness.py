"""Shared tools of the fault and crash suites: a virtual clock shared by the simulator and the
clients, clients tuned for a test, connections for the simulator's world, and the warehouse-vs-
truth assertions (compare.py plus row counts and key uniqueness).

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

from adspipe.meta.client import MetaClient
from adspipe.shopify.client import ShopifyClient
from adspipe.simulator.compare import meta_differences, orders_differences, summary_differences
from adspipe.simulator.server import Simulator
from adspipe.warehouse import connections as conns
from adspipe.warehouse.connections import Connection
from adspipe.warehouse.schema import fact_meta_daily, fact_orders, meta_insights_raw, shopify_orders_raw
from adspipe_tests.clocks import FakeClock

TOKEN_ENV = "FAULT_SIM_TOKEN"
SEED = 20260415  # the fault draws and the clients' jitter
FAULT_KINDS = ("5xx", "timeout", "drop", "malformed", "internal", "throttled")


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


@dataclass
class World:
    """The simulator's stores as registered connections."""

    shops: dict[str, Connection] = field(default_factory=dict)  # shop domain → connection
    accounts: dict[str, Connection] = field(default_factory=dict)  # act_… → connection
    store_names: list[str] = field(default_factory=list)
    timezones: dict[str, str] = field(default_factory=dict)  # shop domain / act_… → zone


def register(engine: Engine, sim: Simulator, *, stores: Iterable[int] | None = None, meta: bool = True,
             shopify: bool = True) -> World:  # fmt: skip
    world = World()
    described = sim.world.describe()["stores"]
    picked = list(stores) if stores is not None else list(range(len(described)))
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


def check_summary(engine: Engine, sim: Simulator, stores: list[str], since: date, until: date, out: Compared,
                  *, at: datetime | None = None) -> None:  # fmt: skip
    out.add(summary_differences(engine, sim.truth, stores, since, until, at=at))


def retried(calls: Iterable[Any]) -> int:
    return sum(getattr(c, "retries", 0) for c in calls)


def injected(sim: Simulator) -> dict[str, dict[str, int]]:
    """Faults met per platform and kind (from the simulator's counters; zeros left out)."""
    counts = sim.counts()
    return {
        p: {k: counts[p][k] for k in FAULT_KINDS if counts[p][k]} | {"ok": counts[p]["ok"]} for p in counts
    }
