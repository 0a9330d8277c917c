"""`adspipe demo`: the whole pipeline on a laptop, with no server and no real token.

Starts the simulator in-process, registers its stores (a token variable that holds the
simulator's token), runs the four jobs for the last 7 days on the embedded SQLite warehouse,
then every asset check (recorded in the Dagster instance, so the UI shows them evaluated), prints
`daily_summary`, and compares it with the simulator's ground truth. `--ui` then leaves the
simulator and `dagster dev` running on the same warehouse and instance.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import click
import sqlalchemy as sa

from adspipe import clock, settings
from adspipe.marts import connections as store_changes
from adspipe.platform import registry
from adspipe.warehouse import connections as conns
from adspipe.warehouse import db
from adspipe.warehouse.schema import daily_summary, stores

DEMO_TOKEN_ENV = "ADSPIPE_DEMO_TOKEN"
# The four seed jobs, then every asset check (recorded in the instance: `--ui` shows them evaluated).
JOBS = [
    *(spec.fill_job for spec in registry.platforms()),
    *(spec.fresh_job for spec in registry.platforms()),
    "adspipe_checks",
]
ROOT = Path(__file__).resolve().parents[1]
# The runs' event logs stay complete in the instance (`--ui` shows them); the console gets warnings.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _services() -> list[ModuleType]:
    """The registered platforms the simulator's base world (shops, Meta accounts) does not hold,
    each plugged into the demo by its `adspipe/simulator/<platform>_demo.py`: `connections(sim)`,
    `environment(server)`, `differences(engine, sim, names, first, last)` over its `FIELDS`."""
    found = (ROOT / "adspipe" / "simulator" / f"{spec.name}_demo.py" for spec in registry.platforms())
    return [importlib.import_module(f"adspipe.simulator.{path.stem}") for path in found if path.is_file()]


def _register(engine: sa.engine.Engine, sim: Any) -> int:
    world = sim.world.describe()
    count = 0
    with engine.begin() as conn:
        for store in world["stores"]:
            store_changes.connect(
                conn,
                store=store["name"],
                platform="shopify",
                account_id=store["shop_domain"],
                token_env=DEMO_TOKEN_ENV,
            )
            count += 1
            for account in store.get("ad_accounts", []):
                store_changes.connect(
                    conn, store=store["name"], platform="meta", account_id=account["id"], token_env=DEMO_TOKEN_ENV,
                    attribution_window_days=account.get("attribution_window_days", conns.DEFAULT_ATTRIBUTION_WINDOW_DAYS),
                )  # fmt: skip
                count += 1
        for service in _services():
            for connection in service.connections(sim):
                store_changes.connect(conn, **connection)
                count += 1
    return count


def window(days: int = 7) -> tuple[date, date]:
    """The last `days` complete days, ending yesterday (today is still partial)."""
    yesterday = clock.now().date() - timedelta(days=1)
    return yesterday - timedelta(days=days - 1), yesterday


def _print_summary(engine: sa.engine.Engine, days: int) -> None:
    from rich.table import Table

    from adspipe.cli_common import console
    from adspipe.summary_report import LEGEND

    first, last = window(days)
    query = (
        sa.select(stores.c.name, daily_summary)
        .join(stores, stores.c.store_id == daily_summary.c.store_id)
        .where(daily_summary.c.date.between(first, last))
        .order_by(stores.c.name, daily_summary.c.date)
    )
    table = Table(title=f"daily_summary, last {days} full days ({first} to {last})", caption=LEGEND)
    headers = ["store", "date", "cur", "orders", "net", "aov", "spend", "purch", "roas", "mer", "flags"]
    for header in headers:
        table.add_column(
            header,
            justify="left" if header in ("store", "date", "cur", "flags") else "right",
            no_wrap=header in ("date", "cur"),
        )
    with engine.connect() as conn:
        for row in conn.execute(query):
            flags = " ".join(
                f for f, on in (("ccy", row.currency_mismatch), ("tz", row.timezone_mismatch)) if on
            )
            cells = [row.name, str(row.date), row.currency or "", str(row.orders), f"{row.net_revenue:.2f}",
                     "" if row.aov is None else f"{row.aov:.2f}", f"{row.spend:.2f}", str(row.purchases),
                     "—" if row.roas is None else f"{row.roas:.2f}", "—" if row.mer is None else f"{row.mer:.2f}", flags]  # fmt: skip
            table.add_row(*cells)
    console().print(table)


def run_demo(*, seed: int, ui: bool, port: int) -> None:
    from adspipe.simulator.server import Simulator, run_simulator

    home = settings.adspipe_home()
    home.mkdir(parents=True, exist_ok=True)
    # Its own file, replaced every time: the demo never touches the real warehouse.
    url = settings.database_url() if not settings.database_url_is_default() else settings.demo_database_url()
    if settings.database_url_is_default():
        (home / "demo.db").unlink(missing_ok=True)
    dagster_home = home / "dagster_home"
    shutil.rmtree(dagster_home, ignore_errors=True)
    dagster_home.mkdir(parents=True)
    shutil.copy(ROOT / "dagster.yaml", dagster_home / "dagster.yaml")

    started = time.monotonic()
    sim = Simulator(seed=seed)
    with run_simulator(sim, port=port) as server:
        env = {
            settings.DATABASE_URL_ENV: url,
            settings.SHOPIFY_ENDPOINT_ENV: server.shopify_endpoint,
            settings.META_GRAPH_URL_ENV: server.meta_graph_url,
            settings.CLOCK_URL_ENV: f"{server.base_url}/admin/clock",
            DEMO_TOKEN_ENV: "sim-token",
            **{k: v for service in _services() for k, v in service.environment(server).items()},
            "DAGSTER_HOME": str(dagster_home),
        }
        with settings.overridden(env):
            engine = db.get_engine(url)
            db.upgrade(engine)
            click.echo(f"simulator on {server.base_url}; warehouse {db.safe_url(url)}")
            click.echo(f"registered {_register(engine, sim)} connections from the simulator's world")
            _run_jobs(dagster_home)
            _print_summary(engine, 7)
            _compare(engine, sim)
            click.echo(f"demo finished in {time.monotonic() - started:.0f} s")
            click.echo("point the adspipe CLI (and `dagster dev`) at the demo's warehouse with:")
            click.echo(f"  export {settings.DATABASE_URL_ENV}={url}")
            if ui:
                _serve_ui(env)


def _run_jobs(dagster_home: Path) -> None:

    import dagster as dg

    from adspipe.definitions import defs

    available = {job.name for job in defs.resolve_all_job_defs()}
    missing = [job for job in JOBS if job not in available]
    if missing:
        click.echo(f"not built yet, skipped: {', '.join(missing)}")
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        for name in JOBS:
            if name not in available:
                continue
            t0 = time.monotonic()
            result = defs.resolve_job_def(name).execute_in_process(
                instance=instance, raise_on_error=False, run_config=QUIET
            )
            status = "ok" if result.success else "FAILED (see the run in `adspipe demo --ui`)"
            click.echo(f"  {name:16} {status} in {time.monotonic() - t0:.1f} s")
            for evaluation in result.get_asset_check_evaluations():
                outcome = "passed" if evaluation.passed else f"failed ({evaluation.severity.value})"
                click.echo(f"    {evaluation.asset_key.to_user_string()}/{evaluation.check_name}: {outcome}")


def _compare(engine: sa.engine.Engine, sim: Any) -> None:
    """The window's last 6 days against ground truth: a store ahead of UTC (Auckland) is already a
    day further on, so the window's first UTC date is before its own fill's first local day.

    The shop's figures and the mismatch flags per store-day; a plugged-in service compares the
    fields it owns (an ad platform: spend and MER over every ad platform)."""
    from adspipe.simulator.compare import SUMMARY_FIELDS, summary_differences

    first, last = window(6)
    names = [s["name"] for s in sim.world.describe()["stores"]]
    services = _services()
    owned = {f for service in services for f in service.FIELDS}
    shop_fields = tuple(f for f in SUMMARY_FIELDS if f not in owned)
    compared, diffs = summary_differences(engine, sim.truth, names, first, last, fields=shop_fields)
    for service in services:
        diffs += service.differences(engine, sim, names, first, last)[1]
    if diffs:
        click.echo(f"daily_summary differs from the simulator's ground truth in {len(diffs)} value(s):")
        for line in diffs[:20]:
            click.echo(f"  {line}")
    else:
        included = "".join(f", {service.DESCRIPTION} included" for service in services)
        click.echo(
            f"daily_summary equals the simulator's ground truth{included} ({compared} store-days compared)"
        )


def _serve_ui(env: dict[str, str]) -> None:
    click.echo("starting `dagster dev -w workspace.yaml` on http://127.0.0.1:3000 (Ctrl-C to stop)")
    dagster = Path(sys.executable).with_name("dagster")
    proc = subprocess.Popen(
        [str(dagster), "dev", "-w", "workspace.yaml"], cwd=ROOT, env=settings.environment_with(env)
    )
    try:
        proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=30)
