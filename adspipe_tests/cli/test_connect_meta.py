"""`adspipe connect meta` options: attribution windows, ad status filter, app secret variable."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from adspipe.cli import main
from adspipe.warehouse import connections as conns
from adspipe.warehouse import db, schema

SECRET = "app-secret-never-stored-0123456789"
BASE = ["connect", "meta", "--store", "Acme", "--ad-account", "act_123", "--token-env", "META_TOKEN"]


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("META_TOKEN", "EAAcanary0123456789")
    monkeypatch.setenv("META_APP_SECRET", SECRET)


def test_meta_options_are_validated_then_stored(warehouse_url: str) -> None:
    result = CliRunner().invoke(
        main,
        [*BASE, "--attribution-windows", "7d_click, 1d_view", "--ad-statuses", "active,PAUSED",
         "--app-secret-env", "META_APP_SECRET"],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with db.get_engine(warehouse_url).connect() as conn:
        found = conns.find_connection(conn, platform="meta", account_id="act_123")
        raw = conn.execute(sa.select(schema.connections)).one()
    assert found is not None
    assert found.attribution_windows == ("7d_click", "1d_view")
    assert found.ad_statuses == ("ACTIVE", "PAUSED")
    assert (found.app_secret_ref, found.app_secret()) == ("env:META_APP_SECRET", SECRET)
    assert SECRET not in repr(tuple(raw)) and SECRET not in result.output  # only the reference is stored
    # `connections list` shows them (the variable's name, never the secret).
    listed = CliRunner().invoke(main, ["connections", "list", "--json"], catch_exceptions=False)
    assert json.loads(listed.output)[0]["options"] == {
        "attribution_windows": "7d_click,1d_view", "ad_statuses": "ACTIVE,PAUSED", "app_secret": "env:META_APP_SECRET",
    }  # fmt: skip
    table = CliRunner(env={"COLUMNS": "250"}).invoke(main, ["connections", "list"], catch_exceptions=False)
    assert (
        "attribution_windows=7d_click,1d_view ad_statuses=ACTIVE,PAUSED app_secret=env:META_APP_SECRET"
        in table.output
    )
    assert SECRET not in listed.output + table.output
    # Without the options: the defaults (account's window, every status, no proof).
    again = CliRunner().invoke(main, BASE, catch_exceptions=False)
    assert again.exit_code == 0
    with db.get_engine(warehouse_url).connect() as conn:
        plain = conns.find_connection(conn, platform="meta", account_id="act_123")
    assert plain is not None
    assert (plain.attribution_windows, plain.ad_statuses, plain.app_secret_ref) == (None, None, None)
    listed = CliRunner().invoke(main, ["connections", "list", "--json"], catch_exceptions=False)
    assert json.loads(listed.output)[0]["options"] == {}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--attribution-windows", "1d_click,7d_click"], "at most one click window: 1d_click, 7d_click nest"),
        (["--attribution-windows", "7d_view"], "7d_view are no longer returned by Meta"),
        (["--attribution-windows", "3d_click"], "unknown attribution window(s) 3d_click"),
        (["--attribution-windows", ","], "--attribution-windows must name at least one window"),
        (["--ad-statuses", "ACTIVE,RUNNING"], "--ad-statuses: unknown ad effective_status RUNNING"),
        (["--ad-statuses", " "], "statuses must name at least one"),
        (["--app-secret-env", "NOT_SET_ANYWHERE"], "environment variable NOT_SET_ANYWHERE is not set"),
        (["--app-secret-env", "BAD-NAME"], "--app-secret-env must be an environment variable name"),
    ],
)
def test_bad_meta_options_are_one_clear_line_and_write_nothing(
    warehouse_url: str, extra: list[str], message: str
) -> None:
    result = CliRunner().invoke(main, [*BASE, *extra])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output
    engine = db.get_engine(warehouse_url)
    if "connections" in sa.inspect(engine).get_table_names():
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(schema.connections)).scalar_one() == 0
