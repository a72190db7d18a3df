"""`vproc process FILE --out DIR`: the whole pipeline on one file, without a database.

The same stages as the worker run against local storage in a temporary directory and an
in-memory JobControl; the artifacts are then copied into DIR with metadata.json.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from processor.config import Settings
from processor.errors import PermanentError, SourceMissingError

OUTPUT_FILES = {
    "transcript_file_url": "transcript.txt",
    "thumbnail_file_url": "thumbnail.jpg",
}
SUBTITLE_FILES = ("subtitles.vtt", "subtitles.srt", "subtitles.en.vtt", "subtitles.en.srt")
LOCAL_OWNER = uuid.UUID(int=0)
LOCAL_JOB_ID = 1


def process_command(
    file: Annotated[
        Path, typer.Argument(help="The video or audio file to process.", show_default=False)
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Directory for the results (created if missing).",
            show_default=False,
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print metadata.json to stdout instead of a summary.")
    ] = False,
) -> None:
    """Process one video or audio file without a database: transcript, subtitles, thumbnail,
    metadata.json."""
    written = process_file(file, out, Settings())
    if as_json:
        from processor.commands.output import print_json

        print_json(written)
        return
    from processor.commands.output import out as console

    console.print(f"[green]processed[/] {file.name} → {out}")
    for name in sorted(p.name for p in out.iterdir()):
        console.print(f"  {name}")


def process_file(file: Path, out_dir: Path, settings: Settings) -> dict[str, Any]:
    """Run the pipeline on `file`, write the results into `out_dir`, return metadata.json.

    Raises SourceMissingError when `file` is not a readable file, and the pipeline's
    errors (InvalidMediaError, UnsupportedMediaError, …) for bad media. Nothing is left in
    the temporary directory, whatever happens.
    """
    from processor.pipeline.build import build_pipeline
    from processor.pipeline.contract import JobInfo
    from processor.pipeline.memory import InMemoryJobControl
    from processor.storage.local import LocalStorage

    if not file.is_file():
        raise SourceMissingError(f"no such file: {file.name}")
    if out_dir.exists() and not out_dir.is_dir():
        raise PermanentError(f"--out is not a directory: {out_dir}")
    with tempfile.TemporaryDirectory(prefix="vproc-process-") as tmp:
        storage = LocalStorage(Path(tmp) / "storage")
        key = f"{LOCAL_OWNER}/source"  # the file's own name never reaches FFmpeg
        _link_source(file, storage.path_of(settings.videos_bucket, key))
        pipeline = build_pipeline(settings, storage=storage, work_root=Path(tmp) / "work")
        job = JobInfo(
            job_id=LOCAL_JOB_ID,
            video_id=uuid.uuid4(),
            owner_id=LOCAL_OWNER,
            attempt=1,
            storage_path=key,
            original_filename=file.name,
            size_bytes=file.stat().st_size,
        )
        outcome = pipeline.run_job(job, InMemoryJobControl())
        out_dir.mkdir(parents=True, exist_ok=True)
        for stale in (*SUBTITLE_FILES, "thumbnail.jpg"):
            (out_dir / stale).unlink(missing_ok=True)
        doc = dict(outcome.fields)
        bucket = settings.artifacts_bucket
        for field, name in OUTPUT_FILES.items():
            if doc.get(field):
                shutil.copyfile(storage.path_of(bucket, doc[field]), out_dir / name)
                doc[field] = name
        if not doc.get("transcript_file_url"):
            (out_dir / "transcript.txt").write_text("", "utf-8")  # no audio: empty transcript
        doc["subtitle_files_urls"] = _copy_subtitles(
            doc.get("subtitle_files_urls"), lambda key_: storage.path_of(bucket, key_), out_dir
        )
        doc["chapters"] = outcome.chapters
        doc["language"] = outcome.language
        (out_dir / "metadata.json").write_text(
            json.dumps(doc, indent=2, ensure_ascii=False) + "\n", "utf-8"
        )
        return doc


def _copy_subtitles(
    urls: dict[str, Any] | None, path_of: Callable[[str], Path], out_dir: Path
) -> dict[str, Any] | None:
    """Copy every subtitle track into `out_dir` as `subtitles[.<lang>].<fmt>`; return the
    same shape as `subtitle_files_urls` with file names in place of keys."""
    if not urls:
        return None
    named: dict[str, Any] = {}
    for name, value in urls.items():
        if isinstance(value, dict):
            named[name] = {}
            for fmt, key in value.items():
                target = f"subtitles.{name}.{fmt}"
                shutil.copyfile(path_of(key), out_dir / target)
                named[name][fmt] = target
        else:
            shutil.copyfile(path_of(value), out_dir / f"subtitles.{name}")
            named[name] = f"subtitles.{name}"
    return named


def _link_source(file: Path, target: Path) -> None:
    """Make `file` the source object without copying it (a copy where links fail)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        target.symlink_to(file.resolve())
    except OSError:
        shutil.copyfile(file, target)
