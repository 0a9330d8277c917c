"""Shopify bulk operations for partition ranges, against the simulator (real client, real HTTP).

Waits (polls, LIMIT_REACHED) run on a virtual clock shared by the client and the simulator, so an
operation's status progression (CREATED → RUNNING → COMPLETED at `Faults.shopify_bulk_objects_per_s`
objects/s) takes no real time. Three stores: America/Los_Angeles, Europe/Berlin (DST change on 29
Mar 2026 inside the range) and Pacific/Auckland; T0 = 2026-04-03 06:00Z. Ranges of 10–40 days ago
hold refunds and cancellations that arrived after their orders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.shopify import bulk, settings, sync
from adspipe.shopify.client import ShopifyClient
from adspipe.simulator.compare import orders_differences, shopify_metrics_differences
from adspipe.warehouse import schema
from adspipe.warehouse.schema import sync_cursors
from adspipe_tests.clocks import FakeClock
from adspipe_tests.faults.harness import TOKEN_ENV, local_today, register, shopify_client
from adspipe_tests.shopify import test_simulator_acceptance as acceptance
from adspipe_tests.shopify.helpers import table_digests
from adspipe_tests.simulator_fixtures import RunningSimulator

T0 = datetime(2026, 4, 3, 6, 0, tzinfo=UTC)
WEST = "pioneer-botanicals.myshopify.com"


class Killed(BaseException):
    """A kill -9 stand-in: nothing in the run catches it (not an Exception)."""


class Env(acceptance.Env):
    """The acceptance suite's environment, with the partition ranges this suite reads."""

    def days(self, shop: str, first_ago: int, last_ago: int) -> list[date]:
        today = local_today(T0, self.world.timezones[shop])
        return [today - timedelta(days=n) for n in range(first_ago, last_ago - 1, -1)]

    def sync(self, first_ago: int = 40, last_ago: int = 10, shop: str | None = None) -> sync.ShopifyResult:
        # one range of local dates for every store (the same dates in each zone)
        days = self.days(WEST, first_ago, last_ago)
        conn = self.world.shops[shop].connection_id if shop else None
        return sync.sync_days(self.engine, self.client, days, now=T0, connection_id=conn)

    def truth_diffs(self, first_ago: int = 40, last_ago: int = 10) -> tuple[int, list[str]]:
        rows, diffs = 0, []
        days = self.days(WEST, first_ago, last_ago)
        for shop in self.world.shops:
            n, d = shopify_metrics_differences(self.engine, self.sim.truth, shop, days[0], days[-1], at=T0)
            m, e = orders_differences(self.engine, self.sim.truth, shop, days[0], days[-1], at=T0)
            rows, diffs = rows + n + m, diffs + d + e
        return rows, diffs

    def operations(self) -> list[Any]:
        return list(self.sim.shopify.bulk.ops.values())


def ok(result: sync.ShopifyResult) -> sync.ShopifyResult:
    bad = [
        (o.connection.account_id, o.status, o.error) for o in result.report.outcomes if o.status != "success"
    ]
    assert bad == [], bad
    return result


def pages(result: sync.ShopifyResult) -> int:
    return sum(run.calls.pages for run in result.runs)


def remembered(engine: Engine) -> list[str]:
    with engine.connect() as db:
        keys = db.execute(sa.select(sync_cursors.c.cursor_key)).scalars()
        return [k for k in keys if k.startswith("shopify_bulk:")]


def wipe(engine: Engine) -> None:
    """Every synced row gone (connections and stores stay, with their ids)."""
    keep = {"connections", "stores", "alembic_version"}
    with engine.begin() as db:
        for table in reversed(schema.metadata.sorted_tables):
            if table.name not in keep:
                db.execute(sa.delete(table))


@pytest.fixture
def env(
    engine: Engine, make_simulator: Callable[..., RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Env]:
    vt = FakeClock()
    running = make_simulator(now=T0, monotonic=vt.monotonic, stores=3)
    monkeypatch.setenv(TOKEN_ENV, "sim-token")
    monkeypatch.delenv("ADSPIPE_SHOPIFY_BULK", raising=False)
    world = register(engine, running.sim, meta=False)
    yield Env(engine, running, vt, shopify_client(vt), world)


def test_bulk_days_equal_truth_to_the_cent_in_three_time_zones(env: Env) -> None:
    result = ok(env.sync())
    assert pages(result) == 0  # not one orders page: every day came from the bulk result
    ops = env.operations()
    assert [op.shop for op in ops] == list(env.world.shops)  # one operation per shop's range
    assert all(env.sim.shopify.bulk.state(op)[0] == "COMPLETED" for op in ops)
    rows, diffs = env.truth_diffs()
    assert diffs == [] and rows > 30 * 3, diffs[:10]
    refunded = sum(o.refunded != 0 for o in env.sim.truth.orders(WEST, *env.days(WEST, 40, 10)[::29], at=T0))
    assert refunded > 0
    assert remembered(env.engine) == []  # the operation is forgotten once every day committed
    # every day of the range is committed (an empty day too), each its own unit
    assert all(len(run.committed()) == len(env.days(WEST, 40, 10)) == 31 for run in result.runs)


def test_a_range_split_between_bulk_and_paged_equals_all_paged_in_every_table(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 20..1 days ago: 20..8 are older than the fresh window (bulk), 7..1 are paged
    result = ok(env.sync(20, 1))
    assert pages(result) > 0 and len(env.operations()) == 3
    split = table_digests(env.engine)
    wipe(env.engine)
    monkeypatch.setenv("ADSPIPE_SHOPIFY_BULK", "never")
    ok(env.sync(20, 1))
    assert len(env.operations()) == 3  # no new operation: all paged
    assert table_digests(env.engine) == split
    assert int(split["shopify_orders_raw"].split(":")[0]) > 1000


def test_running_a_bulk_range_twice_changes_nothing(env: Env) -> None:
    ok(env.sync(shop=WEST))
    before = table_digests(env.engine)
    ok(env.sync(shop=WEST))
    assert table_digests(env.engine) == before
    assert len(env.operations()) == 2  # a finished range is read again, never from an old result


@pytest.mark.parametrize("outcome", ["FAILED:TIMEOUT", "FAILED:INTERNAL_SERVER_ERROR", "CANCELED", "EXPIRED"])
def test_a_failed_operation_is_run_again_once_then_the_range_is_paged(env: Env, outcome: str) -> None:
    env.sim.faults.shopify_bulk_outcomes = [outcome]
    result = ok(env.sync(shop=WEST))
    assert pages(result) == 0 and len(env.operations()) == 2
    assert env.sim.shopify.bulk.state(env.operations()[0])[0] == outcome.split(":")[0]
    env.sim.faults.shopify_bulk_outcomes = [outcome, outcome]
    result = ok(env.sync(shop=WEST))
    assert len(env.operations()) == 4 and pages(result) > 0  # both failed: paged
    assert env.truth_diffs()[1] == [] or all(WEST not in d for d in env.truth_diffs()[1])
    assert remembered(env.engine) == []


def test_access_denied_fails_the_connection_with_the_scope(env: Env) -> None:
    env.sim.faults.shopify_bulk_outcomes = ["FAILED:ACCESS_DENIED"]
    result = env.sync(shop=WEST)
    (outcome,) = result.report.outcomes
    assert outcome.status == "failed"
    assert "ACCESS_DENIED" in str(outcome.error) and settings.ORDERS_SCOPE in str(outcome.error)
    assert result.runs[0].committed() == set() and remembered(env.engine) == []


def test_a_poll_timeout_cancels_the_operation_and_pages(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "BULK_POLL_TIMEOUT_S", 60.0)
    env.sim.faults.shopify_bulk_objects_per_s = 10.0  # ~10,000 objects: ~1,000 s
    result = ok(env.sync(shop=WEST))
    (op,) = env.operations()
    assert env.sim.shopify.bulk.state(op)[0] in ("CANCELING", "CANCELED") and op.cancel_mono is not None
    assert pages(result) > 0
    assert all(WEST not in d for d in env.truth_diffs()[1])


def test_the_shop_limit_waits_for_a_slot(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.sim.faults.shopify_bulk_concurrency = 1
    session = env.client.session(WEST, "sim-token")
    other = bulk.orders_document("created_at:>='2026-01-01T00:00:00Z'")
    started = session.execute(bulk.RUN_MUTATION, {"document": other}, cost_key=("x", "", 0))
    assert started["bulkOperationRunQuery"]["userErrors"] == []
    result = ok(env.sync(shop=WEST))
    assert settings.BULK_LIMIT_WAIT_S in env.vt.sleeps and pages(result) == 0
    assert len(env.operations()) == 2
    # a slot that never frees: after BULK_LIMIT_WAIT_MAX_S the range is paged
    env.sim.faults.shopify_bulk_objects_per_s = 0.01
    session.execute(bulk.RUN_MUTATION, {"document": other}, cost_key=("x", "", 0))
    result = ok(env.sync(shop=WEST))
    assert pages(result) > 0 and len(env.operations()) == 3
    assert all(WEST not in d for d in env.truth_diffs()[1])


def test_a_run_killed_while_polling_is_resumed_by_the_next_on_the_same_operation(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    def kill(client: ShopifyClient, seconds: float) -> None:
        raise Killed

    with monkeypatch.context() as patched, pytest.raises(Killed):
        patched.setattr(ShopifyClient, "sleep", kill)  # the first poll's wait
        env.sync(shop=WEST)
    (op,) = env.operations()
    assert env.sim.shopify.bulk.state(op)[0] in ("CREATED", "RUNNING")
    assert remembered(env.engine) == [
        f"shopify_bulk:{env.days(WEST, 40, 10)[0]}:{env.days(WEST, 40, 10)[-1]}"
    ]
    result = ok(env.sync(shop=WEST))
    assert len(env.operations()) == 1 and pages(result) == 0  # reused, not duplicated
    assert all(WEST not in d for d in env.truth_diffs()[1])
    assert remembered(env.engine) == []


def test_a_run_killed_during_the_download_is_resumed_on_the_same_operation(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = bulk.stream_lines

    def dies(session: Any, url: str) -> Iterator[bytes]:
        for n, line in enumerate(real(session, url)):
            if n == 500:
                raise Killed
            yield line

    monkeypatch.setattr(bulk, "stream_lines", dies)
    with pytest.raises(Killed):
        env.sync(shop=WEST)
    monkeypatch.setattr(bulk, "stream_lines", real)
    result = ok(env.sync(shop=WEST))
    assert len(env.operations()) == 1 and pages(result) == 0
    assert env.sim.shopify.bulk.downloads == 2
    assert all(WEST not in d for d in env.truth_diffs()[1])


def test_an_expired_result_url_is_read_again_not_run_again(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    real = bulk.stream_lines
    calls: list[str] = []

    def late(session: Any, url: str) -> Iterator[bytes]:
        if not calls:
            env.vt.sleep(env.sim.faults.shopify_bulk_url_ttl_s + 1)  # the signed URL runs out
        calls.append(url)
        return real(session, url)

    monkeypatch.setattr(bulk, "stream_lines", late)
    result = ok(env.sync(shop=WEST))
    assert len(calls) == 2 and calls[0] != calls[1]
    assert len(env.operations()) == 1 and pages(result) == 0
    assert all(WEST not in d for d in env.truth_diffs()[1])


def test_faults_on_the_bulk_path_still_reach_the_truth(env: Env) -> None:
    env.sim.faults.update(
        error_5xx_rate=0.1, malformed_rate=0.1, shopify_internal_error_rate=0.1, drop_rate=0.15
    )
    for _ in range(3):  # three runs of the range (a new operation each): ~100 requests
        result = ok(env.sync())
        assert pages(result) == 0
        assert env.truth_diffs()[1] == []
    counts = env.sim.counts()["shopify"]
    assert all(counts[k] > 0 for k in ("5xx", "malformed", "internal", "drop")), {
        k: counts[k] for k in ("ok", "5xx", "malformed", "internal", "drop")
    }
    # A mutation whose answer was lost and which was retried started a second operation: the one
    # still running is cancelled (one that completed during the retry's backoff is left, unread);
    # none is left running to hold one of the shop's bulk slots.
    states = [env.sim.shopify.bulk.state(op)[0] for op in env.operations()]
    assert len(states) >= 9 and set(states) <= {"COMPLETED", "CANCELING", "CANCELED"}, states
    assert "CANCELED" in states or "CANCELING" in states, states
