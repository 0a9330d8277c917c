"""The platform registry: one spec per platform package, and everything that loops over it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner

from adspipe.cli import main
from adspipe.orchestration import sync_request
from adspipe.platform import registry
from adspipe.warehouse.connections import ConnectionInputError


def test_every_platform_package_registers_one_spec_stores_first() -> None:
    specs = registry.platforms()
    assert [(s.name, s.kind) for s in specs] == [("shopify", "store"), ("google_ads", "ads"), ("meta", "ads")]
    shopify, meta = registry.get("shopify"), registry.get("meta")
    assert (shopify.fill_job, shopify.fresh_job, shopify.fill_op, shopify.range_job) == (
        "shopify_7d_fill", "shopify_fresh", "shopify_7d_fill_op", "shopify_partitions",
    )  # fmt: skip
    assert (meta.fill_job, meta.fresh_job, meta.fill_op, meta.asset_op) == (
        "meta_7d_fill", "meta_fresh", "meta_7d_fill_op", "meta_insights",
    )  # fmt: skip
    assert (shopify.pool, meta.pool) == (None, "meta_api")
    gads = registry.get("google_ads")
    assert (gads.fill_job, gads.fresh_job, gads.fill_op, gads.asset_op, gads.range_job, gads.pool) == (
        "google_ads_7d_fill", "google_ads_fresh", "google_ads_7d_fill_op", "google_ads_ads", "google_ads_assets", None,
    )  # fmt: skip
    assert gads.version_env == "ADSPIPE_GOOGLE_ADS_API_VERSION"
    assert shopify.cursor_keys == ("last_synced_order_updated_at",)
    assert meta.cursor_keys == ("meta_last_window_end",)
    assert (shopify.version_env, meta.version_env) == (
        "ADSPIPE_SHOPIFY_API_VERSION",
        "ADSPIPE_META_API_VERSION",
    )
    with pytest.raises(
        registry.UnknownPlatform, match="unknown platform 'tiktok' \\(known: shopify, google_ads, meta\\)"
    ):
        registry.get("tiktok")


def test_account_ids_are_validated_by_their_platform() -> None:
    assert registry.get("shopify").validate_account(" Acme.myshopify.com ") == "acme.myshopify.com"
    assert registry.get("meta").validate_account(" act_123 ") == "act_123"
    with pytest.raises(ConnectionInputError, match="shop must look like NAME.myshopify.com"):
        registry.get("shopify").validate_account("act_123")
    with pytest.raises(ConnectionInputError, match="ad account must look like act_1234567890"):
        registry.get("meta").validate_account("acme.myshopify.com")
    assert registry.get("google_ads").validate_account(" 123-456-7890 ") == "1234567890"
    with pytest.raises(ConnectionInputError, match="customer id must look like 123-456-7890"):
        registry.get("google_ads").validate_account("act_123")


def test_fresh_intervals_are_read_from_the_settings_per_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    assert registry.fresh_intervals() == {
        "shopify": timedelta(minutes=15), "google_ads": timedelta(hours=4), "meta": timedelta(hours=1),
    }  # fmt: skip
    monkeypatch.setenv("ADSPIPE_SHOPIFY_FRESH_MINUTES", "30")
    monkeypatch.setenv("ADSPIPE_META_FRESH_HOURS", "2")
    monkeypatch.setenv("ADSPIPE_GOOGLE_ADS_FRESH_HOURS", "12")
    assert registry.fresh_intervals() == {
        "shopify": timedelta(minutes=30), "google_ads": timedelta(hours=12), "meta": timedelta(hours=2),
    }  # fmt: skip


def test_the_code_location_holds_each_specs_jobs_schedule_sensor_and_version_check() -> None:
    from adspipe.definitions import defs

    for spec in registry.platforms():
        assert defs.resolve_job_def(spec.fill_job).graph.node_defs[0].name == spec.fill_op
        assert defs.resolve_job_def(spec.fresh_job).name == spec.fresh_job
        assert defs.resolve_schedule_def(f"{spec.fresh_job}_schedule").job_name == spec.fresh_job
        assert defs.resolve_sensor_def(f"{spec.name}_new_connection_sensor").job_name == spec.fill_job
        assert spec.definitions().spec is spec
    checks = {
        (key.asset_key.to_user_string(), key.name) for c in defs.asset_checks or [] for key in c.check_keys
    }
    assert {
        ("shopify_orders_raw", "api_version"), ("meta_insights_raw", "api_version"), ("google_ads_raw", "api_version"),
    } <= checks  # fmt: skip


def test_sync_request_and_the_cli_take_their_platforms_from_the_registry() -> None:
    assert sync_request.PLATFORM_ASSETS == {
        "shopify": ["shopify_orders_raw", "fact_orders", "daily_shopify_metrics"],
        "meta": ["meta_insights_raw", "fact_meta_daily", "daily_meta_metrics"],
        "google_ads": ["google_ads_raw", "fact_google_ads_daily", "daily_google_ads_metrics"],
    }
    runner = CliRunner()
    connect_help = runner.invoke(main, ["connect", "--help"]).output
    assert "meta" in connect_help and "shopify" in connect_help and "google_ads" in connect_help
    sync_help = runner.invoke(main, ["sync", "--help"]).output
    assert "{google_ads|meta|shopify}" in sync_help
