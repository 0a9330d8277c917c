"""Per-connection Meta options, checked: attribution windows, the ad status filter, the app secret's
proof, and the watch on the API version Meta says served each call.

Pure (no I/O). The CLI validates with these before it stores a connection, and the client again
before it calls Meta, so a bad value never becomes a request.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from adspipe import settings as app_settings
from adspipe.meta import settings

logger = logging.getLogger(__name__)


def validate_attribution_windows(windows: Iterable[str] | None) -> list[str] | None:
    """Known windows only, at most one click window (they nest) and at most one view window.

    Refuses windows Meta no longer returns (they would silently drop conversions). None or empty:
    the account's own attribution setting (Meta's `value`).
    """
    if windows is None:
        return None
    cleaned = [w.strip().lower() for w in windows if w.strip()]
    if not cleaned:
        return None
    known = ", ".join(sorted(settings.KNOWN_ATTRIBUTION_WINDOWS))
    removed = sorted(set(cleaned) & settings.REMOVED_ATTRIBUTION_WINDOWS)
    if removed:
        raise ValueError(
            f"attribution window(s) {', '.join(removed)} are no longer returned by Meta (since 12 Jan 2026); "
            f"use {known}"
        )
    unknown = sorted(set(cleaned) - settings.KNOWN_ATTRIBUTION_WINDOWS)
    if unknown:
        raise ValueError(f"unknown attribution window(s) {', '.join(unknown)}; use {known}")
    if len(set(cleaned)) != len(cleaned):
        raise ValueError(f"attribution windows repeat a window: {', '.join(cleaned)}")
    for kind, group in (
        ("click", settings.CLICK_WINDOWS),
        ("view", settings.VIEW_WINDOWS),
        ("engaged-view", settings.ENGAGED_VIEW_WINDOWS),
    ):
        chosen = [w for w in cleaned if w in group]
        if len(chosen) > 1:
            raise ValueError(
                f"at most one {kind} window: {', '.join(chosen)} nest (the longer includes the shorter), "
                "so adding them would count a purchase twice"
            )
    return cleaned


def validate_statuses(statuses: Iterable[str]) -> list[str]:
    """`ad.effective_status` values for the ad-level filter: Ad.EffectiveStatus members only."""
    cleaned = [s.strip().upper() for s in statuses if s.strip()]
    if not cleaned:
        raise ValueError("statuses must name at least one ad effective_status (e.g. ACTIVE)")
    unknown = sorted(set(cleaned) - set(settings.AD_EFFECTIVE_STATUSES))
    if unknown:
        raise ValueError(
            f"unknown ad effective_status {', '.join(unknown)}; use {', '.join(settings.AD_EFFECTIVE_STATUSES)}"
        )
    return list(dict.fromkeys(cleaned))


def appsecret_proof(token: str, app_secret: str) -> str:
    """Meta's `appsecret_proof`: hex HMAC-SHA256 of the access token, keyed by the app secret."""
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


@dataclass
class VersionWatch:
    """The API version asked for and the one Meta's `facebook-api-version` header named.

    One per run: a mismatch (Meta serving another version than the pinned one, e.g. after the pin
    expired and Meta upgraded the call) is warned about once, in Python logging and through
    `warn` (the Dagster step's log when there is one).
    """

    requested: str
    warn: Callable[[str], None] | None = None
    served: str | None = None
    warned: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def observe(self, served: str | None) -> None:
        if not served:
            return
        with self._lock:
            self.served = served
            if served == self.requested or self.warned:
                return
            self.warned = True
        message = (
            f"Meta served API version {served} for calls made with {self.requested}: the pinned version "
            f"is no longer what Meta answers with; set {app_settings.META_API_VERSION_ENV} (or the `meta` "
            f"resource's api_version) to {served} once the pipeline is checked against it"
        )
        logger.warning(message)
        if self.warn is not None:
            self.warn(message)


def deprecated_version_message(account_id: str, version: str, meta_message: str) -> str:
    return (
        f"{account_id}: Meta refused API version {version} as deprecated (code "
        f"{settings.DEPRECATED_VERSION_CODE}: {meta_message}); set {app_settings.META_API_VERSION_ENV} "
        f"(or the `meta` resource's api_version) to a supported version, e.g. {settings.DEFAULT_API_VERSION}"
    )


_PROOF_IN_TEXT = re.compile(r"(appsecret_proof=)[0-9a-fA-F]+")


class _MaskProof(logging.Filter):
    """httpx logs each request's URL at INFO, and appsecret_proof is a query parameter (Meta takes
    it nowhere else): mask it before any handler sees the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "appsecret_proof=" in message:
            record.msg, record.args = _PROOF_IN_TEXT.sub(r"\1***", message), ()
        return True


logging.getLogger("httpx").addFilter(_MaskProof())
