"""`adspipe connect --from-file connections.csv`: many connections at once, all or none.

The file is CSV with a header line. Columns: `store`, `platform`, `account`, `token_env` (the name
of the variable holding the token; Google Ads: the refresh token), `window` (Meta: attribution
window days, 1-28; Google Ads: conversion lag days; Shopify: empty), and optionally the platforms'
own options: `attribution_windows`, `ad_statuses`, `app_secret_env` (Meta; lists separated by
`;` or `,` inside quotes), `login_customer_id` (Google Ads). An empty cell means the default.

Every line is validated first, with the same checks as `adspipe connect <platform>` (the account
shape from the platform registry; the token variable must be set). One bad line, or the same
account twice, and nothing is connected: every problem is printed with its line number. Otherwise
all lines are connected in one transaction; the new-connection sensors then queue their fills.
Unlike `adspipe connect shopify`, no call is made to a shop (the scope check runs with the fill).
"""

from __future__ import annotations

import csv
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import click

from adspipe import settings
from adspipe.cli_common import CliError, warehouse
from adspipe.marts import connections as store_changes
from adspipe.platform import registry
from adspipe.warehouse import connections as conns
from adspipe.warehouse import db

REQUIRED = ("store", "platform", "account", "token_env", "window")
MAX_LISTED = 20  # problems printed; the count says how many more


@dataclass
class Line:
    number: int  # the line in the file (the header is line 1)
    platform: str
    store: str
    account: str
    token_env: str
    window: int | None
    options: dict[str, Any] = field(default_factory=dict)


def whole_number(raw: str, column: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise conns.ConnectionInputError(f"{column} must be a whole number (got {raw!r})") from None


def listed(raw: str) -> str:
    """A list cell: `;` or `,` between the items."""
    return raw.replace(";", ",")


# A platform's line check: (token variable, window or None, its options) or ConnectionInputError.
LineCheck = Callable[[dict[str, str]], tuple[str, int | None, dict[str, Any]]]


def _platform_cli(name: str) -> Any:
    """The platform's cli module: `FILE_OPTIONS` (its option columns) and `file_line` (its checks,
    the same as its `connect` command's)."""
    return importlib.import_module(f"adspipe.{name}.cli")


@cache
def _option_columns() -> dict[str, tuple[str, ...]]:
    """Each platform's option columns (read once, not once a line)."""
    return {p.name: tuple(_platform_cli(p.name).FILE_OPTIONS) for p in registry.platforms()}


def parse_line(number: int, row: dict[str, str | None]) -> Line:
    cells = {key.strip(): (value or "").strip() for key, value in row.items() if key}
    spec = registry.get(cells.get("platform", ""))
    option_columns = _option_columns()
    for column in {c for cols in option_columns.values() for c in cols}:
        cells.setdefault(column, "")
        if cells[column] and column not in option_columns[spec.name]:
            raise conns.ConnectionInputError(f"{column} is not an option of {spec.name}")
    store = conns.validate_store_name(cells["store"])
    account = spec.validate_account(cells["account"])
    check: LineCheck = _platform_cli(spec.name).file_line
    token_env, window, options = check(cells)
    return Line(number, spec.name, store, account, token_env, window, options)


def read_lines(path: Path) -> list[Line]:
    """Every line validated; `CliError` listing each bad line (and duplicates) otherwise."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise CliError(
            f"{path}: line 1: the header lacks column(s) {', '.join(missing)} (needs {', '.join(REQUIRED)})"
        )
    lines: list[Line] = []
    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for row in reader:
        number = reader.line_num
        if None in row:
            problems.append(f"line {number}: more cells than the header has columns")
            continue
        if not any((v or "").strip() for v in row.values()):
            continue  # a blank line
        try:
            line = parse_line(number, row)
        except (conns.ConnectionInputError, ValueError, registry.UnknownPlatform) as exc:
            message = exc.args[0] if isinstance(exc, registry.UnknownPlatform) else str(exc)
            problems.append(f"line {number}: {message}")
            continue
        first = seen.setdefault((line.platform, line.account), number)
        if first != number:
            problems.append(f"line {number}: {line.platform} {line.account} is already on line {first}")
            continue
        lines.append(line)
    if problems:
        listed = problems[:MAX_LISTED]
        more = f"\n… and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise CliError(
            f"{path}: nothing connected; {len(problems)} bad line(s):\n" + "\n".join(listed) + more
        )
    if not lines:
        raise CliError(f"{path}: no connections in the file")
    return lines


def connect_from_file(path: Path) -> None:
    lines = read_lines(path)
    created = 0
    with warehouse(write=True) as engine, engine.begin() as conn:  # one transaction: all or none
        for line in lines:
            _, new = store_changes.connect(
                conn, store=line.store, platform=line.platform, account_id=line.account,
                token_env=line.token_env, attribution_window_days=line.window, **line.options,
            )  # fmt: skip
            created += new
    click.echo(
        f"connected {len(lines)} account(s) from {path} ({created} new, {len(lines) - created} updated) "
        f"(warehouse {db.safe_url(settings.database_url())}); their 7-day fills are queued by the "
        "new-connection sensors"
    )
