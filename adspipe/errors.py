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
