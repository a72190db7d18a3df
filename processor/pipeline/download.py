"""Download stage: stream the source object from the videos store into the work directory.

The object's real size counts (not the `size_bytes` the uploader declared): one over
MAX_SOURCE_BYTES is refused as soon as that is known, before it is fetched whole.
"""

from __future__ import annotations

from typing import ClassVar

from processor.errors import MediaTooLargeError, SourceMissingError
from processor.pipeline.artifacts import source_path
from processor.pipeline.stage import StageContext, StageResult


class DownloadStage:
    name: ClassVar[str] = "download"
    needs: ClassVar[tuple[str, ...]] = ()
    local_output: ClassVar[bool] = True
    weight: ClassVar[float] = 0.05

    def run(self, ctx: StageContext) -> StageResult:
        if not ctx.job.storage_path:
            raise SourceMissingError("the video has no storage path")
        dest = source_path(ctx)
        limit = ctx.services.limits.max_source_bytes
        try:
            size = ctx.storage.download_to(
                ctx.services.videos_bucket, ctx.job.storage_path, dest, max_bytes=limit
            )
        except MediaTooLargeError as exc:
            raise MediaTooLargeError(
                f"the file is larger than the limit MAX_SOURCE_BYTES = {limit}"
            ) from exc
        ctx.services.limits.check_source_bytes(size)
        return StageResult(detail={"size_bytes": size})
