"""The simulator's clock: "now" for every answer, controllable from tests and the admin API.

`now = anchor + (monotonic() − anchored_at) × speed`. Speed 1 follows real time, 0 freezes it,
10 runs ten times faster. `set()` and `advance()` move it; both are thread-safe.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class SimClock:
    def __init__(self, start: datetime | None = None, speed: float = 1.0) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._lock = threading.Lock()
        self._speed = float(speed)
        self._anchor = _aware(start) if start is not None else datetime.now(UTC)
        self._anchored_at = time.monotonic()

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime:
        """The simulated instant, an aware UTC datetime."""
        with self._lock:
            elapsed = (time.monotonic() - self._anchored_at) * self._speed
            return self._anchor + timedelta(seconds=elapsed)

    def timestamp(self) -> float:
        return self.now().timestamp()

    def set(self, dt: datetime) -> datetime:
        with self._lock:
            self._anchor = _aware(dt)
            self._anchored_at = time.monotonic()
            return self._anchor

    def advance(self, delta: timedelta) -> datetime:
        current = self.now()
        return self.set(current + delta)

    def set_speed(self, speed: float) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        current = self.now()
        with self._lock:
            self._anchor = current
            self._anchored_at = time.monotonic()
            self._speed = float(speed)


def _aware(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)
