"""jsonio.loads: json.loads' result and errors, with the collector paused only while it parses."""

from __future__ import annotations

import gc

import pytest

from adspipe import jsonio


def test_parses_like_json_loads_and_restores_the_collector() -> None:
    assert gc.isenabled()
    assert jsonio.loads(b'{"a": [1, "2.50", null, {"b": true}]}') == {"a": [1, "2.50", None, {"b": True}]}
    assert gc.isenabled()


def test_a_malformed_body_raises_value_error_and_the_collector_comes_back() -> None:
    with pytest.raises(ValueError):
        jsonio.loads(b'{"a": ')
    assert gc.isenabled()


def test_the_collector_is_off_while_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    states: list[bool] = []

    def spy(content: bytes | str) -> object:
        states.append(gc.isenabled())
        return {}

    monkeypatch.setattr(jsonio.json, "loads", spy)
    jsonio.loads(b"{}")
    assert states == [False] and gc.isenabled()


def test_a_caller_that_disabled_the_collector_keeps_it_disabled() -> None:
    gc.disable()
    try:
        jsonio.loads(b"[]")
        assert not gc.isenabled()
    finally:
        gc.enable()
