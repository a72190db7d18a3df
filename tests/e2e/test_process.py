"""`vproc process FILE --out DIR` as a user runs it: a subprocess, real media, real model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import pysubs2
import pytest

from tests.fixtures import make_fixtures as fixtures

# The real CLI entry point, with `process` registered when the CLI does not list it yet.
VPROC = """
from processor.cli import app, main
from processor.commands.process import process_command

names = {c.name or getattr(c.callback, "__name__", "") for c in app.registered_commands}
if "process" not in names and "process_command" not in names:
    app.command("process")(process_command)
main()
"""

OUTPUTS = {"transcript.txt", "subtitles.vtt", "subtitles.srt", "thumbnail.jpg", "metadata.json"}


def vproc(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `vproc ARGS` with a private TMPDIR (checked for leftovers) and no .env."""
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    extra_env = env
    env = {
        **os.environ,
        "TMPDIR": str(scratch),
        "AI_PROVIDER": "local",
        "GEMINI_API_KEY": "",
        "TRANSCRIBER": "whisper",
        "WHISPER_MODEL": "",
    }
    env.pop("WHISPER_MODEL")
    env.update(extra_env or {})
    result = subprocess.run(
        [sys.executable, "-c", VPROC, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    # onnxruntime (faster-whisper's VAD) keeps one fixed-name marker file there; anything
    # else would be a leak.
    leftovers = [p.name for p in scratch.iterdir() if p.name != ".ses"]
    assert leftovers == [], "temporary files were left behind"
    return result


def test_process_writes_every_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = vproc(tmp_path, "process", str(fixtures.SPEECH_MP4), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir()} == OUTPUTS
    meta = json.loads((out / "metadata.json").read_text("utf-8"))
    assert meta["language"] == "en"
    assert isinstance(meta["chapters"], list)
    assert meta["extracted_video_resolution"] == "320x240"
    assert meta["extracted_video_format"] == "mp4"
    assert meta["subtitle_files_urls"] == {"vtt": "subtitles.vtt", "srt": "subtitles.srt"}
    assert meta["thumbnail_file_url"] == "thumbnail.jpg"
    assert meta["title"] and isinstance(meta["tags"], list)
    assert "open source software" in meta["transcript_text"].lower()
    assert (out / "transcript.txt").read_text("utf-8").strip() == meta["transcript_text"]
    assert len(pysubs2.load(str(out / "subtitles.vtt"))) >= 2
    with av.open(str(out / "thumbnail.jpg")) as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == (320, 240)


def test_process_a_spanish_podcast_mp3(tmp_path: Path) -> None:
    """`vproc process talk.mp3`: audio only, not English, a real recording."""
    from tests.support import recordings

    samples = fixtures.decode_mono(recordings.clip("es"), rate=44_100)
    talk = fixtures.write_mp3(tmp_path / "talk.mp3", samples, 44_100)
    out = tmp_path / "out"
    result = vproc(tmp_path, "process", str(talk), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir()} == OUTPUTS | {"subtitles.en.vtt", "subtitles.en.srt"}
    meta = json.loads((out / "metadata.json").read_text("utf-8"))
    assert (meta["language"], meta["extracted_video_format"]) == ("es", "mp3")
    assert meta["extracted_video_resolution"] is None
    assert meta["subtitle_files_urls"]["en"] == {
        "vtt": "subtitles.en.vtt",
        "srt": "subtitles.en.srt",
    }
    assert "sorpresa" in meta["transcript_text"].lower()
    english = " ".join(e.plaintext for e in pysubs2.load(str(out / "subtitles.en.vtt")))
    assert "the" in english.lower().split()
    with av.open(str(out / "thumbnail.jpg")) as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == (1280, 720)  # the waveform


def test_video_without_audio_succeeds_without_subtitles(tmp_path: Path) -> None:
    source = fixtures.make_silent_video(tmp_path / "silent film.mp4")
    out = tmp_path / "out"
    result = vproc(tmp_path, "process", str(source), "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    meta = json.loads(result.stdout)
    assert meta["transcript_text"] == "" and meta["subtitle_files_urls"] is None
    assert {p.name for p in out.iterdir()} == {"transcript.txt", "thumbnail.jpg", "metadata.json"}
    assert (out / "transcript.txt").read_text("utf-8") == ""


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("empty.mp4", lambda p: p.write_bytes(b""), "error: the file is empty"),
        ("image.mp4", fixtures.make_png, "error: not a video: the file is an image"),
        ("missing.mp4", None, "error: no such file: missing.mp4"),
    ],
)
def test_bad_input_exits_1_with_one_line(tmp_path: Path, name, make, message) -> None:
    source = tmp_path / name
    if make is not None:
        make(source)
    out = tmp_path / "out"
    result = vproc(tmp_path, "process", str(source), "--out", str(out))
    assert result.returncode == 1
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("holiday.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:11\n#EXTINF:10.6,\n{}\n#EXT-X-ENDLIST\n"),
        ("list.ffconcat", "ffconcat version 1.0\nfile '{}'\n"),
    ],
    ids=["hls", "ffconcat"],
)
def test_a_file_that_refers_to_other_files_is_refused(tmp_path: Path, name, body) -> None:
    other = fixtures.remux(fixtures.SPEECH_MP4, tmp_path / "someone-else.mkv")
    source = tmp_path / name
    source.write_text(body.format(other), "utf-8")
    out = tmp_path / "out"
    result = vproc(tmp_path, "process", str(source), "--out", str(out))
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith("error: "), result.stderr
    assert "not supported" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_process_honours_the_media_limits(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = vproc(
        tmp_path,
        "process",
        str(fixtures.SPEECH_MP4),
        "--out",
        str(out),
        env={"MAX_MEDIA_SECONDS": "5"},
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: the video is 10.6 s long"), result.stderr
    assert "MAX_MEDIA_SECONDS = 5" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()
