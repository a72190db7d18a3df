"""The Supabase CLI is a second client of supabase/migrations and must agree with vproc.

Runs the real CLI (package.json pins it; `npm ci` installs it) against the test server.
Outside CI the module is skipped when the CLI is not installed; in CI it must be there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from processor.db.migrations import discover, install_shim, migrate
from processor.db.sqlsplit import split_statements
from tests.support.databases import Server
from tests.support.seed import create_user
from tests.support.supabase_cli import cli_path, cli_url, run_cli

if cli_path() is None:
    if os.environ.get("CI"):
        raise RuntimeError("the Supabase CLI is required in CI: run `npm ci` first")
    pytest.skip("Supabase CLI not installed (npm ci)", allow_module_level=True)


@pytest.fixture
def standin_db(pg_server: Server) -> Iterator[str]:
    """An empty database with only the local Supabase stand-in, like a new Supabase project."""
    name = f"vproc_cli_{uuid.uuid4().hex[:10]}"
    janitor = pg_server.janitor(name)
    janitor.init()
    try:
        url = pg_server.url_for(name)
        with psycopg.connect(url, autocommit=True) as conn:
            install_shim(conn)
        yield url
    finally:
        janitor.drop()


def recorded(url: str) -> list[tuple[str, str, list[str]]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select version, name, statements from supabase_migrations.schema_migrations"
            " order by version"
        ).fetchall()


def expected_rows() -> list[tuple[str, str, list[str]]]:
    return [(m.version, m.name, split_statements(m.path.read_text())) for m in discover()]


def test_cli_push_applies_from_scratch_and_vproc_agrees(standin_db: str) -> None:
    result = run_cli("db", "push", "--db-url", cli_url(standin_db), "--yes")
    assert result.returncode == 0, result.stderr + result.stdout
    assert recorded(standin_db) == expected_rows()
    report = migrate(standin_db)
    assert report.applied == [] and not report.shim_installed


def test_vproc_migrated_database_is_up_to_date_for_the_cli(standin_db: str) -> None:
    migrate(standin_db)
    assert recorded(standin_db) == expected_rows()
    push = run_cli("db", "push", "--db-url", cli_url(standin_db), "--yes")
    assert push.returncode == 0, push.stderr
    assert "Remote database is up to date" in push.stdout + push.stderr
    listing = run_cli("migration", "list", "--db-url", cli_url(standin_db))
    assert listing.returncode == 0, listing.stderr
    for migration in discover():
        line = next(x for x in listing.stdout.splitlines() if migration.version in x)
        assert line.count(migration.version) == 2, line  # local and remote columns


def test_cli_reset_rebuilds_the_schema_and_keeps_the_supabase_schemas(standin_db: str) -> None:
    migrate(standin_db)
    with psycopg.connect(standin_db, autocommit=True) as conn:
        user = create_user(conn)
        conn.execute(
            "insert into public.videos (uploader_user_id, storage_path) values (%s, %s)",
            (user, f"{user}/a.mp4"),
        )
    result = run_cli("db", "reset", "--db-url", cli_url(standin_db), "--yes")
    assert result.returncode == 0, result.stderr + result.stdout
    assert recorded(standin_db) == expected_rows()
    with psycopg.connect(standin_db) as conn:
        found = conn.execute(
            "select to_regclass('public.videos') is not null,"
            " to_regprocedure('processor.claim_jobs(text,integer,integer,integer)') is not null,"
            " to_regprocedure('auth.uid()') is not null,"
            " (select count(*) from storage.buckets where id in ('videos', 'video-artifacts')),"
            " (select count(*) from pg_policies where schemaname = 'storage'),"
            " (select count(*) from public.videos)"
        ).fetchone()
    assert found == (True, True, True, 2, 5, 0)
    assert migrate(standin_db).applied == []


def _lint_available(url: str) -> bool:
    with psycopg.connect(url) as conn:
        return bool(
            conn.execute(
                "select 1 from pg_available_extensions where name = 'plpgsql_check'"
            ).fetchone()
        )


def test_cli_lint_finds_no_errors_and_can_fail(standin_db: str) -> None:
    if not _lint_available(standin_db):
        if os.environ.get("CI"):
            pytest.fail("plpgsql_check is required in CI (postgresql-15-plpgsql-check)")
        pytest.skip("server lacks the plpgsql_check extension")
    migrate(standin_db)
    clean = run_cli("db", "lint", "--db-url", cli_url(standin_db), "--fail-on", "error")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "No schema errors found" in clean.stdout + clean.stderr
    with psycopg.connect(standin_db, autocommit=True) as conn:
        conn.execute(
            "create function public.broken() returns int language plpgsql as"
            " $$ begin return (select missing_column from public.videos); end $$"
        )
    broken = run_cli("db", "lint", "--db-url", cli_url(standin_db), "--fail-on", "error")
    assert broken.returncode != 0
    assert "missing_column" in broken.stdout + broken.stderr
