"""The README's commands parse as written, and no file points outside the repository."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import click
import pytest

from adspipe.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _adspipe_lines() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("adspipe ")]


def test_readme_has_adspipe_commands() -> None:
    assert len(_adspipe_lines()) >= 8


@pytest.mark.parametrize("line", _adspipe_lines())
def test_every_adspipe_command_in_the_readme_parses(line: str) -> None:
    args = shlex.split(line)[1:]
    command: click.Command = main
    path = ["adspipe"]
    while isinstance(command, click.Group):
        name = args.pop(0)
        assert name in command.commands, f"{' '.join(path)} has no command {name!r}"
        command = command.commands[name]
        path.append(name)
    command.make_context(" ".join(path), args)  # unknown options, bad types, missing values raise


def test_the_readme_names_no_launchpad_preset_and_says_where_tokens_go() -> None:
    text = (ROOT / "README.md").read_text()
    assert "Sync last 7 days" not in text  # no such preset exists
    assert "may be left out" not in text
    assert "exported where the steps run" in text


def test_nothing_points_outside_the_repository() -> None:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    offenders = [
        name
        for name in files.split()
        if name.endswith((".py", ".md", ".sh", ".yaml", ".toml"))
        and (ROOT / name).exists()
        and re.search(r"(?<![\w.-])(\.\./)?shared/", (ROOT / name).read_text(errors="ignore"))
        and not name.endswith("test_readme.py")
    ]
    assert offenders == []
