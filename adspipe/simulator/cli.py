"""`adspipe simulator serve|world`: run the local Shopify + Meta simulator, or print its world."""

from __future__ import annotations

import json

import click

from adspipe.simulator.clock import SimClock
from adspipe.simulator.faults import META_THROTTLE_CODES, PLANS, Faults
from adspipe.simulator.server import Simulator, SimulatorHandle, bind, uvicorn_server
from adspipe.simulator.util import parse_instant
from adspipe.simulator.world import World


@click.group(name="simulator")
def simulator() -> None:
    """The local simulator of the Shopify Admin GraphQL and Meta insights APIs (docs/simulator.md)."""


@simulator.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8765, show_default=True, help="0 picks a free port.")
@click.option("--seed", type=int, default=1, show_default=True, help="The world: same seed, same answers.")
@click.option("--stores", type=int, default=3, show_default=True)
@click.option(
    "--orders-per-day", type=int, default=None, help="Orders per store per day (default: 20-60 each)."
)
@click.option("--ads-per-account", type=int, default=None, help="Ad slots per account (default: 8-20 each).")
@click.option("--token", "tokens", multiple=True, default=("sim-token",), show_default=True,
              help="An accepted access token (repeatable); others get Shopify 401 / Meta code 190.")  # fmt: skip
@click.option("--any-token", is_flag=True, help="Accept any non-empty token.")
@click.option(
    "--latency", type=float, default=0.0, show_default=True, help="Seconds added to every API request."
)
@click.option(
    "--shopify-latency", type=float, default=0.0, show_default=True, help="More seconds for Shopify."
)
@click.option("--meta-latency", type=float, default=0.0, show_default=True, help="More seconds for Meta.")
@click.option(
    "--error-rate", type=float, default=0.0, show_default=True, help="Share of requests answered 5xx."
)
@click.option(
    "--timeout-rate", type=float, default=0.0, show_default=True, help="Share of requests that hang."
)
@click.option(
    "--timeout-hang", type=float, default=30.0, show_default=True, help="Seconds a hung request hangs."
)
@click.option(
    "--drop-rate", type=float, default=0.0, show_default=True, help="Share of connections cut mid-body."
)
@click.option(
    "--malformed-rate", type=float, default=0.0, show_default=True, help="Share of truncated JSON bodies."
)
@click.option(
    "--shopify-plan", type=click.Choice(PLANS), default=None, help="Every shop's plan (restore rate)."
)
@click.option("--internal-error-rate", type=float, default=0.0, show_default=True,
              help="Share of Shopify answers that are HTTP 200 INTERNAL_SERVER_ERROR.")  # fmt: skip
@click.option("--no-read-all-orders", is_flag=True, help="Shopify shows only the last 60 days of orders.")
@click.option("--meta-throttle-code", type=click.Choice([str(c) for c in META_THROTTLE_CODES]), default="80000",
              show_default=True, help="Code of Meta's throttle error (HTTP 400).")  # fmt: skip
@click.option("--meta-plain-429", is_flag=True, help="Throttle Meta with a plain HTTP 429 instead.")
@click.option("--meta-throttle-intensity", type=float, default=1.0, show_default=True,
              help="Multiplier on Meta usage per call (0 never throttles).")  # fmt: skip
@click.option("--clock-start", default=None, help="ISO-8601 start of the simulated clock (default: now).")
@click.option("--clock-speed", type=float, default=1.0, show_default=True, help="0 freezes the clock.")
def serve(
    host: str, port: int, seed: int, stores: int, orders_per_day: int | None, ads_per_account: int | None,
    tokens: tuple[str, ...],
    any_token: bool, latency: float, shopify_latency: float, meta_latency: float, error_rate: float,
    timeout_rate: float, timeout_hang: float, drop_rate: float, malformed_rate: float,
    internal_error_rate: float, shopify_plan: str | None,
    no_read_all_orders: bool, meta_throttle_code: str, meta_plain_429: bool, meta_throttle_intensity: float,
    clock_start: str | None, clock_speed: float,
) -> None:  # fmt: skip
    """Serve both APIs until Ctrl-C; prints the environment that points adspipe at it."""
    faults = Faults(
        latency_s=latency, shopify_latency_s=shopify_latency, meta_latency_s=meta_latency,
        error_5xx_rate=error_rate, timeout_rate=timeout_rate, timeout_hang_s=timeout_hang, drop_rate=drop_rate,
        malformed_rate=malformed_rate, shopify_internal_error_rate=internal_error_rate, shopify_plan=shopify_plan, shopify_read_all_orders=not no_read_all_orders,
        meta_throttle_code=int(meta_throttle_code), meta_plain_429=meta_plain_429,
        meta_throttle_intensity=meta_throttle_intensity,
    )  # fmt: skip
    start = parse_instant(clock_start) if clock_start else None
    sim = Simulator(seed=seed, stores=stores, faults=faults, clock=SimClock(start, clock_speed),
                    orders_per_day=orders_per_day, ads_per_account=ads_per_account,
                    tokens=None if any_token else tokens)  # fmt: skip
    sock, base_url = bind(host, port)
    handle = SimulatorHandle(base_url)
    click.echo(f"adspipe simulator (seed {seed}, {stores} stores) on {base_url}; Ctrl-C stops it")
    click.echo("point adspipe at it:")
    for name, value in handle.env().items():
        click.echo(f"  export {name}='{value}'")
    click.echo(f"accepted tokens: {'any' if any_token else ', '.join(tokens)}; world: {base_url}/admin/world")
    uvicorn_server(sim, log_level="info").run(sockets=[sock])


@simulator.command("world")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--stores", type=int, default=3, show_default=True)
@click.option("--orders-per-day", type=int, default=None)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def world(seed: int, stores: int, orders_per_day: int | None, as_json: bool) -> None:
    """Stores, shop domains, ad account ids, time zones and currencies of a seed's world."""
    described = World(seed, stores, orders_per_day=orders_per_day).describe()
    if as_json:
        click.echo(json.dumps(described, indent=2))
        return
    for store in described["stores"]:
        click.echo(f"{store['name']}: shop {store['shop_domain']} ({store['timezone']}, {store['currency']}, "
                   f"{store['plan']}, ~{store['orders_per_day']} orders/day)")  # fmt: skip
        for acct in store["ad_accounts"]:
            click.echo(
                f"    meta {acct['id']} ({acct['timezone']}, {acct['currency']}, {acct['ads']} ad slots)"
            )
