"""The CLI tests connect shops that exist nowhere: their scope check (`adspipe connect shopify`
reads the app's access scopes) is answered as granted; adspipe_tests/shopify/test_scopes.py
tests the check itself against the simulator."""

from __future__ import annotations

import pytest

from adspipe_tests.shopify.helpers import grant_all_scopes


@pytest.fixture(autouse=True)
def shopify_scopes_granted(monkeypatch: pytest.MonkeyPatch) -> None:
    grant_all_scopes(monkeypatch)
