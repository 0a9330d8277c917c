"""Pinned npm package artefacts for contract tests: fetched once, checksum-verified, cached.

A contract test names a package, a version and the `integrity` npm publishes for its tarball
(`npm view <pkg>@<version> dist.integrity`). The tarball is downloaded from the npm registry into
the user's cache ($XDG_CACHE_HOME or ~/.cache, under adspipe/vendor/), its sha512 checked against
the pin before anything is read from it, and single members are extracted next to it. Nothing is
ever copied into the repository. When the registry cannot be reached the test is skipped with the
reason, except with CI=true, where it fails: CI must run the contracts.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from adspipe_tests.ci import unavailable

REGISTRY = "https://registry.npmjs.org"


class VendorUnavailable(Exception):
    """The artefact could not be fetched (no registry); the caller skips or, in CI, fails."""


@dataclass(frozen=True)
class NpmPackage:
    name: str  # e.g. "@shopify/dev-mcp"
    version: str
    integrity: str  # "sha512-<base64>", as npm publishes it

    @property
    def tarball_url(self) -> str:
        bare = self.name.rsplit("/", 1)[-1]
        return f"{REGISTRY}/{self.name}/-/{bare}-{self.version}.tgz"

    @property
    def cache_path(self) -> Path:
        safe = self.name.replace("@", "").replace("/", "__")
        return cache_dir() / f"{safe}-{self.version}.tgz"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "adspipe" / "vendor"


def _matches(data: bytes, integrity: str) -> bool:
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise ValueError(f"unsupported integrity algorithm {algorithm!r} (pin a sha512)")
    return base64.b64encode(hashlib.sha512(data).digest()).decode() == expected


def tarball(package: NpmPackage) -> Path:
    """The verified tarball, from the cache or the registry. A cached file that no longer matches
    the pin (a bumped pin, a corrupt download) is fetched again."""
    path = package.cache_path
    if path.exists() and _matches(path.read_bytes(), package.integrity):
        return path
    try:
        response = httpx.get(
            package.tarball_url, timeout=httpx.Timeout(60.0, connect=10.0), follow_redirects=True
        )
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise VendorUnavailable(f"cannot fetch {package.tarball_url}: {type(exc).__name__}: {exc}") from None
    data = response.content
    if not _matches(data, package.integrity):
        raise AssertionError(
            f"{package.name}@{package.version}: the registry's tarball does not match the pinned integrity "
            f"{package.integrity[:20]}…: refusing to use it"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(path)  # atomic: a concurrent test never reads half a file
    return path


def member(package: NpmPackage, name: str) -> Path:
    """One file of the package (`package/...` inside the tarball), extracted into the cache."""
    archive = tarball(package)
    target = archive.with_suffix("") / name
    if target.exists():
        return target
    with tarfile.open(archive, "r:gz") as tar:
        try:
            info = tar.getmember(name)
        except KeyError:
            raise AssertionError(f"{package.name}@{package.version} has no {name}") from None
        source = tar.extractfile(info)
        assert source is not None, name
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        partial.write_bytes(source.read())
        partial.replace(target)
    return target


def member_or_skip(package: NpmPackage, name: str) -> Path:
    """`member`, skipping the test (failing it with CI=true) when the registry is unreachable."""
    try:
        return member(package, name)
    except VendorUnavailable as exc:
        unavailable(f"{exc}; the contract tests need the npm registry once (then the cache)")
