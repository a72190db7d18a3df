"""Transcript to publishable metadata: the MetadataGenerator capability and its output model.

Backends (`gemini.py`, `local.py`) implement MetadataGenerator; `make_metadata_generator`
picks one by AI_PROVIDER. The output model doubles as Gemini's response schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, Field

from processor.ai.transcription import Transcript


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
    language: str | None = None


class MetadataGenerator(Protocol):
    """Generates title, description, tags, show notes and chapters from a transcript."""

    name: str  # provider, e.g. "gemini" or "local"
    model: str  # model name, for logs and cache keys

    def generate_metadata(
        self, transcript: Transcript, context: MetadataContext
    ) -> GeneratedMetadata:
        """Generate metadata; raises a processor.errors.VprocError on failure."""
        ...
