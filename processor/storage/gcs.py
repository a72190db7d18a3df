"""Google Cloud Storage through google-cloud-storage: one GCS bucket, our buckets as prefixes.

`videos/<key>` and `video-artifacts/<key>` live side by side in GCS_BUCKET_NAME. Credentials
come from the environment (Application Default Credentials); with STORAGE_EMULATOR_HOST set,
the library talks to that emulator anonymously.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import mimetypes
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import google.auth.exceptions
import requests
from google.api_core import exceptions as gexc
from google.cloud import storage

from processor.errors import (
    ConfigurationError,
    MediaTooLargeError,
    PermanentError,
    SourceMissingError,
    StorageUnavailableError,
)
from processor.storage import check_bucket, check_key


class GcsStorage:
    """Objects in one GCS bucket, under `<bucket>/<key>`."""

    name = "gcs"

    def __init__(
        self,
        client: storage.Client,
        bucket_name: str,
        *,
        signing_credentials: Any | None = None,
    ) -> None:
        self._client = client
        self._bucket = client.bucket(bucket_name)
        self._signing_credentials = signing_credentials

    @classmethod
    def from_environment(cls, bucket_name: str) -> GcsStorage:
        """Build a client from Application Default Credentials (or the emulator)."""
        try:
            client = storage.Client()
        except (google.auth.exceptions.DefaultCredentialsError, OSError) as exc:
            # OSError: no project could be determined from the environment.
            raise ConfigurationError("no Google Cloud credentials for STORAGE_BACKEND=gcs") from exc
        return cls(client, bucket_name)

    def _blob(self, bucket: str, key: str) -> storage.Blob:
        return self._bucket.blob(f"{check_bucket(bucket)}/{check_key(key)}", chunk_size=None)

    def put_file(self, bucket: str, key: str, path: Path, content_type: str | None = None) -> None:
        """Upload (GCS writes are whole-object replacements, so this is an upsert)."""
        blob = self._blob(bucket, key)
        media_type = content_type or mimetypes.guess_type(key)[0] or "application/octet-stream"
        with _translated(f"upload {bucket}/{key}"):
            blob.upload_from_filename(str(path), content_type=media_type)

    def download_to(
        self, bucket: str, key: str, dest_path: Path, *, max_bytes: int | None = None
    ) -> int:
        """Stream the object into `dest_path` (the library writes it chunk by chunk).

        With `max_bytes`, the object's stated size is read first and an object over it is
        not downloaded (MediaTooLargeError)."""
        blob = self._blob(bucket, key)
        try:
            with _translated(f"download {bucket}/{key}"):
                if max_bytes is not None:
                    blob.reload()
                    if blob.size is not None and blob.size > max_bytes:
                        raise MediaTooLargeError(f"the object is larger than {max_bytes} bytes")
                blob.download_to_filename(str(dest_path), checksum="md5")
        except BaseException:
            Path(dest_path).unlink(missing_ok=True)
            raise
        return Path(dest_path).stat().st_size

    def exists(self, bucket: str, key: str) -> bool:
        """A metadata GET; a 404 means no."""
        blob = self._blob(bucket, key)
        with _translated(f"check {bucket}/{key}"):
            return bool(blob.exists())

    def delete_objects(self, bucket: str, keys: Sequence[str]) -> None:
        """Delete each blob; a 404 means it is already gone."""
        for key in keys:
            blob = self._blob(bucket, key)
            with _translated(f"delete {bucket}/{key}"), contextlib.suppress(gexc.NotFound):
                blob.delete()

    def signed_url(self, bucket: str, key: str, expires_in_seconds: int) -> str:
        """A V4 signed URL; needs credentials that can sign (a service account)."""
        blob = self._blob(bucket, key)
        endpoint = self._client._connection.API_BASE_URL  # the emulator's, when one is set
        try:
            return str(
                blob.generate_signed_url(
                    version="v4",
                    expiration=dt.timedelta(seconds=expires_in_seconds),
                    method="GET",
                    credentials=self._signing_credentials,
                    api_access_endpoint=endpoint,
                )
            )
        except (AttributeError, google.auth.exceptions.GoogleAuthError) as exc:
            raise ConfigurationError(
                "the Google Cloud credentials cannot sign URLs (use a service account)"
            ) from exc


@contextmanager
def _translated(doing: str) -> Iterator[None]:
    """Turn google-cloud and transport failures into the error taxonomy, chained."""
    try:
        yield
    except gexc.NotFound as exc:
        if "bucket" in str(exc.message).lower():
            raise ConfigurationError(f"{doing}: the GCS bucket does not exist") from exc
        raise SourceMissingError(f"{doing}: object not found") from exc
    except (gexc.Unauthorized, gexc.Forbidden) as exc:
        raise ConfigurationError(f"{doing}: GCS refused the credentials") from exc
    except (gexc.ServerError, gexc.TooManyRequests) as exc:
        raise StorageUnavailableError(f"{doing}: GCS answered {exc.code}") from exc
    except gexc.RetryError as exc:
        raise StorageUnavailableError(f"{doing}: GCS retries exhausted") from exc
    except gexc.GoogleAPICallError as exc:
        raise PermanentError(f"{doing}: GCS answered {exc.code}") from exc
    except (requests.RequestException, google.auth.exceptions.TransportError) as exc:
        raise StorageUnavailableError(f"{doing}: {type(exc).__name__}") from exc
