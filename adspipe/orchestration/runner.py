"""Run one unit of work per connection, isolated: one failing account never stops the others.

Every connection gets a `sync_runs` row opened before its work and closed after it with the
outcome: success, failed (with a sanitized error) or rate_limited. A rejected token marks the
connection `needs_reauth`. After all connections ran, the caller gets the outcomes and decides
whether the Dagster step fails (it does when any connection failed, naming them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import dagster as dg
from sqlalchemy.engine import Engine

from adspipe.errors import AuthError, RateLimitExhausted, TransientApiError
from adspipe.gc_tuning import bulk_load
from adspipe.platform import registry
from adspipe.platform.secrets import sanitize
from adspipe.warehouse import connections as conns
from adspipe.warehouse.connections import Connection
from adspipe.warehouse.sync_runs import SyncStats, finish_sync_run, start_sync_run

REAUTH_HINT = "re-authorize it: export a valid token and run `adspipe connect` again"


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

    def raise_if_failed(self, job: str) -> None:
        if not self.failed:
            return
        lines = [
            f"{o.connection.account_id} (connection {o.connection.connection_id}): {o.error}"
            for o in self.failed
        ]
        rate_limited = all(o.status == "rate_limited" for o in self.failed)
        raise dg.Failure(
            description=f"{job}: {len(self.failed)} of {len(self.outcomes)} connection(s) failed:\n"
            + "\n".join(lines),
            metadata={"failed_connections": [o.connection.connection_id for o in self.failed]},
            # A bad token or a missing scope will not fix itself; a rate limit may.
            allow_retries=rate_limited,
        )


def days_failed_error(failed_days: Mapping[date, str], planned: int) -> TransientApiError:
    """The error of a connection's unit whose failed days did not stop its other days (each day
    is its own unit, like one job per day): how many, which, and the first one's cause."""
    first_day, first_error = next(iter(failed_days.items()))
    listed = ", ".join(d.isoformat() for d in failed_days)
    return TransientApiError(
        f"{len(failed_days)} of {planned} day(s) failed ({listed}); {first_day}: {first_error}"
    )


def run_per_connection(
    engine: Engine,
    job: str,
    targets: Sequence[Connection],
    work: Callable[[Connection, SyncStats], None],
    *,
    window: tuple[date, date] | None = None,
    dagster_run_id: str | None = None,
    log: Callable[[str], None] | None = None,
) -> RunReport:
    """Call `work(connection, stats)` for each target; `work` fills `stats` as it commits."""
    report = RunReport()
    for connection in targets:
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
                patterns=registry.token_patterns(),
                api_version=stats.api_version, api_version_served=stats.api_version_served,
            )  # fmt: skip
        if log and safe_error:
            log(f"{job}: {connection.account_id}: {status}: {safe_error}")
        report.outcomes.append(Outcome(connection, status, stats, safe_error))
    return report


def _secrets(connection: Connection) -> list[str]:
    try:
        return connection.secret_values()
    except conns.TokenUnavailable:
        return []
