"""Hostile uploads through the real worker: files that refer to other files, and media over
the limits.

User A's upload is a playlist (or concat list) naming user B's upload by its absolute path on
the worker's disk, which the local store makes predictable. A's job must fail as
`unsupported_media`, and nothing of B's may appear in A's rows or artifacts.
"""

from __future__ import annotations

import json
import shutil
import struct
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from processor.ai.whisper import WhisperTranscriber
from processor.config import Settings
from processor.pipeline.build import build_pipeline
from processor.storage.local import LocalStorage
from tests.fixtures import make_fixtures as fixtures
from tests.support.fake_metadata import FilenameMetadataGenerator
from tests.support.seed import create_user
from tests.support.uploads import NeverTranscriber, pipeline_for, row_of, run_worker, upload

B_WORDS = "open source"  # what B's video says (speech.mp4)


@pytest.fixture(scope="module")
def whisper() -> WhisperTranscriber:
    return WhisperTranscriber()


def hls_playlist(segment: str) -> bytes:
    return (
        f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:11\n"
        f"#EXTINF:10.6,\n{segment}\n#EXT-X-ENDLIST\n"
    ).encode()


def ffconcat(segment: str) -> bytes:
    return f"ffconcat version 1.0\nfile '{segment}'\n".encode()


@pytest.fixture
def victim(admin, tmp_path) -> tuple[LocalStorage, uuid.UUID, Path]:
    """User B's upload, on the worker's disk at a path anyone can predict."""
    store = LocalStorage(tmp_path / "store")
    b = create_user(admin)
    source = fixtures.remux(fixtures.SPEECH_MP4, tmp_path / "b.mkv")
    key = f"{b}/{uuid.uuid4()}/talk.mkv"
    store.put_file("videos", key, source)
    return store, b, store.path_of("videos", key)


@pytest.mark.parametrize(
    ("name", "make", "code"),
    [
        ("holiday.m3u8", lambda p: hls_playlist(str(p)), "unsupported_media"),
        ("holiday.m3u8", lambda p: hls_playlist(f"file:{p}"), "unsupported_media"),
        (
            "holiday.m3u8",
            lambda p: hls_playlist(f"subfile:,,start,0,end,0,,:{p}"),
            "unsupported_media",
        ),
        ("holiday.m3u8", lambda p: hls_playlist(f"concat:{p}"), "unsupported_media"),
        ("list.ffconcat", lambda p: ffconcat(str(p)), "unsupported_media"),
        ("list.mp4", lambda p: ffconcat(str(p)), "unsupported_media"),
        ("holiday.mp4", lambda p: hls_playlist(str(p)), "unsupported_media"),
    ],
    ids=[
        "hls",
        "hls-file-url",
        "hls-subfile",
        "hls-concat-url",
        "ffconcat",
        "ffconcat-as-mp4",
        "hls-as-mp4",
    ],
)
def test_a_file_that_refers_to_another_users_upload_fails_and_leaks_nothing(
    admin, db, whisper, tmp_path, victim, name, make, code
) -> None:
    store, b, b_path = victim
    a = create_user(admin)
    job_id, _ = upload(admin, store, a, name, make(b_path))

    run_worker(db, pipeline_for(tmp_path, store, whisper))

    job = row_of(admin, "video_jobs", "id", job_id)
    assert (job["status"], job["error_code"]) == ("FAILED", code)
    assert "\n" not in job["error_message"]
    failed = [s for s, e in job["processing_stages"].items() if e["status"] == "failed"]
    assert failed == ["probe"]
    assert not {"audio", "transcribe", "thumbnail"} & set(job["processing_stages"])
    text = json.dumps(job, default=str)
    for secret in (str(b), str(b_path), str(store.root)):
        assert secret not in text
    meta = row_of(admin, "video_metadata", "job_id", job_id)
    assert meta is None or not (meta["transcript_text"] or meta["thumbnail_file_url"])
    assert B_WORDS not in json.dumps(meta, default=str).lower()
    artifacts = store.root / "video-artifacts"
    assert not artifacts.exists() or list(artifacts.rglob("*")) == []
    assert list((tmp_path / "work").iterdir()) == []


def test_an_image_sequence_pattern_in_the_name_reads_nothing_else(
    admin, db, whisper, tmp_path, victim
) -> None:
    """image2 expands `%d` in a file name: the upload's name never reaches FFmpeg."""
    store, _, _ = victim
    a = create_user(admin)
    fixtures.make_png(tmp_path / "frame.png")
    job_id, _ = upload(admin, store, a, "frame%03d.png", (tmp_path / "frame.png").read_bytes())
    run_worker(db, pipeline_for(tmp_path, store, NeverTranscriber()))
    job = row_of(admin, "video_jobs", "id", job_id)
    assert (job["status"], job["error_code"]) == ("FAILED", "invalid_media")
    assert job["processing_stages"]["probe"]["status"] == "failed"


# --- media limits ------------------------------------------------------------------------


def limited(**limits: int) -> Settings:
    return Settings(_env_file=None, **limits)


@pytest.mark.parametrize(
    ("limits", "needle"),
    [
        ({"max_media_seconds": 5}, "MAX_MEDIA_SECONDS"),
        ({"max_frame_pixels": 320 * 240 - 1}, "MAX_FRAME_PIXELS"),
        ({"max_source_bytes": 50_000}, "MAX_SOURCE_BYTES"),
    ],
    ids=["duration", "frame", "bytes"],
)
def test_media_over_a_limit_fails_before_decoding(admin, db, tmp_path, limits, needle) -> None:
    store = LocalStorage(tmp_path / "store")
    a = create_user(admin)
    # speech.mp4: 10.6 s, 320x240, 160 KB; the video row declares 1234 bytes.
    job_id, _ = upload(admin, store, a, "talk.mp4", fixtures.SPEECH_MP4.read_bytes())
    run_worker(db, pipeline_for(tmp_path, store, NeverTranscriber(), limited(**limits)))
    job = row_of(admin, "video_jobs", "id", job_id)
    assert (job["status"], job["error_code"], job["attempts"]) == ("FAILED", "media_too_large", 1)
    assert needle in job["error_message"]
    stages = job["processing_stages"]
    stage = "download" if needle == "MAX_SOURCE_BYTES" else "probe"
    assert stages[stage]["status"] == "failed"
    assert stages[stage]["detail"]["error_code"] == "media_too_large"
    assert "audio" not in stages and "thumbnail" not in stages
    assert row_of(admin, "video_metadata", "job_id", job_id) is None
    assert list((tmp_path / "work").iterdir()) == []


class RecordingToolkit:
    """The real PyAV toolkit, recording whether audio extraction ever started."""

    def __init__(self) -> None:
        from processor.media.factory import make_media_toolkit

        self.inner = make_media_toolkit(Settings(_env_file=None))
        self.name = self.inner.name
        self.extracted: list[Path] = []

    def probe(self, path: Path, **kwargs: Any):
        return self.inner.probe(path, **kwargs)

    def extract_audio(self, path: Path, dest_wav: Path, **kwargs: Any):
        self.extracted.append(dest_wav)
        return self.inner.extract_audio(path, dest_wav, **kwargs)

    def extract_thumbnail(self, path: Path, dest_jpeg: Path, **kwargs: Any):
        return self.inner.extract_thumbnail(path, dest_jpeg, **kwargs)


def test_long_silent_audio_is_refused_before_any_audio_is_extracted(admin, db, tmp_path) -> None:
    """A small file that declares hours of audio would expand to a huge WAV."""
    store = LocalStorage(tmp_path / "store")
    a = create_user(admin)
    long = fixtures.write_video(
        tmp_path / "long.mkv",
        seconds=12.0,
        width=64,
        height=48,
        fps=1,
        audio=(np.zeros(16_000 * 12, dtype=np.int16), 16_000),
    )
    job_id, _ = upload(admin, store, a, "long.mkv", long.read_bytes())
    toolkit = RecordingToolkit()
    pipeline = build_pipeline(
        limited(max_media_seconds=10),
        storage=store,
        media=toolkit,
        transcriber=NeverTranscriber(),
        metadata=FilenameMetadataGenerator(),
        work_root=tmp_path / "work",
    )
    run_worker(db, pipeline)
    job = row_of(admin, "video_jobs", "id", job_id)
    assert (job["status"], job["error_code"]) == ("FAILED", "media_too_large")
    assert "MAX_MEDIA_SECONDS" in job["error_message"]
    assert toolkit.extracted == []
    assert "audio" not in job["processing_stages"]


# --- the toolkit on its own ------------------------------------------------------------------


@pytest.fixture(scope="module")
def other_file(tmp_path_factory) -> Path:
    return fixtures.remux(fixtures.SPEECH_MP4, tmp_path_factory.mktemp("b") / "talk.mkv")


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("x.m3u8", lambda p: hls_playlist(str(p))),  # HLS by name and content
        ("source", lambda p: hls_playlist(str(p))),  # HLS by content only
        ("x.m3u8", lambda p: hls_playlist(f"subfile:,,start,0,end,0,,:{p}")),
        ("x.m3u8", lambda p: hls_playlist(f"concat:{p}|{p}")),
        ("x.m3u8", lambda p: hls_playlist("data:video/mp2t;base64,R0dHRw==")),
        ("x.m3u8", lambda p: hls_playlist("http://127.0.0.1:9/segment.ts")),
        ("source", lambda p: ffconcat(str(p))),
        ("x.mpd", lambda p: f'<?xml version="1.0"?>\n<MPD><BaseURL>{p}</BaseURL></MPD>\n'.encode()),
    ],
    ids=["hls", "hls-unnamed", "subfile", "concat-url", "data-url", "http", "ffconcat", "dash"],
)
@pytest.mark.parametrize("method", ["probe", "extract_audio", "extract_thumbnail"])
def test_every_toolkit_call_refuses_files_that_refer_to_others(
    tmp_path, other_file, name, make, method
) -> None:
    from processor.errors import UnsupportedMediaError
    from processor.media.pyav import PyAVMediaToolkit

    path = tmp_path / name
    path.write_bytes(make(other_file))
    toolkit = PyAVMediaToolkit()
    call = {
        "probe": lambda: toolkit.probe(path),
        "extract_audio": lambda: toolkit.extract_audio(path, tmp_path / "a.wav"),
        "extract_thumbnail": lambda: toolkit.extract_thumbnail(
            path, tmp_path / "t.jpg", duration_seconds=10.0
        ),
    }[method]
    with pytest.raises(UnsupportedMediaError) as info:
        call()
    assert str(tmp_path) not in info.value.message
    assert not (tmp_path / "t.jpg").exists()
    assert not (tmp_path / "a.wav").exists() or (tmp_path / "a.wav").stat().st_size <= 44


@pytest.mark.parametrize(
    ("suffix", "container_format", "expected"),
    [
        (".mp4", "mp4", "mp4"),
        (".mkv", "matroska", "matroska"),
        (".ts", "mpegts", "mpegts"),
        (".avi", "avi", "avi"),
        (".flv", "flv", "flv"),
    ],
)
def test_allowed_containers_still_open(tmp_path, suffix, container_format, expected) -> None:
    from processor.media.pyav import PyAVMediaToolkit

    path = fixtures.write_video(
        tmp_path / f"clip{suffix}", seconds=1.0, fps=5, container_format=container_format
    )
    renamed = path.rename(tmp_path / "source")  # what the pipeline does: no extension
    info = PyAVMediaToolkit().probe(renamed)
    assert info.format_name == expected
    assert (info.width, info.height) == (320, 240)


def test_audio_extraction_stops_past_the_duration_limit(tmp_path) -> None:
    """A header can understate the length; decoding stops once the limit is passed."""
    from processor.errors import MediaTooLargeError
    from processor.media.pyav import PyAVMediaToolkit

    wav = tmp_path / "audio.wav"
    with pytest.raises(MediaTooLargeError) as info:
        PyAVMediaToolkit().extract_audio(fixtures.SPEECH_MP4, wav, max_seconds=3)
    assert "MAX_MEDIA_SECONDS = 3" in info.value.message
    assert not wav.exists()
    whole = PyAVMediaToolkit().extract_audio(fixtures.SPEECH_MP4, wav, max_seconds=11)
    assert whole.duration_seconds == pytest.approx(10.6, abs=0.2)


def mp4_with_alias(source: Path, dest: Path, target: str) -> Path:
    """Copy `source` (index at the end) with its track's data reference replaced by a Mac
    alias record naming `target` beside it: the track's samples are to be read from there."""
    data = bytearray(source.read_bytes())
    chain: list[tuple[int, int]] = []
    start, end = 0, len(data)
    for name in (b"moov", b"trak", b"mdia", b"minf", b"dinf", b"dref"):
        while data[start + 4 : start + 8] != name:
            start += struct.unpack(">I", data[start : start + 4])[0]
            assert start < end, name
        size = struct.unpack(">I", data[start : start + 4])[0]
        chain.append((start, size))
        start, end = start + 8, start + size
    entry = chain[-1][0] + 16  # after the dref's version, flags and entry count
    old_size = struct.unpack(">I", data[entry : entry + 4])[0]
    path = f"vol:dir:{target}".encode()
    alias = (
        bytes(10)
        + bytes([3]) + b"vol".ljust(27, b"\0")
        + bytes(12)
        + bytes([len(target)]) + target.encode().ljust(63, b"\0")
        + bytes(16)
        + struct.pack(">HH", 1, 1)  # up one level from the file, down one to the target
        + bytes(16)
        + struct.pack(">hH", 2, len(path)) + path + bytes(len(path) % 2)
        + struct.pack(">hH", -1, 0)
    )  # fmt: skip
    new = struct.pack(">I4sI", 12 + len(alias), b"alis", 0) + alias
    data[entry : entry + old_size] = new
    for offset, size in chain:
        struct.pack_into(">I", data, offset, size + len(new) - old_size)
    dest.write_bytes(bytes(data))
    return dest


def test_an_mp4_whose_track_lives_in_another_file_never_reads_it(tmp_path, monkeypatch) -> None:
    """MP4 data references can name other files. FFmpeg follows them only with enable_drefs,
    which vproc never sets; and were it set, the refused nested open still stops it."""
    from processor.errors import InvalidMediaError, UnsupportedMediaError
    from processor.media import pyav

    shutil.copyfile(fixtures.SPEECH_MP4, tmp_path / "victim.mp4")
    own = fixtures.write_video(tmp_path / "own.mp4", seconds=1.0, fps=5)
    crafted = mp4_with_alias(own, tmp_path / "source", "victim.mp4")
    refused = pyav._refuse_nested_open
    asked: list[str] = []

    def recording(url: str, flags: int, options: dict[str, str]) -> None:
        asked.append(url)
        refused(url, flags, options)

    monkeypatch.setattr(pyav, "_refuse_nested_open", recording)
    with pytest.raises(InvalidMediaError):  # the track's samples are elsewhere: nothing decodes
        pyav.PyAVMediaToolkit().probe(crafted)
    assert asked == []

    monkeypatch.setitem(pyav._OPEN_OPTIONS, "enable_drefs", "1")
    with pytest.raises(UnsupportedMediaError):
        pyav.PyAVMediaToolkit().probe(crafted)
    assert asked == [str(tmp_path / "victim.mp4")]
