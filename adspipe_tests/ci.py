"""One rule for optional test dependencies: outside CI a missing one skips with the reason; with
CI=true it fails, so CI never passes by skipping (the project's own files install all of them)."""

from __future__ import annotations

import importlib.util
import os
from typing import NoReturn

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> NoReturn:
    """Skip the test with `reason`; fail it in CI."""
    if IN_CI:
        pytest.fail(f"{reason}; CI requires it", pytrace=False)
    pytest.skip(reason)


def require_module(module: str, install_hint: str) -> None:
    if importlib.util.find_spec(module) is None:
        unavailable(f"{module} is not installed ({install_hint})")
