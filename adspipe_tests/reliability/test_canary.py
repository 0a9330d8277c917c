"""Security: a canary token is never written anywhere, and all SQL in adspipe is parameterized.

Every job and partitioned asset runs with distinctive tokens on a persistent Dagster instance in a
temporary DAGSTER_HOME (so the event log, run storage and compute logs are files on disk), against
the simulator (four shops, four ad accounts). Its scripted answers behave like the worst real ones: a Meta `next` link carries the token as
`access_token=`, and error bodies (Shopify 401 and ACCESS_DENIED, Meta code 190 and code 100)
echo the request URL with the token and the bare token. Then every serialized event, every run's
tags and config, every file under DAGSTER_HOME (compute logs included), `sync_runs`, every row of
every warehouse table, and the test process's own output are searched: zero occurrences of the
tokens or of their random core.
"""

from __future__ import annotations

import ast
import functools
import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa
from dagster._serdes import serialize_value
from sqlalchemy.engine import Engine

import adspipe
from adspipe.marts.assets import daily_summary
from adspipe.meta.assets import meta_7d_fill, meta_fresh, meta_insights
from adspipe.meta.client import MetaClient
from adspipe.meta.options import appsecret_proof
from adspipe.meta.settings import API_VERSION
from adspipe.resources import ClockResource, WarehouseResource
from adspipe.shopify.assets import shopify_7d_fill, shopify_fresh, shopify_orders_assets
from adspipe.shopify.client import ShopifyClient
from adspipe.simulator.faults import Faults
from adspipe.simulator.scripted import Repeat
from adspipe.simulator.scripted import answer as scripted_answer
from adspipe.simulator.util import credential_id
from adspipe.warehouse import connections as conns
from adspipe_tests.reliability.helpers import set_status
from adspipe_tests.simulator_fixtures import RunningSimulator

CORE = "7f3a9c41d2e84b6f"  # the random core of every canary: a partial leak still contains it
SHOP_CANARY = f"shpat_CANARY_{CORE}"
META_CANARY = f"EAACANARY{CORE}"
PLAIN_CANARY = f"canary.{CORE}-not-token-shaped"  # no known token shape: only its value can mask it
# The Meta app secret of the connections that send appsecret_proof, and the proofs themselves
# (hex HMACs of the tokens: they do not contain CORE, so they are searched for by value).
APP_SECRET_CANARY = f"appsecret{CORE}"
PROOFS = tuple(appsecret_proof(t, APP_SECRET_CANARY) for t in (META_CANARY, PLAIN_CANARY))
NEEDLES = (SHOP_CANARY, META_CANARY, PLAIN_CANARY, CORE, APP_SECRET_CANARY, *PROOFS)

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
# The simulator's shops (seed 1, four stores) by the store name their connection gets: West (Los
# Angeles) and East (Berlin) answer from the world; Echo401 answers 401 echoing the request URL
# with the token and the bare token, Echodenied ACCESS_DENIED the same way (scripted answers).
SHOPS = {"West": "pioneer-botanicals.myshopify.com", "East": "summit-outfitters.myshopify.com",
         "Echo401": "lumen-outfitters.myshopify.com", "Echodenied": "granite-studio.myshopify.com"}  # fmt: skip
# The simulator's world (seed 1, 60 ads an account): act_1 Los Angeles, act_2 Berlin; act_3
# answers code 190 echoing the URL with access_token and the bare token, act_4 code 100 the same
# way (scripted answers).
ACCOUNTS = {"act_1": "act_719948244808154", "act_2": "act_381676873269249", "act_3": "act_657472613128706",
            "act_4": "act_787205644618603"}  # fmt: skip


def _shop_echo(graph: RunningSimulator, shop: str, token: str, status: int) -> Repeat:
    """Every request of `shop` answers 401 (or ACCESS_DENIED) echoing the request URL with
    access_token and the bare token, as the worst error bodies do."""
    url = f"{graph.shopify_url(shop)}?access_token={token}"
    if status == 401:
        return Repeat(
            scripted_answer(401, {"errors": f"[API] Invalid API key or access token ({token}) for {url}"})
        )
    message = (
        "Access denied for orders field. Required access: `read_orders`. "
        f"X-Shopify-Access-Token: {token} url={url} token {token}"
    )
    return Repeat(
        scripted_answer(
            200, {"data": None, "errors": [{"message": message, "extensions": {"code": "ACCESS_DENIED"}}]}
        )
    )


def _echo(graph_url: str, account: str, token: str, code: int) -> Repeat:
    """Every call of `account` answers code 190 (or 100) echoing the request URL with
    access_token and appsecret_proof, and the bare token, as the worst error bodies do."""
    proof = appsecret_proof(token, APP_SECRET_CANARY)
    url = f"{graph_url}/{API_VERSION}/{account}?access_token={token}&appsecret_proof={proof}"
    echoed = f"{url} (token {token}; Authorization: Bearer {token})"
    if code == 190:
        error = {"message": f"Error validating access token for {echoed}", "code": 190, "error_subcode": 460,
                 "type": "OAuthException"}  # fmt: skip
    else:
        error = {"message": f"(#100) Invalid parameter in {echoed}", "code": 100}
    return Repeat(scripted_answer(400, {"error": error}))


@pytest.fixture
def world(
    engine: Engine,
    make_simulator: Callable[..., RunningSimulator],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("SHOP_CANARY_TOKEN", SHOP_CANARY)
    monkeypatch.setenv("META_CANARY_TOKEN", META_CANARY)
    monkeypatch.setenv("META_PLAIN_TOKEN", PLAIN_CANARY)
    monkeypatch.setenv("META_APP_SECRET", APP_SECRET_CANARY)
    monkeypatch.setenv("ADSPIPE_NOW", NOW.isoformat())
    # act_1 (Los Angeles) delivers about 50 ads a day: 2 pages of 25; act_2 (Berlin) fewer.
    graph = make_simulator(now=NOW, set_env=False, tokens=(SHOP_CANARY, META_CANARY, PLAIN_CANARY), stores=4,
                           ads_per_account=60, faults=Faults(meta_throttle_intensity=0.0))  # fmt: skip
    graph.sim.faults.update(
        shopify_scripted={
            SHOPS["Echo401"]: [_shop_echo(graph, SHOPS["Echo401"], SHOP_CANARY, 401)],
            SHOPS["Echodenied"]: [_shop_echo(graph, SHOPS["Echodenied"], SHOP_CANARY, 200)],
        },
        meta_scripted={
            ACCOUNTS["act_3"]: [_echo(graph.meta_graph_url, ACCOUNTS["act_3"], PLAIN_CANARY, 190)],
            ACCOUNTS["act_4"]: [_echo(graph.meta_graph_url, ACCOUNTS["act_4"], META_CANARY, 100)],
        },
    )
    monkeypatch.setattr(MetaClient, "sleep", lambda self, seconds: None)
    monkeypatch.setattr(ShopifyClient, "sleep", lambda self, seconds: None)
    ids: dict[str, int] = {}
    with engine.begin() as db:
        for store, shop in SHOPS.items():
            found, _ = conns.connect(
                db, store=store, platform="shopify", account_id=shop, token_env="SHOP_CANARY_TOKEN"
            )
            ids[store] = found.connection_id
        for account, store, env in [("act_1", "West", "META_CANARY_TOKEN"), ("act_2", "East", "META_PLAIN_TOKEN"),
                                    ("act_3", "West", "META_PLAIN_TOKEN"), ("act_4", "East", "META_CANARY_TOKEN")]:  # fmt: skip
            # act_2 sends no appsecret_proof; the others do (and act_3 / act_4 echo it in errors).
            found, _ = conns.connect(
                db, store=store, platform="meta", account_id=ACCOUNTS[account], token_env=env, attribution_window_days=3,
                app_secret_env=None if account == "act_2" else "META_APP_SECRET",
            )  # fmt: skip
            ids[account] = found.connection_id
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        yield {
            "engine": engine,
            "graph": graph,
            "ids": ids,
            "home": home,
            "instance": instance,
        }


def _resources(graph: RunningSimulator) -> dict[str, Any]:
    return {
        "warehouse": WarehouseResource(),
        "clock": ClockResource(),
        "shopify": ShopifyClient(endpoint_template=graph.shopify_endpoint),
        "meta": MetaClient(graph_url=graph.meta_graph_url, page_limit=25),
    }


def _reactivate(engine: Engine, ids: dict[str, int]) -> None:
    """The echoing connections fail every job (and go to needs_reauth): bring them back each time."""
    for connection_id in ids.values():
        set_status(engine, connection_id, "active")


def _run_every_job(world: dict[str, Any]) -> list[dg.ExecuteInProcessResult]:
    instance, engine, ids = world["instance"], world["engine"], world["ids"]
    resources = functools.partial(_resources, world["graph"])
    results = []
    partition_tags = {
        "dagster/asset_partition_range_start": "2026-03-05",
        "dagster/asset_partition_range_end": "2026-03-07",
    }
    scoped = {"ops": {"shopify_fresh_op": {"config": {"connection_id": ids["West"]}}}}
    runs: list[Any] = [
        lambda: shopify_7d_fill.execute_in_process(instance=instance, resources=resources(), raise_on_error=False),
        lambda: shopify_fresh.execute_in_process(instance=instance, resources=resources(), raise_on_error=False),
        lambda: shopify_fresh.execute_in_process(
            instance=instance, resources=resources(), run_config=scoped, raise_on_error=False
        ),
        lambda: meta_7d_fill.execute_in_process(instance=instance, resources=resources(), raise_on_error=False),
        lambda: meta_fresh.execute_in_process(instance=instance, resources=resources(), raise_on_error=False),
        lambda: dg.materialize([shopify_orders_assets], instance=instance, resources=resources(),
                               tags=partition_tags, raise_on_error=False),
        lambda: dg.materialize([meta_insights], instance=instance, resources=resources(),
                               tags=partition_tags, raise_on_error=False),
        lambda: dg.materialize([daily_summary], instance=instance, resources=resources(), tags=partition_tags),
    ]  # fmt: skip
    for run in runs:
        _reactivate(engine, ids)
        results.append(run())
    return results


def _next_link(graph: RunningSimulator) -> str:
    """The `next` link the simulator gives act_1's first page of 25 rows (5 March) with the canary."""
    query = {"level": "ad", "limit": "25", "time_range": json.dumps({"since": "2026-03-05", "until": "2026-03-05"}),
             "time_increment": "1", "fields": "ad_id,spend"}  # fmt: skip
    url = f"{graph.meta_graph_url}/{API_VERSION}/{ACCOUNTS['act_1']}/insights"
    body = httpx.get(url, params=query, headers={"Authorization": f"Bearer {META_CANARY}"}).json()
    return str(body["paging"]["next"])


def _count(text: str) -> int:
    return sum(text.count(n) for n in NEEDLES)


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)  # what is searched is dialect-free
def test_canary_tokens_are_found_nowhere(
    world: dict[str, Any], capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    results = _run_every_job(world)
    instance: dg.DagsterInstance = world["instance"]
    engine: Engine = world["engine"]

    # The tokens were really used, the scripted answers really echoed them, and the runs really
    # failed on it.
    graph: RunningSimulator = world["graph"]
    shop_log = graph.sim.request_log("shopify")
    assert [r.credential for r in shop_log].count(credential_id(SHOP_CANARY)) >= 20
    assert {r.account for r in shop_log if r.credential == credential_id(SHOP_CANARY)} == set(SHOPS.values())
    log = graph.sim.request_log("meta")
    tokens = [r.credential for r in log]
    assert tokens.count(credential_id(META_CANARY)) >= 20 and credential_id(PLAIN_CANARY) in tokens
    # act_1's next pages were asked for: the simulator's `next` links carry the caller's token.
    assert [r for r in log if r.account == ACCOUNTS["act_1"] and r.params.get("after")]
    assert f"access_token={META_CANARY}" in _next_link(graph)
    # appsecret_proof: on every call of a connection with an app secret, right for its token;
    # never on the other's.
    proofs = {
        act: [r.params.get("appsecret_proof") for r in log if r.account == ACCOUNTS[act]] for act in ACCOUNTS
    }
    assert len(proofs["act_1"]) >= 20 and set(proofs["act_1"]) == {PROOFS[0]}
    assert set(proofs["act_3"]) == {PROOFS[1]} and set(proofs["act_4"]) == {PROOFS[0]}
    assert len(proofs["act_2"]) >= 5 and set(proofs["act_2"]) == {None}
    assert [r.success for r in results] == [False, False, True, False, False, False, False, True]

    found: dict[str, int] = {}
    # 1. Every event of every run, serialized; run tags and run config.
    runs = instance.get_runs()
    events = [e for run in runs for e in instance.all_logs(run.run_id)]
    found["events"] = sum(_count(serialize_value(e)) for e in events)
    found["run tags"] = sum(_count(json.dumps(run.tags)) for run in runs)
    found["run config"] = sum(_count(json.dumps(run.run_config, default=str)) for run in runs)
    # 2. Every file under DAGSTER_HOME: event log and run databases, compute logs.
    files = [p for p in world["home"].rglob("*") if p.is_file()]
    compute_logs = [p for p in files if "compute_logs" in p.parts and p.suffix in (".out", ".err")]
    found["files"] = sum(_count(p.read_bytes().decode("utf-8", "replace")) for p in files)
    # 3. sync_runs and every row of every table of the warehouse.
    rows = 0
    with engine.connect() as conn:
        for name in sa.inspect(engine).get_table_names():
            for row in conn.execute(
                sa.select(
                    sa.table(name, *[sa.column(c["name"]) for c in sa.inspect(engine).get_columns(name)])
                )
            ):
                rows += 1
                found[f"table {name}"] = found.get(f"table {name}", 0) + _count(repr(tuple(row)))
        errors = [e for (e,) in conn.execute(sa.text("SELECT error FROM sync_runs WHERE error IS NOT NULL"))]
        reasons = [
            r
            for (r,) in conn.execute(
                sa.text("SELECT status_reason FROM connections WHERE status_reason IS NOT NULL")
            )
        ]
    # 4. What this process printed and logged.
    out, err = capfd.readouterr()
    found["stdout/stderr"] = _count(out) + _count(err)
    found["log records"] = sum(_count(r.getMessage()) for r in caplog.records)

    assert {k: v for k, v in found.items() if v} == {}
    # The searches covered what they claim to.
    assert len(runs) == 8 and len(events) > 200 and len(compute_logs) >= 8 and rows > 500
    assert sum(1 for e in errors if "***" in e) >= 4  # the echoed tokens were there, and masked
    assert any("access_token=***" in e for e in errors) and reasons
    figures = {"runs": len(runs), "events": len(events), "files": len(files), "compute_logs": len(compute_logs),
               "rows": rows, "tables": len(sa.inspect(engine).get_table_names())}  # fmt: skip
    print(f"canary figures: {figures}")


# -- All SQL in adspipe is parameterized ----------------------------------------------------------

ADSPIPE = Path(adspipe.__file__).parent
SQL_CALLS = {"text", "execute", "exec_driver_sql", "executescript", "executemany", "copy", "literal_column"}
# Calls whose SQL text is built with an f-string, `%` or `.format`, and why that is safe. Every
# interpolated value is an identifier from the schema module (never user input or API data).
ALLOWED = {
    ("warehouse/upsert.py", "_copy_upsert", "execute"): "staging table name from the schema's table name",
    (
        "warehouse/upsert.py",
        "_copy_into",
        "copy",
    ): "table (or its staging table) and column names from the schema",
    (
        "warehouse/copydata.py",
        "copy_encoded",
        "copy",
    ): "table and column names checked against the schema's metadata first",
}


def _builds_sql(node: ast.expr) -> bool:
    """An f-string with values, `"..." % x`, `"...".format(...)` or string concatenation."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.FormattedValue) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return any(isinstance(side, ast.Constant | ast.JoinedStr) for side in (node.left, node.right))
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"


@functools.cache
def _sql_building_calls() -> list[tuple[str, str, str, int]]:
    found = []
    for path in sorted(ADSPIPE.rglob("*.py")):
        relative = path.relative_to(ADSPIPE).as_posix()
        tree = ast.parse(path.read_text(), filename=str(path))
        for func in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)] + [
            tree
        ]:
            # Names assigned an SQL-building expression in this scope count as built SQL too.
            built = {
                t.id
                for n in ast.walk(func)
                if isinstance(n, ast.Assign) and _builds_sql(n.value)
                for t in n.targets
                if isinstance(t, ast.Name)
            }
            for call in [n for n in ast.walk(func) if isinstance(n, ast.Call)]:
                name = (
                    call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
                )
                if name not in SQL_CALLS or not call.args:
                    continue
                first = call.args[0]
                if _builds_sql(first) or (isinstance(first, ast.Name) and first.id in built):
                    scope = getattr(func, "name", "<module>")
                    found.append((relative, scope, name, call.lineno))
    # A call inside a function is also inside the module: keep it under its innermost function.
    innermost: dict[tuple[str, str, int], tuple[str, str, str, int]] = {}
    for item in found:
        key = (item[0], item[2], item[3])
        if key not in innermost or innermost[key][1] == "<module>":
            innermost[key] = item
    return sorted(innermost.values())


def test_all_sql_is_parameterized() -> None:
    """No SQL text in adspipe is built from values: every statement is SQLAlchemy Core (bound
    parameters) or a constant; the only interpolations are schema identifiers, listed above."""
    offenders = [
        f"{path}:{line} {scope}() {call}(...)"
        for path, scope, call, line in _sql_building_calls()
        if (path, scope, call) not in ALLOWED
    ]
    assert offenders == []
    assert {(p, s, c) for p, s, c, _ in _sql_building_calls()} == set(ALLOWED)  # the allowlist is not stale


def test_the_sql_check_catches_what_it_should() -> None:
    source = """
def bad(conn, name, x):
    conn.execute(sa.text(f"SELECT * FROM t WHERE name = '{name}'"))
    conn.execute("DELETE FROM t WHERE id = %s" % x)
    query = "SELECT {}".format(name)
    conn.exec_driver_sql(query)
    conn.execute(sa.text("SELECT 1 FROM t WHERE a = " + name))
def good(conn, name):
    conn.execute(sa.text("SELECT * FROM t WHERE name = :name"), {"name": name})
"""
    tree = ast.parse(source)
    calls = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "attr", "") in SQL_CALLS | {"text"}
    ]
    flagged = sorted(c.lineno for c in calls if c.args and _builds_sql(c.args[0]))
    assert flagged == [3, 4, 7]  # line 6 goes through a name: covered by the scope rule
    assert os.path.basename(__file__) == "test_canary.py"
