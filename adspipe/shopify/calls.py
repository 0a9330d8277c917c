"""What the Shopify client returns and counts, and its estimate of a shop's cost bucket."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adspipe.platform.http import CallStats


@dataclass(frozen=True)
class ShopInfo:
    shop_domain: str
    timezone: str
    currency: str


@dataclass(frozen=True)
class OrdersPage:
    shop: ShopInfo
    orders: tuple[dict[str, Any], ...]
    has_next_page: bool
    end_cursor: str | None
    page_size: int
    requested_cost: float
    actual_cost: float


@dataclass
class ShopCallStats(CallStats):
    """The base counters plus Shopify's pages, query costs and deprecation notices."""

    requested_cost: float = 0.0
    actual_cost: float = 0.0
    # Deprecated fields the requests used (X-Shopify-API-Deprecated-Reason), as Shopify words them.
    deprecated_reasons: set[str] = field(default_factory=set)

    @property
    def version_mismatch(self) -> bool:
        return self.api_version_served is not None and self.api_version_served != self.api_version

    @property
    def throttled_wait_s(self) -> float:
        """Waits after THROTTLED / 429 answers only (`throttle_wait_s` adds the pacing)."""
        return self.waits_s.get("throttle", 0.0)

    def merge(self, other: CallStats) -> None:
        super().merge(other)
        if isinstance(other, ShopCallStats):
            self.requested_cost += other.requested_cost
            self.actual_cost += other.actual_cost
            self.deprecated_reasons |= other.deprecated_reasons


@dataclass
class _Bucket:
    available: float
    maximum: float
    restore_rate: float
    observed_at: float

    def estimate(self, now: float) -> float:
        return min(self.maximum, self.available + self.restore_rate * max(0.0, now - self.observed_at))
