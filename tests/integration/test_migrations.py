"""`vproc db migrate`: from empty to head, idempotent, recorded as the Supabase CLI records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from processor.cli import app
from processor.db.migrations import discover, migrate
from processor.db.sqlsplit import split_statements
from processor.errors import MigrationError
from tests.support.databases import Server


@pytest.fixture
def empty_db(pg_server: Server) -> Iterator[str]:
    import uuid

    name = f"vproc_e_{uuid.uuid4().hex[:12]}"
    janitor = pg_server.janitor(name)
    janitor.init()
    try:
        yield pg_server.url_for(name)
    finally:
        janitor.drop()


def test_empty_to_head_then_noop(empty_db: str) -> None:
    first = migrate(empty_db)
    assert first.shim_installed
    assert [m.version for m in first.applied] == [m.version for m in discover()]
    second = migrate(empty_db)
    assert second.applied == [] and not second.shim_installed
    assert second.already_applied == [m.version for m in discover()]


def test_recorded_rows_match_the_files(empty_db: str) -> None:
    migrate(empty_db)
    with psycopg.connect(empty_db) as conn:
        rows = conn.execute(
            "select version, name, statements from supabase_migrations.schema_migrations"
            " order by version"
        ).fetchall()
    expected = [(m.version, m.name, split_statements(m.path.read_text())) for m in discover()]
    assert rows == expected


def test_dry_run_changes_nothing(empty_db: str) -> None:
    report = migrate(empty_db, dry_run=True)
    assert report.shim_needed and not report.shim_installed
    assert len(report.pending) == len(discover()) and report.applied == []
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("select to_regnamespace('auth')").fetchone() == (None,)
        assert conn.execute("select to_regclass('public.videos')").fetchone() == (None,)


def test_failed_migration_rolls_back_and_stops(empty_db: str, tmp_path: Path) -> None:
    for m in discover():
        (tmp_path / m.path.name).write_text(m.path.read_text())
    (tmp_path / "29990101000000_broken.sql").write_text(
        "create table public.half_done (id int);\nselect no_such_function();\n"
    )
    (tmp_path / "29990102000000_after.sql").write_text("create table public.after_broken (id int);")
    with pytest.raises(MigrationError, match=r"29990101000000_broken.sql: statement 2 failed"):
        migrate(empty_db, directory=tmp_path)
    with psycopg.connect(empty_db) as conn:
        assert conn.execute(
            "select to_regclass('public.half_done'), to_regclass('public.after_broken')"
        ).fetchone() == (None, None)
        versions = {
            r[0] for r in conn.execute("select version from supabase_migrations.schema_migrations")
        }
    assert "29990101000000" not in versions
    assert {m.version for m in discover()} <= versions


def test_misnamed_migration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "create_things.sql").write_text("select 1;")
    with pytest.raises(MigrationError, match=r"YYYYMMDDHHMMSS_name\.sql"):
        discover(tmp_path)


def test_cli_migrate_json_and_dry_run(empty_db: str) -> None:
    runner = CliRunner()
    dry = runner.invoke(app, ["db", "migrate", "--database-url", empty_db, "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    doc = json.loads(dry.stdout)
    assert doc["dry_run"] and doc["standin_needed"] and len(doc["pending"]) == len(discover())
    real = runner.invoke(app, ["db", "migrate", "--database-url", empty_db])
    assert real.exit_code == 0, real.output
    assert "applied" in real.stdout
    again = runner.invoke(app, ["db", "migrate", "--database-url", empty_db])
    assert "up to date" in again.stdout


def test_same_migrations_twice_in_a_row_on_a_fresh_db_leave_one_row_each(empty_db: str) -> None:
    migrate(empty_db)
    migrate(empty_db)
    with psycopg.connect(empty_db) as conn:
        counts = conn.execute(
            "select count(*), count(distinct version) from supabase_migrations.schema_migrations"
        ).fetchone()
    assert counts == (len(discover()), len(discover()))
