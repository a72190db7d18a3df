"""Supabase Storage through storage3, authenticated with the service role key.

Uploads, existence checks and signing go through storage3. Downloads are streamed with httpx
from the same authenticated object route, because storage3's `download` buffers the body.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from storage3 import SyncStorageClient
from storage3.exceptions import StorageApiError
from storage3.utils import StorageException
from yarl import URL

from processor.errors import (
    ConfigurationError,
    MediaTooLargeError,
    PermanentError,
    SourceMissingError,
    StorageUnavailableError,
    VprocError,
)
from processor.storage import check_bucket, check_key

CHUNK_BYTES = 1024 * 1024
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class SupabaseStorage:
    """Objects in Supabase Storage buckets (`/storage/v1`)."""

    name = "supabase"

    def __init__(
        self,
        supabase_url: str,
        service_role_key: str,
        *,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.base_url = URL(supabase_url.rstrip("/") + "/storage/v1/")
        self._headers = {"apikey": service_role_key, "Authorization": f"Bearer {service_role_key}"}
        self._http = http_client or httpx.Client(timeout=DEFAULT_TIMEOUT, follow_redirects=True)
        self._client = SyncStorageClient(
            str(self.base_url), headers=self._headers, http_client=self._http
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def put_file(self, bucket: str, key: str, path: Path, content_type: str | None = None) -> None:
        """Upload with `x-upsert: true` (multipart; httpx streams the file from disk)."""
        check_bucket(bucket)
        check_key(key)
        media_type = content_type or mimetypes.guess_type(key)[0] or "application/octet-stream"
        with _translated(f"upload {bucket}/{key}"):
            self._client.from_(bucket).upload(
                key, Path(path), {"content-type": media_type, "upsert": "true"}
            )

    def download_to(
        self, bucket: str, key: str, dest_path: Path, *, max_bytes: int | None = None
    ) -> int:
        """Stream `GET /object/<bucket>/<key>` to `dest_path` in 1 MiB chunks.

        Over `max_bytes` (by Content-Length, or by the bytes received): MediaTooLargeError
        before the rest is fetched."""
        url = self.base_url.joinpath("object", check_bucket(bucket), *check_key(key).split("/"))
        written = 0
        try:
            with (
                _translated(f"download {bucket}/{key}"),
                self._http.stream("GET", str(url), headers=self._headers) as response,
            ):
                if response.status_code != 200:
                    response.read()
                    raise _status_error(
                        response.status_code, _error_body(response), f"download {bucket}/{key}"
                    )
                stated = response.headers.get("content-length", "")
                if max_bytes is not None and stated.isdigit() and int(stated) > max_bytes:
                    raise MediaTooLargeError(f"the object is larger than {max_bytes} bytes")
                with open(dest_path, "wb") as out:
                    for chunk in response.iter_bytes(CHUNK_BYTES):
                        written += len(chunk)
                        if max_bytes is not None and written > max_bytes:
                            raise MediaTooLargeError(f"the object is larger than {max_bytes} bytes")
                        out.write(chunk)
        except BaseException:
            Path(dest_path).unlink(missing_ok=True)
            raise
        return written

    def exists(self, bucket: str, key: str) -> bool:
        """Read the object's info; a 404 `not_found` means it does not exist."""
        check_bucket(bucket)
        check_key(key)
        with _translated(f"check {bucket}/{key}"):
            return self._client.from_(bucket).exists(key)

    def delete_objects(self, bucket: str, keys: Sequence[str]) -> None:
        """`DELETE /object/<bucket>` with the keys; Storage ignores keys it does not have."""
        check_bucket(bucket)
        names = [check_key(key) for key in keys]
        if not names:
            return
        with _translated(f"remove {len(names)} object(s) of {bucket}"):
            self._client.from_(bucket).remove(names)

    def signed_url(self, bucket: str, key: str, expires_in_seconds: int) -> str:
        """`POST /object/sign/<bucket>/<key>`; the URL carries its own token."""
        check_bucket(bucket)
        check_key(key)
        with _translated(f"sign {bucket}/{key}"):
            signed = self._client.from_(bucket).create_signed_url(key, expires_in_seconds)
        url = signed.get("signedURL") or signed.get("signedUrl")
        if not url:
            raise StorageUnavailableError(f"sign {bucket}/{key}: no URL in the response")
        return url


@contextmanager
def _translated(doing: str) -> Iterator[None]:
    """Turn storage3 and httpx failures into the error taxonomy, chained."""
    try:
        yield
    except StorageApiError as exc:
        body = {"error": exc.code, "message": exc.message}
        raise _status_error(exc.status, body, doing) from exc
    except httpx.TransportError as exc:
        raise StorageUnavailableError(f"{doing}: {type(exc).__name__}") from exc
    except (StorageException, httpx.HTTPError, ValueError) as exc:
        raise StorageUnavailableError(f"{doing}: unexpected response") from exc


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _status_error(status: int | str, body: Mapping[str, Any], doing: str) -> VprocError:
    """Storage answers some errors as HTTP 400 with the real status in the JSON body."""
    try:
        code = int(body.get("statusCode") or status)
    except (TypeError, ValueError):
        code = int(status) if str(status).isdigit() else 500
    error = str(body.get("error") or "").lower()
    if "bucket" in error:
        return ConfigurationError(f"{doing}: the bucket does not exist")
    if code == 404 or error in ("not_found", "notfound", "no_such_key"):
        return SourceMissingError(f"{doing}: object not found")
    if code in (401, 403):
        return ConfigurationError(f"{doing}: Supabase Storage refused the service role key")
    if code == 413:
        return MediaTooLargeError(f"{doing}: object too large for the bucket")
    if code == 429 or code >= 500:
        return StorageUnavailableError(f"{doing}: Supabase Storage answered {code}")
    return PermanentError(f"{doing}: Supabase Storage answered {code} {error}".rstrip())
