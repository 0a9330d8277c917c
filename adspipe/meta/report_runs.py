"""Meta asynchronous report runs: the ad-level read of a day too large for one synchronous call.

A day's ad-level rows are read synchronously (`GET act_X/insights`, paged) unless the account is
large: its days had at least `MetaClient.report_run_min_ads` ads (in the warehouse before the run,
or in a day this run read), or Meta answered code 1 ("Please reduce the amount of data you're
asking for") at the smallest page size. A large day is read as a report run instead:

1. `POST act_X/insights` with exactly the synchronous read's parameters (fields, level=ad,
   time_range, time_increment, filtering, action_attribution_windows, limit) → `report_run_id`;
2. `GET /{report_run_id}?fields=async_status,async_percent_completion,…` until the status is
   final, waiting between polls with backoff (doubling from `report_poll_first_s` to
   `report_poll_max_s`), shortened to the remaining time the reported percentage implies;
3. `GET /{report_run_id}/insights`, paged like the synchronous edge.

`Job Completed` (at 100 %) is read; `Job Failed`, `Job Skipped` or a run still unfinished after
`report_run_timeout_s` starts a new run, up to `report_run_attempts` runs, then the day fails
(`ReportRunFailed`; the run's other days still commit). Every call goes through the session: one
at a time, paced on the usage headers, throttles and transient errors retried within the run's
wait budget. Poll sleeps are counted as "poll" waits, outside that budget (they wait for Meta's
processing, not for a limit); the run timeout bounds them. The rows are the synchronous read's
rows, so the day's transforms, load and single commit are the same (adspipe.meta.unit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adspipe.errors import TransientApiError
from adspipe.meta import settings
from adspipe.meta.client import DataTooLarge, InsightsDay, MetaSession
from adspipe.warehouse.schema import daily_ad_metrics

Log = Callable[[str], None]
FINAL = frozenset({settings.JOB_COMPLETED, settings.JOB_FAILED, settings.JOB_SKIPPED})
KNOWN_SIZE_DAYS = 35  # how far back the warehouse's ads per day decide an account is large


class ReportRunFailed(TransientApiError):
    """Every report run of a day ended failed, skipped or unfinished: the day fails this run."""


@dataclass(frozen=True)
class RunStatus:
    report_run_id: str
    status: str  # one of settings.ASYNC_STATUSES, or "timeout"
    percent: int
    error: str = ""  # Meta's error_code / error_message of a failed run (v25.0+)

    @property
    def done(self) -> bool:
        return self.status == settings.JOB_COMPLETED and self.percent >= 100

    def describe(self) -> str:
        return f"{self.report_run_id} {self.status}" + (f" ({self.error})" if self.error else "")


def poll_wait(
    polls: int, elapsed_s: float, percent: int, *, first_s: float, min_s: float, max_s: float
) -> float:
    """Seconds before the next poll: the backoff step (first_s · 2^(polls−1), at most max_s), or
    less when the percentage so far says the run ends sooner (never below min_s)."""
    backoff = min(max_s, first_s * 2 ** max(0, polls - 1))
    if 0 < percent < 100 and elapsed_s > 0:
        remaining = elapsed_s * (100 - percent) / percent
        return max(min_s, min(backoff, remaining))
    return max(min_s, backoff)


def _status(run_id: str, body: dict[str, object]) -> RunStatus:
    status, percent = body.get("async_status"), body.get("async_percent_completion", 0)
    if not isinstance(status, str) or not status:
        raise TransientApiError(f"report run {run_id}: the answer has no async_status")
    pct = percent if isinstance(percent, int) and not isinstance(percent, bool) else 0
    code, message = body.get("error_code"), body.get("error_message")
    error = ", ".join(str(x) for x in (f"code {code}" if code is not None else None, message) if x)
    return RunStatus(run_id, status, pct, error)


def start(session: MetaSession, params: dict[str, str]) -> str:
    """POST the day's insights parameters; the new run's id."""
    body = session.call(f"{session.account_id}/insights", dict(params), method="POST")
    run_id = body.get("report_run_id")
    if not isinstance(run_id, str) or not run_id.isdigit():
        raise TransientApiError(f"{session.account_id}: starting a report run returned no report_run_id")
    return run_id


def wait(session: MetaSession, run_id: str) -> RunStatus:
    """Poll the run until its status is final (or the run timeout passes)."""
    client = session.client
    fields = {"fields": ",".join(settings.REPORT_RUN_FIELDS)}
    began, slept, polls = client.monotonic(), 0.0, 0
    while True:
        status = _status(run_id, session.call(run_id, dict(fields)))
        if status.status in FINAL and (status.status != settings.JOB_COMPLETED or status.done):
            return status
        # Elapsed on the client's clock, or the slept time when that clock does not move (tests).
        elapsed = max(client.monotonic() - began, slept)
        if elapsed >= client.report_run_timeout_s:
            return RunStatus(run_id, "timeout", status.percent, f"unfinished after {elapsed:.0f} s")
        polls += 1
        seconds = poll_wait(
            polls, elapsed, status.percent, first_s=client.report_poll_first_s,
            min_s=client.report_poll_min_s, max_s=client.report_poll_max_s,
        )  # fmt: skip
        session.meter.add_wait("poll", seconds)
        client.sleep(seconds)
        slept += seconds


def read_day(session: MetaSession, day: date, level: str = "ad", log: Log | None = None) -> InsightsDay:
    """One day's rows through report runs: a new run after a failed / skipped / timed-out one."""
    params = session.insights_params(day, level)
    ended: list[RunStatus] = []
    for _ in range(session.client.report_run_attempts):
        run_id = start(session, params)
        status = wait(session, run_id)
        if status.done:
            path = f"{session.client.base_url()}/{session.client.api_version}/{run_id}/insights"
            return session.read_pages(path, {"limit": params["limit"]}, day, level, report_run_id=run_id)
        ended.append(status)
        if log:
            log(f"{session.account_id} {day}: report run {status.describe()}; starting another")
    raise ReportRunFailed(
        f"{session.account_id} {day}: {len(ended)} report run(s) did not complete: "
        + "; ".join(s.describe() for s in ended)
    )


def known_ads(engine: Engine, ad_account_id: str, first_day: date) -> int:
    """The most ads one day of the account had in the warehouse, over the days before `first_day`
    (0 for a new account). Read from the daily mart (one row per account-day), not the facts."""
    metrics = daily_ad_metrics
    query = sa.select(sa.func.coalesce(sa.func.max(metrics.c.ads), 0)).where(
        metrics.c.platform == settings.PLATFORM,
        metrics.c.ad_account_id == ad_account_id,
        metrics.c.date >= first_day - timedelta(KNOWN_SIZE_DAYS),
    )
    with engine.connect() as db:
        return int(db.execute(query).scalar_one())


@dataclass
class AdDayReader:
    """Reads one account's ad-level days, synchronously until the account proves large.

    Large: `known_ads` (the warehouse) or a day read this run reached `report_run_min_ads`, or a
    day answered code 1 at the smallest page and was then read by a report run. From then on the
    run's days go straight to report runs (a second code 1 would only cost the halving calls again).
    """

    session: MetaSession
    known_ads: int = 0
    log: Log | None = None
    large: bool = False
    reason: str = ""

    def __post_init__(self) -> None:
        threshold = self.session.client.report_run_min_ads
        if threshold and self.known_ads >= threshold:
            self._switch(f"{self.known_ads} ads on a day in the warehouse (threshold {threshold})")

    def _switch(self, why: str) -> None:
        if not self.large:
            self.large, self.reason = True, why
            if self.log:
                self.log(f"{self.session.account_id}: reading days as report runs: {why}")

    def read(self, day: date) -> InsightsDay:
        if self.large:
            return read_day(self.session, day, log=self.log)
        try:
            ad = self.session.insights(day, level="ad", too_large=True)
        except DataTooLarge as exc:
            ad = read_day(self.session, day, log=self.log)
            self._switch(f"{day}: {exc}")  # once a report run read it: a failed one proves nothing
            return ad
        threshold = self.session.client.report_run_min_ads
        if threshold and len(ad.rows) >= threshold:
            self._switch(f"{day} had {len(ad.rows)} ads (threshold {threshold})")
        return ad
