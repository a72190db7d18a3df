"""The AI contract: transcripts, metadata, health findings, and the adapter protocols.

Adapters (`whisper.py`, `local.py`, `gemini/`) implement Transcriber or MetadataGenerator
and import this module (plus the shared helpers `wav.py` and `timestamps.py`), never each
other; `factory.py` picks and wraps them. This module imports nothing from processor.ai.
Transcripts are plain data that round-trip through JSON, so a completed transcribe stage can
be checkpointed and resumed; GeneratedMetadata doubles as Gemini's response schema.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypedDict, Unpack

from pydantic import BaseModel, Field

from processor.interrupts import RaiseIfInterrupted

# --- transcripts --------------------------------------------------------------------------


@dataclass(frozen=True)
class Word:
    """One recognised word with its time span in seconds from the start of the media."""

    text: str
    start_time: float
    end_time: float
    probability: float | None = None


@dataclass(frozen=True)
class Segment:
    """A run of speech (about a sentence) with its words."""

    text: str
    start_time: float
    end_time: float
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Transcript:
    """A whole transcript: detected language, segments in time order, audio duration.

    `language` is an ISO 639-1 code, None when it could not be determined (no speech, or no
    multilingual model to tell); `language_probability` is the detector's confidence.
    `translation` holds English segments for non-English speech (empty otherwise).
    """

    language: str | None
    segments: tuple[Segment, ...] = field(default_factory=tuple)
    duration_seconds: float = 0.0
    language_probability: float | None = None
    translation: tuple[Segment, ...] = field(default_factory=tuple)
    model: str | None = None  # the model that wrote `segments`, for logs and details

    @property
    def text(self) -> str:
        """The plain text, one segment per line."""
        return _text(self.segments)

    @property
    def english(self) -> Transcript | None:
        """The English translation as a transcript of its own, when there is one."""
        if not self.translation:
            return None
        return Transcript(
            language="en",
            segments=self.translation,
            duration_seconds=self.duration_seconds,
            model=self.model,
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (the shape stored in transcript checkpoints)."""
        return {
            "language": self.language,
            "language_probability": self.language_probability,
            "model": self.model,
            "duration_seconds": self.duration_seconds,
            "segments": _segments_json(self.segments),
            "translation": _segments_json(self.translation),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Transcript:
        """Rebuild a transcript from `to_json` output (older checkpoints lack the new keys)."""
        probability = data.get("language_probability")
        return cls(
            language=data.get("language"),
            duration_seconds=float(data.get("duration_seconds") or 0.0),
            segments=_segments_from_json(data.get("segments", ())),
            language_probability=float(probability) if probability is not None else None,
            translation=_segments_from_json(data.get("translation") or ()),
            model=data.get("model"),
        )


def _text(segments: tuple[Segment, ...]) -> str:
    return "\n".join(s.text.strip() for s in segments if s.text.strip())


def _segments_json(segments: tuple[Segment, ...]) -> list[dict[str, Any]]:
    return [
        {
            "text": s.text,
            "start_time": s.start_time,
            "end_time": s.end_time,
            "words": [
                {
                    "text": w.text,
                    "start_time": w.start_time,
                    "end_time": w.end_time,
                    "probability": w.probability,
                }
                for w in s.words
            ],
        }
        for s in segments
    ]


def _segments_from_json(items: Any) -> tuple[Segment, ...]:
    return tuple(
        Segment(
            text=s["text"],
            start_time=float(s["start_time"]),
            end_time=float(s["end_time"]),
            words=tuple(
                Word(
                    text=w["text"],
                    start_time=float(w["start_time"]),
                    end_time=float(w["end_time"]),
                    probability=w.get("probability"),
                )
                for w in s.get("words", ())
            ),
        )
        for s in items
    )


def iso_language(code: str | None) -> str | None:
    """An ISO 639 code (`es`, `haw`) from a BCP-47 tag (`es-ES`, `zh-Hans`); None if unusable."""
    if not code:
        return None
    primary = code.strip().replace("_", "-").split("-")[0].lower()
    return primary if 2 <= len(primary) <= 3 and primary.isascii() and primary.isalpha() else None


def is_unspaced_script(text: str) -> bool:
    """Whether most letters of `text` belong to scripts written without spaces between words
    (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return False
    unspaced = sum(1 for c in letters if _is_unspaced_char(c))
    return unspaced * 2 > len(letters)


def _is_unspaced_char(char: str) -> bool:
    code = ord(char)
    return (
        0x3040 <= code <= 0x30FF  # Hiragana, Katakana
        or 0x3400 <= code <= 0x4DBF  # CJK extension A
        or 0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0xF900 <= code <= 0xFAFF  # CJK compatibility ideographs
        or 0xFF66 <= code <= 0xFF9F  # half-width Katakana
        or 0x0E00 <= code <= 0x0EFF  # Thai, Lao
        or 0x1780 <= code <= 0x17FF  # Khmer
        or 0x1000 <= code <= 0x109F  # Myanmar
        or 0x20000 <= code <= 0x2FA1F  # CJK extensions B..F, compatibility supplement
    )


# --- metadata -----------------------------------------------------------------------------


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


# --- health -------------------------------------------------------------------------------

HealthStatus = Literal["OK", "WARN", "FAIL"]


@dataclass(frozen=True)
class Health:
    """One finding of an adapter's health check, for `vproc doctor` to show.

    OK: ready. WARN: works, but degraded or not verifiable from here. FAIL: will not work.
    `detail` is one line; `fix` names the command or setting that helps. `elapsed_ms` is how
    long the probe took, when it called a remote service.
    """

    status: HealthStatus
    detail: str
    fix: str | None = None
    elapsed_ms: float | None = None


# --- adapters -----------------------------------------------------------------------------


class TranscribeOptions(TypedDict, total=False):
    """The keyword options of Transcriber.transcribe, declared once for every adapter.

    `language` (ISO 639-1) skips detection; `on_progress` receives the fraction of audio done
    (0..1); `raise_if_interrupted` is called between windows.
    """

    language: str | None
    on_progress: Callable[[float], None] | None
    raise_if_interrupted: RaiseIfInterrupted | None


class Transcriber(Protocol):
    """Turns a 16 kHz mono 16-bit PCM WAV file into a Transcript."""

    name: str  # backend name, e.g. "whisper"
    model: str  # model name or path, for logs and cache keys
    prompt_version: str  # what else the output depends on (prompt, algorithm), for cache keys

    def transcribe(self, audio_path: Path, **options: Unpack[TranscribeOptions]) -> Transcript:
        """Transcribe `audio_path`; raises a processor.errors.VprocError on failure."""
        ...


class MetadataGenerator(Protocol):
    """Generates title, description, tags, show notes and chapters from a transcript."""

    name: str  # provider, e.g. "gemini" or "local"
    model: str  # model name, for logs and cache keys
    prompt_version: str  # what else the output depends on (prompt, algorithm), for cache keys

    def generate_metadata(
        self, transcript: Transcript, context: MetadataContext
    ) -> GeneratedMetadata:
        """Generate metadata; raises a processor.errors.VprocError on failure."""
        ...
