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
