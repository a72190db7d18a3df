"""The media pipeline: download, probe, audio, transcribe, subtitles, metadata, thumbnail.

Modules: `registry` (STAGES, in order), `build` (MediaPipeline, build_pipeline, make_pipeline),
`runner` (StageRunner), `stage` (the Stage contract), `entries` (processing_stages entries),
`contract` (what the worker sees: JobInfo, JobControl, Pipeline), one module per stage.
This file imports none of them, so a stage module never loads the package's other stages.
"""
