"""Reading ahead: run an iterator one step ahead of its consumer, in a thread of its own.

The loaders read an API page, parse and transform it, then write it; on their own the two halves
alternate. With the next page read while the current one is written, the API's latency and the
Python work of the next page overlap with the database's work on this one (psycopg waits for the
server without the GIL). Still one API request at a time: only the producer thread iterates.
Memory stays bounded: at most `depth` items wait in the queue.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Generator, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(items: Iterable[T], *, depth: int = 1, name: str = "read-ahead") -> Generator[T, None, None]:
    """Yield what `items` yields, computing up to `depth` items ahead in a producer thread.

    An exception raised by `items` is raised to the consumer at the point it would have been
    raised without the thread. When the consumer stops early (break, an exception, `close()`),
    the producer stops after its current item and `items` is closed in the producer's thread
    before this generator returns, so nothing iterates `items` once the consumer has moved on.
    """
    slots: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        iterator: Iterator[T] = iter(items)
        try:
            for item in iterator:
                if stop.is_set():
                    return
                slots.put(item)
                if stop.is_set():
                    return
            slots.put(_DONE)
        except BaseException as exc:
            slots.put(_Failed(exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting for a free slot
            with contextlib.suppress(queue.Empty):
                slots.get(timeout=0.05)
        thread.join()
