"""supabase/types/database.ts stays what the migrated schema says (scripts/gen_types.py)."""

from __future__ import annotations

import difflib
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
TYPES_FILE = ROOT / "supabase" / "types" / "database.ts"
REGENERATE = (
    "uv run python scripts/gen_types.py --database-url <migrated db> "
    "--output supabase/types/database.ts"
)


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_types", ROOT / "scripts" / "gen_types.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_types", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen_types() -> ModuleType:
    return load_generator()


def row_block(text: str, table: str) -> str:
    """The body of `<table>: { Row: { … } }` inside Database["public"]["Tables"]."""
    match = re.search(rf"\n      {table}: {{\n        Row: {{\n(.*?)\n        }}\n", text, re.S)
    assert match, f"no Row type for table {table}"
    return match.group(1)


def test_committed_types_match_the_migrated_schema(gen_types: ModuleType, db_url: str) -> None:
    expected = gen_types.generate(db_url)
    actual = TYPES_FILE.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                actual.splitlines(keepends=True),
                expected.splitlines(keepends=True),
                "supabase/types/database.ts (committed)",
                "generated from the migrations",
            )
        )
        pytest.fail(f"database.ts is out of date; regenerate with\n  {REGENERATE}\n\n{diff}")


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
    assert {r[0] for r in rows} == {"videos", "video_jobs", "video_metadata"}
    for table, column, nullable in rows:
        block = row_block(text, table)
        line = re.search(rf"^          {column}: (.+)$", block, re.M)
        assert line, f"{table}.{column} missing from its Row type"
        assert line.group(1).endswith(" | null") == nullable, f"{table}.{column}: {line.group(1)}"
    for table in ("videos", "video_jobs", "video_metadata"):
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


def test_generator_refuses_what_it_cannot_render(gen_types: ModuleType, db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("create view public.job_statuses as select id, status from public.video_jobs")
    with pytest.raises(NotImplementedError, match=r"public\.job_statuses"):
        gen_types.generate(db_url)
