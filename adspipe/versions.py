"""API versions as data: is a pinned version live, ending soon, or past its end?

Each platform's settings keep its versions' support ends as the vendor publishes them
(`SUPPORT_ENDS`). A pinned version is OK, WARN within `WARN_BEFORE` of its end (time to move to
a newer one), ERROR after it: Shopify then silently serves the oldest supported version instead,
Meta refuses the calls. The `api_version` asset checks and `adspipe doctor` both read this, and
add what the platforms answered with (`sync_runs.api_version_served`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adspipe.warehouse.schema import connections, sync_runs

WARN_BEFORE = timedelta(days=60)


@dataclass(frozen=True)
class VersionStatus:
    platform: str
    version: str
    ends: date | None
    severity: str  # OK | WARN | ERROR
    message: str


def version_status(
    platform: str,
    version: str,
    support_ends: Mapping[str, date | None],
    today: date,
    *,
    setting: str,
    recommended: str,
) -> VersionStatus:
    """The state of `version` on `today`; `setting` names where the user changes it, `recommended`
    is the version adspipe pins by default (the one its contract tests check)."""
    newest = recommended
    if version not in support_ends:
        return VersionStatus(
            platform, version, None, "WARN",
            f"{platform} API version {version} is not one adspipe knows (known: {', '.join(sorted(support_ends))}); "
            f"its support end is unknown — set {setting} to a known version, e.g. {newest}",
        )  # fmt: skip
    ends = support_ends[version]
    if ends is None:
        return VersionStatus(
            platform, version, None, "OK", f"{platform} API {version}: live, end not announced"
        )
    if today >= ends:
        return VersionStatus(
            platform, version, ends, "ERROR",
            f"{platform} API {version} left support on {ends.isoformat()}; set {setting} to {newest}",
        )  # fmt: skip
    if today >= ends - WARN_BEFORE:
        return VersionStatus(
            platform, version, ends, "WARN",
            f"{platform} API {version} leaves support on {ends.isoformat()} ({(ends - today).days} days); "
            f"move to {newest} with {setting}",
        )  # fmt: skip
    return VersionStatus(
        platform, version, ends, "OK", f"{platform} API {version}: supported until {ends.isoformat()}"
    )


@dataclass(frozen=True)
class ServedVersion:
    """The latest finished sync run of a platform whose answered version differs from the asked one."""

    platform: str
    requested: str
    served: str
    sync_run_id: int
    job: str


def served_mismatches(conn: Connection) -> list[ServedVersion]:
    """Per platform, the latest finished run that recorded a served version, where it differed."""
    latest = (
        sa.select(
            connections.c.platform,
            sync_runs.c.sync_run_id,
            sync_runs.c.job,
            sync_runs.c.api_version,
            sync_runs.c.api_version_served,
            sa.func.row_number()
            .over(partition_by=connections.c.platform, order_by=sync_runs.c.sync_run_id.desc())
            .label("n"),
        )
        .join(connections, connections.c.connection_id == sync_runs.c.connection_id)
        .where(sync_runs.c.api_version_served.is_not(None), sync_runs.c.finished_at.is_not(None))
        .subquery()
    )
    rows = conn.execute(
        sa.select(latest)
        .where(latest.c.n == 1, latest.c.api_version.is_distinct_from(latest.c.api_version_served))
        .order_by(latest.c.platform)
    ).all()
    return [
        ServedVersion(r.platform, r.api_version, r.api_version_served, r.sync_run_id, r.job) for r in rows
    ]
