"""bulk_load: the young generation's threshold is raised while loads run, restored after the last."""

from __future__ import annotations

import gc
import sys

import pytest
from sqlalchemy.engine import Engine

from adspipe.gc_tuning import BULK_SWITCH_INTERVAL_S, BULK_THRESHOLD0, bulk_load
from adspipe.platform.engine import run_per_connection
from adspipe.warehouse import connections as conns


def test_raised_inside_restored_after_also_when_nested_and_on_error() -> None:
    before = gc.get_threshold()
    with bulk_load():
        assert gc.get_threshold() == (BULK_THRESHOLD0, before[1], before[2])
        with bulk_load():
            assert gc.get_threshold()[0] == BULK_THRESHOLD0
        assert gc.get_threshold()[0] == BULK_THRESHOLD0  # the outer load still runs
        with pytest.raises(RuntimeError), bulk_load():
            raise RuntimeError("a failing load")
        assert gc.get_threshold()[0] == BULK_THRESHOLD0
    assert gc.get_threshold() == before


def test_the_gil_switch_interval_is_short_while_loads_run_and_restored_after() -> None:
    before = sys.getswitchinterval()
    with bulk_load():
        assert sys.getswitchinterval() == pytest.approx(min(BULK_SWITCH_INTERVAL_S, before), abs=2e-6)
        with bulk_load():
            pass
        assert sys.getswitchinterval() == pytest.approx(min(BULK_SWITCH_INTERVAL_S, before), abs=2e-6)
    assert sys.getswitchinterval() == before
    sys.setswitchinterval(BULK_SWITCH_INTERVAL_S / 5)  # a process that asked for shorter keeps it
    try:
        with bulk_load():
            assert sys.getswitchinterval() == pytest.approx(BULK_SWITCH_INTERVAL_S / 5, abs=2e-6)
    finally:
        sys.setswitchinterval(before)


def test_a_higher_setting_of_the_process_is_kept() -> None:
    before = gc.get_threshold()
    gc.set_threshold(BULK_THRESHOLD0 * 2, before[1], before[2])
    try:
        with bulk_load():
            assert gc.get_threshold()[0] == BULK_THRESHOLD0 * 2
        assert gc.get_threshold()[0] == BULK_THRESHOLD0 * 2
    finally:
        gc.set_threshold(*before)


def test_every_connection_of_a_sync_runs_inside_a_bulk_load(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_TOKEN", "token-0123456789")
    with engine.begin() as db:
        connection, _ = conns.connect(db, store="S", platform="meta", account_id="act_9", token_env="T_TOKEN")
    seen: list[int] = []
    run_per_connection(engine, "test_job", [connection], lambda c, stats: seen.append(gc.get_threshold()[0]))
    assert seen == [BULK_THRESHOLD0]
