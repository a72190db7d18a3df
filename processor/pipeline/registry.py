"""The stages the pipeline runs, in order: the one list `show` and `demo` order entries by."""

from __future__ import annotations

from processor.pipeline.audio import AudioStage
from processor.pipeline.download import DownloadStage
from processor.pipeline.metadata import MetadataStage
from processor.pipeline.probe import ProbeStage
from processor.pipeline.stage import Stage
from processor.pipeline.subtitles import SubtitlesStage
from processor.pipeline.thumbnail import ThumbnailStage
from processor.pipeline.transcribe import TranscribeStage

STAGES: tuple[Stage, ...] = (
    DownloadStage(),
    ProbeStage(),
    AudioStage(),
    TranscribeStage(),
    SubtitlesStage(),
    MetadataStage(),
    ThumbnailStage(),
)
