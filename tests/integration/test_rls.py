"""Row Level Security under attack: user A (and anon) against user B's rows and files.

Every attack runs as PostgREST would run the request (see tests/support/postgrest.py) and must
be refused in the stated way, and must leave every table exactly as it was.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from tests.support.postgrest import impersonate, request_as
from tests.support.seed import Tenant, insert_video_as, seed_tenant

FINGERPRINT = """
select md5(concat_ws('|',
  (select string_agg(t::text, ',' order by t.id) from public.videos t),
  (select string_agg(t::text, ',' order by t.id) from public.video_jobs t),
  (select string_agg(t::text, ',' order by t.id) from public.video_metadata t),
  (select string_agg(t::text, ',' order by t.id) from storage.objects t),
  (select string_agg(t::text, ',' order by t.id) from storage.buckets t),
  (select string_agg(t::text, ',' order by t.id) from realtime.messages t),
  (select string_agg(t::text, ',' order by t.job_id) from processor.job_leases t),
  (select string_agg(t::text, ',' order by t.id) from processor.quotas t),
  (select string_agg(t::text, ',' order by t.user_id, t.day) from processor.quota_usage t)
))
"""


@dataclass(frozen=True)
class Attack:
    """One hostile request and how it must be refused.

    expect: "error:<SQLSTATE>" (the request fails with that code) or "nothing" (it succeeds
    but reads or changes no row, which is how RLS answers reads, updates and deletes).
    topic: run as Realtime authorizes a channel join, with realtime.topic set to this
    (formatted with the world's params). storage_api: run as the Storage API runs a request
    (storage.allow_delete_query set), not as a direct query.
    """

    id: str
    sql: str
    expect: str
    as_anon: bool = False
    topic: str | None = None
    storage_api: bool = False


ATTACKS = [
    # --- videos -------------------------------------------------------------------------
    Attack("videos-read-other", "select * from public.videos where id = %(b_video)s", "nothing"),
    Attack(
        "videos-list-leaks-other",
        "select * from public.videos where uploader_user_id = %(b)s",
        "nothing",
    ),
    Attack(
        "videos-insert-forged-uploader",
        "insert into public.videos (uploader_user_id, storage_path) values (%(b)s::uuid, %(b)s::uuid::text || '/x.mp4')",
        "error:42501",
    ),
    Attack(
        "videos-insert-path-in-other-folder",
        "insert into public.videos (storage_path) values (%(b)s::text || '/x.mp4')",
        "error:42501",
    ),
    Attack(
        "videos-insert-path-at-root",
        "insert into public.videos (storage_path) values ('x.mp4')",
        "error:42501",
    ),
    Attack(
        "videos-insert-path-traversal",
        "insert into public.videos (storage_path) values (%(a)s::text || '/../' || %(b)s::text || '/x.mp4')",
        "error:23514",
    ),
    Attack(
        "videos-insert-path-prefix-lookalike",
        "insert into public.videos (storage_path) values (%(a)s::text || 'x/clip.mp4')",
        "error:42501",
    ),
    Attack(
        "videos-insert-path-absolute",
        "insert into public.videos (storage_path) values ('/' || %(a)s::text || '/x.mp4')",
        "error:42501",
    ),
    Attack(
        "videos-insert-reusing-other-id",
        "insert into public.videos (id, storage_path) values (%(b_video)s, %(a)s::text || '/x.mp4')",
        "error:23505",
    ),
    Attack(
        "videos-update-other",
        "update public.videos set original_filename = 'pwned' where id = %(b_video)s",
        "nothing",
    ),
    Attack(
        "videos-update-steal-ownership",
        "update public.videos set uploader_user_id = %(a)s where id = %(b_video)s",
        "error:42501",
    ),
    Attack(
        "videos-update-give-away-own",
        "update public.videos set uploader_user_id = %(b)s where id = %(a_video)s",
        "error:42501",
    ),
    Attack(
        "videos-update-own-path-into-other-folder",
        "update public.videos set storage_path = %(b)s::text || '/x.mp4' where id = %(a_video)s",
        "error:42501",
    ),
    Attack("videos-delete-other", "delete from public.videos where id = %(b_video)s", "nothing"),
    # --- jobs ---------------------------------------------------------------------------
    Attack("jobs-read-other", "select * from public.video_jobs where id = %(b_job)s", "nothing"),
    Attack(
        "jobs-update-own-status",
        "update public.video_jobs set status = 'COMPLETED' where id = %(a_job)s",
        "error:42501",
    ),
    Attack(
        "jobs-update-other-status",
        "update public.video_jobs set status = 'CANCELLED' where id = %(b_job)s",
        "error:42501",
    ),
    Attack(
        "jobs-update-own-priority",
        "update public.video_jobs set priority = 1000 where id = %(a_job)s",
        "error:42501",
    ),
    Attack(
        "jobs-insert",
        "insert into public.video_jobs (video_id, owner_id) values (%(a_video)s, %(a)s)",
        "error:42501",
    ),
    Attack("jobs-delete-own", "delete from public.video_jobs where id = %(a_job)s", "error:42501"),
    Attack(
        "jobs-delete-other", "delete from public.video_jobs where id = %(b_job)s", "error:42501"
    ),
    # --- metadata -----------------------------------------------------------------------
    Attack(
        "metadata-read-other",
        "select * from public.video_metadata where job_id = %(b_job)s",
        "nothing",
    ),
    Attack(
        "metadata-insert-own",
        "insert into public.video_metadata (job_id, owner_id, title) values (%(a_job)s, %(a)s, 'x')",
        "error:42501",
    ),
    Attack(
        "metadata-update-own",
        "update public.video_metadata set title = 'forged' where job_id = %(a_job)s",
        "error:42501",
    ),
    Attack(
        "metadata-update-other",
        "update public.video_metadata set title = 'forged' where job_id = %(b_job)s",
        "error:42501",
    ),
    Attack(
        "metadata-delete-other",
        "delete from public.video_metadata where job_id = %(b_job)s",
        "error:42501",
    ),
    # --- client RPCs on another user's job ------------------------------------------------
    Attack("rpc-retry-other", "select * from public.retry_video_job(%(b_job)s)", "error:PT404"),
    Attack(
        "rpc-cancel-other",
        "select * from public.cancel_video_job(%(b_pending_job)s)",
        "error:PT404",
    ),
    # --- the processor's queue API --------------------------------------------------------
    Attack("queue-claim", "select * from processor.claim_jobs('evil', 10, 60)", "error:42501"),
    Attack(
        "queue-complete",
        'select processor.complete_job(%(b_job)s, gen_random_uuid(), \'{"title": "x"}\')',
        "error:42501",
    ),
    Attack(
        "queue-fail",
        "select processor.fail_job(%(b_job)s, gen_random_uuid(), 'x', 'x', false)",
        "error:42501",
    ),
    Attack(
        "queue-heartbeat",
        "select * from processor.heartbeat(%(b_job)s, gen_random_uuid(), 60)",
        "error:42501",
    ),
    Attack("queue-reap", "select * from processor.reap_expired_leases()", "error:42501"),
    Attack(
        "queue-save-metadata",
        'select processor.save_metadata(%(a_job)s, gen_random_uuid(), \'{"title": "x"}\')',
        "error:42501",
    ),
    # --- leases: who runs a job is not the user's business ------------------------------
    Attack("leases-read", "select * from processor.job_leases", "error:42501"),
    Attack(
        "leases-extend-own",
        "update processor.job_leases set locked_until = 'infinity' where job_id = %(a_job)s",
        "error:42501",
    ),
    Attack(
        "leases-forge",
        "insert into processor.job_leases (job_id, claim_token, locked_by, locked_until)"
        " values (%(b_pending_job)s, gen_random_uuid(), 'evil', now())",
        "error:42501",
    ),
    Attack(
        "jobs-read-lease-columns",
        "select locked_by, locked_until, heartbeat_at from public.video_jobs",
        "error:42703",
    ),
    # --- quotas ---------------------------------------------------------------------------
    Attack("quotas-read", "select * from processor.quotas", "error:42501"),
    Attack(
        "quotas-lift-own",
        "insert into processor.quotas (user_id, max_active_jobs) values (%(a)s, null)",
        "error:42501",
    ),
    Attack(
        "quotas-lift-defaults",
        "update processor.quotas set max_active_jobs = null, max_videos_per_day = null",
        "error:42501",
    ),
    Attack("quota-usage-reset", "delete from processor.quota_usage", "error:42501"),
    Attack("quota-for-probe", "select processor.quota_for(%(a)s)", "error:42501"),
    Attack(
        "videos-flood-one-request",
        "insert into public.videos (storage_path)"
        " select %(a)s::text || '/flood/' || g || '.mp4' from generate_series(1, 2000) g",
        "error:PT429",
    ),
    Attack(
        "videos-insert-second-row-for-one-upload",
        "insert into public.videos (storage_path)"
        " select storage_path from public.videos where id = %(a_video)s",
        "error:23505",
    ),
    Attack(
        "videos-insert-huge-content-type",
        "insert into public.videos (storage_path, content_type)"
        " values (%(a)s::text || '/ct.mp4', repeat('x', 100000))",
        "error:23514",
    ),
    Attack(
        "videos-insert-dot-segment",
        "insert into public.videos (storage_path) values (%(a)s::text || '/./x.mp4')",
        "error:23514",
    ),
    Attack(
        "rpc-retry-own-failed-over-cap",
        "select public.retry_video_job(%(a_exhausted_job)s)",
        "error:PT429",
    ),
    # --- sequences ----------------------------------------------------------------------
    Attack(
        "sequence-setval-jobs",
        "select setval('public.video_jobs_id_seq', 9223372036854775807)",
        "error:42501",
    ),
    Attack(
        "sequence-setval-metadata",
        "select setval('public.video_metadata_id_seq', 9223372036854775807)",
        "error:42501",
    ),
    Attack("sequence-nextval", "select nextval('public.video_jobs_id_seq')", "error:42501"),
    Attack(
        "anon-setval",
        "select setval('public.video_jobs_id_seq', 9223372036854775807)",
        "error:42501",
        as_anon=True,
    ),
    # --- storage ------------------------------------------------------------------------
    Attack(
        "storage-read-other-video",
        "select * from storage.objects where bucket_id = 'videos' and name = %(b_object)s",
        "nothing",
    ),
    Attack(
        "storage-upload-into-other-folder",
        "insert into storage.objects (bucket_id, name) values ('videos', %(b)s::text || '/evil.mp4')",
        "error:42501",
    ),
    Attack(
        "storage-upload-at-bucket-root",
        "insert into storage.objects (bucket_id, name) values ('videos', 'evil.mp4')",
        "error:42501",
    ),
    Attack(
        "storage-upload-dot-segment",
        "insert into storage.objects (bucket_id, name) values ('videos', %(a)s::text || '/./x.mp4')",
        "error:42501",
    ),
    Attack(
        "storage-upload-traversal-from-own-folder",
        "insert into storage.objects (bucket_id, name)"
        " values ('videos', %(a)s::text || '/../' || %(b)s::text || '/evil.mp4')",
        "error:42501",
    ),
    Attack(
        "storage-overwrite-other-video",
        "update storage.objects set metadata = '{}' where bucket_id = 'videos' and name = %(b_object)s",
        "nothing",
    ),
    Attack(
        "storage-move-other-video-into-own-folder",
        "update storage.objects set name = %(a)s::text || '/stolen.mp4'"
        " where bucket_id = 'videos' and name = %(b_object)s",
        "nothing",
    ),
    Attack(
        "storage-move-own-video-into-other-folder",
        "update storage.objects set name = %(b)s::text || '/planted.mp4'"
        " where bucket_id = 'videos' and name = %(a_object)s",
        "error:42501",
    ),
    Attack(
        "storage-delete-other-video",
        "delete from storage.objects where bucket_id = 'videos' and name = %(b_object)s",
        "nothing",
        storage_api=True,
    ),
    Attack(
        "storage-direct-delete-own-video",
        "delete from storage.objects where bucket_id = 'videos' and name = %(a_object)s",
        "error:42501",
    ),
    Attack(
        "storage-read-other-artifact",
        "select * from storage.objects where bucket_id = 'video-artifacts' and name = %(b_artifact)s",
        "nothing",
    ),
    Attack(
        "storage-write-own-artifact",
        "insert into storage.objects (bucket_id, name) values ('video-artifacts', %(a)s::text || '/1/x.jpg')",
        "error:42501",
    ),
    Attack(
        "storage-overwrite-own-artifact",
        "update storage.objects set metadata = '{}' where bucket_id = 'video-artifacts'"
        " and name = %(a_artifact)s",
        "nothing",
    ),
    Attack(
        "storage-delete-own-artifact",
        "delete from storage.objects where bucket_id = 'video-artifacts' and name = %(a_artifact)s",
        "nothing",
        storage_api=True,
    ),
    Attack(
        "storage-video-into-artifacts-bucket",
        "update storage.objects set bucket_id = 'video-artifacts'"
        " where bucket_id = 'videos' and name = %(a_object)s",
        "error:42501",
    ),
    Attack(
        "storage-make-bucket-public",
        "update storage.buckets set public = true where id = 'videos'",
        "nothing",
    ),
    Attack(
        "storage-create-bucket",
        "insert into storage.buckets (id, name, public) values ('evil', 'evil', true)",
        "error:42501",
    ),
    Attack("auth-read-users", "select * from auth.users", "error:42501"),
    # --- anon: no JWT subject at all -------------------------------------------------------
    Attack("anon-read-videos", "select * from public.videos", "error:42501", as_anon=True),
    Attack("anon-read-jobs", "select * from public.video_jobs", "error:42501", as_anon=True),
    Attack(
        "anon-read-metadata", "select * from public.video_metadata", "error:42501", as_anon=True
    ),
    Attack(
        "anon-insert-video",
        "insert into public.videos (uploader_user_id, storage_path) values (%(b)s::uuid, %(b)s::uuid::text || '/x.mp4')",
        "error:42501",
        as_anon=True,
    ),
    Attack(
        "anon-retry", "select * from public.retry_video_job(%(b_job)s)", "error:42501", as_anon=True
    ),
    Attack(
        "anon-cancel",
        "select * from public.cancel_video_job(%(b_pending_job)s)",
        "error:42501",
        as_anon=True,
    ),
    Attack(
        "anon-claim",
        "select * from processor.claim_jobs('evil', 1, 60)",
        "error:42501",
        as_anon=True,
    ),
    Attack("anon-read-objects", "select * from storage.objects", "nothing", as_anon=True),
    Attack(
        "anon-upload",
        "insert into storage.objects (bucket_id, name) values ('videos', %(b)s::text || '/x.mp4')",
        "error:42501",
        as_anon=True,
    ),
    # --- realtime: the private job channels (as Realtime authorizes a join) ----------------
    Attack(
        "realtime-receive-other-jobs",
        "select * from realtime.messages where topic = 'jobs:' || %(b)s",
        "nothing",
        topic="jobs:{b}",
    ),
    Attack(
        "realtime-receive-other-jobs-from-own-channel",
        "select * from realtime.messages where topic = 'jobs:' || %(b)s",
        "nothing",
        topic="jobs:{a}",
    ),
    Attack(
        "realtime-receive-without-channel",
        "select * from realtime.messages",
        "nothing",
    ),
    Attack(
        "realtime-receive-on-lookalike-topic",
        "select * from realtime.messages",
        "nothing",
        topic="jobs:{a}x",
    ),
    Attack(
        "realtime-send-other-jobs",
        "insert into realtime.messages (topic, extension, event, payload)"
        " values ('jobs:' || %(b)s, 'broadcast', 'job_updated', '{\"status\": \"FAILED\"}')",
        "error:42501",
        topic="jobs:{b}",
    ),
    Attack(
        "realtime-send-own-jobs",
        "insert into realtime.messages (topic, extension, event, payload)"
        " values ('jobs:' || %(a)s, 'broadcast', 'job_updated', '{\"status\": \"COMPLETED\"}')",
        "error:42501",
        topic="jobs:{a}",
    ),
    Attack(
        "realtime-send-any-topic",
        "insert into realtime.messages (topic, extension, event, payload)"
        " values ('room:lobby', 'broadcast', 'hello', '{}')",
        "error:42501",
        topic="room:lobby",
    ),
    Attack(
        "realtime-presence-on-own-jobs",
        "insert into realtime.messages (topic, extension) values ('jobs:' || %(a)s, 'presence')",
        "error:42501",
        topic="jobs:{a}",
    ),
    Attack(
        "realtime-rewrite-own-events",
        "update realtime.messages set payload = '{}' where topic = 'jobs:' || %(a)s",
        "nothing",
        topic="jobs:{a}",
    ),
    Attack(
        "realtime-delete-own-events",
        "delete from realtime.messages where topic = 'jobs:' || %(a)s",
        "error:42501",
        topic="jobs:{a}",
    ),
    Attack(
        "anon-realtime-receive-jobs",
        "select * from realtime.messages",
        "nothing",
        as_anon=True,
        topic="jobs:{b}",
    ),
    Attack(
        "anon-realtime-receive-any-topic",
        "select * from realtime.messages",
        "nothing",
        as_anon=True,
        topic="room:lobby",
    ),
    Attack(
        "anon-realtime-receive-without-channel",
        "select * from realtime.messages",
        "nothing",
        as_anon=True,
    ),
    Attack(
        "anon-realtime-send-jobs",
        "insert into realtime.messages (topic, extension) values ('jobs:' || %(b)s, 'broadcast')",
        "error:42501",
        as_anon=True,
        topic="jobs:{b}",
    ),
    Attack(
        "anon-realtime-send-any-topic",
        "insert into realtime.messages (topic, extension) values ('room:lobby', 'broadcast')",
        "error:42501",
        as_anon=True,
        topic="room:lobby",
    ),
]


@dataclass(frozen=True)
class World:
    a: Tenant
    b: Tenant
    b_pending: Tenant  # a second victim whose job is still PENDING
    a_exhausted_video: uuid.UUID
    a_exhausted_job: int  # a FAILED job of A's, retried as often as the quota allows

    def params(self) -> dict[str, object]:
        return {
            "a": str(self.a.user_id),
            "b": str(self.b.user_id),
            "a_video": self.a.video_id,
            "b_video": self.b.video_id,
            "a_job": self.a.job_id,
            "b_job": self.b.job_id,
            "b_pending_job": self.b_pending.job_id,
            "a_exhausted_job": self.a_exhausted_job,
            "a_object": self.a.video_object,
            "b_object": self.b.video_object,
            "a_artifact": self.a.artifact_object,
            "b_artifact": self.b.artifact_object,
        }


@pytest.fixture(scope="module")
def conn(module_db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(module_db_url, autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def world(conn: psycopg.Connection) -> World:
    a = seed_tenant(conn)
    exhausted_video, exhausted = insert_video_as(conn, a.user_id, "exhausted.mp4")
    conn.execute(
        "update public.video_jobs set status = 'FAILED', retries = 5 where id = %s", (exhausted,)
    )
    return World(
        a=a,
        b=seed_tenant(conn, job_status="FAILED"),
        b_pending=seed_tenant(conn),
        a_exhausted_video=exhausted_video,
        a_exhausted_job=exhausted,
    )


def attempt(
    conn: psycopg.Connection,
    user: uuid.UUID | None,
    sql: str,
    params: dict[str, object],
    *,
    topic: str | None = None,
    storage_api: bool = False,
) -> tuple[str, int, list[tuple]]:
    """Run one statement as `user`, inside a savepoint; return (sqlstate or 'ok', rowcount, rows)."""
    impersonate(conn, user)
    if topic is not None:
        conn.execute("select set_config('realtime.topic', %s, true)", (topic,))
    if storage_api:
        conn.execute("select set_config('storage.allow_delete_query', 'true', true)")
    try:
        with conn.transaction():
            cur = conn.execute(sql, params)
            rows = cur.fetchall() if cur.description else []
            return "ok", cur.rowcount, rows
    except psycopg.Error as exc:
        return f"error:{exc.sqlstate}", 0, []
    finally:
        conn.execute("reset role")


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.id for a in ATTACKS])
def test_attack_is_refused(conn: psycopg.Connection, world: World, attack: Attack) -> None:
    with conn.transaction(force_rollback=True):
        before = conn.execute(FINGERPRINT).fetchone()
        user = None if attack.as_anon else world.a.user_id
        params = world.params()
        topic = None if attack.topic is None else attack.topic.format(**params)
        outcome, rowcount, rows = attempt(
            conn, user, attack.sql, params, topic=topic, storage_api=attack.storage_api
        )
        after = conn.execute(FINGERPRINT).fetchone()
    if attack.expect == "nothing":
        assert outcome == "ok", f"expected an empty result, got {outcome}"
        assert rows == [] and rowcount == 0, f"attack reached {rowcount} row(s): {rows}"
    else:
        assert outcome == attack.expect
    assert after == before, "the attack changed data"


# --- allowed paths ------------------------------------------------------------------------


def test_owner_sees_exactly_their_rows(conn: psycopg.Connection, world: World) -> None:
    with request_as(conn, world.a.user_id):
        videos = conn.execute("select id from public.videos order by created_at, id").fetchall()
        jobs = conn.execute("select id, owner_id from public.video_jobs order by id").fetchall()
        metadata = conn.execute("select job_id, title from public.video_metadata").fetchall()
        objects = conn.execute("select bucket_id, name from storage.objects order by 1").fetchall()
    assert {v for (v,) in videos} == {world.a.video_id, world.a_exhausted_video}
    assert jobs == [(world.a.job_id, world.a.user_id), (world.a_exhausted_job, world.a.user_id)]
    assert metadata == [(world.a.job_id, "secret title")]
    assert objects == [
        ("video-artifacts", world.a.artifact_object),
        ("videos", world.a.video_object),
    ]


def test_insert_video_creates_pending_job_owned_by_uploader(
    conn: psycopg.Connection, world: World
) -> None:
    with request_as(conn, world.a.user_id):
        video_id = conn.execute(
            "insert into public.videos (original_filename, storage_path) values ('new.mp4', %s)"
            " returning id",
            (f"{world.a.user_id}/new.mp4",),
        ).fetchone()[0]
        job = conn.execute(
            "select status, owner_id, attempts, progress from public.video_jobs where video_id = %s",
            (video_id,),
        ).fetchone()
        uploader = conn.execute(
            "select uploader_user_id from public.videos where id = %s", (video_id,)
        ).fetchone()[0]
    assert job == ("PENDING", world.a.user_id, 0, 0.0)
    assert uploader == world.a.user_id


def test_owner_uploads_a_podcast_and_gets_a_job(conn: psycopg.Connection, world: World) -> None:
    """Audio is accepted like video: the bucket's MIME list, the object and the videos row."""
    mime = conn.execute(
        "select allowed_mime_types from storage.buckets where id = 'videos'"
    ).fetchone()[0]
    assert "audio/*" in mime and "video/*" in mime
    name = f"{world.a.user_id}/episode-12.mp3"
    with request_as(conn, world.a.user_id):
        conn.execute(
            "insert into storage.objects (bucket_id, name, metadata)"
            " values ('videos', %s, '{\"mimetype\": \"audio/mpeg\"}')",
            (name,),
        )
        video_id = conn.execute(
            "insert into public.videos (original_filename, storage_path, content_type)"
            " values ('episode 12.mp3', %s, 'audio/mpeg') returning id",
            (name,),
        ).fetchone()[0]
        status = conn.execute(
            "select status from public.video_jobs where video_id = %s", (video_id,)
        ).fetchone()[0]
    assert status == "PENDING"


def test_owner_can_rename_but_not_move(conn: psycopg.Connection, world: World) -> None:
    with request_as(conn, world.a.user_id):
        cur = conn.execute(
            "update public.videos set original_filename = 'renamed.mp4' where id = %s returning"
            " original_filename, updated_at > created_at",
            (world.a.video_id,),
        )
        assert cur.fetchall() == [("renamed.mp4", True)]


def test_owner_delete_cascades_to_job_and_metadata(conn: psycopg.Connection, world: World) -> None:
    with request_as(conn, world.a.user_id):
        deleted = conn.execute(
            "delete from public.videos where id = %s returning id", (world.a.video_id,)
        ).fetchall()
        conn.execute("reset role")
        remaining = conn.execute(
            "select (select count(*) from public.video_jobs where id = %(j)s),"
            " (select count(*) from public.video_metadata where job_id = %(j)s)",
            {"j": world.a.job_id},
        ).fetchone()
    assert deleted == [(world.a.video_id,)]
    assert remaining == (0, 0)


def test_owner_storage_paths(conn: psycopg.Connection, world: World) -> None:
    me = world.a.user_id
    with request_as(conn, me):
        conn.execute(
            "insert into storage.objects (bucket_id, name) values ('videos', %s)",
            (f"{me}/up/new.mp4",),
        )
        updated = conn.execute(
            "update storage.objects set metadata = '{\"size\": 1}' where bucket_id = 'videos'"
            " and name = %s returning name",
            (f"{me}/up/new.mp4",),
        ).fetchall()
        # As the Storage API runs the user's delete request.
        conn.execute("select set_config('storage.allow_delete_query', 'true', true)")
        deleted = conn.execute(
            "delete from storage.objects where bucket_id = 'videos' and name = %s returning name",
            (world.a.video_object,),
        ).fetchall()
        artifacts = conn.execute(
            "select name from storage.objects where bucket_id = 'video-artifacts'"
        ).fetchall()
    assert updated == [(f"{me}/up/new.mp4",)]
    assert deleted == [(world.a.video_object,)]
    assert artifacts == [(world.a.artifact_object,)]


def test_owner_joins_their_own_job_channel(conn: psycopg.Connection, world: World) -> None:
    """Realtime's read check for `jobs:<A>`, as A: A's job events, broadcast only, all of them."""
    me = world.a.user_id
    expected = conn.execute(
        "select id from realtime.messages where topic = %s and extension = 'broadcast' order by id",
        (f"jobs:{me}",),
    ).fetchall()
    with request_as(conn, me):
        conn.execute("select set_config('realtime.topic', %s, true)", (f"jobs:{me}",))
        seen = conn.execute("select id, topic from realtime.messages order by id").fetchall()
    assert expected, "the seeded job sent no event"
    assert [(row[0],) for row in seen] == expected
    assert {row[1] for row in seen} == {f"jobs:{me}"}


def test_processor_role_reads_everything_but_cannot_touch_user_data(
    conn: psycopg.Connection, world: World
) -> None:
    with conn.transaction(force_rollback=True):
        conn.execute("set local role vproc_processor")
        assert conn.execute("select count(*) from public.videos").fetchone()[0] >= 3
        assert conn.execute("select count(*) from public.video_jobs").fetchone()[0] >= 3
        for sql in (
            "delete from public.videos",
            "insert into public.videos (uploader_user_id, storage_path) values (gen_random_uuid(), 'a/b')",
            "delete from public.video_jobs",
            "select * from auth.users",
            "select * from public.retry_video_job(1)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(sql)


def test_a_leaky_policy_is_caught(conn: psycopg.Connection, world: World) -> None:
    """The matrix can fail: loosen one policy and the matching attack gets through."""
    attack = next(a for a in ATTACKS if a.id == "videos-read-other")
    with conn.transaction(force_rollback=True):
        conn.execute('alter policy "owners can read their videos" on public.videos using (true)')
        outcome, rowcount, _ = attempt(conn, world.a.user_id, attack.sql, world.params())
    assert (outcome, rowcount) == ("ok", 1)
