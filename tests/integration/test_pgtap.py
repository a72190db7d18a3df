"""Run the pgTAP suites in supabase/tests/database with pg_prove, one fresh database per file.

These are the same files `supabase test db` runs on a Supabase stack. Outside CI they are
skipped when pg_prove or the pgtap extension is missing; in CI both must be there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.support.databases import Server, cloned_database

SUITE = Path(__file__).resolve().parents[2] / "supabase" / "tests" / "database"
FILES = sorted(SUITE.glob("*.test.sql"))


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


def test_there_are_pgtap_suites() -> None:
    assert len(FILES) >= 5


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_pgtap_file(pg_server: Server, template_db: str, path: Path) -> None:
    pg_prove = shutil.which("pg_prove")
    if pg_prove is None:
        _unavailable("pg_prove is not installed (Debian: libtap-parser-sourcehandler-pgtap-perl)")
    with cloned_database(pg_server, template_db) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            if not conn.execute(
                "select 1 from pg_available_extensions where name = 'pgtap'"
            ).fetchone():
                _unavailable("the pgtap extension is not available (Debian: postgresql-NN-pgtap)")
            conn.execute("create extension if not exists pgtap")
        p = conninfo_to_dict(url)
        env = {**os.environ, "PGPASSWORD": str(p.get("password") or "")}
        result = subprocess.run(
            [
                str(pg_prove),
                "--verbose",
                "--failures",
                "-h",
                str(p.get("host") or "127.0.0.1"),
                "-p",
                str(p.get("port") or 5432),
                "-U",
                str(p.get("user") or "postgres"),
                "-d",
                str(p["dbname"]),
                str(path),
            ],
            cwd=SUITE,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "All tests successful" in result.stdout
