"""Scripted answers, one mechanism for the three APIs: per key (a shop domain, an `act_…` id, a
Google Ads customer id; Meta also `"act_… <level> <since>"` for one level and day of the insights
edge), a queue of hand-made answers served, in order, to that key's next requests instead of the
real answer (after authentication, so a bad token still fails first).

An answer is `(HTTP status, body)` or `(HTTP status, body, headers)`: a JSON value as the body, or
a `str` sent as it is (an HTML error page, as `text/html` unless the headers say otherwise).
Other queue entries:
- `None` lets that request through to the real answer ("the third call is throttled");
- `{"repeat": answer}` (a `Repeat`) answers every later request of the key, and stays;
- in-process only (a Python simulator, not the JSON knob): a callable of no argument, called when
  its request arrives (say, to disconnect a connection between two days), whose return value is
  served (an answer, or None for the real answer).
Shopify also keys "<shop> <operation>" (the GraphQL operation name: `Orders`, `ShopInfo`, …).
Knobs: `Faults.shopify_scripted`, `Faults.meta_scripted`, `GoogleAdsFaults.scripted`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Answer = tuple[int, Any, dict[str, str]]


@dataclass(frozen=True)
class Repeat:
    """An answer served to every later request of its key."""

    answer: Answer


Entry = Answer | Repeat | Callable[[], Any] | None
Queues = dict[str, list[Entry]]
OUTCOMES = {400: "bad_request", 401: "auth", 403: "denied", 404: "not_found", 429: "throttled"}


def answer(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Answer:
    """One scripted answer (validated)."""
    if not 100 <= int(status) <= 599:
        raise ValueError(f"a scripted answer needs an HTTP status, got {status!r}")
    return int(status), body, dict(headers or {})


def _entry(item: Any) -> Entry:
    if item is None or isinstance(item, Repeat) or callable(item):
        return item
    if isinstance(item, Mapping) and set(item) == {"repeat"}:
        return Repeat(answer(*item["repeat"]))
    return answer(*item)


def queues(value: Mapping[str, Any] | None) -> Queues:
    """Scripted queues from a knob's value (Python tuples or JSON lists), validated."""
    return {str(key): [_entry(a) for a in items] for key, items in dict(value or {}).items()}


def next_answer(scripted: Queues, *keys: str) -> Answer | None:
    """The scripted answer of this request (the first key with a queue), or None: the real answer."""
    for key in keys:
        queue = scripted.get(key)
        if not queue:
            continue
        item = queue[0] if isinstance(queue[0], Repeat) else queue.pop(0)
        if isinstance(item, Repeat):
            return item.answer
        if callable(item):
            made = item()
            return None if made is None else answer(*made)
        return item
    return None


def meta_keys(account: str, edge: str | None, params: Mapping[str, str]) -> list[str]:
    """Scripted-answer keys of a request, most specific first: "act_… <level> <since>" for the
    insights edge with a time range, then the account."""
    try:
        since = json.loads(params.get("time_range", "")).get("since")
    except (ValueError, AttributeError):
        since = None
    level = params.get("level", "account")
    return [f"{account} {level} {since}", account] if edge == "insights" and since else [account]


_OPERATION = re.compile(rb"^\s*(?:query|mutation)\s+([A-Za-z_][A-Za-z0-9_]*)")


def shopify_keys(shop: str, body: bytes) -> list[str]:
    """Scripted-answer keys of a Shopify request, most specific first: "<shop> <operation>" for
    a named GraphQL operation (e.g. "acme.myshopify.com Orders"), then the shop."""
    try:
        query = json.loads(body or b"null").get("query")
    except (ValueError, AttributeError):
        query = None
    found = _OPERATION.match(query.encode()) if isinstance(query, str) else None
    return [f"{shop} {found.group(1).decode()}", shop] if found else [shop]


def encoded(
    scripted: Answer, headers: Mapping[str, str] | None = None
) -> tuple[int, bytes, dict[str, str], str]:
    """A scripted answer as (status, body, headers, outcome) of the API's response (`headers`: the
    API's own, under the script's)."""
    status, body, extra = scripted
    text = body.encode() if isinstance(body, str) else json.dumps(body, separators=(",", ":")).encode()
    out = {**(headers or {}), **extra}
    if isinstance(body, str) and not any(k.lower() == "content-type" for k in extra):
        out["content-type"] = "text/html"
    outcome = "ok" if status < 300 else ("5xx" if status >= 500 else OUTCOMES.get(status, "error"))
    return status, text, out, outcome


def to_json(scripted: Queues) -> dict[str, list[Any]]:
    """The queues as the JSON knob writes them (a callable shows as "<callable>")."""

    def entry(item: Entry) -> Any:
        if isinstance(item, Repeat):
            return {"repeat": list(item.answer)}
        if callable(item):
            return "<callable>"
        return None if item is None else list(item)

    return {key: [entry(e) for e in queue] for key, queue in scripted.items()}
