"""Media handling: the MediaToolkit capability (probe, audio extraction, thumbnails) and its data.

The PyAV backend lives in `pyav.py` and is imported only by `make_media_toolkit`; frame scoring
(`frames.py`) and subtitle layout (`subtitles.py`) are pure functions beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from processor.config import Settings

AUDIO_SAMPLE_RATE = 16_000  # what transcribers read: 16 kHz mono 16-bit PCM WAV


@dataclass(frozen=True)
class MediaInfo:
    """What a probe finds: technical facts about one file."""

    duration_seconds: float
    format_name: str  # short container name: "mp4", "webm", "matroska", "mov", …
    has_video: bool
    has_audio: bool
    width: int | None = None  # as displayed (rotation applied)
    height: int | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    frame_rate: float | None = None
    audio_sample_rate: int | None = None
    audio_channels: int | None = None
    rotation_degrees: int = 0
    bit_rate: int | None = None

    @property
    def resolution(self) -> str | None:
        """`WIDTHxHEIGHT`, as stored in `video_metadata.extracted_video_resolution`."""
        return f"{self.width}x{self.height}" if self.width and self.height else None

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (the probe stage's checkpoint detail)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MediaInfo:
        """Rebuild from `to_json` output, ignoring keys this version does not know."""
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class AudioInfo:
    """The extracted 16 kHz mono WAV."""

    duration_seconds: float
    sample_count: int
    skipped_packets: int = 0  # undecodable packets that were dropped


@dataclass(frozen=True)
class ThumbnailInfo:
    """The chosen thumbnail."""

    width: int
    height: int
    time_seconds: float  # where in the video the frame comes from
    score: float
    candidates: int  # how many frames were scored


class MediaToolkit(Protocol):
    """Reads media files: facts, the audio track, and a representative frame."""

    name: str

    def probe(self, path: Path) -> MediaInfo:
        """Describe `path`; raises InvalidMediaError or UnsupportedMediaError for bad input."""
        ...

    def extract_audio(
        self,
        path: Path,
        dest_wav: Path,
        *,
        on_progress: Callable[[float], None] | None = None,
        should_stop: Callable[[], None] | None = None,
    ) -> AudioInfo:
        """Decode the first audio stream into a 16 kHz mono 16-bit WAV, a block at a time."""
        ...

    def extract_thumbnail(
        self,
        path: Path,
        dest_jpeg: Path,
        *,
        duration_seconds: float,
        max_width: int = 1280,
        should_stop: Callable[[], None] | None = None,
    ) -> ThumbnailInfo:
        """Score frames sampled across the video and write the best one as a JPEG."""
        ...


def make_media_toolkit(settings: Settings | None = None) -> MediaToolkit:
    """The PyAV toolkit (bundles FFmpeg; no system ffmpeg needed)."""
    from processor.media.pyav import PyAVMediaToolkit

    return PyAVMediaToolkit()
