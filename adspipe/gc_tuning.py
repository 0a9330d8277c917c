"""Interpreter settings for bulk loads: the collector's young generation, the GIL switch interval.

Python collects its youngest generation every 700 net allocations of containers. A load makes
~100,000 short-lived dicts and lists per API page (parsed JSON, row dicts, COPY tuples): at 700,
the collector runs hundreds of times per page, walking objects that reference counting frees a
moment later anyway, and promotes them to older generations to be walked again. With the
threshold at 100,000, most of a page dies before the collector ever sees it. Measured with
bench/bench_throughput.py (P3): Meta insights +30 %, Shopify orders +19 % rows per second.

Both process-wide (each has one setting), for as long as at least one load runs; the previous
settings come back when the last one ends. Memory is unaffected: reference counting
frees what the loads drop, the collector only finds cycles, and loads make none.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

BULK_THRESHOLD0 = 100_000
# A loader's read-ahead thread runs Python (parse, transform, encode) while its main thread waits
# on Postgres; each time Postgres answers, the main thread must win the GIL back, and by default
# the thread holding it keeps it up to 5 ms. A COPY is shipped in ~100 such waits per 2,000
# orders: at 5 ms a wait, the database sat idle for most of the fill. Measured (P3, 20,000
# orders / 21,000 insight rows, in share of COPY): 5 ms 0.52 / 0.45, 1 ms 0.55 / 0.51, 0.5 ms
# 0.56 / 0.53 (0.2 ms: no better on orders alone).
BULK_SWITCH_INTERVAL_S = 0.0005

_lock = threading.Lock()
_active = 0
_saved: tuple[int, int, int] | None = None
_saved_switch: float | None = None


@contextmanager
def bulk_load() -> Iterator[None]:
    """Raise the young generation's threshold to `BULK_THRESHOLD0` and shorten the switch interval
    to `BULK_SWITCH_INTERVAL_S` (never lengthen either) while the block runs."""
    global _active, _saved, _saved_switch
    with _lock:
        if _active == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(max(BULK_THRESHOLD0, _saved[0]), _saved[1], _saved[2])
            _saved_switch = sys.getswitchinterval()
            sys.setswitchinterval(min(BULK_SWITCH_INTERVAL_S, _saved_switch))
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None
            if _active == 0 and _saved_switch is not None:
                sys.setswitchinterval(_saved_switch)
                _saved_switch = None
