"""How a step waits for its pool slot: two fixes to Dagster 1.13, applied when the code loads.

A run that starts while another run holds the `meta_api` slot (the backfill's next run, see
`op_granularity_run_buffer` in dagster.yaml) waits inside its run worker. Measured with
bench/bench_backfill.py and py-spy on a waiting run worker:

1. The wait spins. `InstanceConcurrencyContext.interval_to_next_pending_claim_check` returns
   `min([0, …])`, never more than 0, so the executor loop never sleeps: the waiting worker burns a
   whole CPU core (96 %) for as long as the holder runs, on a 2-core machine half of it, slowing
   the very run it waits for. Dagster knows (closed, unmerged PR dagster-io/dagster#20367).
2. The re-check backs off to 15 s (1, 1.1, 1.21 … s between claims), so after the holder's
   30–40 s the slot sits free for ~2 s on average before the waiter notices, at every hand-over
   of a backfill; longer runs make it longer.

The fixes: sleep until the next re-check is due, and re-check every `RECHECK_S` (one indexed
query on the instance database per waiting step per interval). Only the in-run wait changes; who
gets the slot (priority, then submission order) is still Dagster's.
"""

from __future__ import annotations

import time

from dagster._core.execution.plan import instance_concurrency_context as icc

RECHECK_S = 0.5
_APPLIED = "_adspipe_pool_wait"


def interval_to_next_pending_claim_check(self: icc.InstanceConcurrencyContext) -> float:
    """Seconds until the earliest pending claim may be re-checked (0 when one is due)."""
    if not self._pending_claims or not self._pending_timeouts:
        return 0.0
    return max(0.0, min(self._pending_timeouts.values()) - time.time())


def recheck_interval(sleep_interval: float | None, pending_claim_count: int) -> float:
    """The storage's own interval when it gives one, else a constant `RECHECK_S`."""
    return sleep_interval if sleep_interval is not None else RECHECK_S


def apply() -> None:
    """Install both fixes (idempotent)."""
    if getattr(icc, _APPLIED, False):
        return
    icc.InstanceConcurrencyContext.interval_to_next_pending_claim_check = interval_to_next_pending_claim_check  # type: ignore[method-assign]
    icc._calculate_timeout_interval = recheck_interval
    setattr(icc, _APPLIED, True)
