"""make_metadata_generator: AI_PROVIDER picks the backend; only paid calls are cached."""

from __future__ import annotations

from contextlib import nullcontext

import pytest

from processor.ai.cache import AICache, CachedMetadataGenerator
from processor.ai.factory import make_metadata_generator
from processor.config import Settings
from processor.errors import ConfigurationError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in ("AI_PROVIDER", "GEMINI_API_KEY", "GEMINI_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def a_cache() -> AICache:
    return AICache(lambda: nullcontext(None))


def test_local_without_a_key() -> None:
    generator = make_metadata_generator(Settings(), cache=a_cache())
    assert (generator.name, generator.model) == ("local", "yake-extractive")
    assert not isinstance(generator, CachedMetadataGenerator)


def test_gemini_with_a_key_behind_the_cache() -> None:
    settings = Settings(gemini_api_key="k", gemini_model="gemini-2.5-pro")
    generator = make_metadata_generator(settings, cache=a_cache())
    assert isinstance(generator, CachedMetadataGenerator)
    assert (generator.name, generator.model) == ("gemini", "gemini-2.5-pro")
    assert generator.prompt_version == "gemini-metadata-v1"


def test_gemini_without_a_cache() -> None:
    generator = make_metadata_generator(Settings(gemini_api_key="k"))
    assert type(generator).__name__ == "GeminiMetadataGenerator"


def test_local_even_with_a_key_when_asked() -> None:
    generator = make_metadata_generator(Settings(gemini_api_key="k", ai_provider="local"))
    assert generator.name == "local"


def test_gemini_without_a_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="GEMINI_API_KEY"):
        make_metadata_generator(Settings(ai_provider="gemini"))
