"""What users can reach besides their rows: sequences, default privileges, and whether any
column they can select (through PostgREST) or receive (through Realtime) names a worker."""

from __future__ import annotations

import os
import socket
import uuid

import psycopg
import pytest

from processor.queue.worker import default_worker_id
from tests.support.postgrest import impersonate
from tests.support.seed import create_user, insert_video_as

# --- sequences and default privileges --------------------------------------------------------

PUBLIC_SEQUENCES = ("public.video_jobs_id_seq", "public.video_metadata_id_seq")


@pytest.mark.parametrize("sequence", PUBLIC_SEQUENCES)
@pytest.mark.parametrize("as_anon", [False, True], ids=["authenticated", "anon"])
def test_users_cannot_move_a_sequence(admin, sequence: str, as_anon: bool) -> None:
    """setval to the maximum would make every later insert fail, for everyone."""
    user = None if as_anon else create_user(admin)
    before = admin.execute(f"select last_value from {sequence}").fetchone()
    for sql in (
        f"select setval('{sequence}', 9223372036854775807)",
        f"select nextval('{sequence}')",
        f"select last_value from {sequence}",
    ):
        with admin.transaction():
            impersonate(admin, user)
            with pytest.raises(psycopg.errors.InsufficientPrivilege), admin.transaction():
                admin.execute(sql)
            admin.execute("reset role")
    assert admin.execute(f"select last_value from {sequence}").fetchone() == before


def test_no_sequence_in_public_grants_anything_to_users(admin) -> None:
    rows = admin.execute(
        "select c.oid::regclass::text, r.rolname from pg_class as c"
        " cross join (values ('anon'), ('authenticated')) as r (rolname)"
        " where c.relkind = 'S' and c.relnamespace = 'public'::regnamespace"
        " and has_sequence_privilege(r.rolname, c.oid, 'SELECT, UPDATE, USAGE')"
    ).fetchall()
    assert rows == []
    count = admin.execute(
        "select count(*) from pg_class where relkind = 'S' and relnamespace = 'public'::regnamespace"
    ).fetchone()
    assert count is not None and count[0] >= len(PUBLIC_SEQUENCES)


def test_the_stand_in_mirrors_supabase_default_privileges(admin) -> None:
    """Before the migrations' revokes, postgres and supabase_admin hand new public tables,
    functions and sequences to anon and authenticated, as on Supabase."""
    rows = admin.execute(
        "select pg_get_userbyid(d.defaclrole), d.defaclobjtype"
        " from pg_default_acl as d where d.defaclnamespace = 'public'::regnamespace"
        " and exists (select 1 from aclexplode(d.defaclacl) as a"
        "             where a.grantee = 'service_role'::regrole)"
    ).fetchall()
    assert {("postgres", t) for t in "rfS"} | {("supabase_admin", t) for t in "rfS"} <= set(rows)


@pytest.mark.parametrize("creator", ["postgres", "supabase_admin"])
def test_later_sequences_and_functions_are_not_handed_to_users(admin, creator: str) -> None:
    with admin.transaction(force_rollback=True):
        admin.execute(f"set local role {creator}")
        admin.execute("create sequence public.later_seq")
        admin.execute("create function public.later_fn() returns int language sql as 'select 1'")
        admin.execute("reset role")
        leaks = admin.execute(
            "select r.rolname from (values ('anon'), ('authenticated')) as r (rolname)"
            " where has_sequence_privilege(r.rolname, 'public.later_seq', 'SELECT, UPDATE, USAGE')"
            " or exists (select 1 from pg_proc as p, aclexplode(p.proacl) as a"
            "            where p.oid = 'public.later_fn()'::regprocedure"
            "              and a.grantee = r.rolname::regrole)"
        ).fetchall()
    assert leaks == []


# --- worker identity ---------------------------------------------------------------------------


def user_visible_text(admin: psycopg.Connection, user: uuid.UUID) -> str:
    """Every column of every public table and view the user can select, as PostgREST."""
    relations = admin.execute(
        "select c.oid::regclass::text from pg_class as c"
        " where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'v', 'm', 'p')"
        " and (has_table_privilege('authenticated', c.oid, 'SELECT')"
        "      or has_any_column_privilege('authenticated', c.oid, 'SELECT'))"
    ).fetchall()
    assert relations, "the user can select nothing at all?"
    texts = []
    with admin.transaction(force_rollback=True):
        impersonate(admin, user)
        for (relation,) in relations:
            columns = [
                r[0]
                for r in admin.execute(
                    "select attname from pg_attribute where attrelid = %s::regclass"
                    " and attnum > 0 and not attisdropped"
                    " and has_column_privilege('authenticated', attrelid, attnum, 'SELECT')",
                    (relation,),
                ).fetchall()
            ]
            select = ", ".join(f'"{c}"::text' for c in columns)
            for row in admin.execute(f"select {select} from {relation}").fetchall():
                texts.extend(str(v) for v in row)
    return "\n".join(texts)


def published_text(admin: psycopg.Connection) -> tuple[list[str], str]:
    """What Realtime can send to users, read as the superuser: whole rows of every table in
    the supabase_realtime publication (postgres_changes sends whole rows, whatever the column
    grants) and every Broadcast message the database sent (realtime.messages)."""
    tables = [
        r[0]
        for r in admin.execute(
            "select format('%I.%I', schemaname, tablename) from pg_publication_tables"
            " where pubname = 'supabase_realtime'"
        ).fetchall()
    ]
    tables.append("realtime.messages")
    texts = []
    for table in tables:
        for (row,) in admin.execute(f"select to_jsonb(t)::text from {table} as t").fetchall():
            texts.append(row)
    return tables, "\n".join(texts)


def test_no_user_visible_column_names_the_worker(admin, tmp_path) -> None:
    user = create_user(admin)
    _, failing = insert_video_as(admin, user, "a.mp4")
    _, running = insert_video_as(admin, user, "b.mp4")
    worker_id = default_worker_id()
    host = socket.gethostname()
    assert host in worker_id
    workdir = str(tmp_path)
    admin.execute("set role vproc_processor")
    claims = {
        r[0]: r[1]
        for r in admin.execute(
            "select id, claim_token from processor.claim_jobs(%s, 2, 60)", (worker_id,)
        ).fetchall()
    }
    assert set(claims) == {failing, running}
    assert admin.execute(
        "select count(*) from processor.heartbeat(%s, %s, 60)", (running, claims[running])
    ).fetchone() == (1,)
    admin.execute(
        'select processor.record_progress(%s, %s, \'probe\', 0.1, \'{"probe": {"status": "running"}}\')',
        (running, claims[running]),
    )
    status = admin.execute(
        "select processor.fail_job(%s, %s, 'storage_unavailable', 'storage returned 503', true)",
        (failing, claims[failing]),
    ).fetchone()
    assert status == ("PENDING",)
    admin.execute("reset role")
    # Worker identity is recorded, just not where users look.
    assert admin.execute(
        "select locked_by from processor.job_leases where job_id = %s", (running,)
    ).fetchone() == (worker_id,)

    visible = user_visible_text(admin, user)
    tables, published = published_text(admin)
    assert "realtime.messages" in tables
    # The scan reads real rows: the running job's Broadcast events name its stage.
    assert str(running) in visible and '"current_stage": "probe"' in published
    for secret in (worker_id, host, workdir, os.getcwd()):
        assert secret not in visible, f"{secret!r} is selectable by the owner"
        assert secret not in published, f"{secret!r} is published to Realtime"
