"""The simulator's request log: one `RequestRecord` per API request, and `overlapping` (which
requests were in flight at the same time). `adspipe.simulator.server` re-exports both."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RequestRecord:
    """One API request: `t_in`/`t_out` are the simulator's monotonic seconds (for overlap/pacing)."""

    seq: int
    platform: str  # shopify | meta
    endpoint: str  # graphql | insights | account | report_run | report_status | report_insights
    account: str  # shop domain or act_…
    t_in: float
    t_out: float
    sim_now: str
    status: int
    outcome: str
    # Meta: "level since..until" of an insights call (plus " after" for a next page); Shopify: the
    # API version in the URL; else "".
    detail: str = ""
    # Meta: the request's query parameters (an access_token masked as "***"); Shopify: the GraphQL
    # variables, each as JSON text (`variables` decodes them). And which token the call carried
    # (`credential_id`: a fingerprint, never the token)
    query: tuple[tuple[str, str], ...] = ()
    credential: str = ""

    @property
    def params(self) -> dict[str, str]:
        return dict(self.query)

    @property
    def variables(self) -> dict[str, Any]:
        """A Shopify request's GraphQL variables, as sent (types included)."""
        return {k: json.loads(v) for k, v in self.query}

    @property
    def ad_level_day(self) -> str | None:
        """The day (`since`) of a Meta ad-level insights call's first page, else None."""
        if not self.detail.startswith("ad ") or self.detail.endswith(" after"):
            return None
        return self.detail.split()[1].split("..")[0]


def overlapping(log: Iterable[RequestRecord], tolerance_s: float = 0.0) -> list[tuple[int, int]]:
    """Pairs (seq, seq) of requests that were in flight at the same time (started more than
    `tolerance_s` before the previous one ended)."""
    ordered = sorted(log, key=lambda r: r.t_in)
    return [
        (a.seq, b.seq) for a, b in zip(ordered, ordered[1:], strict=False) if b.t_in < a.t_out - tolerance_s
    ]


def graphql_variables(body: bytes) -> tuple[tuple[str, str], ...]:
    """A GraphQL request's variables for the log, each as compact JSON text (nothing for a body
    that is not a JSON object with a `variables` object)."""
    try:
        request = json.loads(body or b"null")
    except ValueError:
        return ()
    variables = request.get("variables") if isinstance(request, dict) else None
    if not isinstance(variables, dict):
        return ()
    return tuple((str(k), json.dumps(v, separators=(",", ":"))) for k, v in variables.items())
