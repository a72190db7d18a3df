"""queries.sql: every block is well formed, every query is used, and every one is reachable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from processor.db import queries
from processor.db.queries import QUERIES, load_queries

ROOT = Path(__file__).resolve().parents[2]


def test_every_named_query_has_a_function_and_is_used_by_it() -> None:
    source = (ROOT / "processor" / "db" / "queries.py").read_text()
    used = set(re.findall(r'QUERIES\["(\w+)"\]', source)) | set(
        re.findall(r'_(?:rows|scalar|scalar_of)\(\s*conn,\s*"(\w+)"', source)
    )
    assert set(QUERIES) == used, f"unused: {set(QUERIES) - used}, missing: {used - set(QUERIES)}"
    for name in QUERIES:
        assert callable(getattr(queries, name)), name


def test_queue_queries_call_the_function_of_the_same_name() -> None:
    for name in (
        "claim_jobs",
        "heartbeat",
        "record_progress",
        "save_metadata",
        "complete_job",
        "complete_jobs",
        "fail_job",
        "release_job",
        "cancel_job",
        "reap_expired_leases",
    ):
        assert f"processor.{name}(" in QUERIES[name], name


def test_queue_functions_named_in_queries_exist_in_the_migrations() -> None:
    migrations = "\n".join(p.read_text() for p in (ROOT / "supabase" / "migrations").glob("*.sql"))
    for called in set(re.findall(r"(processor|public)\.(\w+)\(", "\n".join(QUERIES.values()))):
        assert f"create function {called[0]}.{called[1]}(" in migrations, called


def test_a_block_without_a_purpose_is_refused() -> None:
    with pytest.raises(ValueError, match="purpose"):
        load_queries("-- name: broken\nselect 1;\n")


def test_no_sql_in_python_modules_outside_the_db_package() -> None:
    pattern = re.compile(r"""["'](select|insert into|update|delete from)\s""", re.I)
    offenders = []
    for path in (ROOT / "processor").rglob("*.py"):
        if path.parts[-2] == "db" and path.parent.parent.name == "processor":
            continue
        if pattern.search(path.read_text()):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
