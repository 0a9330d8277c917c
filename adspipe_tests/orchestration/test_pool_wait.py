"""The pool-wait fixes: a step waiting for a slot sleeps until its next re-check, every 0.5 s."""

from __future__ import annotations

import inspect
import time
from types import SimpleNamespace
from typing import Any

from dagster._core.execution.plan import instance_concurrency_context as icc

import adspipe.definitions  # noqa: F401 - applies the fixes, as in every run worker
from adspipe.orchestration import pool_wait


def _context(**fields: Any) -> Any:
    return SimpleNamespace(**fields)


def test_a_waiting_step_sleeps_until_its_next_recheck_instead_of_spinning() -> None:
    now = time.time()
    waiting = _context(_pending_claims={"meta_insights"}, _pending_timeouts={"meta_insights": now + 0.4})
    assert 0.3 < pool_wait.interval_to_next_pending_claim_check(waiting) <= 0.4
    due = _context(_pending_claims={"meta_insights"}, _pending_timeouts={"meta_insights": now - 1})
    assert pool_wait.interval_to_next_pending_claim_check(due) == 0.0
    assert (
        pool_wait.interval_to_next_pending_claim_check(_context(_pending_claims=set(), _pending_timeouts={}))
        == 0.0
    )


def test_rechecks_stay_at_half_a_second_instead_of_backing_off_to_15_s() -> None:
    assert [pool_wait.recheck_interval(None, n) for n in (0, 10, 40, 1000)] == [0.5] * 4
    assert pool_wait.recheck_interval(3.0, 40) == 3.0  # a storage that asks for an interval gets it


def test_loading_the_code_location_installs_both_fixes_once() -> None:
    assert icc.InstanceConcurrencyContext.interval_to_next_pending_claim_check is (
        pool_wait.interval_to_next_pending_claim_check
    )
    assert icc._calculate_timeout_interval is pool_wait.recheck_interval
    pool_wait.apply()  # idempotent
    assert icc._calculate_timeout_interval is pool_wait.recheck_interval


def test_the_patched_dagster_still_has_the_bug() -> None:
    """A guard for upgrades: the patch replaces exactly this line of Dagster 1.13 (a wait never
    longer than 0 s). Once Dagster fixes it, this fails: drop pool_wait then."""
    source = inspect.getsource(icc)
    assert "return min([0, *[ready_at - now for ready_at in self._pending_timeouts.values()]])" in source
