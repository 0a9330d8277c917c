"""The layers, checked from the source: who may import whom, and who reads the environment.

- every module imports (no cycle breaks an import);
- `adspipe.warehouse` imports no platform package, no mart, no orchestration, no check, no
  platform layer: it is the bottom layer;
- a platform's client (`adspipe/<platform>/client.py`) imports no warehouse and no mart;
- `adspipe.checks` and `adspipe.platform` (the layer every platform plugs into) import no platform
  package: they reach the platforms through the registry;
- the environment is read in `adspipe/settings.py` only.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from adspipe.platform import registry

ROOT = Path(__file__).resolve().parents[1] / "adspipe"
PLATFORMS = [spec.name for spec in registry.platforms()]


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(_module(p) for p in ROOT.rglob("*.py") if "migrations" not in p.parts)


def _imports(path: Path) -> set[str]:
    """Every adspipe module `path` imports, at the top or inside a function."""
    found: set[str] = set()
    package = _module(path).rsplit(".", 1)[0] if path.name != "__init__.py" else _module(path)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("adspipe"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base])
            if base.startswith("adspipe"):
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)
    return found


def _offenders(files: list[Path], forbidden: list[str]) -> dict[str, list[str]]:
    out = {}
    for path in files:
        bad = sorted(i for i in _imports(path) if any(i == f or i.startswith(f + ".") for f in forbidden))
        if bad:
            out[str(path.relative_to(ROOT.parent))] = bad
    return out


@pytest.mark.parametrize("name", MODULES)
def test_every_module_imports(name: str) -> None:
    importlib.import_module(name)


def test_the_warehouse_is_the_bottom_layer() -> None:
    forbidden = [f"adspipe.{p}" for p in PLATFORMS] + [
        "adspipe.marts", "adspipe.orchestration", "adspipe.checks", "adspipe.platform", "adspipe.definitions",
    ]  # fmt: skip
    assert _offenders(sorted((ROOT / "warehouse").rglob("*.py")), forbidden) == {}


def test_platform_clients_import_no_warehouse_and_no_mart() -> None:
    clients = [ROOT / p / "client.py" for p in PLATFORMS if (ROOT / p / "client.py").exists()]
    assert len(clients) == len(PLATFORMS)
    assert _offenders(clients, ["adspipe.warehouse", "adspipe.marts"]) == {}


def test_checks_and_the_platform_layer_reach_platforms_only_through_the_registry() -> None:
    files = sorted((ROOT / "checks").rglob("*.py")) + sorted((ROOT / "platform").rglob("*.py"))
    assert _offenders(files, [f"adspipe.{p}" for p in PLATFORMS]) == {}


def test_the_environment_is_read_in_settings_only() -> None:
    readers = []
    for path in sorted(ROOT.rglob("*.py")):
        if path == ROOT / "settings.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv")) or (
                isinstance(node, ast.ImportFrom) and node.module == "os" and any(
                    a.name in ("environ", "getenv") for a in node.names)
            ):  # fmt: skip
                readers.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    assert readers == []


# One layout (docs/architecture.md, "Layout"): the same modules with the same roles in every platform
# package; a module only one platform needs is an extra, named in that section.
CORE_MODULES = {
    "__init__", "platform", "settings", "client", "transforms", "load", "unit", "sync", "report", "assets",
    "defs", "cli",
}  # fmt: skip


def _layout_section() -> str:
    text = (ROOT.parent / "docs" / "architecture.md").read_text()
    return text[text.index("## Layout") : text.index("## Decisions")]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_platform_packages_share_one_layout(platform: str) -> None:
    modules = {p.stem for p in (ROOT / platform).glob("*.py")}
    assert CORE_MODULES - modules == set()
    layout = _layout_section()
    undocumented = sorted(m for m in modules - CORE_MODULES if not re.search(rf"\b{m}\b", layout))
    assert undocumented == []
