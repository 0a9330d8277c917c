"""Throwaway PostgreSQL databases: the one place the tests, the end-to-end stacks and the
benchmarks create and drop them.

`scratch_database(admin_url, prefix)` creates a uniquely named database on the server the admin
URL points at, yields its URL (migrated to head with `migrate=True`) and drops it afterwards,
even when connections are still open (`WITH (FORCE)`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.warehouse import db

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def admin_engine(admin_url: str) -> Engine | None:
    """An AUTOCOMMIT engine on the server, or None when it does not answer within 5 s."""
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return engine
    except Exception:
        engine.dispose()
        return None


@contextmanager
def scratch_database(
    admin_url: str, prefix: str, *, migrate: bool = False, drivername: str | None = None
) -> Iterator[str]:
    """A new database named `<prefix>_<random>` (prefix lower-cased, cut at 50 characters); its URL uses
    `drivername` when given (Dagster's instance storage wants plain `postgresql`)."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix.lower().replace('-', '_')[:50]}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(admin_url).set(database=name)
    if drivername:
        url = url.set(drivername=drivername)
    rendered = url.render_as_string(hide_password=False)
    try:
        if migrate:
            db.upgrade(db.get_engine(rendered))
        yield rendered
    finally:
        if migrate:
            db.get_engine(rendered).dispose()
            db.get_engine.cache_clear()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
