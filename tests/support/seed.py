"""Seed data for security and queue tests, written as the users themselves where they may."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import psycopg

from tests.support.postgrest import impersonate


def create_user(conn: psycopg.Connection, email: str | None = None) -> uuid.UUID:
    """Insert an auth.users row (what Supabase Auth does at sign-up)."""
    user_id = uuid.uuid4()
    conn.execute(
        "insert into auth.users (id, aud, role, email) values (%s, 'authenticated', 'authenticated', %s)",
        (user_id, email or f"{user_id}@example.test"),
    )
    return user_id


def insert_video_as(
    conn: psycopg.Connection,
    user_id: uuid.UUID,
    filename: str = "clip.mp4",
    *,
    priority: int | None = None,
) -> tuple[uuid.UUID, int]:
    """Insert a video the way supabase-js does (as the user); return (video id, job id)."""
    with conn.transaction():
        impersonate(conn, user_id)
        row = conn.execute(
            "insert into public.videos (original_filename, storage_path, content_type, size_bytes)"
            " values (%s, %s, 'video/mp4', 1234) returning id",
            (filename, f"{user_id}/{uuid.uuid4()}/{filename}"),
        ).fetchone()
        conn.execute("reset role")
    assert row is not None
    job = conn.execute("select id from public.video_jobs where video_id = %s", (row[0],)).fetchone()
    assert job is not None
    if priority is not None:
        conn.execute("update public.video_jobs set priority = %s where id = %s", (priority, job[0]))
    return row[0], job[0]


@dataclass(frozen=True)
class Tenant:
    """A user with one video, its job, metadata and storage objects."""

    user_id: uuid.UUID
    video_id: uuid.UUID
    job_id: int
    video_object: str
    artifact_object: str


def seed_tenant(conn: psycopg.Connection, *, job_status: str = "PENDING") -> Tenant:
    """Create a user and everything a processed upload leaves behind (as superuser)."""
    user_id = create_user(conn)
    video_id, job_id = insert_video_as(conn, user_id)
    if job_status != "PENDING":
        conn.execute(
            "update public.video_jobs set status = %s, finished_at = now() where id = %s",
            (job_status, job_id),
        )
    conn.execute(
        "insert into public.video_metadata (job_id, owner_id, title, tags, transcript_text)"
        " values (%s, %s, 'secret title', '{a,b}', 'secret transcript')",
        (job_id, user_id),
    )
    video_object = f"{user_id}/clip.mp4"
    artifact_object = f"{user_id}/{job_id}/thumbnail.jpg"
    conn.execute(
        "insert into storage.objects (bucket_id, name, owner_id) values"
        " ('videos', %s, %s), ('video-artifacts', %s, %s)",
        (video_object, str(user_id), artifact_object, str(user_id)),
    )
    return Tenant(user_id, video_id, job_id, video_object, artifact_object)
