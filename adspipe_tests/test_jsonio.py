"""jsonio.loads: json.loads' result and errors, with the collector paused only while it parses;
jsonio.dumps: the same JSON, compact, exact for any integer."""

from __future__ import annotations

import gc
import json

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


def test_dumps_is_the_json_of_the_value_and_exact_beyond_64_bits() -> None:
    value = {"a": [1, 2.5, None, True], "é": '東京\n\t"q"', "n": {"deep": [{"x": -0.1}]}}
    assert json.loads(jsonio.dumps(value)) == value
    assert jsonio.dumps({"a": 1}) == '{"a":1}'  # compact
    big = {"id": 2**70, "neg": -(2**65)}
    assert json.loads(jsonio.dumps(big)) == big  # json.dumps takes what orjson refuses
    with pytest.raises(TypeError):
        jsonio.dumps({"when": object()})
