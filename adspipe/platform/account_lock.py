"""Agency mode's locks across runs: one holder per account, at most K accounts at once.

In the default (serial) mode the Dagster pool of the platform (limit 1) already keeps every call
serial. In agency mode the pool's limit is raised so several runs proceed, and these locks keep
the guarantees the pool gave: no two runs call one account at the same time, and at most K
accounts are being called across every run and process.

The locks die with their holder, so a crashed run never keeps an account or a slot:
- Postgres warehouse: session-level advisory locks on a connection held open for the duration
  (released by the server when that connection ends, also when the process is killed). They work
  across machines: every run worker shares the warehouse.
- SQLite warehouse (one machine): `flock` on files next to the database (released by the kernel
  when the process ends).

Waiting for an account is first come, first served (Postgres queues lock waiters; a file lock
waiter retries every `poll_s`), so an account's runs keep their order closely enough: each run
syncs its own days oldest first.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

POLL_S = 0.05
_NAMESPACE = 0x6164_7370  # "adsp": the first advisory-lock key of every adspipe lock


def lock_key(name: str) -> int:
    """A stable signed 32-bit key for a lock name (Postgres' two-key advisory lock form)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big", signed=True)


class _Holder:
    """Named locks taken one after the other, all released together when the holder closes."""

    def lock(self, name: str) -> None:
        raise NotImplementedError

    def try_lock(self, name: str) -> bool:
        raise NotImplementedError


_LOCK = sa.text("SELECT pg_advisory_lock(:ns, :key)")  # waits; returns void
_TRY_LOCK = sa.text("SELECT pg_try_advisory_lock(:ns, :key)")


class _PgHolder(_Holder):
    """Advisory locks on one connection (so one account's turn costs one pooled connection)."""

    def __init__(self, db: sa.Connection) -> None:
        self.db = db

    def _call(self, statement: sa.TextClause, name: str) -> bool:
        got = self.db.execute(statement, {"ns": _NAMESPACE, "key": lock_key(name)})
        value = got.scalar()
        self.db.commit()
        return value is None or bool(value)

    def lock(self, name: str) -> None:
        self._call(_LOCK, name)

    def try_lock(self, name: str) -> bool:
        return self._call(_TRY_LOCK, name)


class _FileHolder(_Holder):
    def __init__(self, folder: Path, stack: ExitStack) -> None:
        self.folder, self.stack = folder, stack
        folder.mkdir(parents=True, exist_ok=True)

    def _flock(self, name: str, flags: int) -> bool:
        path = self.folder / f"{hashlib.sha256(name.encode()).hexdigest()[:24]}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, flags)
        except BlockingIOError:
            os.close(fd)
            return False
        self.stack.callback(os.close, fd)  # closing the descriptor releases the lock
        return True

    def lock(self, name: str) -> None:
        self._flock(name, fcntl.LOCK_EX)

    def try_lock(self, name: str) -> bool:
        return self._flock(name, fcntl.LOCK_EX | fcntl.LOCK_NB)


@functools.cache
def _lock_engine(url: sa.URL) -> Engine:
    """Connections for locks only, outside the warehouse engine's pool: K account turns held for
    whole accounts must not take the connections the same threads' day commits need."""
    return sa.create_engine(url, poolclass=NullPool)


@contextmanager
def _holder(engine: Engine) -> Iterator[_Holder]:
    if engine.dialect.name == "postgresql":
        with _lock_engine(engine.url).connect() as db:
            try:
                yield _PgHolder(db)
            finally:
                db.execute(sa.text("SELECT pg_advisory_unlock_all()"))
                db.commit()
        return
    database = engine.url.database
    folder = Path(database).resolve().parent if database and database != ":memory:" else Path("/tmp")
    with ExitStack() as stack:
        yield _FileHolder(folder / ".adspipe-locks", stack)


@contextmanager
def account_turn(
    engine: Engine,
    platform: str,
    account: str,
    slots: int,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[int]:
    """Hold `account` alone (waiting for any other holder), then one of `slots` shared slots
    (waiting for one to free up); yields the slot's number. Both are released on exit or crash."""
    with _holder(engine) as holder:
        holder.lock(f"{platform}:account:{account}")
        while True:
            for slot in range(slots):
                if holder.try_lock(f"{platform}:slot:{slot}"):
                    yield slot
                    return
            sleep(POLL_S)
