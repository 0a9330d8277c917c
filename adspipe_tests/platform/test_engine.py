"""The sync engine: the per-connection loop and the per-day loop every platform runs in."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.counters import SyncStats
from adspipe.errors import AuthError, DayUnavailable, PermanentApiError, SyncFailed, TransientApiError
from adspipe.platform.engine import REAUTH_HINT, ConnectionRun, SyncResult, commit_days, run_connections
from adspipe.warehouse import connections as conns
from adspipe.warehouse.connections import Connection
from adspipe.warehouse.schema import sync_runs

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
TOKEN = "shpat_engine0123456789"


@dataclass
class DayRun(ConnectionRun):
    written: list[date] = field(default_factory=list)

    def committed(self) -> set[date]:
        return set(self.written)


def _connections(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[Connection]:
    monkeypatch.setenv("E_TOKEN", TOKEN)
    with engine.begin() as db:
        a, _ = conns.connect(
            db, store="S", platform="shopify", account_id="a.myshopify.com", token_env="E_TOKEN"
        )
        b, _ = conns.connect(
            db, store="S", platform="shopify", account_id="b.myshopify.com", token_env="E_TOKEN"
        )
    return [a, b]


def _run(connection: Connection | None = None) -> DayRun:
    return DayRun(connection or Connection(1, 1, "S", "shopify", "x", "env:E", "active", None, None, None, None,
                                           date(2026, 1, 1)))  # type: ignore[arg-type]  # fmt: skip


def test_a_failed_day_fails_alone_and_the_connection_fails_naming_it() -> None:
    run, after = _run(), []

    def fetch(day: date) -> date:
        if day == D2:
            raise TransientApiError("HTTP 503")
        return day

    with pytest.raises(
        TransientApiError, match=r"^1 of 3 day\(s\) failed \(2026-03-02\); 2026-03-02: HTTP 503$"
    ):
        commit_days(
            run, [D1, D2, D3], fetch, lambda day, got: run.written.append(got), after=lambda: after.append(1)
        )
    assert (run.written, run.planned, run.failed_days, after) == (
        [D1, D3],
        [D1, D2, D3],
        {D2: "HTTP 503"},
        [],
    )


def test_an_unavailable_day_fails_alone_and_after_runs_once_all_committed() -> None:
    run, after = _run(), []
    with pytest.raises(
        TransientApiError, match=r"1 of 2 day\(s\) failed \(2026-03-01\); 2026-03-01: no scope"
    ):
        commit_days(run, [D1, D2], lambda d: (_ for _ in ()).throw(DayUnavailable("no scope")) if d == D1 else d,
                    lambda day, got: run.written.append(got))  # fmt: skip
    ok = _run()
    commit_days(
        ok, [D1, D2], lambda d: d, lambda day, got: ok.written.append(got), after=lambda: after.append(2)
    )
    assert (run.written, ok.written, after) == ([D2], [D1, D2], [2])


def test_a_refused_request_stops_the_connections_remaining_days() -> None:
    run = _run()

    def fetch(day: date) -> date:
        if day == D2:
            raise PermanentApiError("bad request")
        return day

    with pytest.raises(PermanentApiError):
        commit_days(run, [D1, D2, D3], fetch, lambda day, got: run.written.append(got), read_ahead=True)
    assert run.written == [D1] and run.failed_days == {}


def test_read_ahead_fetches_the_next_day_in_one_other_thread_while_a_day_is_written() -> None:
    run, fetchers, written = _run(), set(), []
    next_fetched = {D2: threading.Event(), D3: threading.Event()}

    def fetch(day: date) -> date:
        fetchers.add(threading.get_ident())
        if day in next_fetched:
            next_fetched[day].set()
        return day

    def write(day: date, got: date) -> None:
        following = day.replace(day=day.day + 1)
        if following in next_fetched:  # the next day is read while this one is written
            assert next_fetched[following].wait(timeout=10)
        written.append(got)

    commit_days(run, [D1, D2, D3], fetch, write, read_ahead=True)
    assert written == [D1, D2, D3] and len(fetchers) == 1 and threading.get_ident() not in fetchers
    serial, threads = _run(), set()
    commit_days(serial, [D1, D2], lambda d: threads.add(threading.get_ident()) or d, lambda d, g: None)
    assert threads == {threading.get_ident()}  # without read-ahead every fetch is the caller's


def test_run_connections_records_each_outcome_and_failed_dates(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _connections(engine, monkeypatch)

    def work(run: DayRun, stats: SyncStats) -> None:
        run.window = (D1, D3)
        if run.connection.connection_id == b.connection_id:
            raise AuthError(f"HTTP 401 for token {TOKEN}")
        run.written += [D1, D2, D3]
        stats.rows, stats.dates = 3, {D1, D2, D3}

    result: SyncResult[DayRun] = run_connections(
        engine, "shopify", "engine_job", DayRun, work, window=lambda c: (D1, D1), settle_window=True
    )
    assert [o.status for o in result.report.outcomes] == ["success", "failed"]
    assert result.failed_dates([D1, D2, D3]) == [D1, D2, D3]  # b committed none of them
    assert result.committed([D1, D2, D3]) == [] and list(result.touched()) == [D1, D2, D3]
    assert [r.connection.account_id for r in result.succeeded] == ["a.myshopify.com"]
    failure = result.report.failure("engine_job")
    assert isinstance(failure, SyncFailed) and failure.failed_connections == [b.connection_id]
    assert not failure.retryable and str(failure).startswith("engine_job: 1 of 2 connection(s) failed:\n")
    with engine.connect() as db:
        rows = db.execute(sa.select(sync_runs).order_by(sync_runs.c.sync_run_id)).all()
        status = conns.get_connection(db, b.connection_id).status
    assert [(r.status, r.window_start, r.window_end, r.rows) for r in rows] == [
        ("success", D1, D3, 3), ("failed", D1, D3, 0),
    ]  # fmt: skip
    assert rows[1].error == f"HTTP 401 for token ***; {REAUTH_HINT}" and status == "needs_reauth"
