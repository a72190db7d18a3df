"""The zero-setup default: without DATABASE_URL, `vproc db migrate` runs an embedded Postgres."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from processor.db.embedded import stop_embedded


def vproc(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("vproc", path=str(Path(sys.executable).parent)) or "vproc"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["VPROC_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [exe, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
        cwd=data_dir,
    )


@pytest.fixture
def data_dir(tmp_path: Path):
    yield tmp_path
    stop_embedded(tmp_path / "pgdata")


def test_migrate_embedded_database_twice(data_dir: Path) -> None:
    first = vproc("db", "migrate", "--json", data_dir=data_dir)
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert doc["standin_installed"] is True
    assert len(doc["applied"]) >= 8
    assert (data_dir / "pgdata" / "PG_VERSION").exists()
    second = vproc("db", "migrate", "--json", data_dir=data_dir)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["applied"] == []


def test_unreachable_database_is_one_clear_line(data_dir: Path) -> None:
    result = vproc(
        "db", "migrate", "--database-url", "postgresql://nobody@127.0.0.1:1/x", data_dir=data_dir
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot connect to the database")
    assert "Traceback" not in result.stderr
