"""The pipeline's notion of "now".

Real UTC time by default. `ADSPIPE_NOW` pins it (ISO-8601); `ADSPIPE_CLOCK_URL` reads it from a
running simulator's clock (`GET {base}/admin/clock`), so a test or demo that moves the simulator's
time moves the pipeline's with it, in every process a Dagster daemon starts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from adspipe import settings


def parse_instant(value: str) -> datetime:
    """An ISO-8601 instant as an aware UTC datetime (`Z` accepted; naive means UTC)."""
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def now() -> datetime:
    pinned = settings.pinned_now()
    if pinned:
        return parse_instant(pinned)
    clock_url = settings.clock_url()
    if clock_url:
        response = httpx.get(clock_url, timeout=5.0)
        response.raise_for_status()
        return parse_instant(response.json()["now"])
    return datetime.now(UTC)


def local_today(timezone: str, at: datetime | None = None) -> date:
    """Today's calendar date in an IANA time zone."""
    return (at or now()).astimezone(ZoneInfo(timezone)).date()


def days_between(start: date, end: date) -> list[date]:
    """Every date from start to end, both included (empty when end < start)."""
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]
