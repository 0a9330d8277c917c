"""The sync engine: the per-connection loop and the per-day loop every platform's jobs run in.

Plain Python (no Dagster): the Dagster layer turns a `SyncResult` into metadata and failures
(adspipe.orchestration.outcome). What the engine owns, for every platform:

- the per-connection loop (`run_connections`): one `sync_runs` row per connection, opened with
  the window known up front and closed with the outcome (success / failed / rate_limited), the
  API versions, a sanitized error and, when the platform asks, the window it settled on
  (`ConnectionRun.window`, e.g. once the account's time zone was read); a rejected token marks the connection
  `needs_reauth`; one failing connection never stops the others;
- the per-day loop (`commit_days`): each day its own unit (its own calls, its own commit), oldest
  first, optionally read one day ahead (one fetching thread: still one API call at a time); a day
  whose read fails (`TransientApiError` after the client's retries, `DayUnavailable`) fails
  alone; a bad token, a spent rate limit or a refused request stop the connection; the days that
  committed stay committed and the connection then fails naming the failed ones;
- the typed result (`SyncResult` of `ConnectionRun`s): committed and failed dates, per-day
  counters.

A platform supplies how to read (`fetch`) and write (`write`) one day, or its own loop over
pages (the fresh jobs), inside the `work` it hands to `run_connections`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Generic, Protocol, TypeVar

from sqlalchemy.engine import Engine

from adspipe.counters import DayStats, SyncStats
from adspipe.errors import AuthError, DayUnavailable, RateLimitExhausted, SyncFailed, TransientApiError
from adspipe.gc_tuning import bulk_load
from adspipe.platform import registry
from adspipe.platform.secrets import sanitize
from adspipe.warehouse import connections as conns
from adspipe.warehouse.connections import Connection
from adspipe.warehouse.sync_runs import finish_sync_run, start_sync_run

REAUTH_HINT = "re-authorize it: export a valid token and run `adspipe connect` again"

Log = Callable[[str], None]
Window = tuple[date, date]
P = TypeVar("P")  # one day as the platform fetched and prepared it


@dataclass
class ConnectionRun:
    """What one connection's run did (also when it stopped early). Platforms extend it."""

    connection: Connection
    planned: list[date] = field(default_factory=list)  # the days it set out to commit, when known
    window: Window | None = None  # recorded in sync_runs when the run closes
    failed_days: dict[date, str] = field(default_factory=dict)
    # Each day's own rows, calls and waits (see adspipe.counters).
    day_stats: dict[date, DayStats] = field(default_factory=dict)

    def committed(self) -> set[date]:
        """The local dates this connection committed."""
        raise NotImplementedError


R = TypeVar("R", bound=ConnectionRun)


@dataclass
class Outcome:
    connection: Connection
    status: str  # success | failed | rate_limited
    stats: SyncStats
    error: str | None = None


@dataclass
class RunReport:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def stats(self) -> SyncStats:
        total = SyncStats()
        for outcome in self.outcomes:
            total.merge(outcome.stats)
        return total

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != "success"]

    def failure(self, job: str) -> SyncFailed | None:
        """The error naming every failed connection, or None when all succeeded."""
        if not self.failed:
            return None
        lines = [
            f"{o.connection.account_id} (connection {o.connection.connection_id}): {o.error}"
            for o in self.failed
        ]
        return SyncFailed(
            f"{job}: {len(self.failed)} of {len(self.outcomes)} connection(s) failed:\n" + "\n".join(lines),
            [o.connection.connection_id for o in self.failed],
            # A bad token or a missing scope will not fix itself; a rate limit may.
            retryable=all(o.status == "rate_limited" for o in self.failed),
        )


class VersionInfo(Protocol):
    requested: str
    served: str | None


@dataclass
class SyncResult(Generic[R]):
    """One job run over its connections: the outcomes (sync_runs) and what each connection did."""

    job: str
    report: RunReport = field(default_factory=RunReport)
    runs: list[R] = field(default_factory=list)
    versions: VersionInfo | None = None  # the API version asked for / served, when the platform tracks it

    @property
    def succeeded(self) -> list[R]:
        ok = {o.connection.connection_id for o in self.report.outcomes if o.status == "success"}
        return [r for r in self.runs if r.connection.connection_id in ok]

    def failed_dates(self, requested: Sequence[date]) -> list[date]:
        """Requested dates some connection did not commit: a day failed, or the connection stopped
        (bad token, rate limit) before it. Dates a connection did not plan (past its local today)
        are not failures."""
        failed: set[date] = set()
        failed_ids = {o.connection.connection_id for o in self.report.failed}
        for run in self.runs:
            failed.update(run.failed_days)
            if run.connection.connection_id in failed_ids:
                failed.update(set(run.planned or requested) - run.committed())
        return sorted(failed & set(requested))

    def touched(self) -> dict[date, list[R]]:
        """Committed dates → the connections that committed them, oldest first."""
        out: dict[date, list[R]] = {}
        for run in self.runs:
            for day in sorted(run.committed()):
                out.setdefault(day, []).append(run)
        return dict(sorted(out.items()))

    def committed(self, requested: Sequence[date]) -> list[date]:
        """Requested dates committed by every connection that planned them."""
        failed = set(self.failed_dates(requested))
        return sorted(set(self.touched()) & set(requested) - failed)


def days_failed_error(failed_days: Mapping[date, str], planned: int) -> TransientApiError:
    """The error of a connection whose failed days did not stop its other days (each day is its
    own unit, like one job per day): how many, which, and the first one's cause."""
    first_day, first_error = next(iter(failed_days.items()))
    listed = ", ".join(d.isoformat() for d in failed_days)
    return TransientApiError(
        f"{len(failed_days)} of {planned} day(s) failed ({listed}); {first_day}: {first_error}"
    )


def commit_days(
    run: ConnectionRun,
    days: Sequence[date],
    fetch: Callable[[date], P],
    write: Callable[[date, P], None],
    *,
    read_ahead: bool = False,
    after: Callable[[], None] | None = None,
    log: Log | None = None,
    job: str = "",
) -> None:
    """Each day of `days` (oldest first) its own unit: `fetch(day)` reads and prepares it (API
    calls, checks, transforms), `write(day, prepared)` commits it in one transaction.

    `read_ahead`: the next day's fetch runs in one producer thread while this day is written.
    `after` runs once every day committed (e.g. a cursor). Failed days raise at the end."""
    run.planned = list(days)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{job or 'sync'}-read") as reader:
        ahead: Future[P] | None = reader.submit(fetch, days[0]) if read_ahead and days else None
        for i, day in enumerate(days):
            prepared: P | None = None
            try:
                prepared = ahead.result() if ahead is not None else fetch(day)
            except (TransientApiError, DayUnavailable) as exc:
                # Like one job per day: a day that failed after its retries does not stop the
                # next days; it stays visible as failed and re-runnable alone. A bad token, a spent
                # rate-limit budget or a rejected request stop the connection.
                run.failed_days[day] = str(exc)
                if log:
                    log(f"{job}: {run.connection.account_id} {day}: failed: {exc}")
            ahead = reader.submit(fetch, days[i + 1]) if read_ahead and i + 1 < len(days) else None
            if prepared is not None:
                write(day, prepared)
    if after and days and not run.failed_days:
        after()
    if run.failed_days:
        raise days_failed_error(run.failed_days, len(days))


def _secrets(connection: Connection) -> list[str]:
    try:
        return connection.secret_values()
    except conns.TokenUnavailable:
        return []


def run_one(
    engine: Engine,
    job: str,
    connection: Connection,
    work: Callable[[Connection, SyncStats], None],
    *,
    window: Window | None = None,
    closing_window: Callable[[], Window | None] = lambda: None,
    dagster_run_id: str | None = None,
    log: Log | None = None,
) -> Outcome:
    """`work(connection, stats)` between the opening and the closing of its sync_runs row."""
    with engine.begin() as db:
        sync_run_id = start_sync_run(
            db,
            job=job,
            connection_id=connection.connection_id,
            window_start=window[0] if window else None,
            window_end=window[1] if window else None,
            dagster_run_id=dagster_run_id,
        )
    stats = SyncStats()
    status, error = "success", None
    try:
        with bulk_load():
            work(connection, stats)
    except AuthError as exc:
        status, error = "failed", f"{exc}; {REAUTH_HINT}"
        with engine.begin() as db:
            reason = sanitize(str(exc), _secrets(connection))  # an error body may echo the token
            conns.mark_needs_reauth(db, connection.connection_id, reason)
    except RateLimitExhausted as exc:
        status, error = "rate_limited", str(exc)
    except Exception as exc:  # isolation: record it, carry on with the next connection
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    secrets = _secrets(connection)
    safe_error = sanitize(error, secrets) if error else None
    with engine.begin() as db:
        finish_sync_run(
            db, sync_run_id, status=status, stats=stats, error=safe_error, secrets=secrets,
            patterns=registry.token_patterns(), window=closing_window(),
            api_version=stats.api_version, api_version_served=stats.api_version_served,
        )  # fmt: skip
    if log and safe_error:
        log(f"{job}: {connection.account_id}: {status}: {safe_error}")
    return Outcome(connection, status, stats, safe_error)


def run_per_connection(
    engine: Engine,
    job: str,
    targets: Sequence[Connection],
    work: Callable[[Connection, SyncStats], None],
    *,
    window: Window | None = None,
    dagster_run_id: str | None = None,
    log: Log | None = None,
) -> RunReport:
    """Call `work(connection, stats)` for each target; `work` fills `stats` as it commits."""
    report = RunReport()
    for connection in targets:
        report.outcomes.append(
            run_one(engine, job, connection, work, window=window, dagster_run_id=dagster_run_id, log=log)
        )
    return report


def run_connections(
    engine: Engine,
    platform: str,
    job: str,
    new_run: Callable[[Connection], R],
    work: Callable[[R, SyncStats], None],
    *,
    connection_id: int | None = None,
    window: Callable[[Connection], Window | None] = lambda connection: None,
    dagster_run_id: str | None = None,
    log: Log | None = None,
    after_each: Callable[[R], None] | None = None,
    versions: VersionInfo | None = None,
    result: SyncResult[R] | None = None,
    settle_window: bool = False,
    workers: int = 1,
) -> SyncResult[R]:
    """Every active connection of `platform` (or the one named), each in its own sync_runs row:
    `window(connection)` opens it (from what is stored); with `settle_window`, `run.window`
    replaces it when the row closes (what the run settled on, e.g. once the account's time zone
    was read: the Shopify fill's window is its coverage). `result`: the one to fill, when the
    platform's callbacks need it while the connections run. `workers`: connections run at once
    (each on its own thread; `work` must keep one connection's calls serial)."""
    with engine.connect() as db:
        targets = conns.active_connections(db, platform, connection_id)
    result = result if result is not None else SyncResult(job, versions=versions)
    runs = [new_run(target) for target in targets]
    result.runs.extend(runs)

    def one(run: R) -> Outcome:
        return run_one(
            engine, job, run.connection, lambda _connection, stats: work(run, stats),
            window=window(run.connection),
            closing_window=(lambda: run.window) if settle_window else (lambda: None),
            dagster_run_id=dagster_run_id, log=log,
        )  # fmt: skip

    # workers > 1 (agency mode): up to that many connections at once, each on its own thread
    # (its own calls stay serial); outcomes keep the targets' order either way.
    for run, outcome in zip(runs, for_each(runs, one, workers), strict=True):
        result.report.outcomes.append(outcome)
        if after_each:
            after_each(run)
    return result


T = TypeVar("T")
U = TypeVar("U")


def for_each(items: Sequence[T], fn: Callable[[T], U], workers: int = 1) -> list[U]:
    """`fn` over `items` in order, at most `workers` at a time (1: on this thread, one by one);
    the results in the items' order."""
    if workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="connection") as pool:
        return list(pool.map(fn, items))
