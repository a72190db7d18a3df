"""The pipeline's choice of metadata generator and transcriber."""

from __future__ import annotations

import pytest

from processor.ai.factory import make_transcriber
from processor.config import Settings
from processor.errors import ConfigurationError
from processor.pipeline.build import make_metadata


def test_local_engine_without_a_key() -> None:
    generator = make_metadata(Settings(_env_file=None, ai_provider=None, gemini_api_key=None))
    assert generator.name == "local"


def test_gemini_engine_with_a_key_goes_behind_the_cache() -> None:
    from processor.ai.cache import AICache, CachedMetadataGenerator

    settings = Settings(_env_file=None, gemini_api_key="k")
    cache = AICache(lambda: None, ttl_seconds=60)  # type: ignore[arg-type, return-value]
    assert isinstance(make_metadata(settings, cache=cache), CachedMetadataGenerator)
    assert make_metadata(settings).name == "gemini"


def test_gemini_transcriber_needs_a_key() -> None:
    with pytest.raises(ConfigurationError, match="GEMINI_API_KEY"):
        make_transcriber(Settings(_env_file=None, transcriber="gemini", gemini_api_key=None))


def test_whisper_is_the_default_transcriber() -> None:
    assert make_transcriber(Settings(_env_file=None)).name == "whisper"
