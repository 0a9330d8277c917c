"""One warehouse, found the same way by every command; read-only commands create nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from adspipe import settings
from adspipe.cli import main
from adspipe.cli_common import sqlite_path
from adspipe.warehouse import db

READ_ONLY = [
    ["connections", "list"],
    ["connections", "list", "--json"],
    ["checks", "run"],
    ["sync", "meta", "--from", "2026-03-01", "--to", "2026-03-02", "--dagster-url", "http://127.0.0.1:9"],
    ["report", "--store", "S", "--from", "2026-03-01", "--to", "2026-03-02"],
]


def test_the_default_warehouse_does_not_depend_on_the_current_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(settings.DATABASE_URL_ENV, raising=False)
    monkeypatch.delenv(settings.HOME_ENV, raising=False)
    root = settings.project_root()
    assert root is not None  # the tests run from the source checkout
    monkeypatch.chdir(tmp_path)
    assert settings.database_url() == f"sqlite:///{root / '.adspipe' / 'warehouse.db'}"
    assert settings.demo_database_url() == f"sqlite:///{root / '.adspipe' / 'demo.db'}"
    monkeypatch.setenv(settings.HOME_ENV, str(tmp_path / "home"))
    assert settings.database_url() == f"sqlite:///{tmp_path / 'home' / 'warehouse.db'}"


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: " ".join(a[:2]))
def test_read_only_commands_leave_an_empty_database_empty(warehouse_url: str, args: list[str]) -> None:
    path = sqlite_path(warehouse_url)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "run `adspipe db upgrade`" in lines[0]
    assert db.safe_url(warehouse_url) in lines[0]  # which warehouse was looked at
    if path is not None:
        assert not path.exists() and not path.parent.joinpath("warehouse.db-wal").exists()
    else:
        assert sa.inspect(db.get_engine(warehouse_url)).get_table_names() == []


def test_an_outdated_schema_is_refused_not_migrated(warehouse_url: str) -> None:
    engine = db.get_engine(warehouse_url)
    db.upgrade(engine, "0002")
    result = CliRunner().invoke(main, ["connections", "list"])
    assert result.exit_code == 1
    assert (
        f"is at revision 0002, this adspipe needs {db.head_revision(engine)}: run `adspipe db upgrade`"
        in (result.output)
    )
    assert db.current_revision(engine) == "0002"


def test_the_missing_warehouse_error_points_at_the_demos(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(settings.DATABASE_URL_ENV, raising=False)
    monkeypatch.setenv(settings.HOME_ENV, str(tmp_path))
    (tmp_path / "demo.db").touch()  # the demo ran; the default warehouse was never created
    result = CliRunner().invoke(main, ["connections", "list"])
    assert result.exit_code == 1
    assert f"no warehouse at sqlite:///{tmp_path / 'warehouse.db'}" in result.output
    assert f"export ADSPIPE_DATABASE_URL=sqlite:///{tmp_path / 'demo.db'}" in result.output
    assert not (tmp_path / "warehouse.db").exists()


def test_writing_commands_say_which_warehouse_they_wrote(
    warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOK", "value")
    result = CliRunner().invoke(
        main, ["connect", "shopify", "--store", "A", "--shop", "a.myshopify.com", "--token-env", "TOK"]
    )
    assert result.exit_code == 0, result.output
    assert f"as connection 1 (warehouse {db.safe_url(warehouse_url)})" in result.output
    listed = CliRunner().invoke(main, ["connections", "list", "--store", "Nope"])
    assert listed.exit_code == 1 and "no store named 'Nope'" in listed.output


def test_connections_table_fits_a_100_column_terminal(
    warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOK_WITH_A_RATHER_LONG_VARIABLE_NAME_FOR_THE_TOKEN", "value")
    runner = CliRunner()
    for i in range(3):
        assert (
            runner.invoke(
                main,
                ["connect", "meta", "--store", "A store with a long brand name", "--ad-account",
                 f"act_12345678901234{i}", "--token-env", "TOK_WITH_A_RATHER_LONG_VARIABLE_NAME_FOR_THE_TOKEN"],
            ).exit_code
            == 0
        )  # fmt: skip
    assert (
        runner.invoke(
            main,
            ["connect", "shopify", "--store", "A store with a long brand name", "--shop",
             "pioneer-botanicals-and-garden-supplies.myshopify.com", "--token-env",
             "TOK_WITH_A_RATHER_LONG_VARIABLE_NAME_FOR_THE_TOKEN"],
        ).exit_code
        == 0
    )  # fmt: skip
    monkeypatch.setenv("COLUMNS", "100")
    result = runner.invoke(main, ["connections", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"warehouse {db.safe_url(warehouse_url)}"
    assert max(len(line) for line in lines[1:]) <= 100, result.output
    assert "…" not in result.output  # folded, not cut off
    assert "│ 4  │" in result.output  # every row is there
