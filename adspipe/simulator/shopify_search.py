"""Shopify's order search syntax (`query:` argument), as far as adspipe needs it.

Terms are `field:value` with an optional comparator (`:>`, `:>=`, `:<`, `:<=`), joined by `AND`
or whitespace. Values may be quoted with `'` or `"`. Supported fields: `created_at`,
`processed_at` (the same instant in this world), `updated_at`, `id` and `test`. A date-only value
(`2026-03-01`) means that local date in the shop's time zone; a timestamp without an offset is
read in the shop's time zone too.

Shopify's quirks, as api-facts.md reports them (observed):
- an unknown field, `OR`, a negation or a value that cannot be read never fails the call: the term
  is ignored and reported under `extensions.search[].warnings`;
- an *unquoted* timestamp is mis-parsed: the search lexer stops the value at its first `:`, so
  `created_at:>=2026-03-01T00:00:00Z` becomes `created_at:>=2026-03-01T00` (not a date, ignored)
  plus a stray term `00:00Z`. The filter silently disappears. `Faults.shopify_unquoted_misparse =
  False` switches the quirk off (unquoted timestamps then parse like quoted ones).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from adspipe.simulator.util import local_day_bounds, zone

_TOKEN = re.compile(r"""\s*(-?[\w.]+:(?:>=|<=|>|<)?(?:'[^']*'|"[^"]*"|[^\s()]*)|\(|\)|[^\s()]+)""")
_TERM = re.compile(r"""^(-?)([\w.]+):(>=|<=|>|<)?(.*)$""", re.S)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?$")
TIME_FIELDS = {"created_at": "created", "processed_at": "created", "updated_at": "updated"}
INVALID_FIELD = "Invalid search field for this query."


@dataclass
class Range:
    """Inclusive integer bounds (epoch seconds or ids); None is unbounded."""

    lo: int | None = None
    hi: int | None = None

    def narrow(self, lo: int | None, hi: int | None) -> None:
        if lo is not None:
            self.lo = lo if self.lo is None else max(self.lo, lo)
        if hi is not None:
            self.hi = hi if self.hi is None else min(self.hi, hi)

    def holds(self, value: int) -> bool:
        return (self.lo is None or value >= self.lo) and (self.hi is None or value <= self.hi)

    @property
    def empty(self) -> bool:
        return self.lo is not None and self.hi is not None and self.lo > self.hi


@dataclass
class OrderFilter:
    created: Range = field(default_factory=Range)
    updated: Range = field(default_factory=Range)
    ids: Range = field(default_factory=Range)
    test: bool | None = None
    warnings: list[dict[str, str]] = field(default_factory=list)

    def search_extension(self, query: str) -> list[dict[str, Any]]:
        """`extensions.search` entries (only when there is something to warn about)."""
        if not self.warnings:
            return []
        return [{"path": ["orders"], "query": query, "warnings": self.warnings}]


def parse_search(query: str | None, timezone: str, *, unquoted_misparse: bool = True) -> OrderFilter:
    out = OrderFilter()
    if not query or not query.strip():
        return out
    tokens = _TOKEN.findall(query)
    queue = list(tokens)
    while queue:
        token = queue.pop(0).strip()
        if not token or token == "AND":
            continue
        if token in ("OR", "NOT", "(", ")"):
            out.warnings.append({"field": token, "message": f"'{token}' is not supported by the simulator."})
            continue
        match = _TERM.match(token)
        if match is None:
            out.warnings.append(
                {"field": "default", "message": f"Free text search is not supported: {token}"}
            )
            continue
        negated, name, op, value = match.group(1), match.group(2), match.group(3) or "", match.group(4)
        if negated:
            out.warnings.append(
                {"field": name, "message": "Negated terms are not supported by the simulator."}
            )
            continue
        quoted = len(value) >= 2 and value[0] == value[-1] and value[0] in "'\""
        if quoted:
            value = value[1:-1]
        elif ":" in value and unquoted_misparse:
            # Shopify's lexer ends an unquoted value at its first colon; the rest is a new term.
            value, rest = value.split(":", 1)
            queue.insert(0, rest)
        _apply(out, name, op, value, timezone)
    return out


def _apply(out: OrderFilter, name: str, op: str, value: str, timezone: str) -> None:
    if name in TIME_FIELDS:
        bounds = _time_bounds(op, value, timezone)
        if bounds is None:
            out.warnings.append(
                {"field": name, "message": f"Invalid value for {name}: {value!r}; term ignored."}
            )
            return
        target = out.created if TIME_FIELDS[name] == "created" else out.updated
        target.narrow(*bounds)
    elif name == "id":
        if not value.isdigit():
            out.warnings.append({"field": name, "message": f"Invalid value for id: {value!r}; term ignored."})
            return
        n = int(value)
        lo, hi = {"": (n, n), ">": (n + 1, None), ">=": (n, None), "<": (None, n - 1), "<=": (None, n)}[op]
        out.ids.narrow(lo, hi)
    elif name == "test" and value.lower() in ("true", "false") and op == "":
        out.test = value.lower() == "true"
    else:
        out.warnings.append({"field": name, "message": INVALID_FIELD})


def _time_bounds(op: str, value: str, timezone: str) -> tuple[int | None, int | None] | None:
    """Inclusive [lo, hi] epoch seconds for `field:<op><value>`, or None when unreadable."""
    value = value.strip()
    if _DATE.match(value):
        day = date.fromisoformat(value).toordinal()
        start, end = local_day_bounds(timezone, day)  # [start, end)
        return {
            "": (start, end - 1),
            ">": (end, None),
            ">=": (start, None),
            "<": (None, start - 1),
            "<=": (None, end - 1),
        }[op]
    if not _STAMP.match(value):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone(timezone))
    t = parsed.timestamp()
    # Orders carry whole seconds, so fractional bounds round to the equivalent whole second.
    return {
        "": (math.ceil(t), math.floor(t)),
        ">": (math.floor(t) + 1, None),
        ">=": (math.ceil(t), None),
        "<": (None, math.ceil(t) - 1),
        "<=": (None, math.floor(t)),
    }[op]
