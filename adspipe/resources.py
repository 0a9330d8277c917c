"""Resources shared by every platform package."""

from __future__ import annotations

from datetime import datetime

import dagster as dg
from pydantic import PrivateAttr
from sqlalchemy.engine import Engine

from adspipe import clock, settings
from adspipe.warehouse import db


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse engine, migrated to head on first use in a process.

    The URL comes from ADSPIPE_DATABASE_URL at run time (never from run config, where a password
    would show in the UI); empty means the embedded SQLite default.
    """

    database_url_env: str = settings.DATABASE_URL_ENV
    _engine: Engine | None = PrivateAttr(default=None)

    def engine(self) -> Engine:
        if self._engine is None:
            url = settings.env_value(self.database_url_env) or settings.database_url()
            engine = db.get_engine(url)
            db.ensure_schema(engine)
            self._engine = engine
        return self._engine


class ClockResource(dg.ConfigurableResource):
    """ "Now" for the jobs: real time, ADSPIPE_NOW, or a simulator's clock (see adspipe.clock)."""

    def now(self) -> datetime:
        return clock.now()
