"""Shared fixtures: a warehouse on SQLite and on a real Postgres for every warehouse test.

Postgres: one database per test session (and per xdist worker), dropped at the end; each test gets
its own schema in it through `search_path`. Outside CI a missing server skips the Postgres half
with a reason; in CI (`CI=true`) it fails the run.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.warehouse import db
from adspipe_tests.scratch_pg import DEFAULT_ADMIN_URL, admin_engine, scratch_database

pytest_plugins = [
    name for name in ("adspipe_tests.simulator_fixtures",) if importlib.util.find_spec(name) is not None
]

PG_ADMIN_URL = os.environ.get("ADSPIPE_TEST_PG_URL", DEFAULT_ADMIN_URL)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def pg_database_url(worker_id: str) -> Iterator[str]:
    """A fresh Postgres database for this session (or xdist worker), dropped afterwards."""
    admin = admin_engine(PG_ADMIN_URL)
    if admin is None:
        message = f"PostgreSQL is not reachable at {db.safe_url(PG_ADMIN_URL)}"
        if IN_CI:
            pytest.fail(f"{message}; CI requires it", pytrace=False)
        pytest.skip(f"{message}; set ADSPIPE_TEST_PG_URL or start the server")
    admin.dispose()
    with scratch_database(PG_ADMIN_URL, f"adspipe_test_{worker_id}") as url:
        yield url


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    return str(getattr(request.config, "workerinput", {}).get("workerid", "main"))


@pytest.fixture(params=["sqlite", "postgres"])
def warehouse_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """An empty warehouse URL (no tables yet), exported as ADSPIPE_DATABASE_URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('wh') / 'warehouse.db'}"
        schema = None
    else:
        base = request.getfixturevalue("pg_database_url")
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        url = f"{base}?options={quote(f'-csearch_path={schema}')}"
    monkeypatch.setenv("ADSPIPE_DATABASE_URL", url)
    try:
        yield url
    finally:
        engine = db.get_engine(url)
        engine.dispose()
        db.get_engine.cache_clear()
        if schema:
            admin = sa.create_engine(request.getfixturevalue("pg_database_url"), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


@pytest.fixture
def engine(warehouse_url: str) -> Engine:
    """A warehouse at the head migration, on SQLite and on Postgres."""
    eng = db.get_engine(warehouse_url)
    db.upgrade(eng)
    return eng
