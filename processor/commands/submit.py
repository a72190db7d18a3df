"""`vproc submit FILE --user ID`: upload a file and insert its video row as that user would.

The file goes to the videos store at `<user>/<video id>/<file name>`; the row is inserted as
the user (role authenticated + JWT claims), so RLS checks it exactly as for a frontend.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path

from processor.db import queries
from processor.errors import ConfigurationError, NotFoundError
from processor.services import Services

MAX_KEY_NAME = 200
FALLBACK_NAME = "video"
# Letters NFKD leaves whole that have a usual ASCII spelling.
_ASCII_SPELLINGS = str.maketrans(
    {"ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
     "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "ł": "l", "Ł": "L", "þ": "th", "Þ": "Th",
     "ı": "i"}
)  # fmt: skip


def _ascii_letters(text: str) -> str:
    """`text` folded to ASCII: accents dropped, compatibility forms unfolded, the rest removed."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_ASCII_SPELLINGS))
    return decomposed.encode("ascii", "ignore").decode("ascii")


def safe_object_name(filename: str) -> str:
    """An object name Supabase Storage, GCS and file systems all accept, from a file's name.

    Only `A-Z a-z 0-9 . _ -` remain: Storage refuses keys outside its S3-safe ASCII set
    (`InvalidKey`), so accented letters lose their accents and other scripts are dropped. A
    name with nothing readable left becomes `video` (keeping its extension). At most
    MAX_KEY_NAME characters; the user's own file name is kept in `original_filename`.
    """
    name = Path(filename).name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem.strip("."):
        stem, ext = name, ""
    ext = re.sub(r"[^A-Za-z0-9]+", "", _ascii_letters(ext))[:16]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", _ascii_letters(stem)).lstrip("._").rstrip(".")
    if not stem.strip("_-"):
        stem = FALLBACK_NAME
    stem = stem[: MAX_KEY_NAME - len(ext) - 1] if ext else stem[:MAX_KEY_NAME]
    return f"{stem}.{ext}" if ext else stem


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
    key = f"{user_id}/{video_id}/{safe_object_name(path.name)}"
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
