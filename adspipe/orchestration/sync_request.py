"""`adspipe sync`: validate a request fully, then launch one asset backfill (or one fill run).

Nothing is launched unless every check passes: the dates parse, end ≥ start, the range is not in
the future and lies inside the partitions definition, and the named connection exists, belongs
to the platform and is active. Dagster itself would accept an inverted range as an empty
"successful" backfill, so these checks are ours.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.engine import Engine

from adspipe.platform import registry
from adspipe.settings import partitions_start
from adspipe.warehouse import connections as conns

# From the registry's specs. The ops that take ScopeConfig (run config `ops: {<op>: {config:
# {connection_id: N}}}`) are named by the specs so `adspipe sync` needs no import of the definitions
# (seconds of start-up); a test checks them against the definitions.
PLATFORM_ASSETS: dict[str, list[str]] = {s.name: list(s.asset_keys) for s in registry.platforms()}
FILL_JOBS = {s.name: s.fill_job for s in registry.platforms()}
ASSET_OPS = {s.name: s.asset_op for s in registry.platforms()}
FILL_OPS = {s.name: s.fill_op for s in registry.platforms()}
CONNECTION_TAG = "adspipe/connection_id"


class SyncInputError(ValueError):
    """The request is invalid; nothing was launched."""


@dataclass(frozen=True)
class BackfillRequest:
    platform: str
    start: date
    end: date
    connection_id: int | None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def asset_keys(self) -> list[str]:
        return PLATFORM_ASSETS[self.platform]

    @property
    def title(self) -> str:
        scope = f"connection {self.connection_id}" if self.connection_id else "all active connections"
        return f"adspipe sync {self.platform} {self.start} to {self.end} ({scope})"

    @property
    def tags(self) -> dict[str, str]:
        tags = {"adspipe/trigger": "adspipe-sync", "adspipe/platform": self.platform}
        if self.connection_id is not None:
            tags[CONNECTION_TAG] = str(self.connection_id)
        return tags


_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def parse_day(value: str, option: str) -> date:
    # Only YYYY-MM-DD: Python also reads "20261120" and "2026-W47-5", which look like typos here.
    text = value.strip()
    try:
        if not _DAY.match(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise SyncInputError(f"{option} must be a date as YYYY-MM-DD (got {value!r})") from None


def validate_range(start: date, end: date, *, today: date) -> None:
    if end < start:
        raise SyncInputError(f"--to {end} is before --from {start}: nothing to sync")
    if end > today:
        raise SyncInputError(f"--to {end} is after today ({today}): future days have no data yet")
    first = partitions_start()
    if start < first:
        raise SyncInputError(
            f"--from {start} is before the first daily partition ({first}); set ADSPIPE_PARTITIONS_START to go further back"
        )


def validate_connection(engine: Engine, platform: str, connection_id: int | None) -> None:
    if connection_id is None:
        return
    with engine.connect() as db:
        try:
            conns.active_connections(db, platform, connection_id)
        except conns.ConnectionInputError as exc:
            raise SyncInputError(str(exc) + _how_to_fix(db, connection_id)) from None


def _how_to_fix(db: Any, connection_id: int) -> str:
    """For a connection that is not active: the command that makes it active again."""
    try:
        found = conns.get_connection(db, connection_id)
    except conns.ConnectionInputError:
        return ""
    if found.status == "active":
        return ""
    account = "--shop" if found.platform == "shopify" else "--ad-account"
    verb = "re-authorize it" if found.status == "needs_reauth" else "reconnect it"
    return (
        f"; {verb} with a valid token: export {found.token_env}=<token> and run "
        f"`adspipe connect {found.platform} --store {shlex.quote(found.store_name)} {account} "
        f"{found.account_id} --token-env {found.token_env}`"
    )


def scope_run_config(op_name: str, connection_id: int | None) -> dict[str, Any]:
    """Run config that scopes the platform's asset op (or fill job op) to one connection."""
    if connection_id is None:
        return {}
    return {"ops": {op_name: {"config": {"connection_id": connection_id}}}}
