"""Submit a video as its owner: upload it to Storage and insert its `videos` row via PostgREST."""

from __future__ import annotations

import logging
import mimetypes
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import supabase
from postgrest.types import ReturnMethod
from storage3.utils import StorageException

from processor.config import Settings
from processor.errors import InvalidStateError, NotFoundError, PermanentError
from processor.storage.names import video_object_key
from processor.supabase_client.errors import auth_errors, rest_errors, storage_errors
from processor.supabase_client.session import (
    HTTP_TIMEOUT,
    project,
    sync_client,
    user_headers,
    user_id_of,
)
from processor.supabase_client.tus import RESUMABLE_ABOVE_BYTES, ResumableTarget, upload_resumable

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubmittedViaSupabase:
    """A video uploaded and inserted as its owner, and the job its insert queued."""

    job_id: int
    video_id: uuid.UUID
    storage_path: str
    user_id: uuid.UUID
    size_bytes: int


def submit_via_supabase(
    settings: Settings,
    path: Path,
    *,
    email: str,
    password: str,
    content_type: str | None = None,
) -> SubmittedViaSupabase:
    """Sign in as `email`, upload `path` and insert its `videos` row as that user; return the job.

    The object goes to `<uid>/<video id>/<safe name>` in VIDEOS_BUCKET: up to 6 MiB as a
    multipart upload that httpx streams from disk, larger files as a resumable (TUS) upload in
    6 MiB chunks that resumes after an interrupted chunk, so the file is never held in memory.
    The row leaves `uploader_user_id` to its `auth.uid()` default; the enqueue trigger creates
    the job in the insert's transaction. When the insert is refused, the uploaded object is
    removed again.

    Raises ConfigurationError without SUPABASE_URL and SUPABASE_ANON_KEY, NotFoundError for a
    missing file, PermanentError (or a subclass) when Auth, Storage or PostgREST refuse the
    user, and a TransientError when one of them is unreachable or overloaded.
    """
    url, anon_key = project(settings)
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{path}: no such file")
    size_bytes = path.stat().st_size
    content_type = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    bucket = settings.videos_bucket

    with httpx.Client(timeout=HTTP_TIMEOUT) as http:
        client = sync_client(url, anon_key, http)
        with auth_errors(email):
            signed_in = client.auth.sign_in_with_password({"email": email, "password": password})
        user_id = user_id_of(signed_in, email)
        video_id = uuid.uuid4()
        key = video_object_key(user_id, video_id, path.name)

        if size_bytes > RESUMABLE_ABOVE_BYTES:
            target = ResumableTarget(
                endpoint=f"{url}/storage/v1/upload/resumable",
                bucket=bucket,
                object_name=key,
                content_type=content_type,
                headers=lambda: user_headers(client, anon_key, email),
            )
            upload_resumable(http, target, path)
        else:
            with storage_errors(f"upload {bucket}/{key}"):
                # A Path makes storage3 open the file itself and hand the handle to httpx,
                # which sends the multipart body in chunks.
                client.storage.from_(bucket).upload(
                    key, path, {"content-type": content_type, "upsert": "true"}
                )
        # An upload can outlive the access token; get_session() refreshes an expiring one and
        # the client then sends the new token to PostgREST.
        with auth_errors(email):
            client.auth.get_session()

        row = {
            "id": str(video_id),
            "original_filename": path.name[:1024],
            "storage_path": key,
            "content_type": content_type,
            "size_bytes": size_bytes,
        }
        try:
            with rest_errors("insert the video row"):
                client.table("videos").insert(row, returning=ReturnMethod.minimal).execute()
        except PermanentError:
            # Only a refusal is certain to have inserted nothing; after a timeout the row may
            # exist and would then point at the object.
            remove_upload(client, bucket, key)
            raise

        with rest_errors("read the new video's job"):
            rows = (
                client.table("video_jobs").select("id").eq("video_id", str(video_id)).execute()
            ).data
        if not rows:
            raise InvalidStateError(
                f"video {video_id} has no job: is the enqueue trigger installed on public.videos?"
            )
        job_row = rows[0]
        job_id = job_row.get("id") if isinstance(job_row, dict) else None
        if not isinstance(job_id, int):
            raise InvalidStateError(f"video {video_id}: PostgREST returned no job id ({job_row!r})")

    logger.info(
        "video submitted through Supabase",
        extra={"event": "video.submitted", "job_id": job_id, "video_id": str(video_id)},
    )
    return SubmittedViaSupabase(
        job_id=job_id,
        video_id=video_id,
        storage_path=key,
        user_id=user_id,
        size_bytes=size_bytes,
    )


def remove_upload(client: supabase.Client, bucket: str, key: str) -> None:
    """Best effort: remove an object whose row was refused, so no orphan stays behind."""
    try:
        client.storage.from_(bucket).remove([key])
    except (StorageException, httpx.HTTPError) as exc:
        logger.warning(
            "could not remove the upload of a refused video",
            extra={"event": "upload.orphaned", "error": type(exc).__name__},
        )
