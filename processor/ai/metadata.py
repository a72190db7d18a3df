"""Transcript to publishable metadata: the MetadataGenerator capability and its output model.

Backends (`gemini.py`, `local.py`) implement MetadataGenerator; `make_metadata_generator`
picks one by AI_PROVIDER. The output model doubles as Gemini's response schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, Field

from processor.ai.transcription import Transcript
from processor.errors import ConfigurationError

if TYPE_CHECKING:
    from processor.ai.cache import AICache
    from processor.config import Settings


class Chapter(BaseModel):
    """A chapter marker: where it starts (seconds) and what it is about."""

    start_time: float = Field(ge=0)
    title: str = Field(min_length=1, max_length=100)


class GeneratedMetadata(BaseModel):
    """What a video gets published with."""

    title: str = Field(min_length=1, max_length=100)
    description: str
    tags: list[str] = Field(min_length=0, max_length=15)
    show_notes: str = Field(description="Markdown show notes")
    chapters: list[Chapter] = Field(default_factory=list)


@dataclass(frozen=True)
class MetadataContext:
    """What is known about the video besides its transcript."""

    original_filename: str | None = None
    duration_seconds: float | None = None
    language: str | None = None  # of the transcript handed over (ISO 639-1)
    output_language: str | None = None  # the metadata's language; None: the transcript's


class MetadataGenerator(Protocol):
    """Generates title, description, tags, show notes and chapters from a transcript."""

    name: str  # provider, e.g. "gemini" or "local"
    model: str  # model name, for logs and cache keys

    def generate_metadata(
        self, transcript: Transcript, context: MetadataContext
    ) -> GeneratedMetadata:
        """Generate metadata; raises a processor.errors.VprocError on failure."""
        ...


def make_metadata_generator(
    settings: Settings, *, cache: AICache | None = None
) -> MetadataGenerator:
    """The MetadataGenerator for AI_PROVIDER (default: gemini with a key, local without).

    With a cache, paid calls go through it (a retry or re-run of the same input is answered
    from Postgres); the local engine is free and deterministic, so it is never cached.
    Raises ConfigurationError for AI_PROVIDER=gemini without GEMINI_API_KEY.
    """
    if settings.effective_ai_provider == "gemini":
        if settings.gemini_api_key is None:
            raise ConfigurationError("AI_PROVIDER=gemini needs GEMINI_API_KEY")
        from processor.ai.gemini import GeminiMetadataGenerator

        generator: MetadataGenerator = GeminiMetadataGenerator(
            settings.gemini_api_key.get_secret_value(),
            settings.gemini_model,
            base_url=settings.gemini_base_url,
            timeout_seconds=settings.gemini_timeout_seconds,
        )
        if cache is None:
            return generator
        from processor.ai.cache import CachedMetadataGenerator

        return CachedMetadataGenerator(generator, cache)
    from processor.ai.local import LocalMetadataGenerator

    return LocalMetadataGenerator()
