"""Google Ads knobs of the simulator: quota errors (counted or drawn), scripted answers, the
error bodies of Google's front end (5xx) and of a stream that breaks after its first batch."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from adspipe.simulator import scripted as scripted_answers
from adspipe.simulator.shopify_api import dumps
from adspipe.simulator.util import rng

RPC_5XX = {500: ("INTERNAL", "Internal error encountered."),
           503: ("UNAVAILABLE", "The service is currently unavailable."),
           504: ("DEADLINE_EXCEEDED", "Deadline exceeded.")}  # fmt: skip


@dataclass
class GoogleAdsFaults:
    """Google Ads knobs (`POST /google-ads/admin/faults`)."""

    quota_errors: int = 0  # the next N searchStream requests answer a quota error
    # each searchStream request answers a quota error with this probability (seeded draw)
    quota_error_rate: float = 0.0
    quota_reason: str = "RESOURCE_TEMPORARILY_EXHAUSTED"
    retry_delay_s: float = 30.0  # quotaErrorDetails.retryDelay
    token_lifetime_s: int = 3599  # expires_in of issued access tokens (simulator clock)
    batch_rows: int = 10_000  # results per stream batch
    revoked_refresh_tokens: set[str] = field(default_factory=set)
    errors_in_array: bool = True  # errors wrapped in an array, as searchStream may send them
    # customer id → scripted answers to its next searchStream requests (simulator/scripted.py)
    scripted: scripted_answers.Queues = field(default_factory=dict)

    def update(self, **changes: Any) -> GoogleAdsFaults:
        names = {f.name for f in dataclasses.fields(self)}
        for key, value in changes.items():
            if key not in names:
                raise ValueError(f"unknown Google Ads fault knob {key!r}; known: {', '.join(sorted(names))}")
            current = getattr(self, key)
            if isinstance(current, dict):
                value = scripted_answers.queues(value)
            else:
                value = set(value) if isinstance(current, set) else type(current)(value)
            if key.endswith("_rate") and not 0.0 <= value <= 1.0:
                raise ValueError(f"{key} must be between 0 and 1")
            setattr(self, key, value)
        return self

    def quota_drawn(self, seed: int, n: int) -> bool:
        """Whether request `n` meets a quota error (counted first, then drawn)."""
        if self.quota_errors > 0:
            self.quota_errors -= 1
            return True
        return self.quota_error_rate > 0 and rng(seed, "gads-quota", n).random() < self.quota_error_rate

    def next_scripted(self, customer_id: str) -> scripted_answers.Answer | None:
        """The scripted answer of this request, or None: the real answer."""
        return scripted_answers.next_answer(self.scripted, customer_id)

    def to_dict(self) -> dict[str, Any]:
        knobs = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        knobs["revoked_refresh_tokens"] = sorted(knobs["revoked_refresh_tokens"])
        knobs["scripted"] = scripted_answers.to_json(self.scripted)
        return knobs


def server_error_body(status: int) -> bytes:
    """What Google's front end answers with a 500 / 503 / 504 (a google.rpc.Status)."""
    rpc, message = RPC_5XX.get(status, ("UNKNOWN", "Unknown error."))
    return dumps({"error": {"code": status, "message": message, "status": rpc}})


def broken_stream(body: bytes) -> bytes:
    """A searchStream answer (HTTP 200) cut after its first batch by an INTERNAL error, as a stream
    that fails part-way arrives."""
    batches = json.loads(body)
    head = batches[:1] if isinstance(batches, list) else []
    # The first batch with half its results: a break inside a long stream.
    if head and isinstance(head[0].get("results"), list):
        head = [{**head[0], "results": head[0]["results"][: len(head[0]["results"]) // 2]}]
    error = {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}
    return dumps([*head, {"error": error}])
