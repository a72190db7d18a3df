"""Media handling: the MediaToolkit capability (probe, audio extraction, thumbnails) and its data.

The PyAV backend lives in `pyav.py` and is imported only by `factory.make_media_toolkit`;
frame scoring (`frames.py`) and subtitle layout (`subtitles.py`) are pure functions beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from processor.errors import MediaTooLargeError
from processor.interrupts import RaiseIfInterrupted

if TYPE_CHECKING:
    from processor.config import Settings

AUDIO_SAMPLE_RATE = 16_000  # what transcribers read: 16 kHz mono 16-bit PCM WAV

# The container formats vproc opens, by FFmpeg demuxer name: the one place to widen or narrow
# what uploads may be. Every one of them reads a single self-contained file; demuxers that
# follow references to other files or URLs (hls, dash, concat, image2 sequences, playlists,
# imf, …) are deliberately absent. The audio formats are for audio-only uploads (podcasts:
# mp3, wav, flac, raw AAC/ADTS; m4a is in the ISO family, ogg/opus in `ogg`).
VIDEO_CONTAINER_FORMATS = frozenset(
    {
        "mov", "mp4", "m4a", "3gp", "3g2", "mj2",  # the ISO/QuickTime family (one demuxer)
        "matroska", "webm",  # one demuxer
        "mpegts", "mpeg", "avi", "flv", "ogg",
    }
)  # fmt: skip
AUDIO_CONTAINER_FORMATS = frozenset({"mp3", "wav", "flac", "aac"})
ALLOWED_CONTAINER_FORMATS = VIDEO_CONTAINER_FORMATS | AUDIO_CONTAINER_FORMATS


@dataclass(frozen=True)
class MediaLimits:
    """How much one upload may ask of a worker; None means unlimited.

    Checked before anything is decoded: the source size while it downloads, the duration and
    the frame size when the file is probed. Over a limit: MediaTooLargeError (permanent).
    """

    max_media_seconds: float | None = None
    max_source_bytes: int | None = None
    max_frame_pixels: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaLimits:
        """MAX_MEDIA_SECONDS, MAX_SOURCE_BYTES and MAX_FRAME_PIXELS."""
        return cls(
            max_media_seconds=settings.max_media_seconds,
            max_source_bytes=settings.max_source_bytes,
            max_frame_pixels=settings.max_frame_pixels,
        )

    def check_source_bytes(self, size_bytes: int) -> None:
        """Refuse a source file of more than MAX_SOURCE_BYTES."""
        limit = self.max_source_bytes
        if limit is not None and size_bytes > limit:
            raise MediaTooLargeError(
                f"the file is {size_bytes} bytes, over the limit MAX_SOURCE_BYTES = {limit}"
            )

    def check_duration(self, seconds: float) -> None:
        """Refuse media that plays for longer than MAX_MEDIA_SECONDS."""
        limit = self.max_media_seconds
        if limit is not None and seconds > limit:
            raise MediaTooLargeError(
                f"the video is {seconds:.1f} s long, over the limit MAX_MEDIA_SECONDS = {limit:g}"
            )

    def check_frame(self, width: int, height: int) -> None:
        """Refuse frames of more than MAX_FRAME_PIXELS pixels."""
        limit = self.max_frame_pixels
        if limit is not None and width * height > limit:
            raise MediaTooLargeError(
                f"the frame is {width}x{height} ({width * height} pixels),"
                f" over the limit MAX_FRAME_PIXELS = {limit}"
            )


UNLIMITED = MediaLimits()


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
    def from_json(cls, data: Mapping[str, Any]) -> MediaInfo:
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
    kind: str = "frame"  # "frame" (video), "cover_art" or "waveform" (audio-only media)


class MediaToolkit(Protocol):
    """Reads media files: facts, the audio track, and a representative frame."""

    name: str

    def probe(self, path: Path, *, limits: MediaLimits = UNLIMITED) -> MediaInfo:
        """Describe `path`; raises InvalidMediaError or UnsupportedMediaError for bad input,
        and MediaTooLargeError when the duration or frame size is over `limits` (checked
        before any frame is decoded)."""
        ...

    def extract_audio(
        self,
        path: Path,
        dest_wav: Path,
        *,
        on_progress: Callable[[float], None] | None = None,
        raise_if_interrupted: RaiseIfInterrupted | None = None,
        max_seconds: float | None = None,
    ) -> AudioInfo:
        """Decode the first audio stream into a 16 kHz mono 16-bit WAV, a block at a time.

        Stops with MediaTooLargeError once more than `max_seconds` have been decoded (a file
        whose header understates its length)."""
        ...

    def extract_thumbnail(
        self,
        path: Path,
        dest_jpeg: Path,
        *,
        duration_seconds: float,
        max_width: int = 1280,
        raise_if_interrupted: RaiseIfInterrupted | None = None,
    ) -> ThumbnailInfo:
        """Score frames sampled across the video and write the best one as a JPEG."""
        ...
