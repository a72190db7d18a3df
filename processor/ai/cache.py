"""A Postgres cache in front of paid AI calls, so a retry or re-run never pays for one twice.

Rows live in `processor.ai_cache` (queries in cache.sql); the key is the sha256 of provider,
model, prompt version and input. Connections come from the caller (processor/db owns them).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar, Unpack

from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from processor.ai.contract import (
    GeneratedMetadata,
    MetadataContext,
    MetadataGenerator,
    TranscribeOptions,
    Transcriber,
    Transcript,
)
from processor.db import queries
from processor.errors import DatabaseError, DatabaseUnavailableError
from processor.metrics import AICacheMetrics

logger = logging.getLogger(__name__)

CacheKind = Literal["metadata", "transcript"]
ConnectionFactory = Callable[[], AbstractContextManager[Any]]

DEFAULT_TTL_SECONDS = 30 * 24 * 3600


def cache_key(provider: str, model: str, prompt_version: str, payload: Any) -> str:
    """The sha256 hex digest of provider, model, prompt version and a JSON-safe input."""
    document = {
        "provider": provider,
        "model": model,
        "prompt_version": prompt_version,
        "input": payload,
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def file_sha256(path: Path) -> str:
    """The sha256 hex digest of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class AICache:
    """Cached AI responses in processor.ai_cache, with hit/miss counters.

    `connect()` returns a context manager yielding a psycopg connection, such as
    `Database.connection` (autocommit, psycopg errors already mapped to processor.errors).
    Its counters (processor.metrics.AICacheMetrics) are registered in `registry` (the
    worker's), or in a private one.
    """

    def __init__(
        self,
        connect: ConnectionFactory,
        *,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._connect = connect
        self.ttl_seconds = ttl_seconds
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = AICacheMetrics(self.registry)

    def hits(self, kind: CacheKind) -> int:
        """Hits counted so far for `kind`."""
        return self._sample("vproc_ai_cache_hits_total", kind)

    def misses(self, kind: CacheKind) -> int:
        """Misses counted so far for `kind`."""
        return self._sample("vproc_ai_cache_misses_total", kind)

    def _sample(self, name: str, kind: CacheKind) -> int:
        return self.metrics.count(name, kind)

    def get(self, key: str, *, kind: CacheKind) -> dict[str, Any] | None:
        """Return the unexpired response stored under `key`, counting a hit or a miss.

        A database that cannot be reached counts as a miss: the cache only saves money, so it
        never fails a job.
        """
        try:
            with self._connect() as conn:
                value = queries.get_ai_cache_entry(conn, cache_key=key)
        except (DatabaseUnavailableError, DatabaseError) as exc:
            logger.warning(
                "ai cache read failed: %s",
                exc.message,
                extra={"event": "ai_cache.read_failed", "kind": kind},
            )
            value = None
        if not isinstance(value, dict):
            self.metrics.misses.labels(kind=kind).inc()
            return None
        self.metrics.hits.labels(kind=kind).inc()
        return value

    def put(
        self,
        key: str,
        value: Mapping[str, Any],
        *,
        kind: CacheKind,
        provider: str,
        model: str,
        prompt_version: str,
    ) -> None:
        """Store `value` under `key` for the TTL; a database failure is logged, not raised."""
        try:
            with self._connect() as conn:
                queries.put_ai_cache_entry(
                    conn,
                    cache_key=key,
                    kind=kind,
                    provider=provider,
                    model=model,
                    prompt_version=prompt_version,
                    response=value,
                    ttl_seconds=self.ttl_seconds,
                )
        except (DatabaseUnavailableError, DatabaseError) as exc:
            logger.warning(
                "ai cache write failed: %s",
                exc.message,
                extra={"event": "ai_cache.write_failed", "kind": kind},
            )

    def purge_expired(self) -> int:
        """Delete expired rows; return how many. Raises the connection's errors."""
        with self._connect() as conn:
            return queries.purge_expired_ai_cache(conn)


class _Backend(Protocol):
    name: str
    model: str
    prompt_version: str


B = TypeVar("B", bound=_Backend)


class _Cached(Generic[B]):
    """A backend behind the cache: it answers under its backend's name, model and version."""

    def __init__(self, backend: B, cache: AICache) -> None:
        self.backend = backend
        self.cache = cache
        self.name = backend.name
        self.model = backend.model
        self.prompt_version = backend.prompt_version


class CachedMetadataGenerator(_Cached[MetadataGenerator]):
    """A MetadataGenerator that answers from the cache and stores what its backend generates."""

    def key_for(self, transcript: Transcript, context: MetadataContext) -> str:
        """The cache key of one call: everything the backend's output depends on.

        Word timings and probabilities feed no metadata backend, so they are left out: a
        re-transcription that differs only there still hits.
        """
        payload = {
            "language": transcript.language,
            "duration_seconds": transcript.duration_seconds,
            "segments": [[s.text, s.start_time, s.end_time] for s in transcript.segments],
            "context": {
                "original_filename": context.original_filename,
                "duration_seconds": context.duration_seconds,
                "language": context.language,
            },
        }
        if context.output_language is not None:
            payload["output_language"] = context.output_language
        return cache_key(self.name, self.model, self.prompt_version, payload)

    def generate_metadata(
        self, transcript: Transcript, context: MetadataContext
    ) -> GeneratedMetadata:
        """Return the cached metadata for this input, or generate and cache it."""
        key = self.key_for(transcript, context)
        cached = self.cache.get(key, kind="metadata")
        if cached is not None:
            try:
                return GeneratedMetadata.model_validate(cached)
            except ValidationError:
                logger.warning(
                    "ignoring an unreadable ai cache entry",
                    extra={"event": "ai_cache.entry_ignored", "kind": "metadata"},
                )
        result = self.backend.generate_metadata(transcript, context)
        self.cache.put(
            key,
            result.model_dump(mode="json"),
            kind="metadata",
            provider=self.name,
            model=self.model,
            prompt_version=self.prompt_version,
        )
        return result


class CachedTranscriber(_Cached[Transcriber]):
    """A Transcriber that answers from the cache, keyed on the audio's sha256 and language."""

    def transcribe(self, audio_path: Path, **options: Unpack[TranscribeOptions]) -> Transcript:
        """Return the cached transcript of this audio, or transcribe and cache it."""
        payload = {"audio_sha256": file_sha256(audio_path), "language": options.get("language")}
        key = cache_key(self.name, self.model, self.prompt_version, payload)
        cached = self.cache.get(key, kind="transcript")
        if cached is not None:
            try:
                transcript = Transcript.from_json(cached)
            except (KeyError, TypeError, ValueError):
                logger.warning(
                    "ignoring an unreadable ai cache entry",
                    extra={"event": "ai_cache.entry_ignored", "kind": "transcript"},
                )
            else:
                on_progress = options.get("on_progress")
                if on_progress is not None:
                    on_progress(1.0)
                return transcript
        transcript = self.backend.transcribe(audio_path, **options)
        self.cache.put(
            key,
            transcript.to_json(),
            kind="transcript",
            provider=self.name,
            model=self.model,
            prompt_version=self.prompt_version,
        )
        return transcript
