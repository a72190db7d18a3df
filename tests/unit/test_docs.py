"""The README stays true: every setting is in its table, every command in its reference."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from processor.cli import app
from processor.config import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table() -> None:
    table = README[README.index("## Configuration") : README.index("## The worker")]
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", table, re.M))
    assert documented == {name.upper() for name in Settings.model_fields}


def test_every_command_is_in_the_command_reference() -> None:
    reference = README[README.index("## Command line") :]
    commands = {c.name for c in typer.main.get_command(app).commands.values()}  # type: ignore[attr-defined]
    commands.discard("db")
    for name in commands | {"db migrate"}:
        assert f"`vproc {name}" in reference, name
