"""Which days of a range take the bulk path, and how JSONL lines become orders (no I/O)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from adspipe import settings as app_settings
from adspipe.shopify import queries, settings
from adspipe.shopify.bulk_read import BulkFormatError, assemble, plan_bulk

TODAY = date(2026, 4, 3)


def days(first_ago: int, last_ago: int) -> list[date]:
    return [TODAY - timedelta(days=n) for n in range(first_ago, last_ago - 1, -1)]


def test_auto_takes_the_old_days_of_a_range_when_there_are_enough_of_them() -> None:
    rng = days(20, 1)  # 20..8 days ago are older than the fresh window (7 days)
    assert plan_bulk(rng, today=TODAY, orders_per_day=0, mode="auto") == days(20, 8)
    few = days(9, 1)  # only 9 and 8 days ago: fewer than BULK_MIN_DAYS
    assert settings.BULK_MIN_DAYS > 2 and plan_bulk(few, today=TODAY, orders_per_day=0, mode="auto") == []
    assert plan_bulk(days(3, 1), today=TODAY, orders_per_day=0, mode="auto") == []


def test_auto_takes_a_whole_range_whose_estimated_cost_passes_the_threshold() -> None:
    rng = days(5, 1)  # recent days only
    per_day = settings.BULK_MIN_COST_POINTS / settings.PAGED_POINTS_PER_ORDER / len(rng)
    assert plan_bulk(rng, today=TODAY, orders_per_day=per_day, mode="auto") == rng
    assert plan_bulk(rng, today=TODAY, orders_per_day=per_day * 0.99, mode="auto") == []


def test_always_and_never(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = days(3, 1)
    assert plan_bulk(rng, today=TODAY, orders_per_day=0, mode="always") == rng
    assert plan_bulk(days(40, 1), today=TODAY, orders_per_day=1e9, mode="never") == []
    monkeypatch.setenv(app_settings.SHOPIFY_BULK_ENV, "never")
    assert plan_bulk(days(40, 1), today=TODAY, orders_per_day=1e9) == []
    monkeypatch.setenv(app_settings.SHOPIFY_BULK_ENV, "sometimes")
    with pytest.raises(app_settings.SettingsError, match="auto, always or never"):
        plan_bulk(rng, today=TODAY, orders_per_day=0)
    monkeypatch.setenv(app_settings.SHOPIFY_BULK_ENV, "auto")
    monkeypatch.setenv(app_settings.SHOPIFY_BULK_MIN_COST_ENV, "lots")
    with pytest.raises(app_settings.SettingsError, match="number of points"):
        plan_bulk(rng, today=TODAY, orders_per_day=0)
    monkeypatch.setenv(app_settings.SHOPIFY_BULK_MIN_COST_ENV, "1")  # any cost passes
    assert plan_bulk(rng, today=TODAY, orders_per_day=1) == rng


def _lines(*objects: dict[str, object]) -> list[bytes]:
    return [json.dumps(o).encode() for o in objects]


def test_lines_become_orders_shaped_like_the_orders_query() -> None:
    order = {"id": "gid://shopify/Order/1", "name": "#1", "refunds": [{"id": "gid://shopify/Refund/9"}]}
    item = {"id": "gid://shopify/LineItem/5", "quantity": 2, "__parentId": "gid://shopify/Order/1"}
    other = {"id": "gid://shopify/Order/2", "name": "#2", "refunds": []}
    first, second = assemble(_lines(order, item, other))
    assert tuple(first) == queries.ORDER_KEYS  # the paged payload's keys, in its order
    assert first["lineItems"] == {
        "pageInfo": {"hasNextPage": False, "endCursor": None},
        "nodes": [{"id": "gid://shopify/LineItem/5", "quantity": 2}],
    }
    assert first["refunds"] == [{"id": "gid://shopify/Refund/9"}] and first["createdAt"] is None
    assert second["lineItems"]["nodes"] == [] and second["name"] == "#2"


def test_a_line_item_away_from_its_order_is_refused() -> None:
    order = {"id": "gid://shopify/Order/1"}
    other = {"id": "gid://shopify/Order/2"}
    late = {"id": "gid://shopify/LineItem/5", "__parentId": "gid://shopify/Order/1"}
    with pytest.raises(BulkFormatError, match="does not follow its order"):
        list(assemble(_lines(order, other, late)))
    with pytest.raises(BulkFormatError):
        list(assemble(_lines(late)))
