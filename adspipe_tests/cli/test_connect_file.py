"""`adspipe connect --from-file`: every line validated first, then all connected or none."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from adspipe.cli import main
from adspipe.warehouse import connections as conns
from adspipe.warehouse import db

HEADER = "store,platform,account,token_env,window,attribution_windows,ad_statuses,login_customer_id"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_TOKEN", "shpat_file_0123456789")
    monkeypatch.setenv("META_TOKEN", "EAAfile0123456789")
    monkeypatch.setenv("GADS_REFRESH", "1//refresh-file")


def agency_file(tmp_path: Path, stores: int = 200, bad: dict[int, str] | None = None) -> Path:
    """Two lines per store (its shop and one ad account): `stores * 2` connections."""
    lines = [HEADER]
    for i in range(stores):
        lines.append(f"Brand {i:03d},shopify,brand{i:03d}.myshopify.com,SHOP_TOKEN,,,,")
        lines.append(f"Brand {i:03d},meta,act_{10_000 + i},META_TOKEN,{1 + i % 28},,,")
    for number, text in (bad or {}).items():
        lines[number - 1] = text
    path = tmp_path / "connections.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _connections(url: str) -> list[conns.Connection]:
    with db.get_engine(url).connect() as conn:
        return conns.list_connections(conn)


def test_four_hundred_good_lines_connect_at_once(warehouse_url: str, tmp_path: Path) -> None:
    assert run("db", "upgrade").exit_code == 0
    path = agency_file(tmp_path)
    started = time.perf_counter()
    result = run("connect", "--from-file", str(path))
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert f"connected 400 account(s) from {path} (400 new, 0 updated)" in result.output
    found = _connections(warehouse_url)
    assert len(found) == 400 and {c.store_name for c in found} == {f"Brand {i:03d}" for i in range(200)}
    meta = {c.account_id: c for c in found if c.platform == "meta"}
    assert meta["act_10000"].attribution_window_days == 1 and meta["act_10199"].attribution_window_days == 4
    assert elapsed < 30, f"{elapsed:.1f} s"  # an upper bound only; bench P9 measures it
    again = run("connect", "--from-file", str(path))  # the same file again: re-authorizes, adds nothing
    assert "(0 new, 400 updated)" in again.output and len(_connections(warehouse_url)) == 400


def test_one_bad_line_connects_nothing_and_names_the_line(warehouse_url: str, tmp_path: Path) -> None:
    assert run("db", "upgrade").exit_code == 0
    path = agency_file(tmp_path, bad={237: "Brand 117,meta,117,META_TOKEN,7,,,"})
    result = run("connect", "--from-file", str(path))
    assert result.exit_code == 1
    assert "nothing connected; 1 bad line(s):" in result.output
    assert "line 237: " in result.output and "act_" in result.output
    assert _connections(warehouse_url) == []


def test_every_kind_of_bad_line_is_named(warehouse_url: str, tmp_path: Path) -> None:
    assert run("db", "upgrade").exit_code == 0
    path = tmp_path / "mixed.csv"
    path.write_text(
        "\n".join(
            [
                HEADER,
                "Good,meta,act_1,META_TOKEN,7,7d_click;1d_view,ACTIVE;PAUSED,",  # 2: fine
                "Acme,tiktok,123,META_TOKEN,,,,",  # 3
                "Acme,meta,act_2,META_TOKEN,40,,,",  # 4
                "Acme,meta,act_3,NOT_SET_ANYWHERE,7,,,",  # 5
                "Acme,meta,act_1,META_TOKEN,7,,,",  # 6: act_1 again
                "Acme,shopify,acme.myshopify.com,SHOP_TOKEN,7,,,",  # 7: a window for a shop
                "Acme,shopify,acme2.myshopify.com,SHOP_TOKEN,,7d_click,,",  # 8: a Meta option
                "Acme,meta,act_4,META_TOKEN,7,7d_view,,",  # 9: a removed window
                "Acme,google_ads,123-456-7890,GADS_REFRESH,200,,,",  # 10
                ",meta,act_5,META_TOKEN,7,,,",  # 11: no store
                "Acme,meta,act_6,META_TOKEN,seven,,,",  # 12
                "Acme,meta,act_7,META_TOKEN,7,,,,extra",  # 13
                "",
                "Acme,google_ads,123-456-7891,GADS_REFRESH,30,,,111-222-3333",  # 15: fine
            ]
        )
        + "\n"
    )
    result = run("connect", "--from-file", str(path))
    assert result.exit_code == 1
    problems = [line for line in result.output.splitlines() if line.startswith("line ")]
    assert [p.split(":")[0] for p in problems] == [f"line {n}" for n in range(3, 14)]
    text = "\n".join(problems)
    assert "unknown platform 'tiktok'" in text
    assert "attribution window must be between 1 and 28 days (got 40)" in text
    assert "NOT_SET_ANYWHERE is not set" in text
    assert "meta act_1 is already on line 2" in text
    assert "window must be empty for a store platform" in text
    assert "attribution_windows is not an option of shopify" in text
    assert "7d_view" in text and "(got 200)" in text and "store name must not be empty" in text
    assert "window must be a whole number (got 'seven')" in text
    assert "line 13: more cells than the header has columns" in text
    assert _connections(warehouse_url) == []


def test_options_are_stored_and_a_header_without_a_column_is_refused(
    warehouse_url: str, tmp_path: Path
) -> None:
    assert run("db", "upgrade").exit_code == 0
    bad = tmp_path / "no_window.csv"
    bad.write_text("store,platform,account,token_env\nA,meta,act_1,META_TOKEN\n")
    refused = run("connect", "--from-file", str(bad))
    assert refused.exit_code == 1 and "line 1: the header lacks column(s) window" in refused.output
    good = tmp_path / "good.csv"
    good.write_text(
        f'{HEADER}\nA,meta,act_1,META_TOKEN,3,"7d_click,1d_view",ACTIVE;PAUSED,\n'
        "A,google_ads,123-456-7890,GADS_REFRESH,30,,,111-222-3333\n"
    )
    result = run("connect", "--from-file", str(good))
    assert result.exit_code == 0, result.output
    meta, gads = sorted(_connections(warehouse_url), key=lambda c: c.platform, reverse=True)
    assert (meta.attribution_window_days, meta.attribution_windows, meta.ad_statuses) == (
        3, ("7d_click", "1d_view"), ("ACTIVE", "PAUSED"),
    )  # fmt: skip
    assert (gads.platform, gads.attribution_window_days, gads.options["login_customer_id"]) == (
        "google_ads",
        30,
        "1112223333",
    )
    both = run("connect", "--from-file", str(good), "meta")
    assert both.exit_code != 0
    with db.get_engine(warehouse_url).connect() as conn:
        assert conn.execute(sa.text("select count(*) from connections")).scalar_one() == 2
