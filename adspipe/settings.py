"""Environment-driven configuration. Every setting has one name, read in one place."""

from __future__ import annotations

import os
from pathlib import Path

DATABASE_URL_ENV = "ADSPIPE_DATABASE_URL"
HOME_ENV = "ADSPIPE_HOME"
SHOPIFY_ENDPOINT_ENV = "ADSPIPE_SHOPIFY_ENDPOINT"
META_GRAPH_URL_ENV = "ADSPIPE_META_GRAPH_URL"
NOW_ENV = "ADSPIPE_NOW"
CLOCK_URL_ENV = "ADSPIPE_CLOCK_URL"

DEFAULT_SHOPIFY_ENDPOINT = "https://{shop}/admin/api/{version}/graphql.json"
DEFAULT_META_GRAPH_URL = "https://graph.facebook.com"


def adspipe_home() -> Path:
    """The local folder for the embedded warehouse and demo state (default `./.adspipe`)."""
    return Path(os.environ.get(HOME_ENV) or Path.cwd() / ".adspipe").resolve()


def database_url() -> str:
    """The warehouse's SQLAlchemy URL; unset means an embedded SQLite file under `adspipe_home()`."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if url:
        return url
    return f"sqlite:///{adspipe_home() / 'warehouse.db'}"


def shopify_endpoint() -> str:
    return os.environ.get(SHOPIFY_ENDPOINT_ENV, "").strip() or DEFAULT_SHOPIFY_ENDPOINT


def meta_graph_url() -> str:
    return (os.environ.get(META_GRAPH_URL_ENV, "").strip() or DEFAULT_META_GRAPH_URL).rstrip("/")
