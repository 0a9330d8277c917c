"""Print the pinned runtime closure of adspipe[docker,k8s] from the current environment.

Run from a venv with `pip install -e '.[docker,k8s]'`: python deploy/freeze.py > deploy/constraints.txt
(then put the three header lines back). Only what the image installs: no dev or bench tools.
"""

from __future__ import annotations

import importlib.metadata as md
import re

from packaging.requirements import Requirement


def closure(name: str, extras: tuple[str, ...] = (), seen: dict[str, str] | None = None) -> dict[str, str]:
    seen = {} if seen is None else seen
    key = re.sub(r"[-_.]+", "-", name).lower()
    if key in seen and not extras:
        return seen
    dist = md.distribution(name)
    seen[key] = f"{dist.metadata['Name']}=={dist.version}"
    for line in dist.requires or []:
        req = Requirement(line)
        wanted = req.marker is None or any(req.marker.evaluate({"extra": e}) for e in ("", *extras))
        if wanted:
            try:
                closure(req.name, tuple(req.extras), seen)
            except md.PackageNotFoundError:  # an optional dependency of a dependency
                pass
    return seen


if __name__ == "__main__":
    pins = closure("adspipe", ("docker", "k8s"))
    pins.pop("adspipe")
    print("\n".join(pins[k] for k in sorted(pins)))
