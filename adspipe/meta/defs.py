"""The Meta package's Dagster definitions (merged into the code location by adspipe.definitions)."""

import dagster as dg

from adspipe.meta.assets import meta_7d_fill, meta_fresh, meta_insights
from adspipe.meta.client import MetaClient

defs = dg.Definitions(
    assets=[meta_insights],
    jobs=[meta_7d_fill, meta_fresh],
    resources={"meta": MetaClient()},
)
