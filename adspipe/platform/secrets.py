"""Errors and log lines safe to keep: every registered platform's token shapes masked."""

from __future__ import annotations

from collections.abc import Iterable

from adspipe.platform import registry
from adspipe.warehouse.sync_runs import sanitize_error


def sanitize(message: str, secrets: Iterable[str] = ()) -> str:
    """`message` with `secrets`, every platform's token shapes and the generic ones masked."""
    return sanitize_error(message, secrets, registry.token_patterns())
