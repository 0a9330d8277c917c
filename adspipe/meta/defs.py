"""The Meta definitions: the partitioned asset chain, the two seed jobs, their schedule and
sensor, the API resource (assembled from the registry's spec by adspipe.platform.definitions)."""

from adspipe.meta.assets import meta_7d_fill, meta_fresh, meta_insights
from adspipe.meta.client import MetaClient
from adspipe.meta.platform import SPEC
from adspipe.platform.definitions import platform_definitions

DEFS = platform_definitions(
    SPEC, assets=[meta_insights], fill_job=meta_7d_fill, fresh_job=meta_fresh, resources={"meta": MetaClient()},
)  # fmt: skip
