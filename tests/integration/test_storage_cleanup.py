"""Deleting a video deletes its files: the cleanup outbox, filled by triggers, drained by the worker."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from processor.errors import StorageUnavailableError
from processor.queue.cleanup import StorageCleanup
from processor.storage.local import LocalStorage
from tests.support.postgrest import request_as
from tests.support.seed import create_user, insert_video_as

ARTIFACTS = ("transcript.txt", "transcript.json", "subtitles.vtt", "subtitles.srt", "thumbnail.jpg")


def store_everything(
    admin: psycopg.Connection, storage: LocalStorage, tmp_path: Path, video_id: object, job_id: int
) -> list[Path]:
    """Put the video's upload and all its artifacts in the store, as a finished job would."""
    path, owner = admin.execute(
        "select storage_path, uploader_user_id from public.videos where id = %s", (video_id,)
    ).fetchone()
    blob = tmp_path / "blob"
    blob.write_bytes(b"x")
    storage.put_file("videos", path, blob)
    for name in ARTIFACTS:
        storage.put_file("video-artifacts", f"{owner}/{job_id}/{name}", blob)
    return [storage.path_of("videos", path)] + [
        storage.path_of("video-artifacts", f"{owner}/{job_id}/{n}") for n in ARTIFACTS
    ]


def test_a_user_deleting_a_video_gets_its_files_deleted(admin, db, tmp_path) -> None:
    storage = LocalStorage(tmp_path / "store")
    user = create_user(admin)
    gone_video, gone_job = insert_video_as(admin, user, "gone.mp4")
    kept_video, kept_job = insert_video_as(admin, user, "kept.mp4")
    doomed = store_everything(admin, storage, tmp_path, gone_video, gone_job)
    kept = store_everything(admin, storage, tmp_path, kept_video, kept_job)

    # As PostgREST runs the user's DELETE, committed.
    with admin.transaction():
        admin.execute(
            "select set_config('role', 'authenticated', true),"
            " set_config('request.jwt.claims', %s, true)",
            (f'{{"sub": "{user}", "role": "authenticated"}}',),
        )
        assert admin.execute(
            "delete from public.videos where id = %s returning id", (gone_video,)
        ).fetchall() == [(gone_video,)]
    upload_key = doomed[0].relative_to(tmp_path / "store" / "videos").as_posix()
    rows = admin.execute(
        "select bucket_role, object_path from processor.storage_cleanup order by bucket_role"
    ).fetchall()
    assert rows == [("artifacts", f"{user}/{gone_job}/"), ("videos", upload_key)]

    cleanup = StorageCleanup(
        db, storage, videos_bucket="videos", artifacts_bucket="video-artifacts"
    )
    assert cleanup.run_once() == 2
    assert not any(p.exists() for p in doomed)
    assert all(p.exists() for p in kept)
    assert not (tmp_path / "store" / "video-artifacts" / str(user) / str(gone_job)).exists()
    assert admin.execute("select count(*) from processor.storage_cleanup").fetchone() == (0,)
    assert cleanup.run_once() == 0


def test_a_storage_outage_leaves_the_row_for_a_later_retry(admin, db, tmp_path) -> None:
    class Down(LocalStorage):
        def delete_objects(self, bucket: str, keys) -> None:
            raise StorageUnavailableError("storage answered 503")

    user = create_user(admin)
    video, _ = insert_video_as(admin, user, "v.mp4")
    admin.execute("delete from public.videos where id = %s", (video,))
    cleanup = StorageCleanup(
        db, Down(tmp_path), videos_bucket="videos", artifacts_bucket="video-artifacts"
    )
    assert cleanup.run_once() == 0
    rows = admin.execute(
        "select attempts, run_after > now() from processor.storage_cleanup"
    ).fetchall()
    assert rows == [(1, True), (1, True)]
    assert cleanup.run_once() == 0  # not due yet


def test_users_cannot_see_or_touch_the_outbox(admin, db) -> None:
    user = create_user(admin)
    with request_as(admin, user):
        for sql in (
            "select * from processor.storage_cleanup",
            "select * from processor.claim_storage_cleanup(10)",
            "delete from processor.storage_cleanup",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), admin.transaction():
                admin.execute(sql)
