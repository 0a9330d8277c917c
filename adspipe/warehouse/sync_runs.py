"""The `sync_runs` log: one row per connection per job run, opened at start, closed at the end."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adspipe.counters import SyncStats
from adspipe.warehouse.schema import sync_runs

MAX_ERROR_CHARS = 2_000
# A row still `running` this long after it started belongs to a run that was killed (SIGKILL, OOM,
# a lost machine) before it could close it: every job ends far sooner (time budgets, wait budgets).
ABANDONED_AFTER = timedelta(hours=6)
ABANDONED_ERROR = (
    "abandoned: the run ended without closing this record (killed or crashed); its committed data stays"
)

# Shapes any API's secrets take; each platform adds its tokens' shapes (its spec's token_patterns,
# passed in by adspipe.platform.secrets: the warehouse knows no platform).
_GENERIC_PATTERNS = [
    (re.compile(r"(access_token=)[^&\s\"']+", re.I), r"\1***"),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.I), r"\1***"),
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1***@"),  # passwords in URLs
]


def sanitize_error(
    message: str, secrets: Iterable[str] = (), patterns: Iterable[tuple[re.Pattern[str], str]] = ()
) -> str:
    """A message safe to store or log: known secrets, the generic secret shapes and the given
    token `patterns` masked, length capped."""
    text = message
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    for pattern, replacement in (*patterns, *_GENERIC_PATTERNS):
        text = pattern.sub(replacement, text)
    return text[:MAX_ERROR_CHARS]


def start_sync_run(
    conn: Connection,
    *,
    job: str,
    connection_id: int | None,
    window_start: date | None = None,
    window_end: date | None = None,
    dagster_run_id: str | None = None,
) -> int:
    started = datetime.now(UTC)
    # Close what a killed run of the same job and connection left open, so `running` stays true.
    conn.execute(
        sa.update(sync_runs)
        .where(
            sync_runs.c.job == job,
            sync_runs.c.connection_id == connection_id,
            sync_runs.c.status == "running",
            sync_runs.c.started_at < started - ABANDONED_AFTER,
        )
        .values(status="failed", finished_at=started, error=ABANDONED_ERROR)
    )
    result = conn.execute(
        sa.insert(sync_runs)
        .values(
            job=job,
            connection_id=connection_id,
            status="running",
            window_start=window_start,
            window_end=window_end,
            started_at=started,
            dagster_run_id=dagster_run_id,
        )
        .returning(sync_runs.c.sync_run_id)
    )
    return int(result.scalar_one())


def finish_sync_run(
    conn: Connection,
    sync_run_id: int,
    *,
    status: str,
    stats: SyncStats,
    error: str | None = None,
    secrets: Iterable[str] = (),
    patterns: Iterable[tuple[re.Pattern[str], str]] = (),
    window: tuple[date, date] | None = None,
    api_version: str | None = None,
    api_version_served: str | None = None,
) -> None:
    """Close a run's row. `window`: the dates the run settled on (e.g. once the account's time zone
    was read), replacing the one it opened with; `api_version` is the version asked for,
    `api_version_served` the one the platform's response headers named (they differ when a pinned
    version left support)."""
    if status not in ("success", "failed", "rate_limited"):
        raise ValueError(f"unknown sync status {status!r}")
    settled = {"window_start": window[0], "window_end": window[1]} if window else {}
    conn.execute(
        sa.update(sync_runs)
        .where(sync_runs.c.sync_run_id == sync_run_id)
        .values(
            **settled,
            status=status,
            finished_at=datetime.now(UTC),
            rows=stats.rows,
            api_calls=stats.api_calls,
            throttled=stats.throttled,
            throttle_wait_s=round(stats.throttle_wait_s, 3),
            dates=sorted(d.isoformat() for d in stats.dates),
            error=sanitize_error(error, secrets, patterns) if error else None,
            api_version=api_version,
            api_version_served=api_version_served,
        )
    )


@dataclass(frozen=True)
class Coverage:
    """Which local dates of one connection were read whole: from the first successful fill on
    (the fill reads whole days, and the cursor-driven fresh job then sees every later order), plus
    every successful partition range. Dates outside it were only ever seen order by order."""

    from_date: date | None
    ranges: tuple[tuple[date, date], ...]

    def covers(self, day: date) -> bool:
        if self.from_date is not None and day >= self.from_date:
            return True
        return any(start <= day <= end for start, end in self.ranges)


def coverage(conn: Connection, fill_job: str, range_job: str) -> dict[int, Coverage]:
    """Coverage per connection id (connections with no successful fill or range are absent)."""
    rows = conn.execute(
        sa.select(
            sync_runs.c.connection_id, sync_runs.c.job, sync_runs.c.window_start, sync_runs.c.window_end
        ).where(
            sync_runs.c.job.in_([fill_job, range_job]),
            sync_runs.c.status == "success",
            sync_runs.c.window_start.is_not(None),
        )
    ).all()
    fills: dict[int, date] = {}
    ranges: dict[int, list[tuple[date, date]]] = {}
    for row in rows:
        if row.job == fill_job:
            fills[row.connection_id] = min(row.window_start, fills.get(row.connection_id, row.window_start))
        else:
            ranges.setdefault(row.connection_id, []).append(
                (row.window_start, row.window_end or row.window_start)
            )
    return {
        cid: Coverage(fills.get(cid), tuple(sorted(ranges.get(cid, ())))) for cid in set(fills) | set(ranges)
    }
