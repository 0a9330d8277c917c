"""`adspipe sync`: every invalid request is refused before anything is launched."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner, Result

from adspipe.cli import main
from adspipe.warehouse import connections as conns
from adspipe.warehouse import db

NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)
UNREACHABLE = "http://127.0.0.1:9"  # discard port: nothing listens


@pytest.fixture
def registered(warehouse_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    monkeypatch.setenv("ADSPIPE_NOW", NOW.isoformat())
    monkeypatch.setenv("TOK", "token-value")
    engine = db.get_engine(warehouse_url)
    db.upgrade(engine)
    with engine.begin() as conn:
        shop, _ = conns.connect(
            conn, store="S", platform="shopify", account_id="s.myshopify.com", token_env="TOK"
        )
        meta, _ = conns.connect(conn, store="S", platform="meta", account_id="act_1", token_env="TOK")
        gone, _ = conns.connect(conn, store="S", platform="meta", account_id="act_2", token_env="TOK")
        conns.disconnect(conn, gone.connection_id)
    return {"shop": shop.connection_id, "meta": meta.connection_id, "gone": gone.connection_id}


def sync(*args: str) -> Result:
    return CliRunner().invoke(main, ["sync", *args, "--dagster-url", UNREACHABLE])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["meta", "--from", "2026-03-10", "--to", "2026-03-01"], "--to 2026-03-01 is before --from 2026-03-10: nothing to sync"),
        (["meta", "--from", "2026-03-10", "--to", "2026-03-16"], "--to 2026-03-16 is after today (2026-03-15)"),
        (["meta", "--from", "2022-12-31", "--to", "2023-01-05"], "--from 2022-12-31 is before the first daily partition (2023-01-01)"),
        (["meta", "--from", "2026-02-30", "--to", "2026-03-01"], "--from must be a date as YYYY-MM-DD (got '2026-02-30')"),
        (["meta", "--from", "yesterday", "--to", "2026-03-01"], "--from must be a date as YYYY-MM-DD"),
        (["meta", "--from", "2026-03-01"], "give --from and --to (YYYY-MM-DD), or --last-7-days"),
        (["meta", "--last-7-days", "--from", "2026-03-01", "--to", "2026-03-02"], "use either --last-7-days or --from/--to"),
        (["meta", "--from", "2026-03-01", "--to", "2026-03-02", "--connection", "99"], "no connection with id 99"),
    ],
)  # fmt: skip
def test_invalid_requests_are_refused_before_launch(
    registered: dict[str, int], args: list[str], message: str
) -> None:
    result = sync(*args)
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {message}" or message in result.output, result.output
    assert "cannot reach Dagster" not in result.output  # refused before any launch attempt


def test_connection_of_other_platform_or_inactive_is_refused(registered: dict[str, int]) -> None:
    wrong = sync(
        "meta", "--from", "2026-03-01", "--to", "2026-03-02", "--connection", str(registered["shop"])
    )
    assert wrong.exit_code == 1
    assert f"connection {registered['shop']} is a shopify connection, not meta" in wrong.output
    gone = sync("meta", "--last-7-days", "--connection", str(registered["gone"]))
    assert (
        gone.exit_code == 1 and f"connection {registered['gone']} is disconnected, not active" in gone.output
    )


def test_unreachable_dagster_names_the_url(registered: dict[str, int]) -> None:
    result = sync("meta", "--from", "2026-03-01", "--to", "2026-03-02")
    assert result.exit_code == 1
    assert f"cannot reach Dagster at {UNREACHABLE}/graphql" in result.output
    assert len(result.output.strip().splitlines()) == 1
