"""read_ahead: same items, same errors, one item ahead, the source closed in its own thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from adspipe.streams import read_ahead


def test_yields_every_item_in_order() -> None:
    assert list(read_ahead(iter(range(100)))) == list(range(100))
    assert list(read_ahead([])) == []


def test_reads_the_next_item_while_the_consumer_works() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for i in range(3):
            produced.append(i)
            yield i

    stream = read_ahead(source(), depth=1)
    assert next(stream) == 0
    deadline = time.monotonic() + 5
    while len(produced) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    # Item 1 was produced while item 0 was being consumed; item 2 waits for a free slot.
    assert produced[:2] == [0, 1]
    time.sleep(0.1)
    assert len(produced) <= 3
    assert list(stream) == [1, 2]


def test_an_error_of_the_source_reaches_the_consumer_after_the_items_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise ValueError("page 2 broke")

    stream = read_ahead(source())
    assert next(stream) == 1
    with pytest.raises(ValueError, match="page 2 broke"):
        next(stream)


def test_stopping_early_closes_the_source_in_the_producer_thread_before_returning() -> None:
    closed_in: list[str] = []
    produced: list[int] = []

    def source() -> Iterator[int]:
        try:
            for i in range(1000):
                produced.append(i)
                yield i
        finally:
            closed_in.append(threading.current_thread().name)

    stream = read_ahead(source(), name="test-producer")
    for item in stream:
        if item == 2:
            break
    stream.close()
    assert closed_in == ["test-producer"]
    assert len(produced) <= 5  # at most the items ahead, not the whole source
    assert not any(t.name == "test-producer" for t in threading.enumerate())
