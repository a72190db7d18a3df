"""PCM WAV files for the transcribers: opening, duration, and cutting long audio into windows.

One windowing loop serves both transcribers; where their rules differ, it is parametrised:

- whisper hands samples to a local model and must not cut a word in half, so each window but
  the last ends at the quietest 50 ms of its final stretch (`boundary_search_seconds`), and
  what follows the cut is carried into the next window. That needs 16-bit mono samples, which
  whisper asks `open_wav` to enforce (`require_16k_mono`).
- Gemini uploads each window as a file and gets timed segments back, so fixed-length windows
  (`boundary_search_seconds=None`) of whatever PCM format the file has are enough.

Either way a window's offset puts its timestamps back on the whole file's timeline.
"""

from __future__ import annotations

import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from processor.errors import InvalidMediaError

SAMPLE_RATE = 16_000  # what the media layer extracts: 16 kHz mono 16-bit PCM
ENERGY_FRAME_SECONDS = 0.05  # the unit in which a quiet cut is searched


@dataclass(frozen=True)
class WavWindow:
    """A stretch of the file: where it starts, its raw PCM frames, and their format."""

    offset_seconds: float
    frames: bytes
    frame_rate: int
    frame_bytes: int  # bytes per frame (sample width times channels)
    total_seconds: float  # of the whole file

    @property
    def duration_seconds(self) -> float:
        return len(self.frames) / self.frame_bytes / self.frame_rate

    def samples(self) -> npt.NDArray[np.float32]:
        """The frames as float32 samples in [-1, 1) (16-bit mono files)."""
        return np.frombuffer(self.frames, dtype=np.int16).astype(np.float32) / 32768.0


@contextmanager
def open_wav(path: Path, *, what: str, require_16k_mono: bool = False) -> Iterator[wave.Wave_read]:
    """Open a WAV for reading; InvalidMediaError when it is not one (or, with
    `require_16k_mono`, not 16 kHz mono 16-bit PCM). `what` names the file in messages."""
    try:
        wav = wave.open(str(path), "rb")  # noqa: SIM115 (closed below)
    except (wave.Error, EOFError) as exc:
        raise InvalidMediaError(f"{what} is not a readable PCM WAV file") from exc
    with wav:
        shape = (wav.getnchannels(), wav.getsampwidth(), wav.getframerate())
        if require_16k_mono and shape != (1, 2, SAMPLE_RATE):
            raise InvalidMediaError(f"{what} is not 16 kHz mono 16-bit PCM")
        yield wav


def wav_duration(path: Path, *, what: str, require_16k_mono: bool = False) -> float:
    """The file's length in seconds."""
    with open_wav(path, what=what, require_16k_mono=require_16k_mono) as wav:
        return wav.getnframes() / float(wav.getframerate())


def wav_windows(
    wav: wave.Wave_read,
    window_seconds: float,
    *,
    what: str,
    boundary_search_seconds: float | None = None,
) -> Iterator[WavWindow]:
    """Yield consecutive windows of at most `window_seconds` covering the whole file.

    With `boundary_search_seconds` (16-bit mono only), each window but the last ends at the
    quietest 50 ms of its last `boundary_search_seconds` (at most a quarter of the window).
    """
    rate = wav.getframerate()
    frame_bytes = wav.getsampwidth() * wav.getnchannels()
    window = max(1, int(window_seconds * rate))
    search = (
        None
        if boundary_search_seconds is None
        else min(int(boundary_search_seconds * rate), window // 4)
    )
    total_frames = wav.getnframes()
    carry = b""
    position = 0  # frames handed out so far
    while True:
        need = window - len(carry) // frame_bytes
        try:
            block = carry + wav.readframes(max(need, 0))
        except (wave.Error, EOFError) as exc:
            raise InvalidMediaError(f"{what} is not a readable PCM WAV file") from exc
        count = len(block) // frame_bytes
        if count == 0:
            return
        at_end = position + count >= total_frames
        cut = count if at_end or search is None else _quietest_cut(block, search, rate)
        yield WavWindow(
            offset_seconds=position / rate,
            frames=block[: cut * frame_bytes],
            frame_rate=rate,
            frame_bytes=frame_bytes,
            total_seconds=total_frames / rate,
        )
        position += cut
        carry = block[cut * frame_bytes :]
        if at_end:
            return


def _quietest_cut(block: bytes, search: int, rate: int) -> int:
    """Index (in samples) of the middle of the quietest 50 ms in the last `search` samples."""
    samples = np.frombuffer(block, dtype=np.int16)
    frame = int(ENERGY_FRAME_SECONDS * rate)
    tail = samples[len(samples) - search :].astype(np.float32)
    frames = len(tail) // frame
    if frames < 2:
        return len(samples)
    energy = np.square(tail[: frames * frame].reshape(frames, frame)).mean(axis=1)
    quietest = int(np.argmin(energy[::-1]))  # the latest of equally quiet frames
    index = frames - 1 - quietest
    return len(samples) - search + index * frame + frame // 2
