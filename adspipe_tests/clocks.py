"""Where the tests' fake monotonic clocks start.

Far from any real `time.monotonic()` reading (seconds since boot): a test that takes a deadline from
one clock and checks it against the other then fails on every machine — not only on one booted a
few minutes ago, where a fake clock starting at 1,000 s happened to lie ahead of the real one.
CI also runs the suite with the real clock rebased near zero (.ci/fresh-machine/sitecustomize.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

FAKE_MONOTONIC_START = 1.0e9


class FakeClock:
    """The tests' one monotonic clock: it moves only when slept on or moved by hand (thread-safe).

    Give `monotonic` and `sleep` to a client, or the clock itself (it is callable) to a simulator.
    `sleeps` records every requested sleep, `slept` their total; `slowed(rate)` is the same clock
    running at `rate` × speed (a simulator's buckets then refill slower than the clients expect).
    """

    def __init__(self, start: float = FAKE_MONOTONIC_START) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []
        self.slept = 0.0

    @property
    def now(self) -> float:
        with self._lock:
            return self._now

    @now.setter
    def now(self, value: float) -> None:
        with self._lock:
            self._now = value

    def monotonic(self) -> float:
        return self.now

    __call__ = monotonic

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += max(0.0, seconds)
            self.slept += max(0.0, seconds)

    def slowed(self, rate: float) -> Callable[[], float]:
        start = self.now

        def monotonic() -> float:
            return start + (self.monotonic() - start) * rate

        return monotonic
