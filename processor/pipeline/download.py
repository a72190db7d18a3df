"""Download stage: stream the source object from the videos store into the work directory."""

from __future__ import annotations

from typing import ClassVar

from processor.errors import SourceMissingError
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
        size = ctx.storage.download_to(ctx.services.videos_bucket, ctx.job.storage_path, dest)
        return StageResult(detail={"size_bytes": size})
