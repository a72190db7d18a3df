"""The AI response cache in Postgres, as vproc_processor: hits skip the provider, TTL expires."""

from __future__ import annotations

import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from pytest_httpserver import HTTPServer

from processor.ai.cache import AICache, CachedMetadataGenerator, CachedTranscriber
from processor.ai.contract import MetadataContext, Segment, Transcript
from processor.ai.gemini.client import RetryPolicy
from processor.ai.gemini.metadata import GeminiMetadataGenerator
from processor.ai.gemini.transcriber import GeminiTranscriber
from processor.db.connection import connect
from processor.errors import ProviderUnavailableError
from tests.support.gemini_stub import (
    API_KEY,
    MODEL,
    UPLOAD_START_PATH,
    GeminiStub,
    candidate_response,
    server_error,
)

TALK = Transcript(
    language="en",
    segments=(
        Segment("Postgres can be a job queue.", 0.0, 3.0),
        Segment("Skip locked keeps workers apart.", 3.2, 6.0),
    ),
    duration_seconds=6.0,
)
CONTEXT = MetadataContext(original_filename="queue.mp4", duration_seconds=6.0)
ANSWER = {
    "title": "Postgres as a Job Queue",
    "description": "Why SKIP LOCKED is enough.",
    "tags": ["postgres", "job queue", "skip locked", "workers", "sql"],
    "show_notes": "## Summary\n\nPostgres queues.",
    "chapters": [{"start_time": 0, "title": "Queue"}],
}


def as_processor(db_url: str):
    """Connections as the daemon's role, so the grants and the RLS policy are what is tested."""

    @contextmanager
    def factory() -> Iterator[psycopg.Connection]:
        with connect(db_url, autocommit=True) as conn:
            conn.execute("set role vproc_processor")
            yield conn

    return factory


@pytest.fixture
def stub(httpserver: HTTPServer) -> GeminiStub:
    return GeminiStub(httpserver)


@pytest.fixture
def cache(db_url: str) -> AICache:
    return AICache(as_processor(db_url), ttl_seconds=3600)


@pytest.fixture
def cached(stub: GeminiStub, cache: AICache) -> Iterator[CachedMetadataGenerator]:
    backend = GeminiMetadataGenerator(
        API_KEY, MODEL, base_url=stub.base_url, retry=RetryPolicy(max_attempts=1)
    )
    yield CachedMetadataGenerator(backend, cache)
    backend.close()


def rows(db_url: str) -> list[tuple]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "select kind, provider, model, prompt_version, response, expires_at - created_at"
            " from processor.ai_cache order by created_at"
        ).fetchall()


def test_a_second_identical_call_makes_no_request(
    stub: GeminiStub, cache: AICache, cached: CachedMetadataGenerator, db_url: str
) -> None:
    stub.reply(candidate_response(ANSWER))  # one answer only: a second request would get a 500
    first = cached.generate_metadata(TALK, CONTEXT)
    second = cached.generate_metadata(TALK, CONTEXT)

    assert first == second
    assert first.title == "Postgres as a Job Queue"
    assert len(stub.generate_requests) == 1
    assert (cache.misses("metadata"), cache.hits("metadata")) == (1, 1)
    [(kind, provider, model, version, response, ttl)] = rows(db_url)
    assert (kind, provider, model, version) == ("metadata", "gemini", MODEL, "gemini-metadata-v1")
    assert response == first.model_dump(mode="json")
    assert ttl.total_seconds() == 3600


def test_a_different_input_is_a_miss(
    stub: GeminiStub, cache: AICache, cached: CachedMetadataGenerator
) -> None:
    stub.reply(candidate_response(ANSWER), candidate_response({**ANSWER, "title": "Other"}))
    cached.generate_metadata(TALK, CONTEXT)
    other = cached.generate_metadata(TALK, MetadataContext(original_filename="other.mp4"))
    assert other.title == "Other"
    assert len(stub.generate_requests) == 2
    assert cache.misses("metadata") == 2


def test_an_expired_entry_makes_one_request_and_is_refreshed(
    stub: GeminiStub, cache: AICache, cached: CachedMetadataGenerator, db_url: str
) -> None:
    stub.reply(candidate_response(ANSWER), candidate_response({**ANSWER, "title": "Fresh"}))
    cached.generate_metadata(TALK, CONTEXT)
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "update processor.ai_cache"
            " set created_at = now() - interval '2 hours', expires_at = now() - interval '1 second'"
        )

    refreshed = cached.generate_metadata(TALK, CONTEXT)
    assert refreshed.title == "Fresh"
    assert len(stub.generate_requests) == 2
    again = cached.generate_metadata(TALK, CONTEXT)
    assert again.title == "Fresh"
    assert len(stub.generate_requests) == 2
    assert (cache.misses("metadata"), cache.hits("metadata")) == (2, 1)
    assert len(rows(db_url)) == 1


def test_failures_are_not_cached(
    stub: GeminiStub, cache: AICache, cached: CachedMetadataGenerator, db_url: str
) -> None:
    stub.reply(server_error(503), candidate_response(ANSWER))
    with pytest.raises(ProviderUnavailableError, match="503"):
        cached.generate_metadata(TALK, CONTEXT)
    assert rows(db_url) == []
    assert cached.generate_metadata(TALK, CONTEXT).title == ANSWER["title"]
    assert len(stub.generate_requests) == 2


def test_purge_deletes_only_expired_rows(cache: AICache, db_url: str) -> None:
    for key in ("a" * 64, "b" * 64):
        cache.put(key, {"n": key[0]}, kind="metadata", provider="p", model="m", prompt_version="1")
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "update processor.ai_cache set created_at = now() - interval '2 hours',"
            " expires_at = now() - interval '1 hour' where cache_key = %s",
            ("a" * 64,),
        )
    assert cache.purge_expired() == 1
    assert cache.get("a" * 64, kind="metadata") is None
    assert cache.get("b" * 64, kind="metadata") == {"n": "b"}


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_clients_cannot_reach_the_cache(db_url: str, role: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute(f"set local role {role}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select count(*) from processor.ai_cache")


def test_the_cache_table_has_row_level_security(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        enabled = conn.execute(
            "select relrowsecurity from pg_catalog.pg_class where oid = 'processor.ai_cache'::regclass"
        ).fetchone()
    assert enabled == (True,)


def test_a_transcript_is_cached_by_audio_content(
    stub: GeminiStub, cache: AICache, tmp_path: Path
) -> None:
    audio = tmp_path / "audio.wav"
    with wave.open(str(audio), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16_000)
        wav.writeframes(b"\x02\x00" * 8_000)
    stub.reply(
        candidate_response(
            {"language": "en", "segments": [{"start_time": 0, "end_time": 0.5, "text": "Hi."}]}
        )
    )
    backend = GeminiTranscriber(API_KEY, MODEL, base_url=stub.base_url)
    transcriber = CachedTranscriber(backend, cache)
    progress: list[float] = []
    first = transcriber.transcribe(audio)
    second = transcriber.transcribe(audio, on_progress=progress.append)
    backend.close()

    assert first == second
    assert second.segments == (Segment("Hi.", 0.0, 0.5),)
    assert len(stub.requests_matching("POST", UPLOAD_START_PATH)) == 1
    assert len(stub.generate_requests) == 1
    assert progress == [1.0]
    assert (cache.misses("transcript"), cache.hits("transcript")) == (1, 1)
