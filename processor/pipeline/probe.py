"""Probe stage: duration, resolution, container and codecs, and whether there is audio."""

from __future__ import annotations

from typing import ClassVar

from processor.pipeline.artifacts import source_path
from processor.pipeline.stage import StageContext, StageResult


class ProbeStage:
    name: ClassVar[str] = "probe"
    needs: ClassVar[tuple[str, ...]] = ("download",)
    local_output: ClassVar[bool] = False
    weight: ClassVar[float] = 0.02

    def run(self, ctx: StageContext) -> StageResult:
        return StageResult(detail=ctx.media.probe(source_path(ctx)).to_json())
