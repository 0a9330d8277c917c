"""Scripted answers, one mechanism for the three APIs: per account (a shop domain, an `act_…` id, a
Google Ads customer id), a queue of hand-made answers served, in order, to that account's next
requests instead of the real answer (after authentication, so a bad token still fails first).

An answer is `(HTTP status, body)` or `(HTTP status, body, headers)`: a JSON value as the body, or
a `str` sent as it is (an HTML error page). `None` in a queue lets that request through to the
real answer, so a test can say "the third call of this account is throttled". Knobs:
`Faults.shopify_scripted`, `Faults.meta_scripted`, `GoogleAdsFaults.scripted`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

Answer = tuple[int, Any, dict[str, str]]
Queues = dict[str, list[Answer | None]]
OUTCOMES = {400: "bad_request", 401: "auth", 403: "denied", 404: "not_found", 429: "throttled"}


def answer(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Answer:
    """One scripted answer (validated)."""
    if not 100 <= int(status) <= 599:
        raise ValueError(f"a scripted answer needs an HTTP status, got {status!r}")
    return int(status), body, dict(headers or {})


def queues(value: Mapping[str, Any] | None) -> Queues:
    """Scripted queues from a knob's value (Python tuples or JSON lists), validated."""
    out: Queues = {}
    for key, items in dict(value or {}).items():
        out[str(key)] = [None if a is None else answer(*a) for a in items]
    return out


def next_answer(scripted: Queues, key: str) -> Answer | None:
    """The scripted answer of this request of `key`, or None: the real answer."""
    queue = scripted.get(key)
    return queue.pop(0) if queue else None


def encoded(
    scripted: Answer, headers: Mapping[str, str] | None = None
) -> tuple[int, bytes, dict[str, str], str]:
    """A scripted answer as (status, body, headers, outcome) of the API's response (`headers`: the
    API's own, under the script's)."""
    status, body, extra = scripted
    text = body.encode() if isinstance(body, str) else json.dumps(body, separators=(",", ":")).encode()
    out = {**(headers or {}), **extra}
    if isinstance(body, str):
        out.setdefault("content-type", "text/html")
    outcome = "ok" if status < 300 else ("5xx" if status >= 500 else OUTCOMES.get(status, "error"))
    return status, text, out, outcome
