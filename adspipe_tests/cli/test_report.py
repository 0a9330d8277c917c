"""`adspipe report`: daily_summary values as they are in the table; the demo's 7 full days."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from adspipe.cli import main
from adspipe.warehouse import connections as conns
from adspipe.warehouse.schema import daily_summary
from adspipe_tests.ci import require_module

NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)
TODAY = NOW.date()


def _day(
    store_id: int, day: date, orders: int, net: str, spend: str, *, ccy: bool = False
) -> dict[str, object]:
    spend_d = Decimal(spend)
    return {
        "store_id": store_id, "date": day, "currency": "USD", "orders": orders,
        "gross_revenue": Decimal(net) + 10, "refunds": Decimal(10), "net_revenue": Decimal(net),
        "aov": (Decimal(net) / orders).quantize(Decimal("0.0001")) if orders else None, "spend": spend_d,
        "impressions": 1000, "clicks": 40, "purchases": 3, "purchase_value": Decimal("150"),
        "roas": (Decimal(150) / spend_d).quantize(Decimal("0.0001")) if spend_d and not ccy else None,
        "mer": (Decimal(net) / spend_d).quantize(Decimal("0.0001")) if spend_d and not ccy else None,
        "currency_mismatch": ccy, "timezone_mismatch": False,
    }  # fmt: skip


@pytest.fixture
def summary(engine: sa.engine.Engine, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    """Days TODAY-9 … TODAY for store S (TODAY partial), one other store's day that must never show."""
    monkeypatch.setenv("ADSPIPE_NOW", NOW.isoformat())
    monkeypatch.setenv("TOK", "x")
    with engine.begin() as conn:
        s, _ = conns.connect(
            conn, store="S", platform="shopify", account_id="s.myshopify.com", token_env="TOK"
        )
        o, _ = conns.connect(
            conn, store="Other", platform="shopify", account_id="o.myshopify.com", token_env="TOK"
        )
        rows = [
            _day(s.store_id, TODAY - timedelta(days=i), 10 + i, f"{500 + 7 * i}.25", "0" if i == 3 else f"{100 + i}.5",
                 ccy=i == 5)
            for i in range(10)
        ]  # fmt: skip
        conn.execute(
            sa.insert(daily_summary), [*rows, _day(o.store_id, TODAY - timedelta(days=2), 99, "9.00", "1")]
        )
    return sorted(rows, key=lambda r: r["date"])  # type: ignore[arg-type, return-value]


def _report(*args: str) -> str:
    result = CliRunner().invoke(main, ["report", *args])
    assert result.exit_code == 0, result.output + result.stderr
    return result.stdout


def test_csv_has_the_tables_values(summary: list[dict[str, object]]) -> None:
    text = _report(
        "--store",
        "S",
        "--from",
        str(TODAY - timedelta(days=4)),
        "--to",
        str(TODAY - timedelta(days=1)),
        "--format",
        "csv",
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    expected = [r for r in summary if TODAY - timedelta(days=4) <= r["date"] <= TODAY - timedelta(days=1)]  # type: ignore[operator]
    assert [r["date"] for r in rows] == [str(e["date"]) for e in expected]
    for got, want in zip(rows, expected, strict=True):
        assert int(got["orders"]) == want["orders"]
        assert Decimal(got["net_revenue"]) == want["net_revenue"]
        assert Decimal(got["spend"]) == want["spend"]
        assert (got["mer"] == "") == (want["mer"] is None)
        if want["mer"] is not None:
            assert Decimal(got["mer"]) == want["mer"]
        assert got["flags"] == ("ccy" if want["currency_mismatch"] else "")


def test_json_and_markdown_exports(summary: list[dict[str, object]], tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    result = CliRunner().invoke(main, ["report", "--store", "S", "--format", "json", "--output", str(out)])
    assert result.exit_code == 0 and "wrote 7 day(s)" in result.stderr
    records = json.loads(out.read_text())
    # Default range: the 7 full days ending yesterday; today's partial day is left out.
    assert [r["date"] for r in records] == [str(TODAY - timedelta(days=i)) for i in range(7, 0, -1)]
    assert (
        records[-1]["net_revenue"] == 507.25 and records[-1]["spend"] == 101.5 and records[-1]["orders"] == 11
    )
    markdown = _report("--store", "S", "--format", "markdown").splitlines()
    assert markdown[0].startswith("| date | currency | orders |") and len(markdown) == 2 + 7
    assert f"| {TODAY - timedelta(days=3)} | USD | 13 | " in "\n".join(markdown)
    assert "| — |" in "\n".join(markdown)  # no spend: MER undefined


def test_table_fits_100_columns_and_totals_are_ratios_of_sums(
    summary: list[dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    text = _report("--store", "S")
    assert max(len(line) for line in text.splitlines()) <= 100, text
    shown = [r for r in summary if TODAY - timedelta(days=7) <= r["date"] < TODAY]  # type: ignore[operator]
    net = sum(Decimal(str(r["net_revenue"])) for r in shown)
    spend = sum(Decimal(str(r["spend"])) for r in shown)
    assert f"net revenue {net:.2f}, spend {spend:.2f}" in text
    assert f"MER {net / spend:.2f}" in text
    assert "ccy = an ad account's currency differs" in text and "— = not defined" in text  # legend


def test_piped_output_cuts_no_figure(
    summary: list[dict[str, object]], engine: sa.engine.Engine, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # No terminal and no $COLUMNS (scripts/demo.sh in a pipe, a log, CI): rich would assume 80
    # columns and cut the demo's eleven columns to ellipses.
    from adspipe import demo

    monkeypatch.delenv("COLUMNS", raising=False)
    demo._print_summary(engine, 7)
    out = capsys.readouterr().out
    assert "…" not in out, out
    shown = [r for r in summary if TODAY - timedelta(days=7) <= r["date"] < TODAY]  # type: ignore[operator]
    for row in shown:
        assert f"{Decimal(str(row['net_revenue'])):.2f}" in out


def test_unknown_store_and_bad_dates_are_one_line_errors(summary: list[dict[str, object]]) -> None:
    result = CliRunner().invoke(main, ["report", "--store", "Nope"])
    assert result.exit_code == 1 and "no store named 'Nope' (stores: 'Other', 'S')" in result.output
    result = CliRunner().invoke(main, ["report", "--store", "S", "--from", "20260301"])
    assert result.exit_code == 1 and "--from must be a date as YYYY-MM-DD (got '20260301')" in result.output
    result = CliRunner().invoke(main, ["report"])
    assert result.exit_code == 1 and "give --store (stores: Other, S)" in result.output


def test_chart_needs_matplotlib(
    summary: list[dict[str, object]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the extra were not installed
    result = CliRunner().invoke(main, ["report", "--store", "S", "--chart", str(tmp_path / "c.png")])
    assert result.exit_code == 1
    assert "--chart needs matplotlib: pip install 'adspipe[chart]'" in result.output
    assert not (tmp_path / "c.png").exists()


def test_chart_is_a_png(summary: list[dict[str, object]], tmp_path: Path) -> None:
    require_module("matplotlib", "the chart extra: pip install -e '.[chart]'")
    path = tmp_path / "c.png"
    result = CliRunner().invoke(main, ["report", "--store", "S", "--format", "csv", "--chart", str(path)])
    assert result.exit_code == 0, result.output
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_the_demo_prints_7_full_days_ending_yesterday(
    summary: list[dict[str, object]], engine: sa.engine.Engine, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from adspipe import demo

    assert demo.window(7) == (TODAY - timedelta(days=7), TODAY - timedelta(days=1))
    monkeypatch.setenv("COLUMNS", "100")
    demo._print_summary(engine, 7)
    out = capsys.readouterr().out
    shown = {str(TODAY - timedelta(days=i)) for i in range(11) if str(TODAY - timedelta(days=i)) in out}
    assert shown == {str(TODAY - timedelta(days=i)) for i in range(1, 8)}, out
    assert max(len(line) for line in out.splitlines()) <= 100, out
