"""Fault knobs and their reproducible draws.

`Faults` is a plain dataclass (change it from Python or with `POST /admin/faults`). Random faults
are drawn per API request from a stream seeded by the world seed and the request's sequence
number, so the same seed and the same sequence of requests meet the same faults.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from adspipe.simulator.scripted import Queues, queues, to_json
from adspipe.simulator.util import rng

FaultKind = Literal["timeout", "drop", "5xx", "malformed", "internal"]
PLANS = ("Basic", "Shopify", "Advanced", "Shopify Plus", "Enterprise")
META_THROTTLE_CODES = (4, 17, 613, 80000, 80004, 32)


@dataclass
class Faults:
    # latency added to every API request (seconds), and per platform on top
    latency_s: float = 0.0
    shopify_latency_s: float = 0.0
    meta_latency_s: float = 0.0
    google_ads_latency_s: float = 0.0
    # random faults: each API request draws at most one, in this order of precedence
    timeout_rate: float = 0.0  # hang for timeout_hang_s (past the client's timeout), then 504
    timeout_hang_s: float = 30.0
    drop_rate: float = 0.0  # headers and half a body, then the connection is closed
    error_5xx_rate: float = 0.0  # 500 / 502 (an HTML proxy page) / 503
    malformed_rate: float = 0.0  # HTTP 200 with a truncated JSON body
    shopify_internal_error_rate: float = 0.0  # HTTP 200 with errors[].extensions.code INTERNAL_SERVER_ERROR
    # Google Ads searchStream: HTTP 200, the first batch, then an INTERNAL error in the stream
    google_ads_stream_error_rate: float = 0.0
    fault_platforms: set[str] = field(default_factory=lambda: {"shopify", "meta"})
    # Shopify
    shopify_read_all_orders: bool = True  # False: only the last 60 days of orders are visible
    shopify_missing_scope_shops: set[str] = field(default_factory=set)  # ACCESS_DENIED on orders
    # shops (domain or slug) whose app lacks read_all_orders: their last 60 days only, and the scope
    # is absent from currentAppInstallation.accessScopes
    shopify_no_read_all_orders_shops: set[str] = field(default_factory=set)
    shopify_plan: str | None = None  # override every shop's plan (restore rate): one of PLANS
    shopify_bucket_scale: float = 1.0  # multiplies bucket size and restore rate (0.1 = ten times tighter)
    shopify_max_cost: int = 1000
    # cost of one LineItem node (1: the default model); ~100 makes a 250-line-item page exceed 1000
    shopify_line_item_cost: int = 1
    # an unquoted search timestamp is cut at its first colon, as Shopify's lexer does (observed);
    # False: unquoted timestamps parse like quoted ones
    shopify_unquoted_misparse: bool = True
    # Bulk operations (simulator/shopify_bulk.py): objects (orders + line items) processed per
    # second, seconds in CREATED before RUNNING, concurrent bulk queries per shop (0: by version,
    # 5 from 2026-01, 1 before), how long a read of the operation's signed `url` stays valid, and
    # how long after completion the result is kept (then EXPIRED; Shopify: 7 days)
    shopify_bulk_objects_per_s: float = 10_000.0
    shopify_bulk_start_s: float = 1.0
    shopify_bulk_concurrency: int = 0
    shopify_bulk_url_ttl_s: float = 3_600.0
    shopify_bulk_retention_s: float = 7 * 86_400.0
    # the terminal state each next bulk query ends in, one entry consumed per operation created:
    # "FAILED:TIMEOUT", "FAILED:INTERNAL_SERVER_ERROR", "CANCELED", "EXPIRED" ("" = completes)
    shopify_bulk_outcomes: list[str] = field(default_factory=list)
    shopify_bulk_chunk_delay_s: float = 0.0  # a pause between 64 KiB chunks of a result download
    # Meta
    meta_throttle_intensity: float = 1.0  # multiplier on usage growth per call (0 = never throttles)
    meta_usage_per_call: float = 1.0  # usage points (%) one call adds at intensity 1
    meta_usage_window_s: float = 60.0  # seconds for usage to fall from 100 % to 0
    # what one call adds to the app's insights meter, as a share of what it adds to its account's
    # (the app's capacity is shared by every account; 0.01: a hundred accounts' worth)
    meta_app_usage_share: float = 0.01
    meta_throttle_code: int = 80000  # code of the throttle error: 4, 17, 613, 80000, 80004, 32
    meta_plain_429: bool = False  # throttle with a plain HTTP 429 instead of HTTP 400 + code
    meta_max_rows_per_page: int = 1000  # a request with a larger `limit` fails with code 1 (HTTP 500)
    # a synchronous insights request whose answer (all pages) has more rows fails with code 1
    # (HTTP 500 "Please reduce the amount of data…"), whatever its `limit`; 0: no limit
    meta_sync_max_rows: int = 0
    # asynchronous report runs (meta_reports.py): seconds from start to the final status; the next
    # N runs started end "Job Failed" / "Job Skipped"; every run of these days (since) fails
    meta_report_processing_s: float = 2.0
    meta_report_failures: int = 0
    meta_report_skips: int = 0
    meta_report_fail_days: set[str] = field(default_factory=set)
    # the app's secret when it has "Require App Secret": every call must then carry
    # appsecret_proof = HMAC-SHA256(key=secret, msg=token) hex, else code 100 (HTTP 400)
    meta_app_secret: str | None = None
    # the version Meta's `facebook-api-version` header names (None: the one in the URL), as when
    # Meta serves a call with another version than the one it asked for
    meta_served_version: str | None = None
    # Both platforms: tokens rejected from now on (Shopify 401, Meta code 190 / subcode 460)
    revoked_tokens: set[str] = field(default_factory=set)
    # shop domain / act_… → scripted answers to its next requests (simulator/scripted.py)
    shopify_scripted: Queues = field(default_factory=dict)
    meta_scripted: Queues = field(default_factory=dict)

    def update(self, **changes: Any) -> Faults:
        """Set several knobs at once (validated); unknown names raise ValueError."""
        names = {f.name: f for f in dataclasses.fields(self)}
        for key, value in changes.items():
            if key not in names:
                raise ValueError(f"unknown fault knob {key!r}; known: {', '.join(sorted(names))}")
            current = getattr(self, key)
            if key.endswith("_scripted"):
                value = queues(value)
            elif isinstance(current, set) or key in (
                "shopify_missing_scope_shops",
                "shopify_no_read_all_orders_shops",
                "fault_platforms",
                "revoked_tokens",
                "meta_report_fail_days",
            ):
                value = {value} if isinstance(value, str) else set(value or ())
            elif isinstance(current, bool):
                value = bool(value)
            elif key == "shopify_plan":
                if value is not None and value not in PLANS:
                    raise ValueError(f"shopify_plan must be one of {PLANS}")
            elif isinstance(current, int):
                value = int(value)
            elif isinstance(current, float):
                value = float(value)
            if key.endswith("_rate") and not 0.0 <= value <= 1.0:
                raise ValueError(f"{key} must be between 0 and 1")
            if key == "meta_throttle_code" and value not in META_THROTTLE_CODES:
                raise ValueError(f"meta_throttle_code must be one of {META_THROTTLE_CODES}")
            setattr(self, key, value)
        return self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_scripted"):
                value = to_json(value)
            out[f.name] = sorted(value) if isinstance(value, set) else value
        return out


@dataclass(frozen=True)
class FaultDraw:
    kind: FaultKind | None
    status: int = 0  # for 5xx
    cut: float = 0.5  # where a malformed or dropped body is cut (fraction)


class FaultInjector:
    """Draws at most one random fault per API request, reproducibly from (seed, sequence number)."""

    def __init__(self, seed: int, faults: Faults) -> None:
        self.seed = seed
        self.faults = faults
        self._lock = threading.Lock()
        self._counter = 0

    def reset(self) -> None:
        with self._lock:
            self._counter = 0

    def draw(self, platform: str) -> FaultDraw:
        f = self.faults
        with self._lock:
            n = self._counter
            self._counter += 1
        if platform not in f.fault_platforms:
            return FaultDraw(None)
        r = rng(self.seed, "faults", n)
        x = r.random()
        cut = 0.2 + 0.6 * r.random()
        edge = f.timeout_rate
        if x < edge:
            return FaultDraw("timeout")
        edge += f.drop_rate
        if x < edge:
            return FaultDraw("drop", cut=cut)
        edge += f.error_5xx_rate
        if x < edge:
            return FaultDraw("5xx", status=r.choice((500, 502, 503)))
        edge += f.malformed_rate
        if x < edge:
            return FaultDraw("malformed", cut=cut)
        internal = {"shopify": f.shopify_internal_error_rate, "google_ads": f.google_ads_stream_error_rate}
        edge += internal.get(platform, 0.0)
        if x < edge:
            return FaultDraw("internal")
        return FaultDraw(None)
