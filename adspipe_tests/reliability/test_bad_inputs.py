"""The bad-input catalogue: every case asserts the exact user-facing message AND that nothing was
lost or half-written (warehouse rows, cursors and connection rows unchanged where the input was
refused; committed days intact and no partial day where a run failed; no Dagster run or
backfill launched for a refused `adspipe sync`).

Sections: CLI arguments; connection registration with metacharacters; Shopify answers; Meta
answers; rows with missing / extra / wrongly typed fields; empty, huge and future days; a
connection disconnected in the middle of a run. docs/reliability.md lists the cases.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from adspipe.cli import main
from adspipe.meta.settings import AD_EFFECTIVE_STATUSES, API_VERSION
from adspipe.shopify import sync as shopify_sync
from adspipe.shopify.client import ShopifyClient
from adspipe.simulator.scripted import Repeat
from adspipe.simulator.scripted import answer as scripted_answer
from adspipe.warehouse import connections as conns
from adspipe.warehouse import cursors, db, schema
from adspipe_tests.reliability.conftest import (
    ACT_1,
    ACT_1_FILTER,
    ACT_2,
    META_DAYS,
    META_NOW,
    MetaEnv,
    sqlite_only,
)
from adspipe_tests.reliability.helpers import (
    connection_row,
    dialects,
    dump_table,
    last_sync_run,
    meta_error,
    rows_where,
    snapshot,
)
from adspipe_tests.simulator_fixtures import TOKEN, RunningSimulator

CLI_NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)
NAMES_NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)  # the sync of the metacharacter store names
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens


# -- CLI: `adspipe sync` ------------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    requests: list[tuple[str, str]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.requests.append((self.path, self.rfile.read(length).decode()))  # type: ignore[attr-defined]
        body = b"dagster is down for maintenance"
        self.send_response(503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def dagster_recorder() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """A stand-in Dagster webserver that records every request (and answers 503)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.requests  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def _registered_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One SQLite warehouse for the refusal cases: a refused request writes nothing (each case
    asserts it), so the cases can share it; registering it once keeps the catalogue quick."""
    url = f"sqlite:///{tmp_path_factory.mktemp('refusals') / 'warehouse.db'}"
    engine = db.get_engine(url)
    db.upgrade(engine)
    with engine.begin() as conn:
        shop, _ = conns.connect(
            conn, store="S", platform="shopify", account_id="s.myshopify.com", token_env="TOK"
        )
        meta, _ = conns.connect(conn, store="S", platform="meta", account_id="act_1", token_env="TOK")
        gone, _ = conns.connect(conn, store="S", platform="meta", account_id="act_2", token_env="TOK")
        conns.disconnect(conn, gone.connection_id)
        cursors.advance_cursor(conn, meta.connection_id, cursors.META_WINDOW_END, date(2026, 3, 14))
    yield {"url": url, "engine": engine, "shop": shop.connection_id, "meta": meta.connection_id,
           "gone": gone.connection_id}  # fmt: skip
    engine.dispose()


@pytest.fixture
def registered(_registered_db: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("ADSPIPE_DATABASE_URL", _registered_db["url"])
    monkeypatch.setenv("ADSPIPE_NOW", CLI_NOW.isoformat())
    monkeypatch.setenv("TOK", "token-value")
    return _registered_db


def _everything(engine: Engine) -> dict[str, Any]:
    """Every table including the sync_runs log: a refused request must not even log an attempt."""
    return snapshot(engine, skip=set())


SYNC_CASES = [
    ("bad-date", ["meta", "--from", "2026-02-30", "--to", "2026-03-01"],
     "--from must be a date as YYYY-MM-DD (got '2026-02-30')"),
    ("not-a-date", ["meta", "--from", "yesterday", "--to", "2026-03-01"],
     "--from must be a date as YYYY-MM-DD (got 'yesterday')"),
    ("bad-to-date", ["shopify", "--from", "2026-03-01", "--to", "03/02/2026"],
     "--to must be a date as YYYY-MM-DD (got '03/02/2026')"),
    ("end-before-start", ["meta", "--from", "2026-03-10", "--to", "2026-03-01"],
     "--to 2026-03-01 is before --from 2026-03-10: nothing to sync"),
    ("future", ["shopify", "--from", "2026-03-10", "--to", "2026-03-16"],
     "--to 2026-03-16 is after today (2026-03-15): future days have no data yet"),
    ("before-partitions", ["meta", "--from", "2022-12-31", "--to", "2023-01-05"],
     "--from 2022-12-31 is before the first daily partition (2023-01-01)"),
    ("unknown-connection", ["meta", "--from", "2026-03-01", "--to", "2026-03-02", "--connection", "99"],
     "no connection with id 99"),
    ("inactive-connection", ["meta", "--last-7-days", "--connection", "{gone}"],
     "connection {gone} is disconnected, not active"),
    ("other-platform", ["meta", "--from", "2026-03-01", "--to", "2026-03-02", "--connection", "{shop}"],
     "connection {shop} is a shopify connection, not meta"),
    ("both-modes", ["meta", "--last-7-days", "--from", "2026-03-01", "--to", "2026-03-02"],
     "use either --last-7-days or --from/--to, not both"),
    ("half-range", ["meta", "--from", "2026-03-01"], "give --from and --to (YYYY-MM-DD), or --last-7-days"),
    ("gads-end-before-start", ["google_ads", "--from", "2026-03-10", "--to", "2026-03-01"],
     "--to 2026-03-01 is before --from 2026-03-10: nothing to sync"),
    ("gads-future", ["google_ads", "--from", "2026-03-10", "--to", "2026-03-16"],
     "--to 2026-03-16 is after today (2026-03-15): future days have no data yet"),
    ("gads-other-platform", ["google_ads", "--from", "2026-03-01", "--to", "2026-03-02", "--connection", "{meta}"],
     "connection {meta} is a meta connection, not google_ads"),
]  # fmt: skip


# Refused before any write, whatever the dialect: one shared SQLite warehouse (the registration
# cases below and the pipeline cases cover Postgres).
@pytest.mark.parametrize(("case", "args", "message"), SYNC_CASES, ids=[c[0] for c in SYNC_CASES])
def test_sync_refuses_bad_arguments_before_launching_anything(
    registered: dict[str, Any],
    dagster_recorder: tuple[str, list[tuple[str, str]]],
    case: str,
    args: list[str],
    message: str,
) -> None:
    url, requests = dagster_recorder
    args = [a.format(**registered) for a in args]
    message = message.format(**registered)
    before = _everything(registered["engine"])
    result = CliRunner().invoke(main, ["sync", *args, "--dagster-url", url])
    assert result.exit_code == 1, result.output
    assert result.output.strip() == f"error: {message}" or result.output.startswith(f"error: {message}"), (
        result.output
    )
    assert len(result.output.strip().splitlines()) == 1
    assert requests == []  # no run, no backfill: Dagster was never asked
    assert _everything(registered["engine"]) == before


@pytest.mark.parametrize("mode", [["--from", "2026-03-01", "--to", "2026-03-02"], ["--last-7-days"]])
def test_sync_with_unreachable_dagster_names_the_url_and_writes_nothing(
    registered: dict[str, Any], mode: list[str]
) -> None:
    before = _everything(registered["engine"])
    result = CliRunner().invoke(main, ["sync", "meta", *mode, "--dagster-url", UNREACHABLE])
    assert result.exit_code == 1
    assert result.output.startswith(f"error: cannot reach Dagster at {UNREACHABLE}/graphql"), result.output
    assert len(result.output.strip().splitlines()) == 1
    assert _everything(registered["engine"]) == before


def test_sync_when_dagster_refuses_says_so_in_one_line_and_writes_nothing(
    registered: dict[str, Any], dagster_recorder: tuple[str, list[tuple[str, str]]]
) -> None:
    url, requests = dagster_recorder
    before = _everything(registered["engine"])
    backfill = CliRunner().invoke(
        main, ["sync", "shopify", "--from", "2026-03-01", "--to", "2026-03-02", "--dagster-url", url]
    )
    assert backfill.exit_code == 1
    assert backfill.output.strip() == (
        f"error: Dagster at {url}/graphql answered HTTP 503: dagster is down for maintenance"
    )
    # A 2-day range is one run: its first request (finding the asset job) is refused, nothing follows.
    assert len(requests) == 1 and "repositoriesOrError" in requests[0][1]
    fill = CliRunner().invoke(main, ["sync", "shopify", "--last-7-days", "--dagster-url", url])
    assert fill.exit_code == 1
    assert fill.output.strip() == (
        f"error: Dagster at {url}/graphql did not launch shopify_7d_fill: Server error with code 503"
    )
    assert _everything(registered["engine"]) == before


# -- CLI: `adspipe connect` / `disconnect` --------------------------------------------------------

CONNECT = ["connect", "shopify", "--store", "A", "--token-env", "SHOP_TOKEN", "--shop"]
CONNECT_META = ["connect", "meta", "--store", "A", "--token-env", "SHOP_TOKEN", "--ad-account"]
CONNECT_GADS = ["connect", "google_ads", "--store", "A", "--refresh-token-env", "SHOP_TOKEN", "--customer-id"]
GADS_ID = "Google Ads customer id must look like 123-456-7890"

CONNECT_CASES = [
    ("shop-not-myshopify", [*CONNECT, "acme.com"], "shop must look like NAME.myshopify.com (got 'acme.com')"),
    ("shop-sql", [*CONNECT, "x'; DROP TABLE stores; --.myshopify.com"],
     "shop must look like NAME.myshopify.com (got \"x'; DROP TABLE stores; --.myshopify.com\")"),
    ("shop-shell", [*CONNECT, "$(rm -rf /).myshopify.com"],
     "shop must look like NAME.myshopify.com (got '$(rm -rf /).myshopify.com')"),
    ("shop-backticks", [*CONNECT, "`id`.myshopify.com"],
     "shop must look like NAME.myshopify.com (got '`id`.myshopify.com')"),
    ("shop-quotes", [*CONNECT, '"acme".myshopify.com'],
     "shop must look like NAME.myshopify.com (got '\"acme\".myshopify.com')"),
    ("shop-unicode", [*CONNECT, "café.myshopify.com"],
     "shop must look like NAME.myshopify.com (got 'café.myshopify.com')"),
    ("shop-suffix-trick", [*CONNECT, "acme.myshopify.com.evil.example"],
     "shop must look like NAME.myshopify.com (got 'acme.myshopify.com.evil.example')"),
    ("ad-account-digits", [*CONNECT_META, "123"], "ad account must look like act_1234567890 (got '123')"),
    ("ad-account-sql", [*CONNECT_META, "act_1' OR '1'='1"],
     "ad account must look like act_1234567890 (got \"act_1' OR '1'='1\")"),
    ("window-0", [*CONNECT_META, "act_1", "--attribution-window-days", "0"],
     "attribution window must be between 1 and 28 days (got 0)"),
    ("window-29", [*CONNECT_META, "act_1", "--attribution-window-days", "29"],
     "attribution window must be between 1 and 28 days (got 29)"),
    ("token-env-missing", ["connect", "shopify", "--store", "A", "--shop", "a.myshopify.com", "--token-env", "NOT_SET_ANYWHERE"],
     "environment variable NOT_SET_ANYWHERE is not set; export the access token in it first"),
    ("token-env-shell", ["connect", "shopify", "--store", "A", "--shop", "a.myshopify.com", "--token-env", "$(whoami)"],
     "--token-env must be an environment variable name (got '$(whoami)')"),
    ("store-control-chars", ["connect", "shopify", "--store", "A\x00B\nC", "--shop", "a.myshopify.com", "--token-env", "SHOP_TOKEN"],
     "store name must not contain control characters"),
    ("store-too-long", ["connect", "shopify", "--store", "x" * 201, "--shop", "a.myshopify.com", "--token-env", "SHOP_TOKEN"],
     "store name must be at most 200 characters"),
    ("disconnect-unknown", ["disconnect", "42"], "no connection with id 42"),
    ("gads-customer-short", [*CONNECT_GADS, "12-34"], f"{GADS_ID} (got '12-34')"),
    ("gads-customer-letter-o", [*CONNECT_GADS, "123-456-789O"], f"{GADS_ID} (got '123-456-789O')"),
    ("gads-customer-meta-style", [*CONNECT_GADS, "act_123"], f"{GADS_ID} (got 'act_123')"),
    ("gads-customer-sql", [*CONNECT_GADS, "1' OR '1'='1"], f"{GADS_ID} (got \"1' OR '1'='1\")"),
    ("gads-login-short", [*CONNECT_GADS, "1234567890", "--login-customer-id", "99"],
     "--login-customer-id must look like 123-456-7890 (got '99')"),
    ("gads-login-shell", [*CONNECT_GADS, "1234567890", "--login-customer-id", "1234567890;rm"],
     "--login-customer-id must look like 123-456-7890 (got '1234567890;rm')"),
    ("gads-lag-0", [*CONNECT_GADS, "1234567890", "--conversion-lag-days", "0"],
     "--conversion-lag-days must be between 1 and 90 (got 0)"),
    ("gads-lag-91", [*CONNECT_GADS, "1234567890", "--conversion-lag-days", "91"],
     "--conversion-lag-days must be between 1 and 90 (got 91)"),
    ("gads-refresh-env-missing", ["connect", "google_ads", "--store", "A", "--customer-id", "1234567890",
                                  "--refresh-token-env", "NOT_SET_ANYWHERE"],
     "environment variable NOT_SET_ANYWHERE is not set; export the refresh token in it first"),
    ("gads-refresh-env-shell", ["connect", "google_ads", "--store", "A", "--customer-id", "1234567890",
                                "--refresh-token-env", "$(whoami)"],
     "--refresh-token-env must be an environment variable name (got '$(whoami)')"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "args", "message"), CONNECT_CASES, ids=[c[0] for c in CONNECT_CASES])
def test_connect_refuses_bad_input_with_one_line_and_writes_nothing(
    registered: dict[str, Any], monkeypatch: pytest.MonkeyPatch, case: str, args: list[str], message: str
) -> None:
    monkeypatch.setenv("SHOP_TOKEN", "shpat_reliability0123456789")
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    before = _everything(registered["engine"])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert result.output.strip() == f"error: {message}", result.output
    assert _everything(registered["engine"]) == before


# -- Registration: SQL and shell metacharacters are data ------------------------------------------

NASTY_STORE_NAMES = [
    ("sql-drop", "'; DROP TABLE stores; --"),
    ("sql-bobby", "Robert'); DROP TABLE connections;--"),
    ("shell-subst", "$(rm -rf /)"),
    ("backticks", "`rm -rf ~` & echo pwned | sh"),
    ("quotes", 'O\'Brien "Deluxe" \\ store'),
    ("like-wildcards", "100% _real_ %s {store}"),
    ("unicode", "Café ☕ 東京 🛍️ Ünïcödé ‮rtl"),
]


@pytest.mark.parametrize(("case", "name"), NASTY_STORE_NAMES, ids=[c[0] for c in NASTY_STORE_NAMES])
def test_store_names_with_metacharacters_are_stored_verbatim_and_harmless(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch, case: str,
    name: str,
) -> None:  # fmt: skip
    running = make_simulator(now=NAMES_NOW)  # its world's shops: store 2 gets the name, store 0 is the decoy
    nasty, decoy = running.sim.world.stores[2].domain, running.sim.world.stores[0].domain
    monkeypatch.setenv("SHOP_TOKEN", TOKEN)
    decoy_run = CliRunner().invoke(
        main, ["connect", "shopify", "--store", "Decoy", "--shop", decoy, "--token-env", "SHOP_TOKEN"]
    )
    assert decoy_run.exit_code == 0, decoy_run.output
    result = CliRunner().invoke(
        main, ["connect", "shopify", "--store", name, "--shop", nasty, "--token-env", "SHOP_TOKEN"]
    )
    assert result.exit_code == 0, result.output
    assert (
        result.output.strip() == f"connected shopify {nasty} for store {name!r} as connection 2 "
        f"(warehouse {db.safe_url(str(engine.url.render_as_string(hide_password=False)))})"
    )
    # Stored byte for byte; every table still there; the decoy untouched.
    assert sorted(r[1] for r in dump_table(engine, "stores")) == sorted(["Decoy", name])
    assert set(schema.ALL_TABLES) <= set(sa.inspect(engine).get_table_names())
    listed = CliRunner().invoke(main, ["connections", "list", "--json", "--store", name])
    assert listed.exit_code == 0, listed.output
    assert [(r["store"], r["account"]) for r in json.loads(listed.output)] == [(name, nasty)]
    # ... and it flows through a sync into the marts like any other store: its daily_summary rows
    # are the simulator's truth of the fill's days.
    client = ShopifyClient(endpoint_template=running.shopify_endpoint)
    assert shopify_sync.shopify_7d_fill(engine, client, NAMES_NOW).report.failed == []
    with engine.connect() as conn:
        store_id = conn.execute(
            sa.select(schema.stores.c.store_id).where(schema.stores.c.name == name)
        ).scalar_one()
    since, until = shopify_sync.fill_window(NAMES_NOW, running.sim.world.stores[2].timezone)
    truth = running.sim.truth.shopify_daily(nasty, since, until)
    rows = rows_where(engine, "daily_summary", store_id=store_id)
    assert [(r["date"], r["orders"], r["net_revenue"]) for r in rows] == [
        (d.date, d.orders, d.net_revenue) for d in truth
    ]
    assert sum(d.orders for d in truth) > 0


# -- Meta answers ---------------------------------------------------------------------------------
#
# Scenario (the simulator's world): 4-6 March of both accounts are committed as they stood on 7
# March; then, by 10 March, late conversions have changed every day's figures, and 4-6 March run
# again with act_1's 5 March answering badly (scripted answers).
# A day is one unit: it is either the new day whole or the old day whole, never a mix. A
# transient failure fails that day alone (4 and 6 March commit); a bad token, a rejected request
# or an unreadable row stop the account at 5 March (4 March new, 5 and 6 March old). act_2 syncs.

MARCH_5 = "2026-03-05"
MARCH_5_AD = f"{ACT_1} ad {MARCH_5}"  # the scripted-answer key of act_1's ad level on 5 March
SEEDED_AT = datetime(2026, 3, 7, 20, tzinfo=UTC)  # 7 March in Los Angeles and in Berlin
MART = ("ads", "spend", "purchases", "purchase_value", "account_spend")


def _meta_day(engine: Engine, account: str, store_id: int, day: date) -> dict[str, Any]:
    return {
        "raw": [
            r for r in dump_table(engine, "meta_insights_raw") if r[0] == account and r[3] == day.isoformat()
        ],
        "facts": [
            r for r in dump_table(engine, "fact_meta_daily") if r[0] == account and r[2] == day.isoformat()
        ],
        "mart": [
            r for r in dump_table(engine, "daily_meta_metrics") if r[1] == account and r[2] == day.isoformat()
        ],
        "summary": [
            r for r in dump_table(engine, "daily_summary") if r[0] == store_id and r[1] == day.isoformat()
        ],
    }


def _truth_mart(env: MetaEnv, account: str, day: date, statuses: tuple[str, ...]) -> dict[str, Any]:
    """The simulator's truth of one account-day now, as daily_meta_metrics holds it."""
    (truth,) = env.graph.sim.truth.meta_daily(account, day, day, statuses=statuses)
    ads = len(env.graph.sim.truth.ads(account, day, statuses=statuses))
    return dict(
        zip(MART, (ads, truth.spend, truth.purchases, truth.purchase_value, truth.account_spend), strict=True)
    )


def _mart(env: MetaEnv, account: str, day: date) -> list[dict[str, Any]]:
    rows = rows_where(env.engine, "daily_meta_metrics", ad_account_id=account, date=day)
    return [{k: r[k] for k in MART} for r in rows]


def _meta_seed(env: MetaEnv) -> dict[date, dict[str, Any]]:
    env.graph.sim.clock.set(SEEDED_AT)
    assert env.run_dates(now=SEEDED_AT).report.failed == []
    old = {d: _meta_day(env.engine, ACT_1, env.act1.store_id, d) for d in META_DAYS}
    assert all(old[d]["facts"] and old[d]["mart"] and old[d]["summary"] for d in META_DAYS)
    env.graph.sim.clock.set(META_NOW)
    # Meta's figures of every day changed since (late conversions): a new day is told from an old one.
    for d in META_DAYS:
        assert _mart(env, ACT_1, d) != [_truth_mart(env, ACT_1, d, ACT_1_FILTER)], d
        assert _mart(env, ACT_2, d) != [_truth_mart(env, ACT_2, d, AD_EFFECTIVE_STATUSES)], d
    return old


def _meta_run(env: MetaEnv) -> tuple[Any, Any]:
    result = env.run_dates()
    by_id = {o.connection.connection_id: o for o in result.report.outcomes}
    act2 = by_id[env.act2.connection_id]
    assert act2.status == "success", act2.error
    for d in META_DAYS:  # act_2's days are all new
        assert _mart(env, ACT_2, d) == [_truth_mart(env, ACT_2, d, AD_EFFECTIVE_STATUSES)], d
    return result, by_id[env.act1.connection_id]


def _assert_days(
    env: MetaEnv, old: dict[date, dict[str, Any]], new: set[date], days: list[date] = META_DAYS
) -> None:
    for day in days:
        if day in new:
            assert _mart(env, ACT_1, day) == [_truth_mart(env, ACT_1, day, ACT_1_FILTER)], day
            facts = rows_where(env.engine, "fact_meta_daily", ad_account_id=ACT_1, date=day)
            truth = {a.ad_id: a.spend for a in env.graph.sim.truth.ads(ACT_1, day, statuses=ACT_1_FILTER)}
            assert {f["ad_id"]: f["spend"] for f in facts} == truth, day
        else:
            assert _meta_day(env.engine, ACT_1, env.act1.store_id, day) == old[day], day


REDUCE_TEXT = "Please reduce the amount of data you're asking for, then retry your request"
TEXT = {"content-type": "text/plain; charset=utf-8"}


def _paging_loop(graph_url: str) -> tuple[int, dict[str, Any]]:
    """No rows, and a `next` link (on the simulator's host, as Meta's are on its own) to the same page."""
    query = urlencode(
        {"after": "SAME", "level": "ad", "time_range": json.dumps({"since": MARCH_5, "until": MARCH_5})}
    )
    return 200, {"data": [], "paging": {"next": f"{graph_url}/{API_VERSION}/{ACT_1}/insights?{query}"}}


META_STOPS = [
    ("code-190", meta_error(400, 190, "Error validating access token: Session has expired on Monday", 463),
     "failed", f"{ACT_1}: Meta HTTP 400, code 190/463: Error validating access token: Session has expired on Monday: the access token was rejected"),
    ("http-401-no-body", (401, "Unauthorized", TEXT),
     "failed", f"{ACT_1}: Meta HTTP 401: the access token was rejected"),
    ("code-100", meta_error(400, 100, "(#100) Invalid parameter: time_range"),
     "failed", f"PermanentApiError: {ACT_1}: Meta HTTP 400, code 100: (#100) Invalid parameter: time_range"),
    ("http-403", meta_error(403, 200, "(#200) Ad account owner has NOT grant ads_management or ads_read permission"),
     "failed", f"PermanentApiError: {ACT_1}: Meta HTTP 403, code 200: (#200) Ad account owner has NOT grant ads_management or ads_read permission"),
    ("http-403-html", (403, "<html>Forbidden</html>"), "failed", f"PermanentApiError: {ACT_1}: Meta HTTP 403"),
    ("throttled", meta_error(400, 80000, "There have been too many calls to this ad-account. Wait a bit and try again."),
     "rate_limited", f"{ACT_1}: Meta HTTP 400, code 80000: There have been too many calls to this ad-account. Wait a bit and try again.; still throttled after"),
    ("http-429", (429, "Too Many Requests", TEXT), "rate_limited", f"{ACT_1}: Meta HTTP 429; still throttled after"),
    ("paging-loop", _paging_loop,
     "failed", f"PermanentApiError: {ACT_1} 2026-03-05: paging does not end (page 2)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("warehouse_url", "case", "answer", "status", "message"),
    dialects(META_STOPS, {"code-190", "code-100"}),
    indirect=["warehouse_url"],
)
def test_meta_answer_that_stops_the_account_keeps_every_day_whole(
    meta_env: MetaEnv, case: str, answer: Any, status: str, message: str
) -> None:
    env = meta_env
    old = _meta_seed(env)
    made = answer(env.graph.meta_graph_url) if callable(answer) else answer
    env.script(MARCH_5_AD, Repeat(scripted_answer(*made)))
    _, act1 = _meta_run(env)
    assert act1.status == status
    assert message in act1.error, act1.error
    run = last_sync_run(env.engine, env.act1.connection_id)
    assert (run["status"], run["error"], run["dates"]) == (status, act1.error, ["2026-03-04"])
    _assert_days(env, old, new={date(2026, 3, 4)})
    reauth = case in ("code-190", "http-401-no-body")
    connection = connection_row(env.engine, env.act1.connection_id)
    assert connection["status"] == ("needs_reauth" if reauth else "active")
    if reauth:
        assert connection["status_reason"] == message.removesuffix(": the access token was rejected") + (
            ": the access token was rejected"
        )


META_DAY_FAILS = [
    ("malformed-json", (200, "<!DOCTYPE html><html>Sorry, something went wrong.</html>"),
     f"{ACT_1}: Meta malformed response body (not a JSON object); gave up after 5 attempts"),
    ("json-array", (200, [1, 2, 3]),
     f"{ACT_1}: Meta malformed response body (not a JSON object); gave up after 5 attempts"),
    ("data-not-a-list", (200, {"data": {"ad_id": "a1"}}),
     f"{ACT_1} 2026-03-05: insights answer has no list of rows in 'data'"),
    ("http-500", (500, {"error": {"message": "An unknown error occurred", "code": 2, "is_transient": True}}),
     f"{ACT_1}: Meta HTTP 500, code 2: An unknown error occurred; gave up after 5 attempts"),
    ("code-1-always", meta_error(500, 1, REDUCE_TEXT),
     f"{ACT_1}: Meta HTTP 500, code 1: {REDUCE_TEXT}; gave up after 5 attempts"),
]  # fmt: skip


def _limits(env: MetaEnv, mark: int) -> list[str]:
    """The `limit` of act_1's ad-level calls of 5 March after `mark`, in order."""
    return [
        r.params["limit"]
        for r in env.requests(ACT_1, after=mark)
        if r.endpoint == "insights"
        and r.params.get("level") == "ad"
        and json.loads(r.params["time_range"])["since"] == MARCH_5
    ]


@pytest.mark.parametrize(
    ("warehouse_url", "case", "answer", "message"),
    dialects(META_DAY_FAILS, {"malformed-json"}),
    indirect=["warehouse_url"],
)
def test_meta_transient_answer_fails_that_day_alone(
    meta_env: MetaEnv, case: str, answer: Any, message: str
) -> None:
    env = meta_env
    old = _meta_seed(env)
    env.script(MARCH_5_AD, Repeat(scripted_answer(*answer)))
    mark = env.mark()
    result, act1 = _meta_run(env)
    assert act1.status == "failed"
    assert act1.error == f"TransientApiError: 1 of 3 day(s) failed (2026-03-05); 2026-03-05: {message}"
    assert result.failed_dates(META_DAYS) == [date(2026, 3, 5)]
    _assert_days(env, old, new={date(2026, 3, 4), date(2026, 3, 6)})
    assert connection_row(env.engine, env.act1.connection_id)["status"] == "active"
    if case == "code-1-always":  # halved down to the smallest page first
        assert _limits(env, mark)[:6] == ["500", "250", "125", "62", "31", "25"]


def test_meta_code_1_once_halves_the_page_and_the_day_commits(meta_env: MetaEnv) -> None:
    env = meta_env
    _meta_seed(env)
    env.script(MARCH_5_AD, meta_error(500, 1, REDUCE_TEXT))
    mark = env.mark()
    _, act1 = _meta_run(env)
    assert (act1.status, act1.error) == ("success", None)
    _assert_days(env, {}, new=set(META_DAYS))
    assert _limits(env, mark) == ["500", "250"]  # the same day again with half the page


# -- Insights rows: missing, extra and wrongly typed fields ---------------------------------------


def _row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "ad_id": "a1", "adset_id": "s", "campaign_id": "c", "account_currency": "USD", "spend": "12.00",
        "impressions": "10", "clicks": "1", "reach": "9", "date_start": MARCH_5, "date_stop": MARCH_5,
        "actions": [{"action_type": "omni_purchase", "value": "2"}],
        "action_values": [{"action_type": "omni_purchase", "value": "45.00"}],
    }  # fmt: skip
    for key, value in changes.items():
        if value is _DROP:
            row.pop(key)
        else:
            row[key] = value
    return row


def _rows(rows: Any) -> Repeat:
    """act_1's ad level of 5 March answers these hand-made rows, every time."""
    return Repeat(scripted_answer(200, {"data": rows}))


_DROP = object()

BAD_ROWS = [
    ("missing-ad-id", _row(ad_id=_DROP), "InsightsFormatError: ad-level row without ad_id on 2026-03-05"),
    ("missing-date", _row(date_start=_DROP), "InsightsFormatError: date_start is not a date: None"),
    ("other-date", _row(date_start="2026-03-04", date_stop="2026-03-04"),
     "InsightsFormatError: asked for 2026-03-05, Meta returned a row for 2026-03-04..2026-03-04"),
    ("spend-text", _row(spend="abc"), "InsightsFormatError: spend is not a number: 'abc'"),
    ("spend-nan", _row(spend="NaN"), "InsightsFormatError: spend is not a finite number: 'NaN'"),
    ("spend-float-artefact", _row(spend=0.1 + 0.2),
     "InsightsFormatError: spend has more than 4 decimals: 0.30000000000000004"),
    ("impressions-fraction", _row(impressions="12.5"), "InsightsFormatError: impressions is not a whole number: '12.5'"),
    ("actions-object", _row(actions={"omni_purchase": 2}), "InsightsFormatError: actions must be a list, got dict"),
    ("action-without-type", _row(actions=[{"value": "2"}]), "InsightsFormatError: malformed action entry: {'value': '2'}"),
    ("row-not-object", "a1,12.00", f"{ACT_1} 2026-03-05: insights answer has no list of rows in 'data'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("warehouse_url", "case", "row", "message"),
    dialects(BAD_ROWS, {"spend-text"}),
    indirect=["warehouse_url"],
)
def test_meta_unreadable_row_never_files_a_wrong_number(
    meta_env: MetaEnv, case: str, row: Any, message: str
) -> None:
    env = meta_env
    old = _meta_seed(env)
    env.script(MARCH_5_AD, _rows([_row(ad_id="a2"), row]))
    _, act1 = _meta_run(env)
    assert act1.status == "failed"
    if case == "row-not-object":  # the answer's shape is wrong: that day fails alone
        assert act1.error == f"TransientApiError: 1 of 3 day(s) failed (2026-03-05); 2026-03-05: {message}"
        _assert_days(env, old, new={date(2026, 3, 4), date(2026, 3, 6)})
    else:  # a row we cannot read stops the account: 5 and 6 March stay as they were
        assert act1.error == message
        _assert_days(env, old, new={date(2026, 3, 4)})


ACCEPTED_ROWS = [
    ("extra-fields", _row(new_metric="7", cost_per_result=[{"x": 1}], note="'; DROP TABLE fact_meta_daily; --"),
     {"spend": Decimal("12.00"), "impressions": 10, "purchases": 2, "reach": 9}),
    ("spend-json-number", _row(spend=12.5), {"spend": Decimal("12.5")}),
    ("counts-json-numbers", _row(impressions=10, clicks=1, reach=9), {"impressions": 10, "clicks": 1, "reach": 9}),
    ("spend-null", _row(spend=None), {"spend": Decimal(0)}),
    ("missing-optional-fields", _row(reach=_DROP, actions=_DROP, action_values=_DROP, clicks=_DROP, adset_id=_DROP),
     {"reach": None, "purchases": 0, "purchase_value": Decimal(0), "clicks": 0, "adset_id": None}),
    ("fallback-purchase-type", _row(actions=[{"action_type": "purchase", "value": "3"}]), {"purchases": 3}),
]  # fmt: skip


@sqlite_only()
@pytest.mark.parametrize(("case", "row", "expect"), ACCEPTED_ROWS, ids=[c[0] for c in ACCEPTED_ROWS])
def test_meta_row_with_extra_fields_or_json_numbers_is_read_exactly(
    meta_env: MetaEnv, case: str, row: dict[str, Any], expect: dict[str, Any]
) -> None:
    env = meta_env
    _meta_seed(env)
    env.script(MARCH_5_AD, _rows([row]))
    _, act1 = _meta_run(env)
    assert (act1.status, act1.error) == ("success", None)
    (fact,) = rows_where(env.engine, "fact_meta_daily", ad_account_id=ACT_1, date=date(2026, 3, 5))
    assert {k: fact[k] for k in expect} == expect
    (raw,) = rows_where(
        env.engine, "meta_insights_raw", ad_account_id=ACT_1, level="ad", date=date(2026, 3, 5)
    )
    assert raw["payload"] == json.loads(json.dumps(row))  # verbatim, extra fields included
    (mart,) = rows_where(env.engine, "daily_meta_metrics", ad_account_id=ACT_1, date=date(2026, 3, 5))
    assert mart["spend"] == fact["spend"] and mart["ads"] == 1


# -- Empty, huge and future days ------------------------------------------------------------------


def test_meta_empty_day_replaces_the_day_without_error(meta_env: MetaEnv) -> None:
    """Meta answers no rows for 5 March (no delivery): no error; the day is replaced by nothing —
    its old raw rows, facts and mart row leave (a mart row needs facts or an account-level row)
    and daily_summary has no row for it; 4 and 6 March are new."""
    env = meta_env
    _meta_seed(env)
    # No delivery on 5 March: no ad-level rows, and the account level of 4-6 March (one call) has
    # the world's rows of 4 and 6 March only.
    account_rows = [
        {"account_currency": "USD", "spend": str(t.account_spend), "date_start": t.date.isoformat(),
         "date_stop": t.date.isoformat()}
        for t in env.graph.sim.truth.meta_daily(ACT_1, META_DAYS[0], META_DAYS[-1], statuses=ACT_1_FILTER)
        if t.date.isoformat() != MARCH_5
    ]  # fmt: skip
    env.script(MARCH_5_AD, _rows([]))
    env.script(f"{ACT_1} account 2026-03-04", scripted_answer(200, {"data": account_rows}))
    _, act1 = _meta_run(env)
    assert (act1.status, act1.error) == ("success", None)
    assert _meta_day(env.engine, ACT_1, env.act1.store_id, date(2026, 3, 5)) == {
        "raw": [], "facts": [], "mart": [], "summary": [],
    }  # fmt: skip
    run = last_sync_run(env.engine, env.act1.connection_id)
    assert run["dates"] == ["2026-03-04", "2026-03-05", "2026-03-06"] and run["status"] == "success"
    _assert_days(env, {}, new={date(2026, 3, 4), date(2026, 3, 6)}, days=[date(2026, 3, 4), date(2026, 3, 6)])


@pytest.mark.parametrize("warehouse_url", ["sqlite", "postgres"], indirect=True)
def test_meta_huge_page_is_written_whole(meta_env: MetaEnv) -> None:
    """2,500 ad rows in ONE page (5x the requested limit) are all written, once."""
    env = meta_env
    rows = [_row(ad_id=f"ad{n}", spend="0.01") for n in range(2500)]
    env.script(MARCH_5_AD, scripted_answer(200, {"data": rows}))
    result = env.run_dates([date(2026, 3, 5)], connection_id=env.act1.connection_id)
    assert result.report.failed == []
    facts = rows_where(env.engine, "fact_meta_daily", ad_account_id=ACT_1)
    assert len(facts) == 2500 and sum(f["spend"] for f in facts) == Decimal("25.00")
    (mart,) = rows_where(env.engine, "daily_meta_metrics", ad_account_id=ACT_1)
    assert (mart["ads"], mart["spend"]) == (2500, Decimal("25.00"))


@sqlite_only()
def test_meta_future_dates_are_skipped_without_a_call(meta_env: MetaEnv) -> None:
    """Now is 10 March 02:00 UTC: 9 March in Los Angeles, 10 March in Berlin. 10 and 11 March
    are the future for act_1, 11 March for act_2: skipped, no API call, nothing written, no error."""
    env = meta_env
    result = env.run_dates([date(2026, 3, 10), date(2026, 3, 11)])
    assert result.report.failed == []
    assert [r.ad_level_day for r in env.requests(ACT_1) if r.ad_level_day] == []
    assert [r.ad_level_day for r in env.requests(ACT_2) if r.ad_level_day] == ["2026-03-10"]
    assert {(f["ad_account_id"], f["date"]) for f in rows_where(env.engine, "fact_meta_daily")} == {
        (ACT_2, date(2026, 3, 10))
    }


# -- A connection disconnected in the middle of a run ---------------------------------------------
#
# `adspipe disconnect` while a run is between two days. Each day stays one unit (no partial day),
# the status stays `disconnected` (a rejected token afterwards must not turn it into
# `needs_reauth`), and the next run leaves the connection alone. The other connections sync.


@pytest.mark.parametrize("token_revoked", [False, True], ids=["token-kept", "token-revoked"])
@pytest.mark.parametrize("warehouse_url", ["sqlite", "postgres"], indirect=True)
def test_meta_connection_disconnected_between_two_days(meta_env: MetaEnv, token_revoked: bool) -> None:
    env = meta_env
    old = _meta_seed(env)
    rejected = meta_error(400, 190, "Error validating access token", 463)

    def disconnect() -> Any:
        """When act_1's ad level of 5 March is asked for (in-process, before the answer)."""
        with env.engine.begin() as conn:
            conns.disconnect(conn, env.act1.connection_id)
        return rejected if token_revoked else None  # uninstalling the app revokes the token too

    env.script(MARCH_5_AD, disconnect)
    _, act1 = _meta_run(env)
    connection = connection_row(env.engine, env.act1.connection_id)
    assert (connection["status"], connection["status_reason"]) == ("disconnected", "disconnected by user")
    if token_revoked:
        assert act1.status == "failed"
        assert f"{ACT_1}: Meta HTTP 400, code 190/463: Error validating access token" in act1.error
        _assert_days(env, old, new={date(2026, 3, 4)})
    else:  # the run in flight finishes its days, each whole
        assert (act1.status, act1.error) == ("success", None)
        _assert_days(env, old, new=set(META_DAYS))
    mark = env.mark()
    nxt = env.run_dates()
    assert [o.connection.account_id for o in nxt.report.outcomes] == [ACT_2]
    assert env.requests(ACT_1, after=mark) == []
