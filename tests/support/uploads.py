"""Uploads through the real worker with a local store: insert a video as its owner, store
its bytes, run a worker until the queue is empty, read the rows back."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
import psycopg.rows

from processor.ai.contract import Transcript
from processor.config import Settings
from processor.db.pool import Database
from processor.pipeline.build import MediaPipeline, build_pipeline
from processor.queue.worker import Worker, WorkerOptions
from processor.storage.local import LocalStorage
from tests.support.fake_metadata import FilenameMetadataGenerator
from tests.support.seed import insert_video_as

WORKER_ID = "gate-test-worker-7f3a"


def run_worker(db: Database, pipeline: Any) -> None:
    options = WorkerOptions(
        worker_id=WORKER_ID,
        concurrency=1,
        lease_seconds=60,
        max_attempts=3,
        poll_interval=0.05,
        reap_interval=0.5,
        progress_interval=0.05,
        shutdown_timeout=10.0,
        until_empty=True,
    )
    Worker(db, pipeline, options).run()


class NeverTranscriber:
    """Fails the test if a refused file ever reaches transcription."""

    name, model = "never", "none"

    def transcribe(self, *args: Any, **kwargs: Any) -> Transcript:
        raise AssertionError("a refused file must fail before transcription")


def pipeline_for(
    tmp_path: Path, store: LocalStorage, transcriber: Any, settings: Settings | None = None
) -> MediaPipeline:
    return build_pipeline(
        settings or Settings(_env_file=None),
        storage=store,
        transcriber=transcriber,
        metadata=FilenameMetadataGenerator(),
        work_root=tmp_path / "work",
    )


def upload(
    admin: psycopg.Connection, store: LocalStorage, user: uuid.UUID, name: str, data: bytes
) -> tuple[int, str]:
    """Insert `name` as `user` (content_type video/mp4) and store `data`; (job id, key)."""
    video_id, job_id = insert_video_as(admin, user, name)
    (key,) = admin.execute(
        "select storage_path from public.videos where id = %s", (video_id,)
    ).fetchone()
    source = store.root.parent / f"incoming-{uuid.uuid4()}"
    source.write_bytes(data)
    store.put_file("videos", key, source)
    source.unlink()
    return job_id, key


def row_of(admin: psycopg.Connection, table: str, column: str, value: Any) -> dict | None:
    cur = admin.cursor(row_factory=psycopg.rows.dict_row)
    query = {
        "video_jobs": "select * from public.video_jobs where id = %s",
        "video_metadata": "select * from public.video_metadata where job_id = %s",
    }[table]
    return cur.execute(query, (value,)).fetchone()
