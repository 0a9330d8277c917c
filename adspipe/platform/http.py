"""One HTTP client base for every platform: session, timeouts, retries, waits, errors, statistics.

A platform client subclasses `HttpClientBase` (a Dagster `ConfigurableResource`), opens an
`HttpSession` per account and calls `session.request(method, url, classify=...)`. The platform's
`classify` turns each response into an `Outcome`:

- `ok(value)`: returned to the caller;
- `throttle(why, wait_s=)`: waited (exactly `wait_s` when the platform says how long — a retry
  delay, a bucket refill — else full-jitter backoff; `backoff_too=True` takes the larger), retried
  up to `max_throttle_retries`, then `RateLimitExhausted`;
- `transient(why)`: full-jitter backoff (`uniform(0, min(cap, base·2^(n−1)))`), retried up to
  `max_transient_retries`, then `TransientApiError`; timeouts and transport errors are transient;
- `auth(why)` → `AuthError`, `permanent(why)` → `PermanentApiError`, at once;
- `caller(why, detail)` → `CallerOutcome`: a case only the platform can act on (a smaller page).

Every wait is counted by kind in `CallStats.waits_s` (backoff, throttle, pace) and checked first
against the session's wait budget (throttle/pace past it → `RateLimitExhausted`, backoff →
`TransientApiError`) and its deadline (`DeadlineReached`): no sleep is started that would end
past either. Every message raised or logged goes through `sanitize_error` with the session's
secrets, so a token echoed by an API never reaches a log line or `sync_runs.error`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Self, TypeVar

import dagster as dg
import httpx
from pydantic import Field, PrivateAttr

from adspipe.counters import DayStats
from adspipe.errors import AdspipeError, AuthError, PermanentApiError, RateLimitExhausted, TransientApiError
from adspipe.warehouse.sync_runs import sanitize_error

logger = logging.getLogger(__name__)

T = TypeVar("T")
OutcomeKind = Literal["ok", "throttle", "transient", "auth", "permanent", "caller"]
WaitKind = Literal["backoff", "throttle", "pace"]


class DeadlineReached(AdspipeError):
    """A wait would end past the caller's deadline: stop cleanly; what was committed stays."""


class CallerOutcome(AdspipeError):
    """A response the platform's own code must handle (e.g. "ask for less"): carries the outcome."""

    def __init__(self, message: str, outcome: Outcome[Any]) -> None:
        super().__init__(message)
        self.outcome = outcome


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What one response means. Build with the class methods."""

    kind: OutcomeKind
    description: str = ""
    value: T | None = None
    wait_s: float | None = None  # throttle: how long the platform asks us to wait
    backoff_too: bool = False  # throttle: wait max(wait_s, jittered backoff) instead of wait_s
    detail: Any = None  # caller: anything the platform code needs

    @classmethod
    def ok(cls, value: T) -> Outcome[T]:
        return cls("ok", value=value)

    @classmethod
    def throttle(
        cls, description: str, *, wait_s: float | None = None, backoff_too: bool = False
    ) -> Outcome[T]:
        return cls("throttle", description, wait_s=wait_s, backoff_too=backoff_too)

    @classmethod
    def transient(cls, description: str) -> Outcome[T]:
        return cls("transient", description)

    @classmethod
    def auth(cls, description: str) -> Outcome[T]:
        return cls("auth", description)

    @classmethod
    def permanent(cls, description: str) -> Outcome[T]:
        return cls("permanent", description)

    @classmethod
    def caller(cls, description: str, detail: Any = None) -> Outcome[T]:
        return cls("caller", description, detail=detail)


@dataclass
class CallStats:
    """What a session spent: written to `sync_runs` and to Dagster metadata; `merge` adds sessions."""

    api_calls: int = 0
    pages: int = 0  # pages read, where the API pages its answers
    retries: int = 0  # transient failures retried
    throttled: int = 0  # throttle answers (each one waited or given up on)
    waits_s: dict[str, float] = field(default_factory=dict)  # seconds waited, by kind
    api_version: str | None = None  # the version asked for
    api_version_served: str | None = None  # the version a response named, when one does

    def add_wait(self, kind: str, seconds: float) -> None:
        self.waits_s[kind] = self.waits_s.get(kind, 0.0) + seconds

    @property
    def wait_s(self) -> float:
        return sum(self.waits_s.values())

    @property
    def throttle_wait_s(self) -> float:
        """Waiting caused by rate limits (throttle answers and pacing), as `SyncStats` counts it."""
        return self.waits_s.get("throttle", 0.0) + self.waits_s.get("pace", 0.0)

    @property
    def pace_wait_s(self) -> float:
        """Waiting before calls, to stay under a rate limit (pacing)."""
        return self.waits_s.get("pace", 0.0)

    def day_stats(self) -> DayStats:
        """These counters as a day's (a day's own cost is the change across its calls)."""
        return DayStats(
            pages=self.pages, api_calls=self.api_calls, throttled=self.throttled, retries=self.retries,
            throttle_wait_s=self.throttle_wait_s, pace_wait_s=self.pace_wait_s,
            backoff_wait_s=self.waits_s.get("backoff", 0.0),
        )  # fmt: skip

    def merge(self, other: CallStats) -> None:
        self.api_calls += other.api_calls
        self.pages += other.pages
        self.retries += other.retries
        self.throttled += other.throttled
        for kind, seconds in other.waits_s.items():
            self.add_wait(kind, seconds)
        self.api_version = self.api_version or other.api_version
        self.api_version_served = other.api_version_served or self.api_version_served


def full_jitter(rng: random.Random, attempt: int, base_s: float, cap_s: float) -> float:
    """AWS "full jitter": uniform in [0, min(cap, base·2^(attempt−1))]; attempt counts from 1."""
    return rng.uniform(0.0, min(cap_s, base_s * 2 ** max(0, attempt - 1)))


class HttpClientBase(dg.ConfigurableResource):
    """The fields and the session every platform client shares; subclasses change the defaults."""

    connect_timeout_s: float = Field(default=10.0, gt=0)
    read_timeout_s: float = Field(default=60.0, gt=0)
    write_timeout_s: float = Field(default=10.0, gt=0)
    pool_timeout_s: float = Field(default=5.0, gt=0)
    max_transient_retries: int = Field(default=4, ge=0)
    max_throttle_retries: int = Field(default=6, ge=0)
    backoff_base_s: float = Field(default=1.0, ge=0)
    backoff_cap_s: float = Field(default=30.0, ge=0)
    wait_budget_s: float = Field(
        default=300.0,
        ge=0,
        description="Most seconds one session may spend waiting (backoff, throttle, pace).",
    )

    _http: httpx.Client | None = PrivateAttr(default=None)
    _transport: httpx.BaseTransport | None = PrivateAttr(default=None)
    _sleep: Callable[[float], None] = PrivateAttr(default=time.sleep)
    _monotonic: Callable[[], float] = PrivateAttr(default=time.monotonic)
    _rng: random.Random = PrivateAttr(default_factory=random.Random)

    def with_transport(
        self,
        transport: httpx.BaseTransport | None = None,
        *,
        sleep: Callable[[float], None] | None = None,
        monotonic: Callable[[], float] | None = None,
        rng: random.Random | None = None,
    ) -> Self:
        """The one test hook: the network, the sleep, the clock deadlines use, the jitter source."""
        self.close()
        self._transport = transport
        if sleep is not None:
            self._sleep = sleep
        if monotonic is not None:
            self._monotonic = monotonic
        if rng is not None:
            self._rng = rng
        return self

    def monotonic(self) -> float:
        """The clock deadlines are measured on (injectable)."""
        return self._monotonic()

    def sleep(self, seconds: float) -> None:
        """Every wait ends here (a test may patch it on the class when Dagster builds the resource)."""
        self._sleep(seconds)

    def http(self) -> httpx.Client:
        if self._http is None:
            timeout = httpx.Timeout(
                connect=self.connect_timeout_s,
                read=self.read_timeout_s,
                write=self.write_timeout_s,
                pool=self.pool_timeout_s,
            )
            self._http = httpx.Client(timeout=timeout, transport=self._transport)
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()

    def describe(self, session: HttpSession, outcome: Outcome[Any], tries: int = 0) -> str:
        """The message of the error raised for `outcome` after `tries` answers like it.

        A platform may override it to word its own messages (they are masked either way)."""
        where = f"{session.label}: {outcome.description}"
        if outcome.kind == "throttle":
            return (
                f"{where}; still throttled after {tries - 1} retries "
                f"({session.waited_s:.1f} s waited); the next run continues"
            )
        if outcome.kind == "transient":
            return f"{where}; gave up after {tries} attempts"
        return where

    def over_budget(self, session: HttpSession, seconds: float, kind: WaitKind, why: str, tries: int) -> str:
        """The message when a wait of `seconds` would pass the session's wait budget."""
        return (
            f"{session.label}: {why}; a {seconds:.1f} s wait would pass the {session.wait_budget_s:.0f} s "
            f"wait budget ({session.waited_s:.1f} s spent); the next run continues"
        )

    def http_session(
        self,
        label: str,
        *,
        secrets: Callable[[], Iterable[str]] | Iterable[str] = (),
        stats: CallStats | None = None,
        deadline: float | None = None,
        wait_budget_s: float | None = None,
    ) -> HttpSession:
        """Calls for one account: `label` starts every message; `secrets` are masked in them."""
        return HttpSession(self, label, secrets, stats or CallStats(), deadline, wait_budget_s)


class HttpSession:
    """One account's calls within a run: owns its stats, its wait budget and its deadline."""

    def __init__(
        self,
        client: HttpClientBase,
        label: str,
        secrets: Callable[[], Iterable[str]] | Iterable[str],
        stats: CallStats,
        deadline: float | None,
        wait_budget_s: float | None,
    ) -> None:
        self.client = client
        self.label = label
        self.stats = stats
        self.deadline = deadline
        self.wait_budget_s = client.wait_budget_s if wait_budget_s is None else wait_budget_s
        self._secrets = secrets
        self._waited = 0.0

    def __repr__(self) -> str:
        return f"HttpSession({self.label!r})"

    @property
    def waited_s(self) -> float:
        return self._waited

    @property
    def budget_left_s(self) -> float:
        return self.wait_budget_s - self._waited

    def mask(self, message: str) -> str:
        secrets = self._secrets() if callable(self._secrets) else self._secrets
        return sanitize_error(message, list(secrets))

    def wait(self, seconds: float, kind: WaitKind, why: str, tries: int = 0) -> None:
        """Sleep `seconds` unless that passes the deadline or the wait budget (then raise).

        `tries`: the answers of this kind so far (for the platform's message)."""
        if seconds <= 0:
            return
        if self.deadline is not None and self.client.monotonic() + seconds > self.deadline:
            raise DeadlineReached(
                self.mask(f"{self.label}: time budget reached before a {seconds:.1f} s wait ({why})")
            )
        if self._waited + seconds > self.wait_budget_s:
            message = self.mask(self.client.over_budget(self, seconds, kind, why, tries))
            raise TransientApiError(message) if kind == "backoff" else RateLimitExhausted(message)
        self._waited += seconds
        self.stats.add_wait(kind, seconds)
        self.client.sleep(seconds)

    def request(
        self,
        method: str,
        url: str,
        *,
        classify: Callable[[httpx.Response], Outcome[T]],
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
        pace: Callable[[], float] | None = None,
    ) -> T:
        """Send until `classify` says ok (its value is returned) or the retries / budget run out.

        `headers` may be a callable, evaluated per attempt (a token refreshed between retries);
        `pace` returns seconds to wait before each attempt (a platform's proactive throttle model).
        """
        throttles = transients = 0
        while True:
            if pace is not None:
                self.wait(pace(), "pace", "pacing")
            outcome = self._send(method, url, classify, params, json, data, headers)
            if outcome.kind == "ok":
                return outcome.value  # type: ignore[return-value]
            where = f"{self.label}: {outcome.description}"
            if outcome.kind == "auth":
                raise AuthError(self.mask(self.client.describe(self, outcome)))
            if outcome.kind == "permanent":
                raise PermanentApiError(self.mask(self.client.describe(self, outcome)))
            if outcome.kind == "caller":
                raise CallerOutcome(self.mask(self.client.describe(self, outcome)), outcome)
            if outcome.kind == "throttle":
                throttles += 1
                self.stats.throttled += 1
                if throttles > self.client.max_throttle_retries:
                    raise RateLimitExhausted(self.mask(self.client.describe(self, outcome, throttles)))
                backoff = full_jitter(
                    self.client._rng, throttles, self.client.backoff_base_s, self.client.backoff_cap_s
                )
                if outcome.wait_s is None:
                    seconds = backoff
                else:
                    seconds = max(outcome.wait_s, backoff) if outcome.backoff_too else outcome.wait_s
                logger.info(self.mask(f"{where}; waiting {seconds:.1f} s (throttle {throttles})"))
                self.wait(seconds, "throttle", outcome.description, throttles)
                continue
            transients += 1
            if transients > self.client.max_transient_retries:
                raise TransientApiError(self.mask(self.client.describe(self, outcome, transients)))
            self.stats.retries += 1
            seconds = full_jitter(
                self.client._rng, transients, self.client.backoff_base_s, self.client.backoff_cap_s
            )
            logger.info(self.mask(f"{where}; retrying in {seconds:.1f} s (attempt {transients + 1})"))
            self.wait(seconds, "backoff", outcome.description, transients)

    def _send(
        self,
        method: str,
        url: str,
        classify: Callable[[httpx.Response], Outcome[T]],
        params: Mapping[str, str] | None,
        json: Any,
        data: Mapping[str, str] | None,
        headers: Mapping[str, str] | Callable[[], Mapping[str, str]] | None,
    ) -> Outcome[T]:
        sent = headers() if callable(headers) else headers
        self.stats.api_calls += 1
        try:
            response = self.client.http().request(
                method, url, params=params, json=json, data=data, headers=sent
            )
        except httpx.TimeoutException as exc:
            return Outcome.transient(f"timeout ({type(exc).__name__})")
        except httpx.TransportError as exc:
            return Outcome.transient(f"connection error ({type(exc).__name__})")
        return classify(response)
