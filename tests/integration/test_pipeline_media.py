"""The real pipeline on real media: PyAV decoding, the bundled tiny.en model, local storage.

The speech fixture is transcribed once per module; bad inputs fail before the model is needed.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import uuid
from pathlib import Path
from typing import Any

import av
import jiwer
import numpy as np
import pysubs2
import pytest

from processor.ai.contract import Transcript
from processor.ai.whisper import WhisperTranscriber
from processor.config import Settings
from processor.errors import (
    InvalidMediaError,
    JobCancelledError,
    SourceMissingError,
    VprocError,
)
from processor.media.subtitles import MAX_CUE_SECONDS, MAX_LINE_CHARS, MAX_LINES, MIN_CUE_SECONDS
from processor.pipeline.build import JobOutcome, MediaPipeline, build_pipeline
from processor.pipeline.contract import JobInfo
from processor.pipeline.memory import InMemoryJobControl
from processor.storage.local import LocalStorage
from tests.fixtures import make_fixtures as fixtures
from tests.support.fake_metadata import FilenameMetadataGenerator

OWNER = uuid.UUID("3f0e2a8e-95a4-4b8c-9d55-0d4f5d2f9a11")
ARTIFACTS = "video-artifacts"


class CountingTranscriber:
    """The real whisper transcriber, counting calls (to prove resumes skip it)."""

    def __init__(self, inner: WhisperTranscriber) -> None:
        self.inner = inner
        self.name, self.model = inner.name, inner.model
        self.calls = 0

    def transcribe(self, audio_path: Path, **kwargs: Any) -> Transcript:
        self.calls += 1
        return self.inner.transcribe(audio_path, **kwargs)


@pytest.fixture(scope="module")
def whisper() -> WhisperTranscriber:
    return WhisperTranscriber()  # the bundled tiny.en, loaded on first use


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> LocalStorage:
    return LocalStorage(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def work_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("work")


def make_pipeline(store, whisper, work_root, **kwargs) -> MediaPipeline:
    return build_pipeline(
        Settings(_env_file=None),
        storage=store,
        transcriber=kwargs.pop("transcriber", whisper),
        metadata=kwargs.pop("metadata", FilenameMetadataGenerator()),
        work_root=work_root,
    )


_job_ids = itertools.count(100)


def submit(store: LocalStorage, source: Path | None, name: str = "clip.mp4", **kwargs) -> JobInfo:
    job_id = next(_job_ids)
    key = f"{OWNER}/{job_id}-{name}"
    if source is not None:
        store.put_file("videos", key, source)
    return JobInfo(
        job_id=job_id,
        video_id=uuid.uuid4(),
        owner_id=OWNER,
        attempt=1,
        storage_path=key,
        original_filename=kwargs.get("original_filename", name),
    )


@pytest.fixture(scope="module")
def speech(store, whisper, work_root) -> tuple[JobInfo, JobOutcome, InMemoryJobControl]:
    job = submit(store, fixtures.SPEECH_MP4, "speech.mp4")
    control = InMemoryJobControl()
    outcome = make_pipeline(store, whisper, work_root).run_job(job, control)
    return job, outcome, control


def artifact(store: LocalStorage, key: str) -> Path:
    return store.path_of(ARTIFACTS, key)


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


# --- the happy path --------------------------------------------------------------------------


def test_transcript_word_error_rate(speech, store) -> None:
    _, outcome, _ = speech
    hypothesis = normalise(outcome.fields["transcript_text"])
    error_rate = jiwer.wer(normalise(fixtures.SPEECH_TEXT), hypothesis)
    assert error_rate <= 0.25, (error_rate, hypothesis)
    text_file = artifact(store, outcome.fields["transcript_file_url"]).read_text("utf-8")
    assert text_file.strip() == outcome.fields["transcript_text"]
    assert outcome.language == "en"


def test_timestamps_are_monotonic_and_inside_the_duration(speech, store) -> None:
    job, outcome, _ = speech
    key = outcome.results["transcribe"].artifacts["transcript_json"]
    assert key == f"{OWNER}/{job.job_id}/transcript.json"
    transcript = Transcript.from_json(json.loads(artifact(store, key).read_text("utf-8")))
    duration = outcome.fields["extracted_video_duration_seconds"]
    words = [w for s in transcript.segments for w in s.words]
    assert len(words) >= 15
    starts = [s.start_time for s in transcript.segments] + [w.start_time for w in words]
    assert all(0.0 <= t <= duration for t in starts)
    for seg in transcript.segments:
        assert seg.start_time <= seg.end_time <= duration
    for a, b in itertools.pairwise(words):
        assert a.start_time <= a.end_time <= duration
        assert a.start_time <= b.start_time
    # Speech starts after the silent lead-in.
    assert words[0].start_time >= fixtures.SPEECH_LEAD_SECONDS - 0.5


def test_subtitles_parse_back_and_obey_the_rules(speech, store) -> None:
    job, outcome, _ = speech
    urls = outcome.fields["subtitle_files_urls"]
    assert urls == {
        "vtt": f"{OWNER}/{job.job_id}/subtitles.vtt",
        "srt": f"{OWNER}/{job.job_id}/subtitles.srt",
    }
    duration = outcome.fields["extracted_video_duration_seconds"]
    spoken = normalise(outcome.fields["transcript_text"])
    for fmt, key in urls.items():
        path = artifact(store, key)
        assert path.read_text("utf-8").startswith("WEBVTT") == (fmt == "vtt")
        subs = pysubs2.load(str(path), encoding="utf-8")
        assert len(subs) >= 2
        for event in subs:
            lines = event.plaintext.split("\n")
            assert 1 <= len(lines) <= MAX_LINES
            assert all(0 < len(line) <= MAX_LINE_CHARS for line in lines)
            seconds = (event.end - event.start) / 1000
            assert MIN_CUE_SECONDS - 0.001 <= seconds <= MAX_CUE_SECONDS
            assert event.end / 1000 <= duration
        for a, b in itertools.pairwise(subs):
            assert a.end <= b.start
        assert normalise(" ".join(e.plaintext for e in subs)) == spoken


def test_thumbnail_is_a_jpeg_of_the_video_size_and_not_black(speech, store) -> None:
    job, outcome, _ = speech
    key = outcome.fields["thumbnail_file_url"]
    assert key == f"{OWNER}/{job.job_id}/thumbnail.jpg"
    path = artifact(store, key)
    assert path.read_bytes()[:3] == b"\xff\xd8\xff"
    with av.open(str(path)) as container:
        assert container.format.name in ("image2", "jpeg_pipe", "mjpeg")
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == (320, 240)
    luma = frame.to_ndarray(format="gray")
    assert luma.mean() > 60 and luma.std() > 20
    detail = outcome.results["thumbnail"].detail
    assert detail["time_seconds"] >= fixtures.SPEECH_LEAD_SECONDS  # not the black lead-in


def test_video_metadata_fields_and_stage_entries(speech) -> None:
    _, outcome, control = speech
    fields = outcome.fields
    assert fields["extracted_video_resolution"] == "320x240"
    assert fields["extracted_video_format"] == "mp4"
    assert fields["extracted_video_duration_seconds"] == pytest.approx(10.6, abs=0.2)
    assert fields["title"] == "speech"
    assert fields["tags"] == []
    assert json.loads(json.dumps(fields)) == fields  # JSON-safe
    stages = ["download", "probe", "audio", "transcribe", "subtitles", "metadata", "thumbnail"]
    assert list(control.entries) == stages
    for name in stages:
        entry = control.entries[name]
        assert entry["status"] == "completed", (name, entry)
        assert entry["duration_ms"] >= 0 and entry["started_at"] <= entry["finished_at"]
    assert control.entries["probe"]["detail"]["video_codec"] == "h264"
    assert control.entries["transcribe"]["detail"]["model"] == "tiny.en"
    assert control.entries["audio"]["detail"]["incomplete"] is False
    assert control.progress == pytest.approx(1.0)


def test_a_retry_reuses_every_stage_and_changes_nothing(speech, store, whisper, work_root) -> None:
    job, outcome, control = speech
    counting = CountingTranscriber(whisper)
    pipeline = make_pipeline(store, whisper, work_root, transcriber=counting)
    retry = InMemoryJobControl(control.entries)
    again = pipeline.run_job(job, retry)
    assert counting.calls == 0
    assert again.fields == outcome.fields
    assert all(entry["reused"] is True for entry in retry.entries.values())


def test_a_lost_artifact_is_rebuilt_without_transcribing_again(
    speech, store, whisper, work_root
) -> None:
    job, outcome, control = speech
    artifact(store, outcome.fields["thumbnail_file_url"]).unlink()
    counting = CountingTranscriber(whisper)
    retry = InMemoryJobControl(control.entries)
    again = make_pipeline(store, whisper, work_root, transcriber=counting).run_job(job, retry)
    assert counting.calls == 0
    assert artifact(store, again.fields["thumbnail_file_url"]).exists()
    rerun = {name for name, entry in retry.entries.items() if not entry.get("reused")}
    assert rerun == {"download", "thumbnail"}
    assert retry.entries["thumbnail"]["status"] == "completed"


def test_nothing_is_left_in_the_work_directory(speech, work_root) -> None:
    assert list(work_root.iterdir()) == []


# --- edge cases and bad input ----------------------------------------------------------------


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """Bad and unusual inputs, made once per module."""
    d = tmp_path_factory.mktemp("media")
    data = fixtures.SPEECH_MP4.read_bytes()
    (d / "zero.mp4").write_bytes(b"")
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])  # index at the end: lost
    (d / "text.mp4").write_text("this is a text file, not a video\n" * 40, "utf-8")
    fixtures.make_png(d / "png.png")
    (d / "png.png").rename(d / "image.mp4")
    fixtures.make_audio_only(d / "audio-only.mp4")
    fixtures.make_silent_video(d / "silent.mp4")
    fixtures.remux(fixtures.SPEECH_MP4, d / "faststart.mp4", movflags="faststart")
    fast = (d / "faststart.mp4").read_bytes()
    (d / "cut-after-index.mp4").write_bytes(fast[: int(len(fast) * 0.6)])
    fixtures.write_video(d / "big.mp4", seconds=1.0, width=1920, height=1080, fps=5)
    silence = (np.zeros(16_000 * 2, dtype=np.int16), 16_000)
    fixtures.write_video(d / "no-speech.mp4", seconds=2.0, audio=silence, black_lead_seconds=0.5)
    return d


class NeverTranscriber:
    name, model = "never", "none"

    def transcribe(self, *args: Any, **kwargs: Any) -> Transcript:
        raise AssertionError("bad input must fail before transcription")


@pytest.mark.parametrize(
    ("name", "error", "code", "stage"),
    [
        ("zero.mp4", InvalidMediaError, "invalid_media", "probe"),
        ("truncated.mp4", InvalidMediaError, "invalid_media", "probe"),
        ("text.mp4", InvalidMediaError, "invalid_media", "probe"),
        ("image.mp4", InvalidMediaError, "invalid_media", "probe"),
        (None, SourceMissingError, "source_missing", "download"),
    ],
)
def test_bad_input_fails_with_its_error_code_and_leaves_no_files(
    media, store, whisper, tmp_path, name, error, code, stage
) -> None:
    job = submit(store, media / name if name else None, name or "missing.mp4")
    control = InMemoryJobControl()
    pipeline = make_pipeline(store, whisper, tmp_path / "work", transcriber=NeverTranscriber())
    with pytest.raises(error) as info:
        pipeline.run_job(job, control)
    assert info.value.error_code == code
    assert info.value.retryable is False
    assert "\n" not in info.value.message and str(media) not in info.value.message
    entry = control.entries[stage]
    assert entry["status"] == "failed"
    assert entry["detail"] == {"error_code": code, "message": info.value.message}
    assert list((tmp_path / "work").iterdir()) == []
    assert not store.exists(ARTIFACTS, f"{OWNER}/{job.job_id}/thumbnail.jpg")


def test_video_without_audio_completes_with_empty_transcript(
    media, store, whisper, tmp_path
) -> None:
    job = submit(store, media / "silent.mp4", "silent.mp4")
    control = InMemoryJobControl()
    pipeline = make_pipeline(store, whisper, tmp_path / "work", transcriber=NeverTranscriber())
    outcome = pipeline.run_job(job, control)
    fields = outcome.fields
    assert fields["transcript_text"] == ""
    assert fields["transcript_file_url"] is None
    assert fields["subtitle_files_urls"] is None
    assert fields["thumbnail_file_url"] == f"{OWNER}/{job.job_id}/thumbnail.jpg"
    for stage in ("audio", "transcribe", "subtitles"):
        assert control.entries[stage]["status"] == "skipped"
        assert control.entries[stage]["detail"] == {"skipped": "no_audio"}
    with av.open(str(artifact(store, fields["thumbnail_file_url"]))) as container:
        frame = next(container.decode(video=0))
    assert frame.to_ndarray(format="gray").mean() > 60  # the pattern, not the black second
    assert list((tmp_path / "work").iterdir()) == []


def test_audio_without_speech_completes_without_subtitles(media, store, whisper, tmp_path):
    job = submit(store, media / "no-speech.mp4")
    control = InMemoryJobControl()
    outcome = make_pipeline(store, whisper, tmp_path / "work").run_job(job, control)
    assert outcome.fields["transcript_text"] == ""
    assert outcome.fields["transcript_file_url"] == f"{OWNER}/{job.job_id}/transcript.txt"
    assert outcome.fields["subtitle_files_urls"] is None
    assert control.entries["transcribe"]["status"] == "completed"
    assert control.entries["subtitles"]["status"] == "skipped"
    assert control.entries["subtitles"]["detail"] == {"skipped": "no_speech"}


def test_long_and_unicode_names(media, store, whisper, tmp_path) -> None:
    name = "Vidéo d’été 📼 – " + "très long nom " * 12 + ".mp4"
    assert len(name.encode()) < 255  # one file name on the local backend
    job = submit(store, media / "silent.mp4", name, original_filename="🎬 " + "x" * 600 + ".mov")
    outcome = make_pipeline(store, whisper, tmp_path / "work").run_job(job, InMemoryJobControl())
    assert outcome.fields["extracted_video_format"] == "mp4"  # the content decides, not ".mov"
    assert len(outcome.fields["title"]) <= 100
    assert list((tmp_path / "work").iterdir()) == []


def test_file_cut_after_its_index_completes_with_what_decodes(
    media, store, whisper, tmp_path
) -> None:
    job = submit(store, media / "cut-after-index.mp4")
    control = InMemoryJobControl()
    outcome = make_pipeline(store, whisper, tmp_path / "work").run_job(job, control)
    assert control.entries["audio"]["detail"]["incomplete"] is True
    assert outcome.fields["extracted_video_duration_seconds"] > 8
    assert outcome.fields["thumbnail_file_url"]


def test_large_video_thumbnail_is_scaled_to_1280_wide(media, store, whisper, tmp_path) -> None:
    job = submit(store, media / "big.mp4")
    outcome = make_pipeline(store, whisper, tmp_path / "work").run_job(job, InMemoryJobControl())
    assert outcome.fields["extracted_video_resolution"] == "1920x1080"
    with av.open(str(artifact(store, outcome.fields["thumbnail_file_url"]))) as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == (1280, 720)


def test_cancelling_during_transcription_stops_and_cleans_up(store, whisper, tmp_path) -> None:
    job = submit(store, fixtures.SPEECH_MP4)
    pipeline = make_pipeline(store, whisper, tmp_path / "work")

    def cancel_when_transcribing(stage: str, progress: float) -> None:
        if stage == "transcribe":
            control.cancel()

    control = InMemoryJobControl(on_report=cancel_when_transcribing)
    with pytest.raises(JobCancelledError):
        pipeline.run_job(job, control)
    assert control.entries["transcribe"]["status"] == "interrupted"
    assert list((tmp_path / "work").iterdir()) == []


def test_one_pipeline_serves_concurrent_jobs(media, store, whisper, tmp_path) -> None:
    pipeline = make_pipeline(store, whisper, tmp_path / "work")
    jobs = [submit(store, fixtures.SPEECH_MP4), submit(store, media / "silent.mp4")]
    outcomes: dict[int, Any] = {}

    def run(job: JobInfo) -> None:
        try:
            outcomes[job.job_id] = pipeline.run_job(job, InMemoryJobControl())
        except VprocError as exc:  # surfaced by the assertion below
            outcomes[job.job_id] = exc

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    speech, silent = (outcomes[j.job_id] for j in jobs)
    assert isinstance(speech, JobOutcome) and isinstance(silent, JobOutcome)
    assert "open source software" in speech.fields["transcript_text"].lower()
    assert silent.fields["transcript_text"] == ""
    assert whisper.loaded_model() is whisper.loaded_model()  # loaded once, shared


def test_whisper_windows_keep_global_timestamps(speech, store, whisper, tmp_path) -> None:
    """Cut into short windows, the speech gives the same words at the same global times."""
    from processor.media.pyav import PyAVMediaToolkit

    _, outcome, _ = speech
    key = outcome.results["transcribe"].artifacts["transcript_json"]
    whole = Transcript.from_json(json.loads(artifact(store, key).read_text("utf-8")))
    wav = tmp_path / "audio.wav"
    PyAVMediaToolkit().extract_audio(fixtures.SPEECH_MP4, wav)
    windowed = WhisperTranscriber(window_seconds=5.0)
    windowed._model = whisper.loaded_model()  # share the loaded weights
    progress: list[float] = []
    parts = windowed.transcribe(wav, on_progress=progress.append)
    assert len(progress) >= 2 and progress[-1] == pytest.approx(1.0)
    assert progress == sorted(progress)
    # int8 kernels differ across x86-64 CPUs, so windowed decoding may gain or lose a word
    # (an extra "to" on AMD EPYC): compare by word error rate, then the aligned words' times.
    hypothesis, reference = timed_tokens(parts), timed_tokens(whole)
    aligned = jiwer.process_words(
        " ".join(t for t, _ in reference), " ".join(t for t, _ in hypothesis)
    )
    assert aligned.wer <= WINDOWED_MAX_WER, (aligned.wer, normalise(parts.text))
    matched = 0
    for chunk in aligned.alignments[0]:
        if chunk.type != "equal":
            continue
        for offset in range(chunk.ref_end_idx - chunk.ref_start_idx):
            want = reference[chunk.ref_start_idx + offset]
            got = hypothesis[chunk.hyp_start_idx + offset]
            assert got[1] == pytest.approx(want[1], abs=0.35), (got, want)
            matched += 1
    assert matched >= (1 - WINDOWED_MAX_WER) * len(reference)


# Windowed and whole transcription of the same speech differ by at most this word error rate.
WINDOWED_MAX_WER = 0.1


def timed_tokens(transcript: Transcript) -> list[tuple[str, float]]:
    """Each normalised token of the transcript's words with the start time of its word."""
    return [
        (token, word.start_time)
        for segment in transcript.segments
        for word in segment.words
        for token in normalise(word.text).split()
    ]


def test_audio_only_file_without_speech_completes_with_a_waveform(
    media, store, whisper, tmp_path
) -> None:
    """An MP4 holding only a tone: no video stream, no speech, still a finished job."""
    job = submit(store, media / "audio-only.mp4", "tone.m4a")
    control = InMemoryJobControl()
    outcome = make_pipeline(store, whisper, tmp_path / "work").run_job(job, control)
    assert outcome.fields["extracted_video_resolution"] is None
    assert outcome.fields["extracted_video_duration_seconds"] == pytest.approx(1.5, abs=0.1)
    assert outcome.results["probe"].detail["has_video"] is False
    assert outcome.results["subtitles"].skipped == "no_speech"
    assert outcome.fields["language"] is None  # nothing was said
    thumbnail = outcome.results["thumbnail"]
    assert thumbnail.detail["kind"] == "waveform"
    with av.open(str(artifact(store, thumbnail.artifacts["thumbnail"]))) as image:
        frame = next(image.decode(video=0))
    assert (frame.width, frame.height) == (1280, 720)
