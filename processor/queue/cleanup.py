"""Delete what deleted videos left in storage: the `processor.storage_cleanup` outbox.

Triggers fill the outbox when a video (and by cascade its job) is deleted; the worker's
reaper calls `run_once` to delete the uploaded object and the job's artifacts. A storage
failure leaves the row for a later attempt (claiming already scheduled its retry).
"""

from __future__ import annotations

import logging

from processor.db import queries
from processor.db.pool import Database
from processor.errors import PermanentError, VprocError
from processor.pipeline.artifacts import ARTIFACT_NAMES
from processor.storage import Storage

logger = logging.getLogger(__name__)


class StorageCleanup:
    """Works through the storage cleanup outbox in batches."""

    def __init__(
        self,
        db: Database,
        storage: Storage,
        *,
        videos_bucket: str,
        artifacts_bucket: str,
        batch_size: int = 20,
    ) -> None:
        self.db = db
        self.storage = storage
        self.videos_bucket = videos_bucket
        self.artifacts_bucket = artifacts_bucket
        self.batch_size = batch_size

    def run_once(self) -> int:
        """Delete the objects of up to batch_size due rows; return how many rows were done."""
        with self.db.connection() as conn:
            items = queries.claim_storage_cleanup(conn, limit=self.batch_size)
        done = 0
        for item in items:
            if item.bucket_role == "videos":
                bucket, keys = self.videos_bucket, [item.object_path]
            else:
                bucket = self.artifacts_bucket
                keys = [item.object_path + name for name in ARTIFACT_NAMES]
            try:
                self.storage.delete_objects(bucket, keys)
            except PermanentError as exc:
                # A key no backend accepts can never be deleted: report it and move on.
                logger.error(
                    "cannot delete %s/%s: %s",
                    bucket,
                    item.object_path,
                    exc.message,
                    extra={"event": "cleanup.failed", "cleanup_id": item.id},
                )
            except VprocError as exc:
                logger.warning(
                    "cleanup of %s/%s will be retried: %s",
                    bucket,
                    item.object_path,
                    exc.message,
                    extra={"event": "cleanup.retried", "cleanup_id": item.id},
                )
                continue
            with self.db.connection() as conn:
                queries.finish_storage_cleanup(conn, cleanup_id=item.id)
            done += 1
        return done
