"""The PyAV media toolkit: probe, streaming audio extraction and keyframe thumbnails.

PyAV bundles FFmpeg. Every input is opened by `_opened`, which admits only the container
formats of ALLOWED_CONTAINER_FORMATS and lets FFmpeg open nothing but the one file it is given.
FFmpeg errors are translated here into InvalidMediaError / UnsupportedMediaError; nothing above
this module imports `av`.
"""

from __future__ import annotations

import gc
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import av.error
import numpy as np
from av.stream import Disposition

from processor.errors import InvalidMediaError, MediaTooLargeError, UnsupportedMediaError
from processor.interrupts import RaiseIfInterrupted
from processor.media import (
    ALLOWED_CONTAINER_FORMATS,
    AUDIO_SAMPLE_RATE,
    UNLIMITED,
    AudioInfo,
    MediaInfo,
    MediaLimits,
    ThumbnailInfo,
)
from processor.media.frames import brightness, fit_width, score_frame

THUMBNAIL_CANDIDATES = 12
SCORE_WIDTH = 256  # candidates are scored on a grey copy this wide
PROBE_PACKET_LIMIT = 500  # packets read to find a first decodable video frame
STOP_CHECK_PACKETS = 64  # packets between cancellation checks while decoding audio
# FFmpeg reads the input through a Python file object in blocks this size: FFmpeg's own file
# buffer size (larger blocks cost more on every seek outside the buffer).
READ_BUFFER_BYTES = 32 * 1024

_WEBM_CODECS = frozenset({"vp8", "vp9", "av1", "libdav1d", "opus", "vorbis", "webvtt"})
# Demuxers that read a single still picture or plain text from the one input: never a video.
# FFmpeg may pick them (so that the error can say "an image"), but they never pass the check.
_STILL_FORMATS = frozenset(
    {"tty", "ico", "srt", "webvtt", "ass", "lrc"}
    | {name for name in av.formats_available if name.endswith("_pipe")}
)
# FFmpeg refuses any other demuxer at open (AVFormatContext format_whitelist), and may open
# inputs only through the `file` protocol (protocol_whitelist); `_refuse_nested_open`
# additionally stops every demuxer from opening anything besides the input itself.
_OPEN_OPTIONS = {
    "format_whitelist": ",".join(sorted(ALLOWED_CONTAINER_FORMATS | _STILL_FORMATS)),
    "protocol_whitelist": "file",
}
# How files that list other files begin: HLS/M3U playlists, ffconcat lists, DASH manifests.
# FFmpeg recognises some only by their name, which the source never keeps; they are refused
# whatever they are called, with a message that says what they are.
_LIST_SIGNATURES = (b"#EXTM3U", b"ffconcat version", b"<MPD", b"<?xml", b"[playlist]")
_LIST_REFUSED = "playlists and lists of other files are not supported"
_NOT_ALLOWED = (
    "the container format is not supported (allowed: mp4, mov, mkv, webm, mpeg-ts, mpeg,"
    " avi, flv, ogg; audio: mp3, m4a, aac, wav, flac, ogg/opus)"
)
WAVEFORM_RATE = 8_000  # audio is read at this rate (mono) to draw a waveform


class PyAVMediaToolkit:
    """MediaToolkit on PyAV."""

    name = "pyav"

    def probe(self, path: Path, *, limits: MediaLimits = UNLIMITED) -> MediaInfo:
        """Open the container, read stream facts and decode the first video frame.

        Raises InvalidMediaError for empty, truncated, corrupt or non-media files (an image or
        text renamed .mp4), UnsupportedMediaError for containers not on the allow-list or
        unknown codecs, and MediaTooLargeError when the duration or the frame size is over
        `limits`: both are checked before the first frame is decoded. Audio-only files (cover
        art does not count as video) are described with has_video False and no resolution.
        """
        size = Path(path).stat().st_size
        if size == 0:
            raise InvalidMediaError("the file is empty")
        limits.check_source_bytes(size)
        with _opened(path) as container:
            format_name = _short_format_name(container)
            video = _video_stream(container)
            audio = container.streams.audio[0] if container.streams.audio else None
            if video is None:
                if audio is not None:
                    return _probe_audio_only(container, audio, format_name, limits)
                raise InvalidMediaError("the file has no video or audio stream")
            if video.codec_context is None or video.codec_context.name in ("", "none"):
                raise UnsupportedMediaError("the video codec is not supported")
            limits.check_frame(video.codec_context.width, video.codec_context.height)
            duration = _duration_seconds(container)
            scanned = duration <= 0
            if scanned:
                duration = _scan_duration_seconds(container)  # packet headers only
            limits.check_duration(duration)
            first = _first_video_frame(container, video, seek=scanned)
            if first is None:
                raise InvalidMediaError("no video frame could be decoded (truncated or corrupt)")
            if duration <= 0:
                raise InvalidMediaError("the video has no duration")
            limits.check_frame(first.width, first.height)
            rotation = _rotation(first)
            width, height = first.width, first.height
            if rotation in (90, 270):
                width, height = height, width
            rate = video.average_rate or video.guessed_rate
            return MediaInfo(
                duration_seconds=round(duration, 3),
                format_name=format_name,
                has_video=True,
                has_audio=audio is not None,
                width=width,
                height=height,
                video_codec=video.codec_context.name,
                audio_codec=audio.codec_context.name if audio is not None else None,
                frame_rate=round(float(rate), 3) if rate else None,
                audio_sample_rate=audio.codec_context.sample_rate if audio is not None else None,
                audio_channels=(
                    audio.codec_context.layout.nb_channels if audio is not None else None
                ),
                rotation_degrees=rotation,
                bit_rate=container.bit_rate or None,
            )

    def extract_audio(
        self,
        path: Path,
        dest_wav: Path,
        *,
        on_progress: Callable[[float], None] | None = None,
        raise_if_interrupted: RaiseIfInterrupted | None = None,
        max_seconds: float | None = None,
    ) -> AudioInfo:
        """Decode packet by packet, resample to 16 kHz mono s16 and append to the WAV.

        Memory stays at a few decoded frames whatever the length. Undecodable packets are
        skipped and counted; InvalidMediaError if nothing at all decodes. MediaTooLargeError
        (and the partial WAV removed) once more than `max_seconds` have been decoded.
        """
        # One second of slack: encoder padding may make a track a little longer than stated.
        max_samples = None if max_seconds is None else int((max_seconds + 1) * AUDIO_SAMPLE_RATE)
        samples = 0
        skipped = 0
        resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_SAMPLE_RATE)
        try:
            with _opened(path) as container, wave.open(str(dest_wav), "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(AUDIO_SAMPLE_RATE)
                if not container.streams.audio:
                    raise InvalidMediaError("the file has no audio stream")
                stream = container.streams.audio[0]
                total = _duration_seconds(container) or 0.0
                for packet, frames in _audio_packets(container, stream, raise_if_interrupted):
                    if frames is None:
                        skipped += 1
                        continue
                    for frame in frames:
                        for block in resampler.resample(frame):
                            data = block.to_ndarray().tobytes()
                            out.writeframes(data)
                            samples += len(data) // 2
                    if max_samples is not None and samples > max_samples:
                        raise MediaTooLargeError(
                            "the audio track is longer than the limit"
                            f" MAX_MEDIA_SECONDS = {max_seconds:g}"
                        )
                    if on_progress is not None and total > 0 and packet.pts is not None:
                        on_progress(min(1.0, float(packet.pts * (stream.time_base or 0)) / total))
                for block in resampler.resample(None):
                    data = block.to_ndarray().tobytes()
                    out.writeframes(data)
                    samples += len(data) // 2
        except av.error.FFmpegError as exc:
            raise InvalidMediaError(f"the audio track cannot be decoded ({_reason(exc)})") from exc
        except MediaTooLargeError:
            Path(dest_wav).unlink(missing_ok=True)
            raise
        finally:
            # FFmpeg resampler contexts are freed only when collected (faster-whisper #390).
            del resampler
            gc.collect()
        if samples == 0 and skipped:
            raise InvalidMediaError("the audio track cannot be decoded")
        return AudioInfo(
            duration_seconds=round(samples / AUDIO_SAMPLE_RATE, 3),
            sample_count=samples,
            skipped_packets=skipped,
        )

    def extract_thumbnail(
        self,
        path: Path,
        dest_jpeg: Path,
        *,
        duration_seconds: float,
        max_width: int = 1280,
        raise_if_interrupted: RaiseIfInterrupted | None = None,
    ) -> ThumbnailInfo:
        """Seek to keyframes spread over the video, score each, JPEG-encode the best.

        Only keyframes are decoded (one per candidate), so the cost does not grow with the
        video's length. The frame is rotated as the file says it should be displayed.
        Audio-only media get their embedded cover art, else a picture of their waveform.
        """
        best: tuple[float, float, av.VideoFrame] | None = None  # (score, brightness, frame)
        scored = 0
        with _opened(path) as container:
            stream = _video_stream(container)
            if stream is None:
                return _audio_thumbnail(container, dest_jpeg, max_width, raise_if_interrupted)
            stream.codec_context.skip_frame = "NONKEY"
            seen: set[int] = set()
            for target in _candidate_times(stream, duration_seconds):
                if raise_if_interrupted is not None:
                    raise_if_interrupted()
                frame = _keyframe_at(container, stream, target)
                if frame is None or frame.pts in seen:
                    continue
                seen.add(frame.pts if frame.pts is not None else -scored - 1)
                gray = _gray(frame)
                scored += 1
                key = (score_frame(gray), brightness(gray))
                if best is None or key > best[:2]:
                    best = (*key, frame)
            if best is None:
                stream.codec_context.skip_frame = "DEFAULT"
                frame = _first_video_frame(container, stream, seek=True)
                if frame is None:
                    raise InvalidMediaError("no video frame could be decoded")
                gray = _gray(frame)
                best, scored = (score_frame(gray), brightness(gray), frame), 1
        score, _, frame = best
        width, height = _write_jpeg(frame, dest_jpeg, max_width)
        time_seconds = float(frame.time) if frame.time is not None else 0.0
        return ThumbnailInfo(
            width=width,
            height=height,
            time_seconds=round(max(0.0, time_seconds), 3),
            score=round(score, 4),
            candidates=scored,
        )


def _probe_audio_only(
    container: av.container.InputContainer,
    audio: av.AudioStream,
    format_name: str,
    limits: MediaLimits,
) -> MediaInfo:
    """MediaInfo of a file with audio and no video (a podcast, a voice memo)."""
    if audio.codec_context is None or audio.codec_context.name in ("", "none"):
        raise UnsupportedMediaError("the audio codec is not supported")
    duration = _duration_seconds(container)
    if duration <= 0:
        duration = _scan_duration_seconds(container)
    limits.check_duration(duration)
    if duration <= 0:
        raise InvalidMediaError("the audio has no duration")
    return MediaInfo(
        duration_seconds=round(duration, 3),
        format_name=format_name,
        has_video=False,
        has_audio=True,
        audio_codec=audio.codec_context.name,
        audio_sample_rate=audio.codec_context.sample_rate,
        audio_channels=audio.codec_context.layout.nb_channels,
        bit_rate=container.bit_rate or None,
    )


def _audio_thumbnail(
    container: av.container.InputContainer,
    dest: Path,
    max_width: int,
    raise_if_interrupted: RaiseIfInterrupted | None,
) -> ThumbnailInfo:
    """The embedded cover art (an attached picture), else a rendered waveform."""
    cover = _cover_art(container)
    if cover is not None:
        width, height = _write_jpeg(cover, dest, max_width)
        return ThumbnailInfo(width, height, 0.0, 0.0, candidates=1, kind="cover_art")
    if not container.streams.audio:
        raise InvalidMediaError("the file has no video or audio stream")
    peaks = _block_peaks(container, container.streams.audio[0], raise_if_interrupted)
    from processor.media import waveform

    image = waveform.render(waveform.column_peaks(peaks, waveform.WIDTH))
    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
    width, height = _write_jpeg(frame, dest, max_width)
    return ThumbnailInfo(width, height, 0.0, 0.0, candidates=0, kind="waveform")


def _audio_packets(
    container: av.container.InputContainer,
    stream: av.AudioStream,
    raise_if_interrupted: RaiseIfInterrupted | None,
) -> Iterator[tuple[av.Packet[av.AudioStream], list[av.AudioFrame] | None]]:
    """Each packet of `stream` with its decoded frames (None when it does not decode), calling
    `raise_if_interrupted` every STOP_CHECK_PACKETS packets."""
    for count, packet in enumerate(container.demux(stream)):
        if raise_if_interrupted is not None and count % STOP_CHECK_PACKETS == 0:
            raise_if_interrupted()
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            yield packet, None
            continue
        yield packet, frames


def _cover_art(container: av.container.InputContainer) -> av.VideoFrame | None:
    """The decoded attached picture (ID3 APIC, MP4 covr, FLAC PICTURE), if there is one."""
    for stream in container.streams.video:
        if not stream.disposition & Disposition.attached_pic:
            continue
        container.seek(0)
        return _first_decoded(container, stream, stop_on_invalid=True)
    return None


def _block_peaks(
    container: av.container.InputContainer,
    stream: av.AudioStream,
    raise_if_interrupted: RaiseIfInterrupted | None,
) -> np.ndarray:
    """The loudest sample of each decoded block (about 0.1 s) of the track, mono.

    One float per block keeps memory at about 150 KB per hour of audio.
    """
    resampler = av.AudioResampler(format="flt", layout="mono", rate=WAVEFORM_RATE)
    blocks: list[float] = []
    try:
        container.seek(0)
        for _packet, frames in _audio_packets(container, stream, raise_if_interrupted):
            for frame in frames or ():
                blocks.extend(_peak(b) for b in resampler.resample(frame))
        blocks.extend(_peak(b) for b in resampler.resample(None))
    finally:
        del resampler
        gc.collect()
    return np.asarray(blocks, dtype=np.float32)


def _peak(block: av.AudioFrame) -> float:
    data = block.to_ndarray()
    return float(np.abs(data).max()) if data.size else 0.0


class _NestedOpenError(Exception):
    """A demuxer asked to open another file or URL than its input."""


def _refuse_nested_open(url: str, flags: int, options: dict[str, str]) -> None:
    """FFmpeg's io_open for everything but the input: playlists, references, sequences."""
    raise _NestedOpenError


@contextmanager
def _opened(path: Path) -> Iterator[av.container.InputContainer]:
    """Open `path` as an input container of an allowed format; nothing else can be read.

    FFmpeg reads the input through a Python file object (so the file's name, which decides
    some demuxers, plays no part) and cannot open anything else: other files, `file:`,
    `subfile:`, `concat:` or `data:` URLs, network protocols. A format not on the allow-list
    raises UnsupportedMediaError even if FFmpeg's probe picked it; a picture or text file
    InvalidMediaError; FFmpeg's other refusals InvalidMediaError.
    """
    try:
        file = open(path, "rb")  # noqa: SIM115 (closed below, after the container)
    except OSError as exc:
        raise InvalidMediaError("the file cannot be read") from exc
    with file:
        try:
            container = av.open(
                file,
                mode="r",
                metadata_errors="ignore",
                container_options=_OPEN_OPTIONS,
                io_open=_refuse_nested_open,
                buffer_size=READ_BUFFER_BYTES,
            )
        except _NestedOpenError as exc:
            raise UnsupportedMediaError(_LIST_REFUSED) from exc
        except av.error.ArgumentError as exc:  # EINVAL: not on FFmpeg's format_whitelist
            raise UnsupportedMediaError(_NOT_ALLOWED) from exc
        except (av.error.FFmpegError, UnicodeDecodeError) as exc:
            if _is_list_of_files(file):
                raise UnsupportedMediaError(_LIST_REFUSED) from exc
            raise InvalidMediaError(f"not a readable video ({_reason(exc)})") from exc
        try:
            _check_format(container)
            yield container
        except _NestedOpenError as exc:
            raise UnsupportedMediaError(_LIST_REFUSED) from exc
        except av.error.FFmpegError as exc:
            raise InvalidMediaError(f"the video cannot be read ({_reason(exc)})") from exc
        finally:
            container.close()


def _is_list_of_files(file: BinaryIO) -> bool:
    """Whether the file begins like a playlist or a list of files (BOM and blanks skipped)."""
    file.seek(0)
    head = file.read(64).removeprefix(b"\xef\xbb\xbf").lstrip()
    return head.startswith(_LIST_SIGNATURES)


def _check_format(container: av.container.InputContainer) -> None:
    """Admit only allowed demuxers (FFmpeg names a family "mov,mp4,m4a,…"), whatever the
    open options said."""
    name = container.format.name
    if name in _STILL_FORMATS:
        raise InvalidMediaError(f"not a video: the file is {_describe(container)}")
    if not set(name.split(",")) <= ALLOWED_CONTAINER_FORMATS:
        raise UnsupportedMediaError(_NOT_ALLOWED)


def _reason(exc: Exception) -> str:
    """FFmpeg's own words, without the file path PyAV appends."""
    strerror = getattr(exc, "strerror", None)
    return str(strerror or type(exc).__name__).strip().rstrip(".")


def _describe(container: av.container.InputContainer) -> str:
    name = container.format.name
    if name.endswith("_pipe"):
        return f"an image ({name.removesuffix('_pipe')})"
    return "an image" if name == "ico" else "text"


def _short_format_name(container: av.container.InputContainer) -> str:
    """FFmpeg names demuxers by family ("mov,mp4,m4a,…"); pick the member the content is.

    ISO media files say what they are in their major brand ("qt" is QuickTime). WebM is
    Matroska restricted to VP8/VP9/AV1 video and Vorbis/Opus audio.
    """
    names = container.format.name.split(",")
    if "mov" in names:
        brand = str(container.metadata.get("major_brand", "")).strip().lower()
        if brand == "qt":
            return "mov"
        if brand.startswith("3g"):
            return "3gp"
        return "m4a" if brand.startswith("m4a") else "mp4"
    if "webm" in names:
        codecs = {s.codec_context.name for s in container.streams if s.codec_context}
        return "webm" if codecs <= _WEBM_CODECS else "matroska"
    return names[0]


def _video_stream(container: av.container.InputContainer) -> av.VideoStream | None:
    """The first real video stream (cover art and still pictures do not count)."""
    for stream in container.streams.video:
        if not stream.disposition & (Disposition.attached_pic | Disposition.still_image):
            return stream
    return None


def _duration_seconds(container: av.container.InputContainer) -> float:
    """Container duration, else the longest stream duration, else 0."""
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    longest = 0.0
    for stream in container.streams:
        if stream.duration and stream.time_base:
            longest = max(longest, float(stream.duration * stream.time_base))
    return longest


def _scan_duration_seconds(container: av.container.InputContainer) -> float:
    """Read every packet header (no decoding) for files that do not state a duration.

    Browser-recorded WebM files often lack one.
    """
    container.seek(0)
    end = 0.0
    for packet in container.demux():
        if packet.pts is not None and packet.time_base:
            end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    start = container.start_time / av.time_base if container.start_time else 0.0
    return max(0.0, end - start)


def _first_video_frame(
    container: av.container.InputContainer, stream: av.VideoStream, *, seek: bool = False
) -> av.VideoFrame | None:
    """Decode frames from the start until one comes out (or PROBE_PACKET_LIMIT packets)."""
    if seek:
        container.seek(0, stream=stream)
    return _first_decoded(container, stream)


def _first_decoded(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    *,
    stop_on_invalid: bool = False,
) -> av.VideoFrame | None:
    """The first frame that `stream`'s next packets decode to, within PROBE_PACKET_LIMIT
    packets. An undecodable packet is skipped, or ends the search when `stop_on_invalid`."""
    for count, packet in enumerate(container.demux(stream)):
        if count >= PROBE_PACKET_LIMIT:
            return None
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            if stop_on_invalid:
                return None
            continue
        if frames:
            return frames[0]
    return None


def _rotation(frame: av.VideoFrame) -> int:
    """Clockwise display rotation in degrees (0, 90, 180 or 270)."""
    try:
        degrees = round(float(frame.rotation or 0))
    except (AttributeError, TypeError, ValueError):
        return 0
    return (-degrees) % 360 if degrees % 90 == 0 else 0


def _candidate_times(stream: av.VideoStream, duration: float) -> list[float]:
    """Times (seconds) to seek to: spread over 5 %…95 % of the video, ending with 0."""
    n = THUMBNAIL_CANDIDATES
    times = [duration * (0.05 + 0.9 * i / (n - 1)) for i in range(n)] if duration > 0 else []
    return [*times, 0.0]


def _keyframe_at(
    container: av.container.InputContainer, stream: av.VideoStream, seconds: float
) -> av.VideoFrame | None:
    """The keyframe at or before `seconds` (skip_frame=NONKEY: only keyframes decode)."""
    offset = stream.start_time or 0
    if not stream.time_base:
        return None
    target = offset + int(seconds / stream.time_base)
    try:
        container.seek(target, stream=stream, backward=True, any_frame=False)
    except av.error.FFmpegError:
        return None
    stream.codec_context.flush_buffers()
    return _first_decoded(container, stream)


def _gray(frame: av.VideoFrame) -> np.ndarray:
    width, height = fit_width(frame.width, frame.height, SCORE_WIDTH)
    return frame.reformat(width=width, height=height, format="gray").to_ndarray()


def _write_jpeg(frame: av.VideoFrame, dest: Path, max_width: int) -> tuple[int, int]:
    """Rotate for display, scale to at most `max_width` wide, encode with mjpeg."""
    rotation = _rotation(frame)
    src_w, src_h = (
        (frame.height, frame.width) if rotation in (90, 270) else (frame.width, frame.height)
    )
    width, height = fit_width(src_w, src_h, max_width)
    if rotation:
        rgb = frame.to_ndarray(format="rgb24")
        rotated = np.ascontiguousarray(np.rot90(rgb, k=-rotation // 90), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(rotated, format="rgb24")
    picture = frame.reformat(width=width, height=height, format="yuvj420p")
    picture.pts = None
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuvj420p"
    encoder.time_base = Fraction(1, 25)
    # PyAV's `qscale` is the AV_CODEC_FLAG_QSCALE switch (fixed quantiser), not a level.
    encoder.qscale = True
    packets = [*encoder.encode(picture), *encoder.encode(None)]
    Path(dest).write_bytes(b"".join(bytes(p) for p in packets))
    return width, height
