"""Every asset page lists the schedules and sensors that refresh it (not "No automations found").

Checked the way Dagster's webserver answers an asset node's `targetingInstigators`: through the
code location's `RemoteRepository` (`get_schedules_targeting` / `get_sensors_targeting`).
"""

from __future__ import annotations

import dagster as dg
from dagster._core.remote_representation.external import RemoteRepository
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._core.remote_representation.handle import RepositoryHandle

from adspipe.definitions import defs
from adspipe.meta.assets import meta_fresh

SHOPIFY = ["shopify_orders_raw", "fact_orders", "daily_shopify_metrics"]
META = ["meta_insights_raw", "fact_meta_daily", "daily_meta_metrics"]


def _repo() -> RemoteRepository:
    snap = RepositorySnap.from_def(defs.get_repository_def())
    return RemoteRepository(snap, RepositoryHandle.for_test(), auto_materialize_use_sensors=True)


def test_each_asset_lists_the_schedules_and_sensors_of_the_jobs_that_refresh_it() -> None:
    repo = _repo()

    def automations(key: str) -> set[str]:
        asset = dg.AssetKey(key)
        return {s.name for s in repo.get_schedules_targeting(asset)} | {
            s.name for s in repo.get_sensors_targeting(asset)
        }

    for key in SHOPIFY:
        assert automations(key) == {"shopify_fresh_schedule", "shopify_new_connection_sensor"}, key
    for key in META:
        assert automations(key) == {"meta_fresh_schedule", "meta_new_connection_sensor"}, key
    for key in ("google_ads_raw", "fact_google_ads_daily", "daily_google_ads_metrics"):
        assert automations(key) == {"google_ads_fresh_schedule", "google_ads_new_connection_sensor"}, key
    assert automations("daily_summary") == {
        "shopify_fresh_schedule", "shopify_new_connection_sensor", "meta_fresh_schedule", "meta_new_connection_sensor",
        "google_ads_fresh_schedule", "google_ads_new_connection_sensor",
    }  # fmt: skip


def test_the_seed_jobs_stay_op_jobs_and_backfills_keep_the_asset_job() -> None:
    repo = _repo()
    jobs = {job.name: job for job in defs.resolve_all_job_defs()}
    for name in ("shopify_7d_fill", "shopify_fresh", "meta_7d_fill", "meta_fresh"):
        job = jobs[name]
        assert [node.name for node in job.graph.nodes] == [f"{name}_op"], name
        assert not job.asset_layer.selected_asset_keys  # no asset step: the op records the partitions
    # The asset page's "Materialize" and backfills use the implicit asset job, listed first.
    for node in repo.get_asset_node_snaps():
        assert node.job_names[0] == "__ASSET_JOB", node.asset_key
    assert meta_fresh.graph.node_defs[0].pool == "meta_api"
