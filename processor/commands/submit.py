"""`vproc submit FILE --user ID`: upload a file and insert its video row as that user would.

The file goes to the videos store at `<user>/<video id>/<file name>`; the row is inserted as
the user (role authenticated + JWT claims), so RLS checks it exactly as for a frontend.
"""

from __future__ import annotations

import mimetypes
import uuid
from dataclasses import dataclass
from pathlib import Path

from processor.db import queries
from processor.errors import ConfigurationError, NotFoundError
from processor.services import Services
from processor.storage.names import video_object_key


@dataclass(frozen=True)
class Submitted:
    job_id: int
    video_id: uuid.UUID
    storage_path: str
    size_bytes: int


def submit_file(
    services: Services, path: Path, *, user_id: uuid.UUID, content_type: str | None = None
) -> Submitted:
    """Store `path` and enqueue it for `user_id`; return the new job."""
    if not path.is_file():
        raise NotFoundError(f"{path}: no such file")
    size = path.stat().st_size
    content_type = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    db = services.database(application_name="vproc-cli")
    with db.connection() as conn:
        if not queries.user_exists(conn, user_id=user_id):
            raise ConfigurationError(f"no user {user_id} in auth.users")
    video_id = uuid.uuid4()
    key = video_object_key(user_id, video_id, path.name)
    services.storage.put_file(services.settings.videos_bucket, key, path, content_type=content_type)
    with db.transaction() as conn:
        queries.act_as_user(conn, user_id=user_id)
        queries.insert_video(
            conn,
            video_id=video_id,
            original_filename=path.name[:1024],
            storage_path=key,
            content_type=content_type,
            size_bytes=size,
        )
    with db.connection() as conn:
        job_id = queries.job_for_video(conn, video_id=video_id)
    assert job_id is not None  # the enqueue trigger runs in the insert's transaction
    return Submitted(job_id=job_id, video_id=video_id, storage_path=key, size_bytes=size)
