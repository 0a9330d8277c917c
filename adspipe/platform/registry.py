"""The platform registry: every platform package declares one `PlatformSpec`, found here.

A platform is a package `adspipe/<name>/` with a `platform.py` whose `SPEC` is a `PlatformSpec`
(and a migration adding `<name>` to `connections.platform`). Everything that used to list the
platforms by hand — the code location, the CLI's choices and `connect` validation, `adspipe sync`,
the freshness and api_version checks, `adspipe doctor`, error masking — loops over `platforms()`.

This module imports no Dagster and no platform code at import time: the CLI reads the specs in
milliseconds. A spec's Dagster objects (assets, jobs, schedules, sensors, resources) live in its
package's `defs.py`, named by `defs_module` and imported only by `definitions()`.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # Dagster is imported by the code location only
    from adspipe.platform.definitions import PlatformDefinitions

PlatformKind = Literal["store", "ads"]
# A token shape to mask from errors and logs: (pattern, replacement with the kept prefix group).
TokenPattern = tuple[re.Pattern[str], str]


class UnknownPlatform(KeyError):
    """A platform name no package registers."""


@dataclass(frozen=True)
class PlatformSpec:
    """What the rest of adspipe needs to know about one platform."""

    name: str  # connections.platform, the job prefix (<name>_7d_fill, <name>_fresh)
    kind: PlatformKind  # "store": orders and revenue; "ads": spend and attributed revenue
    vendor: str  # the API's name in messages ("Shopify Admin", "Meta Marketing")
    settings: ModuleType  # the package's settings: API_VERSION, DEFAULT_API_VERSION, SUPPORT_ENDS
    version_env: str  # the variable that overrides the pinned API version
    account_label: str  # what an account is called ("shop", "ad account")
    validate_account: Callable[[str], str]  # the account id as stored, or ValueError naming the shape
    asset_keys: tuple[str, ...]  # the partitioned asset chain, raw table first
    asset_op: str  # the chain's op (takes ScopeConfig: ops: {<op>: {config: {connection_id}}})
    fresh_interval: Callable[[], timedelta]  # the fresh schedule's period (read from the settings)
    cursor_keys: tuple[str, ...] = ()  # sync_cursors.cursor_key values the platform owns
    token_patterns: tuple[TokenPattern, ...] = ()  # token shapes masked in errors and logs
    pool: str | None = None  # the Dagster concurrency pool its API-calling steps claim
    defs_module: str = ""  # the module whose `DEFS` is the platform's PlatformDefinitions
    partitions_job: str = field(default="")  # sync_runs.job of partition ranges ("" = <name>_partitions)
    # An ad platform's facts, for the cross-checks (`summary_matches_facts`): the table (per account,
    # ad and date, with store_id, spend and clicks), its account column, and the purchases column,
    # stored × `purchases_scale` (daily_summary counts each account-day's sum over it, rounded half
    # even: fractional conversions become whole purchases).
    fact_table: str = ""
    account_column: str = "ad_account_id"
    purchases_column: str = "purchases"
    purchases_scale: int = 1

    @property
    def fill_job(self) -> str:
        return f"{self.name}_7d_fill"

    @property
    def fill_op(self) -> str:
        """The fill job's op (takes ScopeConfig, like the asset op)."""
        return f"{self.name}_7d_fill_op"

    @property
    def fresh_job(self) -> str:
        return f"{self.name}_fresh"

    @property
    def range_job(self) -> str:
        return self.partitions_job or f"{self.name}_partitions"

    @property
    def api_version(self) -> str:
        return str(self.settings.API_VERSION)

    def definitions(self) -> PlatformDefinitions:
        """The platform's Dagster objects (imports its assets and client: for the code location)."""
        return importlib.import_module(self.defs_module or f"adspipe.{self.name}.defs").DEFS


_ROOT = Path(__file__).resolve().parents[1]  # the adspipe package


@cache
def platforms() -> tuple[PlatformSpec, ...]:
    """Every registered platform: stores first, then ad platforms, each by name.

    A platform is a sub-package of adspipe holding `platform.py`: a new platform is a new folder."""
    specs = []
    for package in sorted(p for p in _ROOT.iterdir() if (p / "platform.py").is_file()):
        spec = importlib.import_module(f"adspipe.{package.name}.platform").SPEC
        if not isinstance(spec, PlatformSpec) or spec.name != package.name:
            raise TypeError(
                f"adspipe/{package.name}/platform.py: SPEC must be a PlatformSpec named {package.name!r}"
            )
        specs.append(spec)
    return tuple(sorted(specs, key=lambda s: (s.kind != "store", s.name)))


def names() -> list[str]:
    return [spec.name for spec in platforms()]


def get(name: str) -> PlatformSpec:
    for spec in platforms():
        if spec.name == name:
            return spec
    raise UnknownPlatform(f"unknown platform {name!r} (known: {', '.join(names())})")


def of_kind(kind: PlatformKind) -> list[PlatformSpec]:
    return [spec for spec in platforms() if spec.kind == kind]


def token_patterns() -> tuple[TokenPattern, ...]:
    """Every platform's token shapes, for `warehouse.sync_runs.sanitize_error`."""
    return tuple(pattern for spec in platforms() for pattern in spec.token_patterns)


def fresh_intervals() -> dict[str, timedelta]:
    """Each platform's fresh-schedule period (the freshness check allows twice that)."""
    return {spec.name: spec.fresh_interval() for spec in platforms()}
