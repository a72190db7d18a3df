"""Artifact and work-file names, and reading stage outputs back (from the work directory,
or from the artifacts store when the stage that made them ran in an earlier attempt)."""

from __future__ import annotations

import json
from pathlib import Path

from processor.ai.contract import Transcript
from processor.pipeline.stage import StageContext

TRANSCRIPT_TXT = "transcript.txt"
TRANSCRIPT_JSON = "transcript.json"  # segments and words: what subtitles and resumes need
SUBTITLES_VTT = "subtitles.vtt"
SUBTITLES_SRT = "subtitles.srt"
# The English translation of non-English speech, beside the original-language track.
SUBTITLES_EN_VTT = "subtitles.en.vtt"
SUBTITLES_EN_SRT = "subtitles.en.srt"
THUMBNAIL_JPG = "thumbnail.jpg"
AUDIO_WAV = "audio.wav"

# Every artifact a job can leave under `<owner_id>/<job_id>/` (deleted with its video).
ARTIFACT_NAMES = (
    TRANSCRIPT_TXT,
    TRANSCRIPT_JSON,
    SUBTITLES_VTT,
    SUBTITLES_SRT,
    SUBTITLES_EN_VTT,
    SUBTITLES_EN_SRT,
    THUMBNAIL_JPG,
)

CONTENT_TYPES = {
    TRANSCRIPT_TXT: "text/plain; charset=utf-8",
    TRANSCRIPT_JSON: "application/json",
    SUBTITLES_VTT: "text/vtt; charset=utf-8",
    SUBTITLES_SRT: "application/x-subrip; charset=utf-8",
    SUBTITLES_EN_VTT: "text/vtt; charset=utf-8",
    SUBTITLES_EN_SRT: "application/x-subrip; charset=utf-8",
    THUMBNAIL_JPG: "image/jpeg",
}

SOURCE = "source"


def source_path(ctx: StageContext) -> Path:
    """Where the downloaded source lives: `source`, a name the uploader does not choose.

    Not even the extension: FFmpeg lets a file's name decide how it is read (a `.m3u8` is
    read as an HLS playlist whose entries are other files; `%d` expands to a sequence)."""
    return ctx.work_dir / SOURCE


def audio_path(ctx: StageContext) -> Path:
    return ctx.work_dir / AUDIO_WAV


def upload(ctx: StageContext, name: str, path: Path) -> str:
    """Upsert a work file as the job's artifact `name`; return its key."""
    key = ctx.artifact_key(name)
    ctx.storage.put_file(ctx.services.artifacts_bucket, key, path, CONTENT_TYPES.get(name))
    return key


def fetch(ctx: StageContext, name: str, key: str) -> Path:
    """The work-directory copy of an artifact, downloaded if this attempt did not make it."""
    path = ctx.work_dir / name
    if not path.exists():
        ctx.storage.download_to(ctx.services.artifacts_bucket, key, path)
    return path


def load_transcript(ctx: StageContext) -> Transcript:
    """The transcribe stage's transcript; empty when that stage was skipped (no audio)."""
    result = ctx.result_of("transcribe")
    key = result.artifacts.get("transcript_json")
    if result.skipped or not key:
        return Transcript(language=None, segments=(), duration_seconds=0.0)
    path = fetch(ctx, TRANSCRIPT_JSON, key)
    return Transcript.from_json(json.loads(path.read_text(encoding="utf-8")))
