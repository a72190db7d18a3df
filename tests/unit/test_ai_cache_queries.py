"""The AI cache's named queries and keys, and its behaviour when the database is away."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from processor.ai.cache import (
    AICache,
    CachedMetadataGenerator,
    cache_key,
    file_sha256,
)
from processor.ai.contract import MetadataContext, Segment, Transcript
from processor.ai.local import LocalMetadataGenerator
from processor.db.queries import QUERIES
from processor.errors import DatabaseUnavailableError


def test_the_cache_queries_touch_only_the_cache_table() -> None:
    for name in ("get_ai_cache_entry", "put_ai_cache_entry", "purge_expired_ai_cache"):
        assert "processor.ai_cache" in QUERIES[name], name


def test_keys_change_with_every_part_and_ignore_dict_order() -> None:
    base = cache_key("gemini", "gemini-2.5-flash", "v1", {"a": 1, "b": [1, 2]})
    assert re.fullmatch(r"[0-9a-f]{64}", base)
    assert base == cache_key("gemini", "gemini-2.5-flash", "v1", {"b": [1, 2], "a": 1})
    assert base != cache_key("local", "gemini-2.5-flash", "v1", {"a": 1, "b": [1, 2]})
    assert base != cache_key("gemini", "gemini-2.5-pro", "v1", {"a": 1, "b": [1, 2]})
    assert base != cache_key("gemini", "gemini-2.5-flash", "v2", {"a": 1, "b": [1, 2]})
    assert base != cache_key("gemini", "gemini-2.5-flash", "v1", {"a": 1, "b": [2, 1]})


def test_file_digest_matches_hashlib(tmp_path: Path) -> None:
    import hashlib

    data = b"RIFF" + bytes(range(256)) * 5000
    path = tmp_path / "audio.wav"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


@contextmanager
def unreachable() -> Iterator[object]:
    raise DatabaseUnavailableError("cannot connect to the database: connection refused")
    yield  # pragma: no cover


def test_an_unreachable_database_only_costs_the_cache() -> None:
    cache = AICache(unreachable, ttl_seconds=60)
    generator = CachedMetadataGenerator(LocalMetadataGenerator(), cache)
    transcript = Transcript(
        language="en",
        segments=(Segment("Postgres queues with skip locked are simple and fast.", 0.0, 3.0),),
        duration_seconds=3.0,
    )
    first = generator.generate_metadata(transcript, MetadataContext())
    second = generator.generate_metadata(transcript, MetadataContext())
    assert first == second
    assert cache.misses("metadata") == 2
    assert cache.hits("metadata") == 0


def test_counters_live_in_the_given_registry() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    cache = AICache(unreachable, registry=registry)
    cache.get("0" * 64, kind="transcript")
    exposition = generate_latest(registry).decode()
    assert 'vproc_ai_cache_misses_total{kind="transcript"} 1.0' in exposition
    assert "vproc_ai_cache_hits_total" in exposition


def test_word_details_do_not_change_the_metadata_key() -> None:
    from processor.ai.contract import Word

    def transcript(probability: float) -> Transcript:
        words = (Word("Hello", 0.0, 0.4, probability), Word("there.", 0.5, 0.9, probability))
        return Transcript("en", (Segment("Hello there.", 0.0, 0.9, words),), 1.0)

    generator = CachedMetadataGenerator(LocalMetadataGenerator(), AICache(unreachable))
    context = MetadataContext(original_filename="a.mp4")
    assert generator.key_for(transcript(0.91), context) == generator.key_for(
        transcript(0.42), context
    )
    moved = Transcript("en", (Segment("Hello there.", 0.5, 1.4),), 1.0)
    assert generator.key_for(moved, context) != generator.key_for(transcript(0.9), context)
    assert generator.key_for(transcript(0.9), MetadataContext()) != generator.key_for(
        transcript(0.9), context
    )
