"""`adspipe report`: daily_summary for a store and a date range, printed, exported or charted."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from adspipe.cli_common import CliError, console, warehouse


@click.command()
@click.option("--store", default=None, help="Store name [default: the only store, when there is one].")
@click.option("--from", "from_", metavar="YYYY-MM-DD", help="First day [default: 7 days before yesterday].")
@click.option("--to", "to", metavar="YYYY-MM-DD", help="Last day, inclusive [default: yesterday].")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "markdown"]),
    default="table",
    show_default=True,
)
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE instead of printing."
)
@click.option(
    "--chart",
    "chart_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also draw net revenue, spend and MER per day as a PNG (needs the `chart` extra).",
)
def report(
    store: str | None,
    from_: str | None,
    to: str | None,
    fmt: str,
    output: Path | None,
    chart_path: Path | None,
) -> None:
    """Print or export daily_summary for one store (read-only: never creates or changes a schema)."""
    from adspipe import clock
    from adspipe import summary_report as sr
    from adspipe.orchestration.sync_request import SyncInputError, parse_day

    yesterday = clock.now().date() - timedelta(days=1)
    try:
        end = parse_day(to, "--to") if to else yesterday
        start = parse_day(from_, "--from") if from_ else end - timedelta(days=6)
    except SyncInputError as exc:
        raise CliError(str(exc)) from None
    if end < start:
        raise CliError(f"--to {end} is before --from {start}")
    with warehouse(write=False) as engine, engine.connect() as conn:
        if store is None:
            names = sr.store_names(conn)
            if len(names) != 1:
                raise CliError(f"give --store (stores: {', '.join(names) or 'none yet'})")
            store = names[0]
        try:
            frame = sr.summary_frame(conn, store, start, end)
        except sr.ReportError as exc:
            raise CliError(str(exc)) from None
    title = f"daily_summary — {store}, {start} to {end}"
    if chart_path is not None:
        try:
            sr.chart(frame, chart_path, title)
        except sr.ReportError as exc:
            raise CliError(str(exc)) from None
    if fmt == "table":
        if output is not None:
            raise CliError("--output needs --format csv, json or markdown")
        if frame.empty:
            click.echo(
                f"no daily_summary rows for {store!r} from {start} to {end}: run `adspipe sync` for those days"
            )
        else:
            console().print(sr.rich_table(frame, title))
            sums = sr.totals(frame)
            click.echo(
                f"total: {sums['days']} day(s), {sums['orders']} orders, net revenue {sums['net_revenue']:.2f}, "
                f"spend {sums['spend']:.2f}, ROAS {_ratio(sums['roas'])}, MER {_ratio(sums['mer'])}"
            )
    else:
        text = sr.render(frame, fmt)
        if output is None:
            click.echo(text, nl=False)
        else:
            output.write_text(text)
            click.echo(f"wrote {len(frame)} day(s) to {output}", err=True)
    if chart_path is not None:
        click.echo(f"chart: {chart_path}", err=True)


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"
