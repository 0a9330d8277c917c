"""Is the simulator ever the bottleneck? `python -m adspipe.simulator.bench [--quick]`.

Starts `adspipe simulator serve` in a child process (one event loop: one core), with no latency
and no throttling, and reads through HTTP with adspipe's own query shapes:
- Shopify: every order of a 1,000-orders-a-day shop over several days (the client's ORDERS_QUERY,
  250 per page, line items and refunds inline), cold: generation included;
- Meta: ad-level daily insights of an account with 200 ads over several days (500 rows a page).
Goal (issue 3): at least 2,000 orders/s and 2,000 insight rows/s on one core. The verdict uses the
server's own CPU seconds (from /proc; wall time elsewhere), so a busy machine does not fail it;
wall-clock rates are reported beside. `run(quick)` returns the figures as a dict for the `bench`
harness.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from adspipe.meta import settings as meta_settings
from adspipe.shopify import queries, settings
from adspipe.simulator.process import serve_in_child
from adspipe.simulator.world import World

GOAL_PER_S = 2000.0
NOW = datetime(2026, 4, 15, 12, tzinfo=UTC)
TOKEN = "bench-token"


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _serve() -> tuple[subprocess.Popen[bytes], str]:
    return serve_in_child(
        ["--stores", "1", "--orders-per-day", "1000", "--ads-per-account", "200", "--token", TOKEN,
         "--shopify-plan", "Enterprise", "--meta-throttle-intensity", "0", "--clock-start", NOW.isoformat(),
         "--clock-speed", "0"],
        timeout_s=30,
    )  # fmt: skip


def _orders(http: httpx.Client, base: str, shop: str, days: int) -> tuple[int, float]:
    url = f"{base}/shopify/{shop}/admin/api/{settings.API_VERSION}/graphql.json"
    start, end = NOW - timedelta(days=days + 1), NOW - timedelta(days=1)
    search = f"{queries.search_since('created_at', start)} AND {queries.search_before('created_at', end)}"
    variables: dict[str, Any] = {
        "first": 250,
        "after": None,
        "query": search,
        "sortKey": "CREATED_AT",
        "reverse": False,
    }
    count, began = 0, time.perf_counter()
    while True:
        body = http.post(url, json={"query": queries.ORDERS_QUERY, "variables": variables},
                         headers={"X-Shopify-Access-Token": TOKEN}).json()  # fmt: skip
        page = body["data"]["orders"]
        count += len(page["nodes"])
        if not page["pageInfo"]["hasNextPage"]:
            return count, time.perf_counter() - began
        variables["after"] = page["pageInfo"]["endCursor"]


def _insights(http: httpx.Client, base: str, account: str, days: int) -> tuple[int, float]:
    count, began = 0, time.perf_counter()
    for back in range(1, days + 1):
        day = (NOW - timedelta(days=back)).date().isoformat()
        url: str | None = f"{base}/meta/{meta_settings.API_VERSION}/{account}/insights"
        params: dict[str, str] | None = {
            "level": "ad", "time_increment": "1", "limit": "500",
            "time_range": json.dumps({"since": day, "until": day}),
            "fields": "ad_id,adset_id,campaign_id,account_currency,spend,impressions,clicks,reach,actions,action_values",
        }  # fmt: skip
        while url:
            body = http.get(url, params=params, headers={"Authorization": f"Bearer {TOKEN}"}).json()
            count += len(body["data"])
            url, params = body.get("paging", {}).get("next"), None
    return count, time.perf_counter() - began


def run(quick: bool = False) -> dict[str, Any]:
    days = 3 if quick else 10
    world = World(1, 1, orders_per_day=1000, ads_per_account=200)
    shop, account = world.stores[0].domain, world.accounts[0].id
    proc, base = _serve()
    try:
        with httpx.Client(timeout=60) as http:
            cpu0 = _cpu_s(proc.pid)
            orders, orders_s = _orders(http, base, shop, days)
            cpu1 = _cpu_s(proc.pid)
            rows, rows_s = _insights(http, base, account, days)
            cpu2 = _cpu_s(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    orders_cpu = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else orders_s
    rows_cpu = cpu2 - cpu1 if cpu1 is not None and cpu2 is not None else rows_s
    orders_per_cpu_s, rows_per_cpu_s = orders / max(orders_cpu, 1e-3), rows / max(rows_cpu, 1e-3)
    return {
        "id": "SIM",
        "name": "simulator throughput over HTTP, one core, no latency",
        "orders": orders,
        "orders_per_s_wall": round(orders / orders_s),
        "orders_per_server_cpu_s": round(orders_per_cpu_s),
        "insight_rows": rows,
        "insight_rows_per_s_wall": round(rows / rows_s),
        "insight_rows_per_server_cpu_s": round(rows_per_cpu_s),
        "goal": f">= {GOAL_PER_S:.0f} orders and >= {GOAL_PER_S:.0f} insight rows per server CPU second",
        "passed": orders_per_cpu_s >= GOAL_PER_S and rows_per_cpu_s >= GOAL_PER_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    result = run(quick=parser.parse_args().quick)
    print(json.dumps(result, indent=2))
    sys.exit(0 if result["passed"] else 1)


if __name__ == "__main__":
    main()
