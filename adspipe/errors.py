"""Errors that decide what a job does next. Messages are for users and never carry a token."""

from __future__ import annotations


class AdspipeError(Exception):
    """Base class."""


class AuthError(AdspipeError):
    """The platform rejected the token (Shopify 401, Meta code 190): the connection needs re-auth.

    Never retried: the connection is marked `needs_reauth` and its work stops.
    """


class RateLimitExhausted(AdspipeError):
    """Throttled past the retry budget: `sync_runs` says `rate_limited`; the unit stays re-runnable."""


class PermanentApiError(AdspipeError):
    """An answer that retrying cannot fix (missing scope, unknown shop, bad request)."""


class TransientApiError(AdspipeError):
    """5xx, timeouts, dropped connections, malformed bodies: retried with backoff, then raised."""


class DayUnavailable(AdspipeError):
    """One day cannot be read (e.g. past a scope's reach) while the others can: that day fails alone."""


class SyncFailed(AdspipeError):
    """Some connections of a job failed (each recorded in sync_runs); raised after all of them ran.

    `retryable`: every failure was a rate limit (a token or a scope will not fix itself)."""

    def __init__(self, message: str, failed_connections: list[int], *, retryable: bool) -> None:
        super().__init__(message)
        self.failed_connections = failed_connections
        self.retryable = retryable
