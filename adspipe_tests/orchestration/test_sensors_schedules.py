"""New-connection sensors and fresh schedules, with Dagster's test contexts."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from sqlalchemy.engine import Engine

from adspipe.counters import SyncStats
from adspipe.orchestration import schedules, sensors
from adspipe.orchestration.scope import ScopeConfig
from adspipe.resources import WarehouseResource
from adspipe.warehouse import connections as conns
from adspipe.warehouse.sync_runs import finish_sync_run, start_sync_run


@dg.op
def fill_op(config: ScopeConfig) -> None:
    """Stands in for the platform's fill op: the sensor only needs the job's shape."""


@dg.job(name="shopify_7d_fill")
def fill_job() -> None:
    fill_op()


def _evaluate(instance: dg.DagsterInstance) -> list[dg.RunRequest]:
    sensor = sensors.build_new_connection_sensor("shopify", fill_job)
    context = dg.build_sensor_context(instance=instance, resources={"warehouse": WarehouseResource()})
    result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return list(result.run_requests or [])


def _connect(engine: Engine, shop: str) -> conns.Connection:
    with engine.begin() as db:
        return conns.connect(db, store="S", platform="shopify", account_id=shop, token_env="TOK")[0]


def test_new_connection_gets_one_fill_and_reauth_gets_another(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOK", "token-value")
    first = _connect(engine, "a.myshopify.com")
    with dg.DagsterInstance.ephemeral() as instance:
        requests = _evaluate(instance)
        assert len(requests) == 1
        request = requests[0]
        assert request.run_key == f"shopify-7d-fill:{first.connection_id}:{first.authorized_at.isoformat()}"
        assert request.run_config == {"ops": {"fill_op": {"config": {"connection_id": first.connection_id}}}}
        assert request.tags["adspipe/connection_id"] == str(first.connection_id)
        # The same tick again proposes the same run key: Dagster launches a run key only once.
        assert [r.run_key for r in _evaluate(instance)] == [request.run_key]

        # Once the fill succeeded, nothing more is proposed, even to a sensor that lost its history.
        with engine.begin() as db:
            run = start_sync_run(db, job="shopify_7d_fill", connection_id=first.connection_id)
            finish_sync_run(db, run, status="success", stats=SyncStats())
        assert _evaluate(instance) == []

        # A second connection is proposed alone; a failed fill does not count as done.
        second = _connect(engine, "b.myshopify.com")
        with engine.begin() as db:
            run = start_sync_run(db, job="shopify_7d_fill", connection_id=second.connection_id)
            finish_sync_run(db, run, status="failed", stats=SyncStats(), error="x")
        assert [r.tags["adspipe/connection_id"] for r in _evaluate(instance)] == [str(second.connection_id)]

        # needs_reauth: no fill; re-authorized (connect again): a new fill with a new run key.
        with engine.begin() as db:
            conns.mark_needs_reauth(db, first.connection_id, "401")
            run = start_sync_run(db, job="shopify_7d_fill", connection_id=second.connection_id)
            finish_sync_run(db, run, status="success", stats=SyncStats())
        assert _evaluate(instance) == []
        again = _connect(engine, "a.myshopify.com")
        assert again.authorized_at > first.authorized_at
        (renewed,) = _evaluate(instance)
        assert renewed.run_key == f"shopify-7d-fill:{first.connection_id}:{again.authorized_at.isoformat()}"
        assert renewed.run_key != request.run_key


def test_fresh_schedule_skips_while_a_run_is_active() -> None:
    schedule = schedules.build_fresh_schedule(fill_job, "*/15 * * * *")
    tick = datetime(2026, 3, 1, tzinfo=UTC)
    with dg.instance_for_test() as instance:
        request = schedule(dg.build_schedule_context(instance=instance, scheduled_execution_time=tick))
        assert isinstance(request, dg.RunRequest)
        assert request.tags == {"adspipe/schedule": "shopify_7d_fill"}

        run = instance.create_run_for_job(
            fill_job, run_config={"ops": {"fill_op": {"config": {}}}}, status=dg.DagsterRunStatus.STARTED
        )
        skipped = schedule(dg.build_schedule_context(instance=instance, scheduled_execution_time=tick))
        assert isinstance(skipped, dg.SkipReason)
        assert f"{run.run_id} is still STARTED" in (skipped.skip_message or "")

        instance.report_run_failed(run)
        assert isinstance(
            schedule(dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)),
            dg.RunRequest,
        )


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        (schedules.SHOPIFY_FRESH_MINUTES_ENV, "", "*/15 * * * *"),
        (schedules.SHOPIFY_FRESH_MINUTES_ENV, "30", "*/30 * * * *"),
        (schedules.META_FRESH_HOURS_ENV, "", "0 */1 * * *"),
        (schedules.META_FRESH_HOURS_ENV, "2", "0 */2 * * *"),
    ],
)
def test_cadence_is_configurable(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(env, value)
    cron = (
        schedules.shopify_fresh_cron()
        if env == schedules.SHOPIFY_FRESH_MINUTES_ENV
        else schedules.meta_fresh_cron()
    )
    assert cron == expected


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        (schedules.SHOPIFY_FRESH_MINUTES_ENV, "14", "between 15 and 30 minutes (got 14)"),
        (schedules.SHOPIFY_FRESH_MINUTES_ENV, "31", "between 15 and 30 minutes (got 31)"),
        (schedules.META_FRESH_HOURS_ENV, "3", "between 1 and 2 hours (got 3)"),
        (schedules.META_FRESH_HOURS_ENV, "hourly", "must be a whole number of hours (got 'hourly')"),
    ],
)
def test_cadence_out_of_range_is_refused(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, message: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        schedules.shopify_fresh_cron() if env == schedules.SHOPIFY_FRESH_MINUTES_ENV else schedules.meta_fresh_cron()


def test_authorized_at_moves_forward_on_reconnect(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOK", "token-value")
    first = _connect(engine, "c.myshopify.com")
    assert _connect(engine, "c.myshopify.com").authorized_at - first.authorized_at >= timedelta(0)


def _add_fill_run(
    instance: dg.DagsterInstance, request: dg.RunRequest, status: dg.DagsterRunStatus, run_id: str
) -> None:
    tags = {**request.tags, "dagster/run_key": str(request.run_key)}
    instance.add_run(dg.DagsterRun(job_name=fill_job.name, run_id=run_id, status=status, tags=tags))


def test_many_new_connections_enter_the_run_queue_a_few_at_a_time(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """400 connections at once must not flood the queue: at most the run queue's
    max_concurrent_runs fills are queued or running; oldest first; none is requested twice."""
    monkeypatch.setenv("TOK", "token-value")
    made = [_connect(engine, f"s{i:02d}.myshopify.com") for i in range(9)]
    overrides = {"concurrency": {"runs": {"max_concurrent_runs": 3}}}
    with dg.instance_for_test(overrides=overrides) as instance:
        assert sensors.fills_in_flight_limit(instance) == 3
        first = _evaluate(instance)
        ids = [int(r.tags["adspipe/connection_id"]) for r in first]
        assert ids == [c.connection_id for c in made[:3]]
        for i, request in enumerate(first):
            _add_fill_run(instance, request, dg.DagsterRunStatus.STARTED, f"run-{i}")
        assert _evaluate(instance) == []  # three running: no room
        # One fill ended in success, one failed (its run key is never requested again): two free places.
        for i, status in ((0, dg.DagsterRunStatus.SUCCESS), (1, dg.DagsterRunStatus.FAILURE)):
            instance.delete_run(f"run-{i}")
            _add_fill_run(instance, first[i], status, f"run-{i}")
        second = _evaluate(instance)
        assert [int(r.tags["adspipe/connection_id"]) for r in second] == [c.connection_id for c in made[3:5]]
        assert not {r.run_key for r in second} & {r.run_key for r in first}
    with dg.DagsterInstance.ephemeral() as ephemeral:  # no run queue: the default
        assert sensors.fills_in_flight_limit(ephemeral) == sensors.DEFAULT_FILLS_IN_FLIGHT
        assert len(_evaluate(ephemeral)) == sensors.DEFAULT_FILLS_IN_FLIGHT
