"""Resumable uploads to Supabase Storage: the core of the TUS 1.0.0 protocol over httpx.

Creation (`POST` with Upload-Length and Upload-Metadata) and `PATCH`es of fixed-size chunks
from the returned upload URL; after an interrupted `PATCH` a `HEAD` asks the server for its
offset and the upload goes on from there. Only what Supabase's endpoint needs is built: no
upload fingerprints across processes, no deferred length, no concatenation.

Why not a TUS library: tuspy (tus-py-client, MIT), the Python client Supabase's docs show, was
last released in November 2024, is classified Alpha, and brings requests, aiohttp and tinydb
along for what is about a hundred lines here on the httpx client, timeouts and error mapping
the rest of vproc already uses.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urljoin

import httpx

from processor.errors import (
    ConfigurationError,
    MediaTooLargeError,
    PermanentError,
    StorageUnavailableError,
    UnsupportedMediaError,
    VprocError,
)

logger = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"
# Supabase Storage takes resumable uploads in chunks of exactly 6 MiB (the last one shorter).
CHUNK_BYTES = 6 * 1024 * 1024
# Files above this go resumable; Supabase recommends standard uploads only up to about 6 MB.
RESUMABLE_ABOVE_BYTES = CHUNK_BYTES
# Waits before each retry of a failed chunk; a chunk that keeps failing ends the upload.
RETRY_DELAYS_SECONDS = (0.5, 2.0, 5.0)
# A chunk is streamed from the file in pieces this size, so even a chunk is never in memory.
_PIECE_BYTES = 256 * 1024
_RETRYABLE_STATUS = frozenset({409, 423, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class ResumableTarget:
    """Where and as what an upload goes; `headers` returns the current auth headers."""

    endpoint: str
    bucket: str
    object_name: str
    content_type: str
    headers: Callable[[], Mapping[str, str]]
    upsert: bool = True
    cache_control_seconds: int = 3600


def encode_metadata(metadata: Mapping[str, str]) -> str:
    """The Upload-Metadata header: `key base64(value)` pairs separated by commas."""
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode('ascii')}"
        for key, value in metadata.items()
    )


def upload_resumable(
    http: httpx.Client,
    target: ResumableTarget,
    path: Path,
    *,
    chunk_bytes: int = CHUNK_BYTES,
    retry_delays: tuple[float, ...] = RETRY_DELAYS_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Upload `path` with TUS; return the upload URL the server assigned.

    Streams each chunk from the file in small pieces, so memory does not grow with the file.
    Raises StorageUnavailableError when the server or network keeps failing, and
    PermanentError (or a subclass) when Storage refuses the upload.
    """
    size = path.stat().st_size
    doing = f"resumable upload to {target.bucket}/{target.object_name}"
    metadata = {
        "bucketName": target.bucket,
        "objectName": target.object_name,
        "contentType": target.content_type,
        "cacheControl": str(target.cache_control_seconds),
    }
    headers = {
        **target.headers(),
        "Tus-Resumable": TUS_VERSION,
        "Upload-Length": str(size),
        "Upload-Metadata": encode_metadata(metadata),
        "x-upsert": "true" if target.upsert else "false",
    }
    created = _send(http, "POST", target.endpoint, headers, doing)
    if created.status_code != 201 or "location" not in created.headers:
        raise _error(created, f"{doing}: creation")
    upload_url = urljoin(target.endpoint, created.headers["location"])

    offset, failures = 0, 0
    with path.open("rb") as source:
        while offset < size:
            length = min(chunk_bytes, size - offset)
            try:
                offset = _patch(http, target, upload_url, source, offset, length, doing)
                failures = 0
                continue
            except _Interrupted as interrupted:
                if failures >= len(retry_delays):
                    raise interrupted.error from interrupted.cause
                delay = retry_delays[failures]
                failures += 1
                logger.warning(
                    "upload chunk interrupted at offset %d, resuming in %.1fs: %s",
                    offset,
                    delay,
                    interrupted.error.message,
                    extra={"event": "upload.interrupted"},
                )
            sleep(delay)
            offset = _server_offset(http, target, upload_url, doing)
    return upload_url


class _Interrupted(Exception):
    """A PATCH that may have stored part of its chunk; the server's offset tells."""

    def __init__(self, error: VprocError, cause: BaseException | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.cause = cause


def _patch(
    http: httpx.Client,
    target: ResumableTarget,
    upload_url: str,
    source: BinaryIO,
    offset: int,
    length: int,
    doing: str,
) -> int:
    headers = {
        **target.headers(),
        "Tus-Resumable": TUS_VERSION,
        "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream",
        # With a length given, httpx streams the pieces as one body (no chunked encoding).
        "Content-Length": str(length),
    }
    try:
        response = http.request(
            "PATCH", upload_url, headers=headers, content=_pieces(source, offset, length)
        )
    except httpx.HTTPError as exc:
        raise _Interrupted(
            StorageUnavailableError(f"{doing}: {type(exc).__name__} at offset {offset}"), exc
        ) from exc
    if response.status_code in _RETRYABLE_STATUS:
        raise _Interrupted(_error(response, f"{doing} at offset {offset}"))
    if response.status_code != 204:
        raise _error(response, f"{doing} at offset {offset}")
    return _offset_of(response, doing)


def _pieces(source: BinaryIO, offset: int, length: int) -> Iterator[bytes]:
    """`length` bytes of `source` from `offset`, in pieces of at most _PIECE_BYTES."""
    source.seek(offset)
    left = length
    while left > 0:
        piece = source.read(min(_PIECE_BYTES, left))
        if not piece:
            raise OSError(f"the file ended {left} bytes early (it changed during the upload)")
        left -= len(piece)
        yield piece


def _server_offset(http: httpx.Client, target: ResumableTarget, upload_url: str, doing: str) -> int:
    headers = {**target.headers(), "Tus-Resumable": TUS_VERSION}
    response = _send(http, "HEAD", upload_url, headers, doing)
    if response.status_code != 200:
        raise _error(response, f"{doing}: resuming")
    return _offset_of(response, doing)


def _send(
    http: httpx.Client, method: str, url: str, headers: Mapping[str, str], doing: str
) -> httpx.Response:
    try:
        return http.request(method, url, headers=dict(headers))
    except httpx.HTTPError as exc:
        raise StorageUnavailableError(f"{doing}: {type(exc).__name__}") from exc


def _offset_of(response: httpx.Response, doing: str) -> int:
    try:
        return int(response.headers["upload-offset"])
    except (KeyError, ValueError) as exc:
        raise StorageUnavailableError(f"{doing}: no Upload-Offset in the answer") from exc


def _error(response: httpx.Response, doing: str) -> VprocError:
    """Storage's refusal as a vproc error; its JSON body (or text) carries the reason."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        reason = f"{body.get('error') or ''} {body.get('message') or ''}".strip()
    else:
        reason = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
    reason = reason or response.reason_phrase
    lowered = reason.lower()
    if status == 404 and "bucket" in lowered:
        return ConfigurationError(f"{doing}: the bucket does not exist")
    if status == 413 or "too large" in lowered or "exceeded the maximum" in lowered:
        return MediaTooLargeError(f"{doing}: {reason}")
    if status == 415 or "mime" in lowered:
        return UnsupportedMediaError(f"{doing}: {reason}")
    if status in _RETRYABLE_STATUS or status >= 500:
        return StorageUnavailableError(f"{doing}: Supabase Storage answered {status}")
    return PermanentError(f"{doing}: Supabase Storage refused it ({status}): {reason}")
