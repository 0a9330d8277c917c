"""Stores and connections: registration, lookup, status changes, and token resolution.

A connection stores a reference to its token (`env:VAR`), never the token: the value is read from
the environment of the process that calls the API, at the moment it calls it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection as DbConnection

from adspipe import settings
from adspipe.warehouse.schema import connections, stores
from adspipe.warehouse.upsert import dialect_insert

ENV_VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
DEFAULT_ATTRIBUTION_WINDOW_DAYS = 7


class ConnectionInputError(ValueError):
    """Bad registration input or an unknown/unusable connection; the message is for the user."""


class TokenUnavailable(ConnectionInputError):
    pass


@dataclass(frozen=True)
class Connection:
    connection_id: int
    store_id: int
    store_name: str
    platform: str
    account_id: str
    token_ref: str
    status: str
    status_reason: str | None
    timezone: str | None
    currency: str | None
    attribution_window_days: int | None
    authorized_at: datetime
    # Meta only (see schema.connections): windows purchases are counted in, the ad-level status
    # filter (None: every status that can carry spend), the app secret's variable reference.
    attribution_windows: tuple[str, ...] | None = None
    ad_statuses: tuple[str, ...] | None = None
    app_secret_ref: str | None = None
    # The platform's own connection options (columns a platform's tables.py adds), by name.
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @property
    def token_env(self) -> str:
        return self.token_ref.removeprefix("env:")

    @property
    def app_secret_env(self) -> str | None:
        return self.app_secret_ref.removeprefix("env:") if self.app_secret_ref else None

    def app_secret(self) -> str | None:
        """The Meta app secret (for appsecret_proof), read from the environment now; None when the
        connection has none. Never log or store it."""
        var = self.app_secret_env
        if var is None:
            return None
        value = settings.env_value(var)
        if not value:
            raise TokenUnavailable(
                f"connection {self.connection_id} ({self.account_id}): environment variable "
                f"{var} (the app secret) is not set; export it where the job runs"
            )
        return value

    def secret_values(self) -> list[str]:
        """Every value of this connection an error must be masked of: the token, and with an app
        secret the secret and its `appsecret_proof` (HMAC-SHA256 of the token keyed by it)."""
        token = self.token()
        secret = self.app_secret() if self.app_secret_ref else None
        if not secret:
            return [token]
        proof = hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()
        return [token, secret, proof]

    def token(self) -> str:
        """The access token, read from the environment now. Never log or store it."""
        value = settings.env_value(self.token_env)
        if not value:
            raise TokenUnavailable(
                f"connection {self.connection_id} ({self.account_id}): environment variable "
                f"{self.token_env} is not set; export it where the job runs"
            )
        return value


def validate_store_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned:
        raise ConnectionInputError("store name must not be empty")
    if len(cleaned) > 200:
        raise ConnectionInputError("store name must be at most 200 characters")
    if any(ord(ch) < 32 for ch in cleaned):
        raise ConnectionInputError("store name must not contain control characters")
    return cleaned


def validate_window(days: int) -> int:
    if not 1 <= days <= 28:
        raise ConnectionInputError(f"attribution window must be between 1 and 28 days (got {days})")
    return days


def validate_env_var(var: str, option: str = "--token-env", holds: str = "the access token") -> str:
    """A variable NAME given as `option` (never its value), set in this environment to `holds`."""
    if not ENV_VAR_RE.match(var):
        raise ConnectionInputError(f"{option} must be an environment variable name (got {var!r})")
    if not settings.env_value(var):
        raise ConnectionInputError(f"environment variable {var} is not set; export {holds} in it first")
    return var


def validate_token_env(var: str) -> str:
    return validate_env_var(var)


def _ensure_store(conn: DbConnection, name: str) -> int:
    conn.execute(
        dialect_insert(conn, stores).values(name=name, created_at=datetime.now(UTC)).on_conflict_do_nothing()
    )
    return int(conn.execute(sa.select(stores.c.store_id).where(stores.c.name == name)).scalar_one())


def connect(
    conn: DbConnection,
    *,
    store: str,
    platform: str,
    account_id: str,
    token_env: str,
    attribution_window_days: int | None = None,
    attribution_windows: tuple[str, ...] | None = None,
    ad_statuses: tuple[str, ...] | None = None,
    app_secret_env: str | None = None,
    **options: Any,
) -> tuple[Connection, bool]:
    """Register (or re-authorize) an account; returns the connection and whether it was new.

    Inputs must be validated first (the `validate_*` functions; a platform validates its own
    `options`, the columns its tables.py adds to `connections`). Connecting the same account again
    updates its row: store, token reference, window, status back to active, a new `authorized_at`.
    The marts are not touched: `adspipe.marts.connections.connect` also refreshes the stores' flags.
    """
    now = datetime.now(UTC)
    store_id = _ensure_store(conn, store)
    previous_store = conn.execute(
        sa.select(connections.c.store_id).where(
            connections.c.platform == platform, connections.c.account_id == account_id
        )
    ).scalar_one_or_none()
    existed = previous_store is not None
    values = {
        "store_id": store_id,
        "platform": platform,
        "account_id": account_id,
        "token_ref": f"env:{token_env}",
        "status": "active",
        "status_reason": None,
        "attribution_window_days": attribution_window_days,
        "attribution_windows": _joined(attribution_windows),
        "ad_statuses": _joined(ad_statuses),
        "app_secret_ref": f"env:{app_secret_env}" if app_secret_env else None,
        **_options(options),
        "created_at": now,
        "updated_at": now,
        "authorized_at": now,
    }
    stmt = dialect_insert(conn, connections).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["platform", "account_id"],
        set_={k: stmt.excluded[k] for k in values if k not in ("platform", "account_id", "created_at")},
    )
    conn.execute(stmt)
    found = find_connection(conn, platform=platform, account_id=account_id)
    assert found is not None
    return found, not existed


def _options(options: Mapping[str, Any]) -> dict[str, Any]:
    known = {c.name for c in connections.c if c.info.get("platform_option")}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConnectionInputError(f"unknown connection option(s): {', '.join(unknown)}")
    return dict(options)


def _joined(values: tuple[str, ...] | None) -> str | None:
    return ",".join(values) if values else None


def _split(value: str | None) -> tuple[str, ...] | None:
    if not value:
        return None
    return tuple(v for v in value.split(",") if v) or None


def _select() -> sa.Select[tuple[object, ...]]:
    return sa.select(*connections.c, stores.c.name.label("store_name")).join(
        stores, stores.c.store_id == connections.c.store_id
    )


def _row_to_connection(row: sa.Row[tuple[object, ...]]) -> Connection:
    m = row._mapping
    return Connection(
        connection_id=m["connection_id"],
        store_id=m["store_id"],
        store_name=m["store_name"],
        platform=m["platform"],
        account_id=m["account_id"],
        token_ref=m["token_ref"],
        status=m["status"],
        status_reason=m["status_reason"],
        timezone=m["timezone"],
        currency=m["currency"],
        attribution_window_days=m["attribution_window_days"],
        authorized_at=m["authorized_at"],
        attribution_windows=_split(m["attribution_windows"]),
        ad_statuses=_split(m["ad_statuses"]),
        app_secret_ref=m["app_secret_ref"],
        options={c.name: m[c.name] for c in connections.c if c.info.get("platform_option")},
    )


def find_connection(conn: DbConnection, *, platform: str, account_id: str) -> Connection | None:
    row = conn.execute(
        _select().where(connections.c.platform == platform, connections.c.account_id == account_id)
    ).one_or_none()
    return _row_to_connection(row) if row else None


def get_connection(conn: DbConnection, connection_id: int) -> Connection:
    row = conn.execute(_select().where(connections.c.connection_id == connection_id)).one_or_none()
    if row is None:
        raise ConnectionInputError(f"no connection with id {connection_id}")
    return _row_to_connection(row)


def list_connections(
    conn: DbConnection,
    *,
    platform: str | None = None,
    store: str | None = None,
    active_only: bool = False,
) -> list[Connection]:
    query = _select().order_by(connections.c.connection_id)
    if platform:
        query = query.where(connections.c.platform == platform)
    if store is not None:
        if conn.execute(sa.select(stores.c.store_id).where(stores.c.name == store)).first() is None:
            raise ConnectionInputError(f"no store named {store!r}")
        query = query.where(stores.c.name == store)
    if active_only:
        query = query.where(connections.c.status == "active")
    return [_row_to_connection(r) for r in conn.execute(query)]


def active_connections(
    conn: DbConnection, platform: str, connection_id: int | None = None
) -> list[Connection]:
    """The connections a run covers: one named connection (which must be active) or all active ones."""
    if connection_id is None:
        return list_connections(conn, platform=platform, active_only=True)
    found = get_connection(conn, connection_id)
    if found.platform != platform:
        raise ConnectionInputError(
            f"connection {connection_id} is a {found.platform} connection, not {platform}"
        )
    if found.status != "active":
        raise ConnectionInputError(f"connection {connection_id} is {found.status}, not active")
    return [found]


def set_status(conn: DbConnection, connection_id: int, status: str, reason: str | None = None) -> None:
    conn.execute(
        sa.update(connections)
        .where(connections.c.connection_id == connection_id)
        .values(status=status, status_reason=reason, updated_at=datetime.now(UTC))
    )


def disconnect(conn: DbConnection, connection_id: int) -> Connection:
    """The connection as it was; see `adspipe.marts.connections.disconnect` for the marts."""
    found = get_connection(conn, connection_id)
    set_status(conn, connection_id, "disconnected", "disconnected by user")
    return found


def mark_needs_reauth(conn: DbConnection, connection_id: int, reason: str) -> None:
    """A rejected token: needs_reauth, unless the user disconnected the connection meanwhile (a run
    in flight then meets the revoked token; the user's `disconnected` must stand)."""
    conn.execute(
        sa.update(connections)
        .where(connections.c.connection_id == connection_id, connections.c.status != "disconnected")
        .values(status="needs_reauth", status_reason=reason, updated_at=datetime.now(UTC))
    )


def set_account_info(conn: DbConnection, connection_id: int, *, timezone: str, currency: str) -> int | None:
    """Store the time zone and currency read from the platform (they can change; keep them current).

    Returns the store id when they changed (its daily_summary flags are then stale: see
    `adspipe.marts.connections.set_account_info`), else None."""
    changed = conn.execute(
        sa.update(connections)
        .where(connections.c.connection_id == connection_id)
        .where(
            sa.or_(
                connections.c.timezone.is_distinct_from(timezone),
                connections.c.currency.is_distinct_from(currency),
            )
        )
        .values(timezone=timezone, currency=currency, updated_at=datetime.now(UTC))
        .returning(connections.c.store_id)
    ).scalar_one_or_none()
    return None if changed is None else int(changed)
