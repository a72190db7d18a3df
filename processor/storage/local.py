"""Local-directory storage: `<root>/<bucket>/<key>`, the embedded default.

Writes go to a temporary file beside the target and are renamed into place, so a reader
never sees half an object and an upsert is atomic.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from processor.errors import (
    MediaTooLargeError,
    PermanentError,
    SourceMissingError,
    StorageUnavailableError,
)
from processor.storage import check_bucket, check_key

COPY_BUFFER_BYTES = 1024 * 1024


class LocalStorage:
    """Objects as files under one root directory."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_of(self, bucket: str, key: str) -> Path:
        """The file that holds `bucket/key` (validated: it never leaves the root)."""
        return self.root / check_bucket(bucket) / check_key(key)

    def delete_objects(self, bucket: str, keys: Sequence[str]) -> None:
        """Remove the files, then any folders they leave empty (never the bucket itself)."""
        bucket_root = self.root / check_bucket(bucket)
        for key in keys:
            target = self.path_of(bucket, key)
            try:
                target.unlink(missing_ok=True)
            except OSError as exc:
                raise _translate(exc, f"cannot delete {bucket}/{key}") from exc
            parent = target.parent
            while parent != bucket_root and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent

    def put_file(self, bucket: str, key: str, path: Path, content_type: str | None = None) -> None:
        """Copy `path` into the store, replacing any existing object atomically."""
        target = self.path_of(bucket, key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        except OSError as exc:
            raise _translate(exc, f"cannot write {bucket}/{key}") from exc
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
                shutil.copyfileobj(src, out, COPY_BUFFER_BYTES)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise _translate(exc, f"cannot write {bucket}/{key}") from exc

    def download_to(
        self, bucket: str, key: str, dest_path: Path, *, max_bytes: int | None = None
    ) -> int:
        """Copy the object to `dest_path` in 1 MiB blocks; return its size in bytes.

        Stops with MediaTooLargeError once more than `max_bytes` have been copied."""
        source = self.path_of(bucket, key)
        try:
            src = open(source, "rb")  # noqa: SIM115 (closed below, after the copy)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise SourceMissingError(f"object {bucket}/{key} does not exist") from exc
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise SourceMissingError(f"object {bucket}/{key} does not exist") from exc
            raise _translate(exc, f"cannot read {bucket}/{key}") from exc
        try:
            with src, open(dest_path, "wb") as out:
                written = 0
                while block := src.read(COPY_BUFFER_BYTES):
                    written += len(block)
                    if max_bytes is not None and written > max_bytes:
                        raise MediaTooLargeError(f"the object is larger than {max_bytes} bytes")
                    out.write(block)
                return written
        except MediaTooLargeError:
            Path(dest_path).unlink(missing_ok=True)
            raise
        except OSError as exc:
            Path(dest_path).unlink(missing_ok=True)
            raise _translate(exc, f"cannot read {bucket}/{key}") from exc

    def exists(self, bucket: str, key: str) -> bool:
        """Whether the object's file exists."""
        try:
            return self.path_of(bucket, key).is_file()
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                return False
            raise _translate(exc, f"cannot check {bucket}/{key}") from exc

    def signed_url(self, bucket: str, key: str, expires_in_seconds: int) -> str:
        """A `file://` URL of the object (local files need no signature and never expire)."""
        path = self.path_of(bucket, key)
        if not path.is_file():
            raise SourceMissingError(f"object {bucket}/{key} does not exist")
        return path.resolve().as_uri()


def _translate(exc: OSError, doing: str) -> Exception:
    """Map an OSError to the taxonomy: bad names are permanent, the rest is transient."""
    if exc.errno == errno.ENAMETOOLONG:
        return PermanentError(f"{doing}: a key segment is too long for this file system")
    return StorageUnavailableError(f"{doing}: {exc.strerror or type(exc).__name__}")
