"""Benchmark the media pipeline against the raw work it wraps, measured in the same run.

1. Overhead: a generated 3-minute 720p speech video goes through the whole pipeline (local
   storage, every stage); the baseline is the raw work on the same file: PyAV decode to
   16 kHz (faster_whisper.decode_audio) + WhisperModel.transcribe with the same options.
   Printed: pipeline wall time / raw wall time (target <= 1.15).
2. Memory: the pipeline runs in a fresh process on the 3-minute video and on a 10x longer
   one; printed: peak RSS 10x / peak RSS 1x (target <= 1.2).

Needs espeak-ng for the speech (cached under --cache-dir). Usage:
    uv run python bench/pipeline.py [--minutes 3] [--repeat 2] [--skip-rss]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import platformdirs

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, bench/ comes first on sys.path, where a sibling module could shadow the
# standard library (bench/queue.py would hide `queue`); the repository root replaces it.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from processor.ai.local import LocalMetadataGenerator
from processor.ai.whisper import WhisperTranscriber
from processor.config import Settings
from processor.pipeline.build import build_pipeline
from processor.pipeline.contract import JobInfo
from processor.pipeline.memory import InMemoryJobControl
from processor.storage.local import LocalStorage


def bench_video(cache_dir: Path, minutes: float) -> Path:
    """The generated 720p speech video of `minutes`, made once and cached."""
    from tests.fixtures.make_fixtures import make_bench_speech_video

    path = cache_dir / f"speech-{minutes:g}min-720p.mp4"
    if not path.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        partial = path.with_suffix(".partial.mp4")
        make_bench_speech_video(partial, minutes=minutes)
        partial.rename(path)
        print(f"  generated {path.name} in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def run_pipeline(video: Path, transcriber: WhisperTranscriber) -> float:
    """Wall seconds for one job through every stage (local storage in a temp dir)."""
    with tempfile.TemporaryDirectory(prefix="vproc-bench-") as tmp:
        storage = LocalStorage(Path(tmp) / "store")
        owner = uuid.uuid4()
        key = f"{owner}/{video.name}"
        pipeline = build_pipeline(
            # BaseSettings takes _env_file in __init__; its dataclass_transform does not say so.
            Settings(_env_file=None),  # type: ignore[call-arg]
            storage=storage,
            transcriber=transcriber,
            metadata=LocalMetadataGenerator(),
            work_root=Path(tmp) / "work",
        )
        started = time.perf_counter()
        # The upload into the videos bucket is part of the job's download stage, not this.
        storage.path_of("videos", key).parent.mkdir(parents=True)
        storage.path_of("videos", key).symlink_to(video)
        job = JobInfo(
            job_id=1,
            video_id=uuid.uuid4(),
            owner_id=owner,
            attempt=1,
            storage_path=key,
            original_filename=video.name,
        )
        pipeline.run_job(job, InMemoryJobControl())
        return time.perf_counter() - started


def run_raw(video: Path, transcriber: WhisperTranscriber) -> float:
    """Wall seconds for PyAV decode to 16 kHz + faster-whisper transcribe, nothing else."""
    from faster_whisper import decode_audio

    model = transcriber.loaded_model()
    started = time.perf_counter()
    audio = decode_audio(str(video), sampling_rate=16_000)
    segments, _info = model.transcribe(audio, **transcriber.transcribe_options())
    for _ in segments:
        pass
    return time.perf_counter() - started


def child_run(video: Path) -> None:
    """Run the pipeline once in this fresh process; print its wall time and peak RSS."""
    transcriber = WhisperTranscriber()
    transcriber.loaded_model()
    seconds = run_pipeline(video, transcriber)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak_kib / 1024}))


def measure_rss(video: Path) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, "--child-run", str(video)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    return {str(k): float(v) for k, v in result.items()}


def media_seconds(video: Path) -> float:
    from processor.media.pyav import PyAVMediaToolkit

    return PyAVMediaToolkit().probe(video).duration_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each; the best counts")
    parser.add_argument("--long-factor", type=float, default=10.0)
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(platformdirs.user_cache_dir("vproc")) / "bench"
    )
    parser.add_argument("--child-run", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_run:
        child_run(args.child_run)
        return

    print("preparing videos", flush=True)
    video = bench_video(args.cache_dir, args.minutes)
    duration = media_seconds(video)
    transcriber = WhisperTranscriber()
    transcriber.loaded_model()
    run_raw(video, transcriber)  # warm-up: page cache, CTranslate2 and VAD sessions

    raw_times, pipeline_times = [], []
    for _ in range(args.repeat):  # interleaved, so drift affects both sides alike
        raw_times.append(run_raw(video, transcriber))
        pipeline_times.append(run_pipeline(video, transcriber))
    raw, full = min(raw_times), min(pipeline_times)
    print(f"\nvideo: {video.name}, {duration:.0f} s of 1280x720 speech")
    print(f"raw decode+transcribe: best of {args.repeat}: {raw:6.1f} s  (RTF {raw / duration:.3f})")
    print(
        f"whole pipeline:        best of {args.repeat}: {full:6.1f} s  (RTF {full / duration:.3f})"
    )
    print(f"pipeline / raw wall-time ratio: {full / raw:.3f}   (target <= 1.15)")

    if args.skip_rss:
        return
    long_video = bench_video(args.cache_dir, args.minutes * args.long_factor)
    short_run = measure_rss(video)
    long_run = measure_rss(long_video)
    ratio = long_run["peak_rss_mib"] / short_run["peak_rss_mib"]
    print(f"\npeak RSS, {args.minutes:g} min video:  {short_run['peak_rss_mib']:7.1f} MiB")
    print(
        f"peak RSS, {args.minutes * args.long_factor:g} min video: "
        f"{long_run['peak_rss_mib']:7.1f} MiB  ({long_run['seconds']:.0f} s)"
    )
    print(f"peak RSS ratio {args.long_factor:g}x / 1x: {ratio:.3f}   (target <= 1.2)")


if __name__ == "__main__":
    main()
