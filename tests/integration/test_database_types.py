"""supabase/types/database.ts is what the Supabase CLI's generator prints for the migrations.

The generator is @supabase/postgres-meta on Node.js (package.json pins the version the pinned
CLI runs; scripts/typegen.py runs it as the CLI does). Outside CI the comparison is skipped
when Node.js or the package is missing; in CI it must be there.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
TYPES_FILE = ROOT / "supabase" / "types" / "database.ts"


def load_typegen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("typegen", ROOT / "scripts" / "typegen.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("typegen", module)
    spec.loader.exec_module(module)
    return module


typegen = load_typegen()


@pytest.fixture(scope="module")
def generator() -> None:
    try:
        typegen.generator_command()
    except typegen.GeneratorMissingError as exc:
        if os.environ.get("CI"):
            raise RuntimeError(f"the type generator is required in CI: {exc}") from exc
        pytest.skip(f"type generator not installed: {exc}")


def row_block(text: str, table: str) -> str:
    """The body of `<table>: { Row: { … } }` inside Database["public"]["Tables"]."""
    match = re.search(rf"\n      {table}: {{\n        Row: {{\n(.*?)\n        }}\n", text, re.S)
    assert match, f"no Row type for table {table}"
    return match.group(1)


def test_committed_types_are_what_the_generator_prints(generator: None, db_url: str) -> None:
    expected = typegen.generate(db_url)
    actual = TYPES_FILE.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                actual.splitlines(keepends=True),
                expected.splitlines(keepends=True),
                "supabase/types/database.ts (committed)",
                "postgres-meta on the migrated schema",
            )
        )
        pytest.fail(f"database.ts is out of date; regenerate with\n  {typegen.COMMAND}\n\n{diff}")


def test_generator_follows_the_schema(generator: None, db_url: str) -> None:
    # The comparison above can only fail if the generator sees the database it is given.
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("alter table public.videos add column typegen_probe smallint")
    assert "typegen_probe: number | null" in row_block(typegen.generate(db_url), "videos")


def test_every_column_is_typed_with_its_nullability(db_url: str) -> None:
    # Independent of the generator: read information_schema and look for each column.
    text = TYPES_FILE.read_text(encoding="utf-8")
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "select c.table_name, c.column_name, c.is_nullable = 'YES'"
            " from information_schema.columns c"
            " join information_schema.tables t using (table_schema, table_name)"
            " where c.table_schema = 'public' and t.table_type = 'BASE TABLE'"
            " order by 1, c.ordinal_position"
        ).fetchall()
    tables = sorted({r[0] for r in rows})
    assert {"videos", "video_jobs", "video_metadata"} <= set(tables)
    for table, column, nullable in rows:
        block = row_block(text, table)
        line = re.search(rf"^          {column}: (.+)$", block, re.M)
        assert line, f"{table}.{column} missing from its Row type"
        assert line.group(1).endswith(" | null") == nullable, f"{table}.{column}: {line.group(1)}"
    for table in tables:
        typed = re.findall(r"^          (\w+):", row_block(text, table), re.M)
        assert sorted(typed) == sorted(c for t, c, _ in rows if t == table)


def test_enum_and_rpcs_are_typed(db_url: str) -> None:
    text = TYPES_FILE.read_text(encoding="utf-8")
    with psycopg.connect(db_url) as conn:
        labels = [
            r[0]
            for r in conn.execute(
                "select unnest(enum_range(null::public.processing_status))::text"
            ).fetchall()
        ]
    constants = re.search(r"processing_status: \[\n(.*?)\n\s*\],", text, re.S)
    assert constants
    assert re.findall(r'"(\w+)"', constants.group(1)) == labels
    for rpc in ("retry_video_job", "cancel_video_job"):
        assert re.search(rf"\n      {rpc}: {{\n        Args: {{ job_id: number }}\n", text), rpc
