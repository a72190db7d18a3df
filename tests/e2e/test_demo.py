"""`vproc demo` as a new user runs it: a subprocess, an empty data directory, no keys."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jiwer
import psycopg

from processor.db.embedded import start_embedded, stop_embedded

VPROC = shutil.which("vproc", path=str(Path(sys.executable).parent)) or "vproc"
SPOKEN = (
    "Welcome to the vproc demo. This short video was made by a speech synthesizer, and vproc "
    "is about to turn it into a transcript, subtitles, a title, tags and a thumbnail."
)


def demo(data_dir: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "DATABASE_URL",
            "STORAGE_BACKEND",
            "LOCAL_STORAGE_PATH",
            "GEMINI_API_KEY",
            "AI_PROVIDER",
            "TRANSCRIBER",
            "WHISPER_MODEL",
        )
    }
    env["VPROC_DATA_DIR"] = str(data_dir)
    started = time.monotonic()
    result = subprocess.run(
        [VPROC, "demo", *args],
        env=env,
        cwd=data_dir,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return result, time.monotonic() - started


def test_demo_end_to_end_then_again_without_setting_up_anything(tmp_path: Path) -> None:
    try:
        first, first_seconds = demo(tmp_path, "--json")
        assert first.returncode == 0, first.stderr[-3000:]
        doc = json.loads(first.stdout)
        assert doc["status"] == "COMPLETED"
        meta = doc["metadata"]
        # The transcript is recognisably the sample's speech.
        opening = " ".join(meta["transcript_text"].split()[: len(SPOKEN.split())])
        wer = jiwer.wer(
            SPOKEN.lower().replace("vproc", "v-proc"),
            opening.lower().replace(",", "").replace(".", "") or "-",
        )
        assert wer <= 0.35, (wer, opening)
        assert meta["title"] and 5 <= len(meta["tags"]) <= 15
        assert meta["extracted_video_resolution"] == "640x360"
        assert 48 <= meta["extracted_video_duration_seconds"] <= 50
        assert doc["first_cues"] and "Welcome" in doc["first_cues"][0]
        for path in doc["artifacts"].values():
            assert Path(path).is_file() and Path(path).stat().st_size > 0, path
        assert first_seconds < 120

        # The rows, as they are in the embedded database the demo left behind.
        url = start_embedded(tmp_path / "pgdata")
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "select v.uploader_user_id = j.owner_id, v.storage_path like j.owner_id || '/%',"
                " j.status::text, m.title is not null"
                " from public.videos v join public.video_jobs j on j.video_id = v.id"
                " join public.video_metadata m on m.job_id = j.id"
            ).fetchall()
        assert rows == [(True, True, "COMPLETED", True)]

        second, second_seconds = demo(tmp_path)
        assert second.returncode == 0, second.stderr[-3000:]
        assert "COMPLETED" in second.stdout and "done in" in second.stdout
        assert "database up to date" in second.stderr
        assert "applied" not in second.stderr
        assert second_seconds < 60
    finally:
        stop_embedded(tmp_path / "pgdata")


def test_demo_reports_a_bad_file_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    try:
        result, _ = demo(tmp_path, "--file", str(bad), "--quiet")
        assert result.returncode == 1
        assert "invalid_media" in result.stdout
        assert "Traceback" not in result.stderr
    finally:
        stop_embedded(tmp_path / "pgdata")
