"""Object storage: the Storage capability and the object-key rules.

Backends live in `local.py`, `supabase.py` and `gcs.py`; only `factory.make_storage` branches
on STORAGE_BACKEND, and it imports a backend's library only when that backend is chosen.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from processor.errors import PermanentError

__all__ = ["MAX_KEY_BYTES", "Storage", "check_bucket", "check_key"]

MAX_KEY_BYTES = 1024  # the limit Supabase Storage (S3) and GCS put on object names
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")


class Storage(Protocol):
    """Buckets of objects addressed by `/`-separated keys (`<owner_id>/<job_id>/file`)."""

    name: str  # backend name, for logs: "local", "supabase" or "gcs"

    def put_file(self, bucket: str, key: str, path: Path, content_type: str | None = None) -> None:
        """Upload `path` to `bucket/key`, replacing any existing object (upsert).

        Raises StorageUnavailableError when the store cannot be reached (retry later).
        """
        ...

    def download_to(
        self, bucket: str, key: str, dest_path: Path, *, max_bytes: int | None = None
    ) -> int:
        """Stream `bucket/key` into `dest_path` and return the number of bytes written.

        Never holds the whole object in memory. Raises SourceMissingError when the object
        does not exist, StorageUnavailableError on 5xx or network failures, and
        MediaTooLargeError as soon as the object is known to be larger than `max_bytes`
        (by its stated size or by the bytes received: a huge object is not fetched whole);
        a partial `dest_path` is removed on failure.
        """
        ...

    def exists(self, bucket: str, key: str) -> bool:
        """Whether `bucket/key` exists."""
        ...

    def delete_objects(self, bucket: str, keys: Sequence[str]) -> None:
        """Delete these objects; keys that do not exist are ignored.

        Raises StorageUnavailableError when the store cannot be reached (retry later).
        """
        ...

    def signed_url(self, bucket: str, key: str, expires_in_seconds: int) -> str:
        """A URL that reads `bucket/key` without further credentials until it expires."""
        ...


def check_key(key: str) -> str:
    """Return `key` if it is a safe relative object key, else raise PermanentError.

    Refused: empty keys, absolute keys, empty, `.` or `..` segments, backslashes, control
    characters, and keys longer than MAX_KEY_BYTES in UTF-8. Unicode and spaces are fine.
    """
    problem = None
    if not key:
        problem = "is empty"
    elif key.startswith("/"):
        problem = "is absolute"
    elif "\\" in key or any(ord(ch) < 32 or ord(ch) == 127 for ch in key):
        problem = "contains a backslash or a control character"
    elif any(part in ("", ".", "..") for part in key.split("/")):
        problem = "has an empty, '.' or '..' segment"
    elif len(key.encode("utf-8")) > MAX_KEY_BYTES:
        problem = f"is longer than {MAX_KEY_BYTES} bytes"
    if problem:
        # Never echo the whole key: it can be long and is user-controlled.
        raise PermanentError(f"invalid object key {key[:80]!r}: it {problem}")
    return key


def check_bucket(bucket: str) -> str:
    """Return `bucket` if it is a plain bucket name (lower case, digits, `.`, `_`, `-`)."""
    if not _BUCKET_NAME.fullmatch(bucket) or ".." in bucket:
        raise PermanentError(f"invalid bucket name {bucket[:80]!r}")
    return bucket
