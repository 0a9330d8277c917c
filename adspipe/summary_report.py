"""`daily_summary` for one store and a date range as a pandas frame: tables, exports, a chart.

Read-only: it selects from the mart and never writes. Amounts keep the warehouse's 4 decimals as
floats (the mart's Decimal values converted once); totals recompute ROAS and MER from the summed
amounts, so they are ratios of sums, not sums of ratios (docs/metrics.md).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adspipe.warehouse.schema import daily_summary, stores

COLUMNS = [
    "date", "currency", "orders", "gross_revenue", "refunds", "net_revenue", "aov",
    "spend", "impressions", "clicks", "purchases", "purchase_value", "roas", "mer", "flags",
]  # fmt: skip
MONEY = ["gross_revenue", "refunds", "net_revenue", "aov", "spend", "purchase_value", "roas", "mer"]
LEGEND = (
    "flags: ccy = an ad account's currency differs from the shop's, tz = its time zone differs "
    "(MER is then not computed); — = not defined (no spend that day, or flagged)"
)


class ReportError(ValueError):
    """The report cannot be made as asked; the message is for the user."""


def store_names(conn: Connection) -> list[str]:
    return [str(name) for (name,) in conn.execute(sa.select(stores.c.name).order_by(stores.c.name))]


def summary_frame(conn: Connection, store: str, start: date, end: date) -> pd.DataFrame:
    """One row per local date of the store's daily_summary in [start, end], oldest first."""
    store_id = conn.execute(sa.select(stores.c.store_id).where(stores.c.name == store)).scalar()
    if store_id is None:
        known = ", ".join(repr(n) for n in store_names(conn)) or "none yet"
        raise ReportError(f"no store named {store!r} (stores: {known})")
    rows = conn.execute(
        sa.select(daily_summary)
        .where(daily_summary.c.store_id == store_id, daily_summary.c.date.between(start, end))
        .order_by(daily_summary.c.date)
    ).mappings()
    records = []
    for row in rows:
        record = {c: row[c] for c in COLUMNS if c != "flags"}
        record["flags"] = " ".join(
            f for f, on in (("ccy", row["currency_mismatch"]), ("tz", row["timezone_mismatch"])) if on
        )
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=COLUMNS)
    for column in MONEY:
        frame[column] = pd.to_numeric(frame[column].map(lambda v: None if v is None else float(v)))
    for column in ("orders", "impressions", "clicks", "purchases"):
        frame[column] = frame[column].astype("int64")
    frame["date"] = frame["date"].map(lambda d: d.isoformat())
    return frame


def totals(frame: pd.DataFrame) -> dict[str, Any]:
    """The range's sums; ROAS and MER as ratios of the sums (None when spend is 0)."""
    spend = float(frame["spend"].sum())
    net = float(frame["net_revenue"].sum())
    orders = int(frame["orders"].sum())
    return {
        "days": len(frame),
        "orders": orders,
        "net_revenue": round(net, 2),
        "spend": round(spend, 2),
        "roas": round(float(frame["purchase_value"].sum()) / spend, 4) if spend else None,
        "mer": round(net / spend, 4) if spend else None,
    }


def to_markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured table (pandas' own needs the optional `tabulate`)."""
    head = "| " + " | ".join(frame.columns) + " |"
    rule = (
        "|" + "|".join("---" if c in ("date", "currency", "flags") else "---:" for c in frame.columns) + "|"
    )
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body]) + "\n"


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def render(frame: pd.DataFrame, fmt: str) -> str:
    if fmt == "csv":
        return str(frame.to_csv(index=False))
    if fmt == "json":
        return str(frame.to_json(orient="records", indent=2)) + "\n"
    if fmt == "markdown":
        return to_markdown(frame)
    raise ReportError(f"unknown format {fmt!r}")


def rich_table(frame: pd.DataFrame, title: str) -> Any:
    from rich.table import Table

    shown = ["date", "orders", "net_revenue", "spend", "purchases", "roas", "mer", "flags"]
    table = Table(title=title, caption=LEGEND)
    for column in shown:
        table.add_column(
            column, justify="left" if column in ("date", "flags") else "right", no_wrap=column == "date"
        )
    for row in frame[shown].itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    return table


def chart(frame: pd.DataFrame, path: Path, title: str) -> None:
    """Net revenue and spend per day (bars) with MER (line, right axis) as a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ReportError("--chart needs matplotlib: pip install 'adspipe[chart]'") from None
    fig, ax = plt.subplots(figsize=(10, 4.5))
    x = range(len(frame))
    width = 0.4
    ax.bar([i - width / 2 for i in x], frame["net_revenue"], width, label="net revenue")
    ax.bar([i + width / 2 for i in x], frame["spend"], width, label="spend")
    ax.set_xticks(list(x), list(frame["date"]), rotation=45, ha="right")
    ax.set_ylabel(f"amount ({frame['currency'].dropna().iloc[0] if frame['currency'].notna().any() else ''})")
    mer_axis = ax.twinx()
    mer_axis.plot(list(x), frame["mer"], color="black", marker="o", label="MER")
    mer_axis.set_ylabel("MER (net revenue / spend)")
    bars, bar_labels = ax.get_legend_handles_labels()
    line, line_labels = mer_axis.get_legend_handles_labels()
    ax.legend([*bars, *line], [*bar_labels, *line_labels], loc="upper left")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
