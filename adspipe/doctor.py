"""`adspipe doctor`: what would go wrong on a real account, found before a run meets it.

Read-only: it never creates a warehouse or migrates one. Each finding is OK, WARN or ERROR.
- the pinned API versions against their published support ends (adspipe.versions);
- the warehouse: reachable, at the head migration;
- per active connection: its token (and Meta app secret) variable set in this environment — where
  the Dagster run workers execute, they need the same variables;
- the versions the platforms last answered with (sync_runs.api_version_served).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from adspipe import settings, versions
from adspipe.platform import registry
from adspipe.warehouse import connections as conns
from adspipe.warehouse import db


@dataclass(frozen=True)
class Finding:
    severity: str  # OK | WARN | ERROR
    topic: str
    message: str


def pinned_versions(today: date) -> list[Finding]:
    findings = []
    for spec in registry.platforms():
        pinned = spec.settings
        status = versions.version_status(
            spec.name,
            pinned.API_VERSION,
            pinned.SUPPORT_ENDS,
            today,
            setting=spec.version_env,
            recommended=pinned.DEFAULT_API_VERSION,
        )
        findings.append(Finding(status.severity, f"{spec.name} API version", status.message))
    return findings


def warehouse(url: str) -> tuple[list[Finding], sa.Engine | None]:
    """The warehouse's state, and an engine when it is at head (never creating anything)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        return [Finding("ERROR", "warehouse", f"no warehouse at {parsed.database}; run `adspipe db upgrade` "
                        f"or set {settings.DATABASE_URL_ENV}")], None  # fmt: skip
    engine = db.get_engine(url)
    try:
        db.check_reachable(engine)
    except db.WarehouseUnavailable as exc:
        return [Finding("ERROR", "warehouse", str(exc))], None
    current, head = db.current_revision(engine), db.head_revision(engine)
    if current != head:
        return [Finding("ERROR", "warehouse", f"{db.safe_url(url)} is at migration {current or 'none'}, "
                        f"not {head}; run `adspipe db upgrade`")], None  # fmt: skip
    return [Finding("OK", "warehouse", f"{db.safe_url(url)} at migration {head}")], engine


def connection_findings(engine: sa.Engine) -> list[Finding]:
    findings: list[Finding] = []
    with engine.connect() as conn:
        active = conns.list_connections(conn, active_only=True)
        served = versions.served_mismatches(conn)
    for c in active:
        topic = f"connection {c.connection_id} ({c.platform} {c.account_id})"
        for var, what in ((c.token_env, "token"), (c.app_secret_env, "app secret")):
            if var and not settings.env_value(var):
                findings.append(Finding("WARN", topic, f"{var} (its {what}) is not set here; it must be set "
                                        "where Dagster runs the steps (dagster dev, the daemon's run workers)"))  # fmt: skip
    if not active:
        findings.append(Finding("OK", "connections", "no active connection"))
    elif not findings:
        findings.append(Finding("OK", "connections", f"{len(active)} active, every token variable set here"))
    findings += [
        Finding(
            "WARN",
            f"{m.platform} API version",
            f"the last sync (sync_run {m.sync_run_id}, {m.job}) asked "
            f"for {m.requested} and was served {m.served}",
        )  # fmt: skip
        for m in served
    ]
    return findings


def diagnose(today: date, url: str | None = None) -> list[Finding]:
    findings = pinned_versions(today)
    found, engine = warehouse(url or settings.database_url())
    findings += found
    if engine is not None:
        findings += connection_findings(engine)
    return findings
