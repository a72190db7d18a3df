"""Speech to text: the Transcriber capability and the transcript it produces.

Backends live in their own modules (`whisper.py`, `gemini.py`); `make_transcriber(settings)`
picks one by TRANSCRIBER. Transcripts are plain data that round-trip through JSON, so a
completed transcribe stage can be checkpointed and resumed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from processor.ai.cache import AICache
    from processor.config import Settings


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
    """A whole transcript: detected language, segments in time order, audio duration."""

    language: str | None
    segments: tuple[Segment, ...] = field(default_factory=tuple)
    duration_seconds: float = 0.0

    @property
    def text(self) -> str:
        """The plain text, one segment per line."""
        return "\n".join(s.text.strip() for s in self.segments if s.text.strip())

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (the shape stored in transcript checkpoints)."""
        return {
            "language": self.language,
            "duration_seconds": self.duration_seconds,
            "segments": [
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
                for s in self.segments
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Transcript:
        """Rebuild a transcript from `to_json` output."""
        return cls(
            language=data.get("language"),
            duration_seconds=float(data.get("duration_seconds") or 0.0),
            segments=tuple(
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
                for s in data.get("segments", ())
            ),
        )


class Transcriber(Protocol):
    """Turns a 16 kHz mono 16-bit PCM WAV file into a Transcript."""

    name: str  # backend name, e.g. "whisper"
    model: str  # model name or path, for logs and cache keys

    def transcribe(
        self,
        audio_path: Path,
        *,
        language: str | None = None,
        on_progress: Callable[[float], None] | None = None,
        should_stop: Callable[[], None] | None = None,
    ) -> Transcript:
        """Transcribe `audio_path`.

        on_progress receives the fraction of audio done (0..1); should_stop is called between
        windows and raises to abort. Raises a processor.errors.VprocError on failure.
        """
        ...


def make_transcriber(settings: Settings, *, cache: AICache | None = None) -> Transcriber:
    """Build the backend that TRANSCRIBER names; the model itself loads on first use.

    With a cache, a paid backend (Gemini) answers a repeated input from Postgres; whisper runs
    locally and is never cached. Raises ConfigurationError when the backend is not available.
    """
    from processor.errors import ConfigurationError

    if settings.transcriber == "whisper":
        from processor.ai.whisper import WhisperTranscriber

        return WhisperTranscriber(
            settings.whisper_model,
            device=settings.whisper_device,
            compute_type=settings.whisper_compute_type,
        )
    if settings.transcriber == "gemini":
        from processor.ai.gemini import make_gemini_transcriber

        return make_gemini_transcriber(settings, cache=cache)
    raise ConfigurationError(f"unknown TRANSCRIBER {settings.transcriber!r}")
