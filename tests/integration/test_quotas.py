"""Quotas at insert and retry (processor.quotas, SQLSTATE PT429), one live row per upload, and
the `vproc quota` commands, against real Postgres, as PostgREST would send the requests."""

from __future__ import annotations

import json
import threading
import uuid

import psycopg
import pytest
from typer.testing import CliRunner

from processor.cli import app
from processor.db import queries
from tests.support.postgrest import impersonate
from tests.support.seed import create_user

runner = CliRunner()


def insert_as(
    conn: psycopg.Connection,
    user: uuid.UUID,
    name: str | None = None,
    *,
    size: int | None = 1000,
    content_type: str = "video/mp4",
    rows: int = 1,
) -> None:
    """One insert request of `rows` videos by `user`, as supabase-js sends it."""
    with conn.transaction():
        impersonate(conn, user)
        conn.execute(
            "insert into public.videos (storage_path, content_type, size_bytes)"
            " select %s || '/' || coalesce(%s, gen_random_uuid()::text) || g || '.mp4', %s, %s"
            " from generate_series(1, %s) g",
            (str(user), name, content_type, size, rows),
        )
        conn.execute("reset role")


def videos_of(conn: psycopg.Connection, user: uuid.UUID) -> int:
    row = conn.execute(
        "select count(*) from public.videos where uploader_user_id = %s", (user,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def set_limits(conn: psycopg.Connection, user: uuid.UUID | None, **limits: int | None) -> None:
    queries.set_quota(conn, user_id=user, limits=limits)


def test_the_defaults_row_ships_with_documented_values(admin) -> None:
    rows = queries.list_quotas(admin)
    assert len(rows) == 1 and rows[0].user_id is None
    d = rows[0]
    assert (
        d.max_active_jobs,
        d.max_videos_per_day,
        d.max_bytes_per_day,
        d.max_retries_per_job,
    ) == (20, 200, 50 * 1024**3, 5)


def test_one_request_flooding_the_queue_is_refused_whole(admin) -> None:
    """2,000 rows in one insert used to queue 2,000 jobs."""
    user = create_user(admin)
    with pytest.raises(psycopg.Error) as caught:
        insert_as(admin, user, rows=2000)
    assert caught.value.sqlstate == "PT429"
    assert "max_active_jobs is 20" in str(caught.value)
    assert videos_of(admin, user) == 0
    assert admin.execute(
        "select count(*) from public.video_jobs where owner_id = %s", (user,)
    ).fetchone() == (0,)


def test_max_active_jobs_counts_pending_and_processing(admin) -> None:
    user = create_user(admin)
    set_limits(admin, user, max_active_jobs=2)
    insert_as(admin, user)
    insert_as(admin, user)
    with pytest.raises(psycopg.Error) as caught:
        insert_as(admin, user)
    assert caught.value.sqlstate == "PT429"
    assert "max_active_jobs is 2" in str(caught.value)
    admin.execute("set role vproc_processor")
    [(job_id, token)] = admin.execute(
        "select id, claim_token from processor.claim_jobs('w', 1, 60)"
    ).fetchall()
    admin.execute("reset role")
    with pytest.raises(psycopg.Error):  # PROCESSING still counts
        insert_as(admin, user)
    admin.execute("select processor.complete_job(%s, %s)", (job_id, token))
    insert_as(admin, user)  # a finished job frees its slot
    assert videos_of(admin, user) == 3


def test_videos_per_day_are_not_given_back_by_deleting(admin) -> None:
    user = create_user(admin)
    set_limits(admin, user, max_videos_per_day=2, max_active_jobs=None)
    insert_as(admin, user)
    insert_as(admin, user)
    admin.execute("delete from public.videos where uploader_user_id = %s", (user,))
    with pytest.raises(psycopg.Error) as caught:
        insert_as(admin, user)
    assert caught.value.sqlstate == "PT429"
    assert "max_videos_per_day is 2" in str(caught.value)


def test_bytes_per_day_count_the_real_object_size_when_larger(admin) -> None:
    user = create_user(admin)
    set_limits(admin, user, max_bytes_per_day=10_000)
    insert_as(admin, user, size=6_000)
    # Declares 1 byte, but Storage recorded 5,000 for the object: 11,000 > 10,000.
    admin.execute(
        "insert into storage.objects (bucket_id, name, owner_id, metadata)"
        " values ('videos', %s, %s, '{\"size\": 5000}')",
        (f"{user}/big.mp4", str(user)),
    )
    with pytest.raises(psycopg.Error) as caught, admin.transaction():
        impersonate(admin, user)
        admin.execute(
            "insert into public.videos (storage_path, size_bytes) values (%s, 1)",
            (f"{user}/big.mp4",),
        )
    assert caught.value.sqlstate == "PT429"
    assert "max_bytes_per_day is 10000" in str(caught.value)
    insert_as(admin, user, size=4_000)  # 10,000 exactly is within the limit


def test_a_user_row_replaces_the_defaults_and_null_is_unlimited(admin) -> None:
    user = create_user(admin)
    set_limits(admin, user, max_active_jobs=None)
    insert_as(admin, user, rows=30)
    assert videos_of(admin, user) == 30
    other = create_user(admin)
    with pytest.raises(psycopg.Error):
        insert_as(admin, other, rows=30)


def test_the_owner_and_service_role_are_counted_not_limited(admin) -> None:
    user = create_user(admin)
    admin.execute(
        "insert into public.videos (uploader_user_id, storage_path)"
        " select %s, %s || '/' || g || '.mp4' from generate_series(1, 30) g",
        (user, str(user)),
    )
    usage = queries.effective_quota(admin, user_id=user)
    assert usage is not None and (usage.active_jobs, usage.videos_today) == (30, 30)
    with pytest.raises(psycopg.Error) as caught:
        insert_as(admin, user)
    assert caught.value.sqlstate == "PT429"


def test_two_concurrent_inserts_at_the_limit_cannot_both_pass(db_url, admin) -> None:
    user = create_user(admin)
    set_limits(admin, user, max_active_jobs=1)
    outcome: list[str] = []
    with (
        psycopg.connect(db_url, autocommit=True) as first,
        psycopg.connect(db_url, autocommit=True) as second,
    ):
        with first.transaction():
            impersonate(first, user)
            first.execute(
                "insert into public.videos (storage_path) values (%s)", (f"{user}/one.mp4",)
            )

            def other() -> None:
                try:
                    insert_as(second, user, "two")
                    outcome.append("inserted")
                except psycopg.Error as exc:
                    outcome.append(str(exc.sqlstate))

            thread = threading.Thread(target=other)
            thread.start()
            thread.join(0.5)
            assert thread.is_alive(), "the second insert did not wait for the first"
            first.execute("reset role")
        thread.join(10)
    assert outcome == ["PT429"]
    assert videos_of(admin, user) == 1


def fail_job(conn: psycopg.Connection, job_id: int) -> None:
    conn.execute(
        "update public.video_jobs set status = 'FAILED', finished_at = now() where id = %s",
        (job_id,),
    )


def retry_as(conn: psycopg.Connection, user: uuid.UUID, job_id: int) -> None:
    with conn.transaction():
        impersonate(conn, user)
        conn.execute("select public.retry_video_job(%s)", (job_id,))
        conn.execute("reset role")


def test_retries_are_capped_per_job(admin) -> None:
    user = create_user(admin)
    set_limits(admin, user, max_retries_per_job=2)
    insert_as(admin, user)
    [(job_id,)] = admin.execute(
        "select id from public.video_jobs where owner_id = %s", (user,)
    ).fetchall()
    for _ in range(2):
        fail_job(admin, job_id)
        retry_as(admin, user, job_id)
    fail_job(admin, job_id)
    with pytest.raises(psycopg.Error) as caught:
        retry_as(admin, user, job_id)
    assert caught.value.sqlstate == "PT429"
    assert "max_retries_per_job is 2" in str(caught.value)
    row = admin.execute(
        "select status, retries from public.video_jobs where id = %s", (job_id,)
    ).fetchone()
    assert row == ("FAILED", 2)


def test_a_retry_counts_against_active_jobs(admin) -> None:
    user = create_user(admin)
    set_limits(admin, user, max_active_jobs=1)
    insert_as(admin, user)
    [(job_id,)] = admin.execute(
        "select id from public.video_jobs where owner_id = %s", (user,)
    ).fetchall()
    fail_job(admin, job_id)
    insert_as(admin, user)  # the slot is free while the first job is FAILED
    with pytest.raises(psycopg.Error) as caught:
        retry_as(admin, user, job_id)
    assert caught.value.sqlstate == "PT429"
    assert "max_active_jobs is 1" in str(caught.value)


def test_one_upload_one_live_row(admin) -> None:
    user = create_user(admin)
    insert_as(admin, user, "same", rows=1)
    with pytest.raises(psycopg.errors.UniqueViolation):
        insert_as(admin, user, "same", rows=1)


def test_content_type_is_bounded(admin) -> None:
    user = create_user(admin)
    with pytest.raises(psycopg.errors.CheckViolation):
        insert_as(admin, user, content_type="video/" + "x" * 300)
    insert_as(admin, user, content_type="video/" + "x" * 200)


@pytest.mark.parametrize("bad", ["{uid}/./x.mp4", "{uid}/a/./x.mp4", "{uid}/.", "{uid}/../x.mp4"])
def test_dot_segments_are_refused_for_videos_and_uploads(admin, bad: str) -> None:
    user = create_user(admin)
    path = bad.format(uid=user)
    with pytest.raises(psycopg.errors.CheckViolation), admin.transaction():
        impersonate(admin, user)
        admin.execute("insert into public.videos (storage_path) values (%s)", (path,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege), admin.transaction():
        impersonate(admin, user)
        admin.execute(
            "insert into storage.objects (bucket_id, name) values ('videos', %s)", (path,)
        )
    admin.execute("reset role")


# --- vproc quota -----------------------------------------------------------------------------


def vproc(db_url: str, *args: str):
    return runner.invoke(app, [*args, "--database-url", db_url])


def test_quota_commands_set_show_and_clear(admin, db_url) -> None:
    user = create_user(admin)
    result = vproc(
        db_url, "quota", "set", "--user", str(user), "--max-active-jobs", "3",
        "--max-bytes-per-day", "none", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["quota"]
    # Unnamed limits start from the defaults; `none` is unlimited.
    assert (row["max_active_jobs"], row["max_videos_per_day"], row["max_bytes_per_day"]) == (
        3,
        200,
        None,
    )
    insert_as(admin, user, rows=3)
    with pytest.raises(psycopg.Error):
        insert_as(admin, user)
    shown = vproc(db_url, "quota", "show", "--user", str(user), "--json")
    assert shown.exit_code == 0, shown.output
    quota = json.loads(shown.stdout)["quota"]
    assert (quota["user_id"], quota["max_active_jobs"], quota["active_jobs"]) == (str(user), 3, 3)
    listing = vproc(db_url, "quota", "show", "--json")
    assert [q["user_id"] for q in json.loads(listing.stdout)["quotas"]] == [None, str(user)]
    table = vproc(db_url, "quota", "show", "--user", str(user))
    assert "own" in table.stdout and "unlimited" in table.stdout

    cleared = vproc(db_url, "quota", "set", "--user", str(user), "--clear")
    assert cleared.exit_code == 0, cleared.output
    assert queries.effective_quota(admin, user_id=user).max_active_jobs == 20  # type: ignore[union-attr]

    defaults = vproc(db_url, "quota", "set", "--max-videos-per-day", "1000")
    assert defaults.exit_code == 0, defaults.output
    assert queries.list_quotas(admin)[0].max_videos_per_day == 1000


@pytest.mark.parametrize(
    "args",
    [
        ["--max-active-jobs", "-1"],
        ["--max-active-jobs", "lots"],
        [],
        ["--clear"],
        ["--clear", "--user", "00000000-0000-4000-8000-000000000001", "--max-active-jobs", "1"],
    ],
)
def test_quota_set_rejects_bad_input(db_url, args: list[str]) -> None:
    result = vproc(db_url, "quota", "set", *args)
    assert result.exit_code == 2, result.output
