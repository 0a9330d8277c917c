"""`adspipe connect / connections list / disconnect / db upgrade`, on SQLite and Postgres."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from adspipe.cli import main
from adspipe.warehouse import db, schema

TOKEN = "shpat_canary_do_not_store_0123456789"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _counts(url: str) -> dict[str, int]:
    engine = db.get_engine(url)
    names = set(sa.inspect(engine).get_table_names())
    with engine.connect() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in schema.metadata.sorted_tables
            if t.name in names
        }


@pytest.fixture
def token_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SHOP_TOKEN", TOKEN)
    monkeypatch.setenv("META_TOKEN", "EAAcanary0123456789")
    return "SHOP_TOKEN"


def test_connect_list_reconnect_disconnect(warehouse_url: str, token_env: str) -> None:
    first = run(
        "connect", "shopify", "--store", "Acme", "--shop", "acme.myshopify.com", "--token-env", "SHOP_TOKEN"
    )
    assert first.exit_code == 0, first.output
    assert "connected shopify acme.myshopify.com for store 'Acme' as connection 1" in first.output
    meta = run(
        "connect", "meta", "--store", "Acme", "--ad-account", "act_123", "--token-env", "META_TOKEN",
        "--attribution-window-days", "3",
    )  # fmt: skip
    assert meta.exit_code == 0, meta.output
    again = run(
        "connect", "shopify", "--store", "Acme", "--shop", "ACME.myshopify.com", "--token-env", "META_TOKEN"
    )
    assert again.exit_code == 0 and "updated shopify acme.myshopify.com" in again.output
    counts = _counts(warehouse_url)
    assert counts["stores"] == 1 and counts["connections"] == 2

    listed = run("connections", "list", "--json")
    assert listed.exit_code == 0
    import json

    rows = json.loads(listed.output)
    assert [
        (r["id"], r["platform"], r["account"], r["status"], r["window_days"], r["token"]) for r in rows
    ] == [
        (1, "shopify", "acme.myshopify.com", "active", None, "env:META_TOKEN"),
        (2, "meta", "act_123", "active", 3, "env:META_TOKEN"),
    ]
    table = run("connections", "list", "--store", "Acme")
    assert "acme.myshopify.com" in table.output and "act_123" in table.output

    gone = run("disconnect", "2")
    assert gone.exit_code == 0 and "disconnected meta act_123" in gone.output
    with db.get_engine(warehouse_url).connect() as conn:
        status = conn.execute(
            sa.select(schema.connections.c.status).where(schema.connections.c.connection_id == 2)
        )
        assert status.scalar_one() == "disconnected"
    # Re-connecting a disconnected account re-activates the same row.
    back = run("connect", "meta", "--store", "Acme", "--ad-account", "act_123", "--token-env", "META_TOKEN")
    assert back.exit_code == 0 and "updated meta act_123" in back.output
    assert _counts(warehouse_url)["connections"] == 2


def test_tokens_are_never_stored(warehouse_url: str, token_env: str) -> None:
    assert (
        run(
            "connect", "shopify", "--store", "A", "--shop", "a.myshopify.com", "--token-env", "SHOP_TOKEN"
        ).exit_code
        == 0
    )
    engine = db.get_engine(warehouse_url)
    with engine.connect() as conn:
        for table in schema.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                assert TOKEN not in repr(tuple(row)), table.name


def test_store_name_with_sql_and_shell_metacharacters_is_stored_verbatim(
    warehouse_url: str, token_env: str
) -> None:
    name = 'Bobby\'); DROP TABLE stores;-- $(rm -rf /) `id` "q"'
    result = run(
        "connect", "shopify", "--store", name, "--shop", "bobby.myshopify.com", "--token-env", "SHOP_TOKEN"
    )
    assert result.exit_code == 0, result.output
    with db.get_engine(warehouse_url).connect() as conn:
        assert conn.execute(sa.select(schema.stores.c.name)).scalar_one() == name


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["connect", "shopify", "--store", "A", "--shop", "acme.com", "--token-env", "SHOP_TOKEN"],
         "shop must look like NAME.myshopify.com (got 'acme.com')"),
        (["connect", "shopify", "--store", "A", "--shop", "a;rm -rf.myshopify.com", "--token-env", "SHOP_TOKEN"],
         "shop must look like NAME.myshopify.com"),
        (["connect", "meta", "--store", "A", "--ad-account", "123", "--token-env", "SHOP_TOKEN"],
         "ad account must look like act_1234567890 (got '123')"),
        (["connect", "meta", "--store", "A", "--ad-account", "act_1", "--token-env", "SHOP_TOKEN", "--attribution-window-days", "0"],
         "attribution window must be between 1 and 28 days (got 0)"),
        (["connect", "meta", "--store", "A", "--ad-account", "act_1", "--token-env", "SHOP_TOKEN", "--attribution-window-days", "29"],
         "attribution window must be between 1 and 28 days (got 29)"),
        (["connect", "shopify", "--store", "A", "--shop", "a.myshopify.com", "--token-env", "NOT_SET_ANYWHERE"],
         "environment variable NOT_SET_ANYWHERE is not set"),
        (["connect", "shopify", "--store", "A", "--shop", "a.myshopify.com", "--token-env", "BAD-NAME"],
         "--token-env must be an environment variable name"),
        (["connect", "shopify", "--store", "   ", "--shop", "a.myshopify.com", "--token-env", "SHOP_TOKEN"],
         "store name must not be empty"),
        (["disconnect", "42"], "no connection with id 42"),
        # Read-only on an empty database: nothing is created, the fix is named (was: "no store named").
        (["connections", "list", "--store", "Nope"], "no adspipe schema at"),
        (["connections", "list", "--store", "Nope"], "run `adspipe db upgrade` to create it"),
    ],
)  # fmt: skip
def test_bad_input_is_one_clear_line_and_writes_nothing(
    warehouse_url: str, token_env: str, args: list[str], message: str
) -> None:
    before = _counts(warehouse_url)
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output
    assert {k: v for k, v in _counts(warehouse_url).items() if v} == {k: v for k, v in before.items() if v}


def test_unreachable_database_is_a_clear_error_without_password(
    monkeypatch: pytest.MonkeyPatch, token_env: str
) -> None:
    monkeypatch.setenv("ADSPIPE_DATABASE_URL", "postgresql+psycopg://app:hunter2secret@127.0.0.1:1/warehouse")
    db.get_engine.cache_clear()
    result = CliRunner().invoke(
        main, ["connect", "shopify", "--store", "A", "--shop", "a.myshopify.com", "--token-env", "SHOP_TOKEN"]
    )
    assert result.exit_code == 1
    assert result.output.strip().startswith(
        "error: cannot reach the warehouse at postgresql+psycopg://app:***@127.0.0.1:1/"
    )
    assert "hunter2secret" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_db_upgrade_reports_revision(warehouse_url: str) -> None:
    result = run("db", "upgrade")
    assert result.exit_code == 0
    assert result.output.strip().endswith(f"is at revision {db.head_revision(db.get_engine(warehouse_url))}")
    assert set(schema.ALL_TABLES) <= set(sa.inspect(db.get_engine(warehouse_url)).get_table_names())
