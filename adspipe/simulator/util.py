"""Small shared helpers: seeded random streams, money formatting, time conversions.

Every random draw in the world comes from `rng(seed, *key)`: a `random.Random` seeded with a hash
of the seed and a key naming the entity and the day, so generating day D never depends on which
days were generated before (and Python's per-process hash randomisation plays no part).
"""

from __future__ import annotations

import hashlib
import random
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

EPOCH_DAY = date(2000, 1, 1).toordinal()


def stable_int(*parts: object) -> int:
    """A 64-bit integer derived from the parts (stable across processes and Python versions)."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def rng(*parts: object) -> random.Random:
    """A random stream for one (seed, entity, day, …) key."""
    return random.Random(stable_int(*parts))


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=65536)
def local_day_bounds(tz: str, day_ordinal: int) -> tuple[int, int]:
    """[start, end) of a local calendar day in an IANA zone, as UTC epoch seconds (DST-aware)."""
    z = zone(tz)
    d = date.fromordinal(day_ordinal)
    start = datetime(d.year, d.month, d.day, tzinfo=z)
    nxt = date.fromordinal(day_ordinal + 1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=z)
    return int(start.timestamp()), int(end.timestamp())


def local_date(tz: str, ts: float) -> date:
    """The calendar date of an instant (epoch seconds) in an IANA zone."""
    return datetime.fromtimestamp(ts, zone(tz)).date()


def local_ordinal(tz: str, ts: float) -> int:
    return local_date(tz, ts).toordinal()


def iso_z(ts: int) -> str:
    """UTC ISO-8601 with `Z`, second precision, as Shopify writes it: `2026-03-01T14:03:22Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def dt_iso_z(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(value: str) -> datetime:
    """An ISO-8601 instant (`Z` or an offset; naive means UTC) as an aware UTC datetime."""
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def cents_fixed(cents: int) -> str:
    """Two decimals, always: `1234` → `"12.34"` (Meta's spend and values, the truth endpoints)."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


@lru_cache(maxsize=65536)  # prices repeat: formatting is a hot path of every orders page
def cents_shopify(cents: int) -> str:
    """Shopify's Decimal: trailing zeros dropped but one decimal kept: `"25.98"`, `"25.9"`, `"25.0"`."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    units, rest = divmod(cents, 100)
    if rest == 0:
        return f"{sign}{units}.0"
    if rest % 10 == 0:
        return f"{sign}{units}.{rest // 10}"
    return f"{sign}{units}.{rest:02d}"


def cents_decimal(cents: int) -> Decimal:
    """An exact two-place Decimal."""
    return Decimal(cents_fixed(cents))


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def credential_id(token: str) -> str:
    """What the request log keeps of a token: a fingerprint ("" without a token)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16] if token else ""
