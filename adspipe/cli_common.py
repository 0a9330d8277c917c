"""What every `adspipe` command shares: one-line errors, the warehouse (read-only or writing), tables.

Read-only commands (connections list, checks run, sync's validation, report) never create a file,
a schema or a migration: a missing or outdated warehouse is an error that says to run
`adspipe db upgrade` and which warehouse was looked at, so a wrong folder or a wrong URL shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from adspipe import settings
from adspipe.warehouse import connections as conns
from adspipe.warehouse import db


class CliError(click.ClickException):
    """A one-line error: `error: <message>` on stderr, exit code 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL (None for other databases and in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def demo_hint() -> str:
    """Where the demo's warehouse is, when the default one is in use and the demo has run."""
    demo = sqlite_path(settings.demo_database_url())
    if settings.database_url_is_default() and demo is not None and demo.exists():
        return f"; the demo's warehouse is used with `export {settings.DATABASE_URL_ENV}={settings.demo_database_url()}`"
    return ""


def _missing_schema(url: str, why: str) -> CliError:
    return CliError(
        f"{why} at {db.safe_url(url)}: run `adspipe db upgrade` to create it, or set "
        f"{settings.DATABASE_URL_ENV} to your warehouse{demo_hint()}"
    )


@contextmanager
def warehouse(*, write: bool) -> Iterator[Engine]:
    """The warehouse engine; unreachable or broken databases become one-line errors.

    write=True (db upgrade, connect, disconnect) migrates to head first; write=False requires the
    schema at head and touches nothing.
    """
    url = settings.database_url()
    try:
        if not write:
            path = sqlite_path(url)
            if path is not None and not path.exists():  # connecting would create the file
                raise _missing_schema(url, "no warehouse")
        engine = db.get_engine(url)
        if write:
            db.ensure_schema(engine)
        else:
            db.check_reachable(engine)
            current, head = db.current_revision(engine), db.head_revision(engine)
            if current is None:
                raise _missing_schema(url, "no adspipe schema")
            if current != head:
                raise CliError(
                    f"the warehouse at {db.safe_url(url)} is at revision {current}, this adspipe needs "
                    f"{head}: run `adspipe db upgrade`"
                )
        yield engine
    except db.WarehouseUnavailable as exc:
        raise CliError(str(exc)) from None
    except conns.ConnectionInputError as exc:
        raise CliError(str(exc)) from None
    except SQLAlchemyError as exc:
        raise CliError(f"warehouse error at {db.safe_url(url)}: {type(exc).__name__}") from None
    except ModuleNotFoundError as exc:
        raise CliError(f"cannot use database URL {db.safe_url(url)}: missing driver {exc.name}") from None


def console() -> Any:
    """A rich console as wide as the terminal (or $COLUMNS). Piped or captured output has no width
    to fit: there it is wide enough that no figure is cut to an ellipsis (rich would assume 80)."""
    from rich.console import Console

    terminal = Console()
    if terminal.is_terminal or settings.env_value("COLUMNS"):
        return terminal
    return Console(width=PIPED_WIDTH)


PIPED_WIDTH = 200
