"""Engines and migrations for the warehouse."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine, make_url

from adspipe import jsonio, settings

_MIGRATIONS = Path(__file__).with_name("migrations")


class WarehouseUnavailable(RuntimeError):
    """The warehouse database cannot be reached; the message never includes a password."""


def safe_url(url: str) -> str:
    """The URL with its password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@functools.cache
def get_engine(url: str | None = None) -> Engine:
    """One engine per URL per process. SQLite files get their folder, WAL and a busy timeout."""
    url = url or settings.database_url()
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["json_serializer"] = jsonio.dumps  # psycopg takes the bytes as they are
        # The warehouse's statements are short and set-based: JIT compilation (on by default,
        # triggered by a long history's cost estimates) cost ~45 % of a mart rebuild (P4).
        # connect_args win over the URL's own `options` (e.g. a search_path): keep those too.
        given = parsed.query.get("options")
        given = " ".join(given) if isinstance(given, tuple) else given
        kwargs["connect_args"] = {"connect_timeout": 10, "options": f"{given or ''} -c jit=off".strip()}
    engine = sa.create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        sa.event.listen(engine, "connect", _on_sqlite_connect)
    return engine


def check_reachable(engine: Engine) -> None:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # the driver's own message may echo the DSN: keep it out
        raise WarehouseUnavailable(
            f"cannot reach the warehouse at {safe_url(str(engine.url.render_as_string(hide_password=False)))} "
            f"({type(exc).__name__})"
        ) from None


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    check_reachable(engine)
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def ensure_schema(engine: Engine) -> None:
    """Run the migrations if the database is not at head (what every writing job calls first)."""
    check_reachable(engine)
    if current_revision(engine) != head_revision(engine):
        command.upgrade(alembic_config(engine), "head")
