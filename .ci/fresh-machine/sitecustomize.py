"""CI only: make every Python process see the monotonic clock of a machine booted seconds ago.

`time.monotonic()` counts from boot, so on a CI machine that has been up for hours a test that
mixes a fake clock (starting at some constant) with the real one can pass by luck, and fail on a
just-booted machine. With ADSPIPE_MONOTONIC_BASE set (by .ci/run, once, from its own clock), every
process started with this folder on PYTHONPATH subtracts the same base, so the clock still agrees
across processes and starts near ADSPIPE_MONOTONIC_START seconds (default 5).
"""

from __future__ import annotations

import os
import time

_base = os.environ.get("ADSPIPE_MONOTONIC_BASE")
if _base:

    class _Rebased:
        """`time.monotonic` minus a fixed base: a callable object, so a test can tell it is active."""

        def __init__(self, real, offset):  # type: ignore[no-untyped-def]
            self.real, self.offset = real, offset

        def __call__(self):  # type: ignore[no-untyped-def]
            return self.real() - self.offset

    _offset = float(_base)
    time.monotonic = _Rebased(time.monotonic, _offset)  # type: ignore[assignment]
    time.monotonic_ns = _Rebased(time.monotonic_ns, int(_offset * 1e9))  # type: ignore[assignment]
