"""The media pipeline under the real worker and queue: what Postgres ends up holding.

Completed jobs get their video_metadata row and processing_stages; bad media fails with its
error_code; a transient failure after transcription is retried and resumes without
transcribing again.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
import psycopg.rows
import pytest
from pytest_httpserver import HTTPServer

from processor.ai.contract import GeneratedMetadata, MetadataContext, Transcript
from processor.ai.gemini.metadata import GeminiMetadataGenerator
from processor.ai.whisper import WhisperTranscriber
from processor.config import Settings
from processor.errors import ProviderUnavailableError
from processor.pipeline.build import build_pipeline
from processor.storage.local import LocalStorage
from tests.fixtures import make_fixtures as fixtures
from tests.support.fake_metadata import FilenameMetadataGenerator
from tests.support.gemini_stub import API_KEY, GeminiStub
from tests.support.seed import create_user, insert_video_as
from tests.support.uploads import run_worker


@pytest.fixture(scope="module")
def whisper() -> WhisperTranscriber:
    return WhisperTranscriber()


def upload(admin: psycopg.Connection, store: LocalStorage, source: Path | None) -> int:
    """Insert a video as its owner and put `source` at its storage_path; return the job id."""
    user = create_user(admin)
    video_id, job_id = insert_video_as(admin, user, "talk.mp4")
    row = admin.execute("select storage_path from public.videos where id = %s", (video_id,))
    (storage_path,) = row.fetchone()
    if source is not None:
        store.put_file("videos", storage_path, source)
    return job_id


def job(admin: psycopg.Connection, job_id: int) -> dict[str, Any]:
    cur = admin.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute("select * from public.video_jobs where id = %s", (job_id,)).fetchone()


def metadata(admin: psycopg.Connection, job_id: int) -> dict[str, Any] | None:
    cur = admin.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute(
        "select * from public.video_metadata where job_id = %s", (job_id,)
    ).fetchone()


class FlakyMetadata:
    """Fails the first call like an unavailable AI provider, then works."""

    name, model = "flaky", "placeholder"

    def __init__(self) -> None:
        self.calls = 0
        self.inner = FilenameMetadataGenerator()

    def generate_metadata(
        self, transcript: Transcript, context: MetadataContext
    ) -> GeneratedMetadata:
        self.calls += 1
        if self.calls == 1:
            raise ProviderUnavailableError("the AI provider is down")
        return self.inner.generate_metadata(transcript, context)


class CountingTranscriber:
    def __init__(self, inner: WhisperTranscriber) -> None:
        self.inner, self.name, self.model, self.calls = inner, inner.name, inner.model, 0

    def transcribe(self, audio_path: Path, **kwargs: Any) -> Transcript:
        self.calls += 1
        return self.inner.transcribe(audio_path, **kwargs)


def pipeline_for(tmp_path: Path, store: LocalStorage, transcriber: Any, meta: Any = None):
    return build_pipeline(
        Settings(_env_file=None),
        storage=store,
        transcriber=transcriber,
        metadata=meta or FilenameMetadataGenerator(),
        work_root=tmp_path / "work",
    )


def test_a_processed_video_gets_its_metadata_row_and_stage_entries(
    admin, db, whisper, tmp_path
) -> None:
    store = LocalStorage(tmp_path / "store")
    job_id = upload(admin, store, fixtures.SPEECH_MP4)
    run_worker(db, pipeline_for(tmp_path, store, whisper))
    row = job(admin, job_id)
    assert (row["status"], row["progress"], row["error_code"]) == ("COMPLETED", 1.0, None)
    stages = row["processing_stages"]
    assert [stages[s]["status"] for s in ("download", "probe", "audio", "transcribe")] == [
        "completed"
    ] * 4
    assert all(isinstance(stages[s]["duration_ms"], int) for s in stages)
    meta = metadata(admin, job_id)
    assert meta is not None
    prefix = f"{row['owner_id']}/{job_id}/"
    assert meta["title"] == "talk"
    assert "open source software" in meta["transcript_text"].lower()
    assert meta["transcript_file_url"] == prefix + "transcript.txt"
    assert meta["subtitle_files_urls"] == {
        "vtt": prefix + "subtitles.vtt",
        "srt": prefix + "subtitles.srt",
    }
    assert meta["thumbnail_file_url"] == prefix + "thumbnail.jpg"
    assert meta["extracted_video_resolution"] == "320x240"
    assert meta["extracted_video_format"] == "mp4"
    assert meta["extracted_video_duration_seconds"] == pytest.approx(10.6, abs=0.2)
    assert meta["language"] == "en"
    assert 0.5 < meta["language_probability"] <= 1.0
    for key in (meta["transcript_file_url"], meta["thumbnail_file_url"]):
        assert store.exists("video-artifacts", key)
    assert list((tmp_path / "work").iterdir()) == []


def test_spanish_speech_gets_its_language_and_english_subtitles_in_the_row(
    admin, db, whisper, tmp_path
) -> None:
    """A real Spanish recording through the worker: the language columns and both tracks."""
    from tests.support import recordings

    store = LocalStorage(tmp_path / "store")
    job_id = upload(admin, store, recordings.clip("es"))
    run_worker(db, pipeline_for(tmp_path, store, whisper))
    row = job(admin, job_id)
    assert (row["status"], row["error_code"]) == ("COMPLETED", None)
    meta = metadata(admin, job_id)
    assert meta is not None
    prefix = f"{row['owner_id']}/{job_id}/"
    assert meta["language"] == "es"
    assert 0.5 < meta["language_probability"] <= 1.0
    assert meta["extracted_video_resolution"] is None  # an audio-only upload
    assert meta["subtitle_files_urls"] == {
        "vtt": prefix + "subtitles.vtt",
        "srt": prefix + "subtitles.srt",
        "en": {"vtt": prefix + "subtitles.en.vtt", "srt": prefix + "subtitles.en.srt"},
    }
    for name in ("subtitles.en.vtt", "subtitles.en.srt"):
        assert store.exists("video-artifacts", prefix + name)
    assert row["processing_stages"]["transcribe"]["detail"]["language"] == "es"
    assert row["processing_stages"]["thumbnail"]["detail"]["kind"] == "waveform"


@pytest.mark.parametrize(
    ("content", "code", "stage"),
    [(b"", "invalid_media", "probe"), (None, "source_missing", "download")],
    ids=["zero-byte", "missing"],
)
def test_bad_media_fails_at_once_with_its_error_code(
    admin, db, whisper, tmp_path, content, code, stage
) -> None:
    store = LocalStorage(tmp_path / "store")
    source = None
    if content is not None:
        source = tmp_path / "upload.mp4"
        source.write_bytes(content)
    job_id = upload(admin, store, source)
    run_worker(db, pipeline_for(tmp_path, store, whisper))
    row = job(admin, job_id)
    assert (row["status"], row["error_code"], row["attempts"]) == ("FAILED", code, 1)
    assert "\n" not in row["error_message"]
    assert row["processing_stages"][stage]["status"] == "failed"
    assert row["processing_stages"][stage]["detail"]["error_code"] == code
    assert metadata(admin, job_id) is None or metadata(admin, job_id)["title"] is None
    assert list((tmp_path / "work").iterdir()) == []


def test_a_retry_resumes_after_the_last_completed_stage(admin, db, whisper, tmp_path) -> None:
    store = LocalStorage(tmp_path / "store")
    job_id = upload(admin, store, fixtures.SPEECH_MP4)
    counting, flaky = CountingTranscriber(whisper), FlakyMetadata()
    pipeline = pipeline_for(tmp_path, store, counting, flaky)

    run_worker(db, pipeline)  # attempt 1: the metadata stage fails, transiently
    row = job(admin, job_id)
    assert (row["status"], row["error_code"]) == ("PENDING", "ai_unavailable")
    assert row["processing_stages"]["transcribe"]["status"] == "completed"
    assert row["processing_stages"]["metadata"]["status"] == "failed"

    admin.execute("update public.video_jobs set run_after = now() where id = %s", (job_id,))
    run_worker(db, pipeline)  # attempt 2
    row = job(admin, job_id)
    assert (row["status"], row["attempts"]) == ("COMPLETED", 2)
    assert counting.calls == 1 and flaky.calls == 2
    stages = row["processing_stages"]
    for name in ("probe", "audio", "transcribe", "subtitles"):
        assert stages[name]["reused"] is True, name
        assert stages[name]["attempt"] == 1
    for name in ("metadata", "thumbnail"):
        assert stages[name]["status"] == "completed" and stages[name]["attempt"] == 2
        assert "reused" not in stages[name]
    assert metadata(admin, job_id)["transcript_text"]


def test_job_ids_and_owners_shape_the_artifact_keys(admin, db, whisper, tmp_path) -> None:
    """Two owners' jobs never share an artifact key."""
    store = LocalStorage(tmp_path / "store")
    silent = fixtures.make_silent_video(tmp_path / "silent.mp4")
    first, second = upload(admin, store, silent), upload(admin, store, silent)
    run_worker(db, pipeline_for(tmp_path, store, whisper))
    keys = {metadata(admin, j)["thumbnail_file_url"] for j in (first, second)}
    owners = {str(job(admin, j)["owner_id"]) for j in (first, second)}
    assert len(keys) == 2 and {k.split("/")[0] for k in keys} == owners
    assert all(uuid.UUID(k.split("/")[0]) for k in keys)


def test_a_retired_gemini_model_fails_the_job_once(
    admin, db, whisper, tmp_path, httpserver: HTTPServer
) -> None:
    """A shut-down model id is permanent: one generateContent call, no retries, no backoff."""
    stub = GeminiStub(httpserver)
    store = LocalStorage(tmp_path / "store")
    job_id = upload(admin, store, fixtures.SPEECH_MP4)
    gemini = GeminiMetadataGenerator(API_KEY, "gemini-2.5-flash", base_url=stub.base_url)
    try:
        run_worker(db, pipeline_for(tmp_path, store, whisper, gemini))
    finally:
        gemini.close()
    row = job(admin, job_id)
    assert (row["status"], row["error_code"], row["attempts"]) == (
        "FAILED",
        "ai_model_unavailable",
        1,
    )
    assert "GEMINI_MODEL" in row["error_message"]
    assert "gemini-2.5-flash" in row["error_message"]
    assert row["processing_stages"]["metadata"]["status"] == "failed"
    assert len(stub.generate_requests) == 1
