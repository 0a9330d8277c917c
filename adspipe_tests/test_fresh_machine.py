"""The fresh-machine guard: in CI every test process sees `time.monotonic()` near zero.

`.ci/run` sets ADSPIPE_FRESH_MACHINE=1; scripts/test.sh then puts .ci/fresh-machine on PYTHONPATH
with one ADSPIPE_MONOTONIC_BASE for all processes. These tests fail in CI if the guard is not
active, so a mixed fake/real clock cannot pass there by luck of a long uptime.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from adspipe_tests.ci import IN_CI

ACTIVE = bool(os.environ.get("ADSPIPE_MONOTONIC_BASE"))
# The default suite takes minutes; an unrebased clock on any machine up for a while is far above.
NEAR_BOOT_S = 1_800.0


def test_ci_runs_the_suite_with_the_guard_active() -> None:
    if not IN_CI:
        pytest.skip("outside CI the guard is optional (ADSPIPE_FRESH_MACHINE=1 bash scripts/test.sh)")
    assert ACTIVE, "CI must run the default suite with ADSPIPE_FRESH_MACHINE=1 (see .ci/run)"


@pytest.mark.skipif(not ACTIVE, reason="the guard is off (set ADSPIPE_FRESH_MACHINE=1)")
def test_this_process_and_its_children_see_a_just_booted_clock() -> None:
    assert type(time.monotonic).__name__ == "_Rebased"
    assert 0.0 < time.monotonic() < NEAR_BOOT_S
    assert 0 < time.monotonic_ns() < NEAR_BOOT_S * 1e9
    child = subprocess.run(
        [sys.executable, "-c", "import time; print(time.monotonic())"],
        capture_output=True,
        text=True,
        check=True,
    )
    child_now = float(child.stdout)
    # One base for every process: the child's reading follows ours, it does not restart at 5 s.
    assert time.monotonic() - 60 < child_now < NEAR_BOOT_S
