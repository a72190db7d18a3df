"""Every language and podcasts, on real recordings (tests/support/recordings.py).

The pipeline (`vproc process`'s `process_file`, real PyAV and faster-whisper) is compared with
raw faster-whisper on the same clip and the same model, computed here: the detected language
must agree and the word (character, for Japanese) error rate against the corpus transcript
may be at most TOLERANCE worse. Speech models differ a little across CPUs, hence the tolerance.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import av
import jiwer
import numpy as np
import pysubs2
import pytest

from processor.ai.models import MODELS, english_model_path, multilingual_model_path
from processor.ai.whisper import WhisperTranscriber
from processor.commands.process import process_file
from processor.config import Settings
from processor.errors import LanguageUnsupportedError
from processor.media.pyav import PyAVMediaToolkit
from tests.fixtures import make_fixtures as fixtures
from tests.support import recordings

pytestmark = pytest.mark.slow

TOLERANCE = 0.10  # absolute WER/CER the pipeline may lose against raw faster-whisper
# Frequent English function words: translated subtitles are mostly made of them, Spanish,
# Swedish and Japanese text hardly ever.
ENGLISH_WORDS = frozenset(
    [
        "the",
        "of",
        "and",
        "to",
        "in",
        "is",
        "was",
        "that",
        "it",
        "he",
        "she",
        "his",
        "her",
        "for",
        "on",
        "with",
        "as",
        "at",
        "by",
        "from",
        "this",
        "be",
        "are",
        "were",
        "had",
        "have",
        "not",
        "but",
        "they",
        "we",
        "you",
        "an",
        "which",
        "their",
        "there",
        "been",
        "one",
        "all",
        "would",
        "when",
        "who",
        "will",
        "what",
        "more",
        "so",
        "if",
        "out",
        "up",
        "about",
        "into",
        "than",
        "them",
        "can",
        "only",
        "other",
        "its",
        "some",
        "could",
        "these",
        "then",
        "do",
        "any",
        "my",
        "now",
        "such",
        "like",
        "our",
        "over",
        "me",
        "even",
        "most",
        "after",
        "also",
        "did",
        "many",
        "before",
        "must",
        "through",
        "back",
        "where",
        "much",
        "your",
        "way",
        "well",
        "down",
        "should",
        "because",
        "each",
        "just",
        "those",
        "how",
        "too",
        "very",
        "make",
        "still",
        "own",
        "see",
        "here",
        "between",
        "both",
        "being",
        "under",
        "never",
        "same",
        "another",
        "know",
        "while",
        "last",
        "might",
        "us",
        "great",
        "old",
        "off",
        "come",
        "since",
        "against",
        "go",
        "came",
        "right",
        "take",
        "three",
        "him",
        "said",
        "her",
        "has",
        "no",
    ]
)


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "ai_provider": "local",
        "gemini_api_key": None,
        "transcriber": "whisper",
        "whisper_model": None,
        "metadata_language": "source",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def normalise(text: str) -> str:
    """Lower case, no punctuation, single spaces (both sides of an error rate get this)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if unicodedata.category(c).startswith("P") else c for c in text)
    return " ".join(text.split())


def error_rate(language: str, reference: str, hypothesis: str) -> float:
    """WER, or CER (spaces removed) for scripts written without spaces."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    if language in ("ja", "zh"):
        return float(jiwer.cer(ref.replace(" ", ""), hyp.replace(" ", "")))
    return float(jiwer.wer(ref, hyp))


def english_share(text: str) -> float:
    words = re.findall(r"[a-z']+", text.casefold())
    return sum(w in ENGLISH_WORDS for w in words) / max(1, len(words))


def raw_whisper(path: Path) -> tuple[str, float, str]:
    """(language, probability, text) from plain faster-whisper with the multilingual model."""
    from faster_whisper import decode_audio

    model_path = multilingual_model_path()
    assert model_path is not None, "the multilingual model packages are dependencies"
    options = WhisperTranscriber().model_options(str(model_path))  # as the pipeline loads it
    model = MODELS.get(
        str(model_path),
        device=options["device"],
        compute_type=options["compute_type"],
        cpu_threads=options["cpu_threads"],
    ).model
    segments, info = model.transcribe(decode_audio(str(path)), beam_size=5, vad_filter=True)
    return info.language, info.language_probability, " ".join(s.text.strip() for s in segments)


def cues_text(path: Path) -> str:
    subs = pysubs2.load(str(path), encoding="utf-8")
    starts = [e.start for e in subs]
    assert starts == sorted(starts) and len(subs) > 0
    return " ".join(e.plaintext.replace("\n", " ") for e in subs)


def spanish_mp4(dest: Path) -> Path:
    """The Spanish audiobook clip muxed into an MP4 with a picture, as a phone would film."""
    samples = fixtures.decode_mono(recordings.clip("es"), rate=16_000)
    seconds = len(samples) / 16_000
    return fixtures.write_video(dest, seconds=seconds, audio=(samples, 16_000))


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> dict[str, tuple[dict[str, Any], Path, Path]]:
    """Each language's clip through `process_file` once: (metadata.json, out dir, input)."""
    root = tmp_path_factory.mktemp("languages")
    inputs = {
        "es": spanish_mp4(root / "lectura.mp4"),
        "ja": recordings.clip("ja"),  # audio-only MP3
        "sv": recordings.clip("sv"),  # audio-only WAV
    }
    results = {}
    for language, source in inputs.items():
        out = root / f"out-{language}"
        doc = process_file(source, out, settings())
        results[language] = (doc, out, source)
    return results


@pytest.mark.parametrize("language", ["es", "ja", "sv"])
def test_language_is_detected_and_transcribed_as_well_as_raw_whisper(processed, language) -> None:
    doc, out, source = processed[language]
    raw_language, raw_probability, raw_text = raw_whisper(source)
    assert raw_language == language  # the clip is what its corpus says it is
    assert doc["language"] == raw_language
    assert abs(doc["language_probability"] - raw_probability) < 0.1
    saved = json.loads((out / "metadata.json").read_text("utf-8"))
    assert saved["language"] == language

    reference = recordings.reference_text(language)
    text = (out / "transcript.txt").read_text("utf-8")
    ours = error_rate(language, reference, text)
    theirs = error_rate(language, reference, raw_text)
    print(f"{language}: pipeline {ours:.3f} raw {theirs:.3f} p={doc['language_probability']}")
    assert ours <= theirs + TOLERANCE, (ours, theirs, text, raw_text)
    # The original-language subtitles say what the transcript says.
    assert error_rate(language, text, cues_text(out / "subtitles.vtt")) < 0.05


@pytest.mark.parametrize("language", ["es", "ja", "sv"])
def test_non_english_speech_gets_english_subtitles(processed, language) -> None:
    doc, out, _ = processed[language]
    assert doc["subtitle_files_urls"] == {
        "vtt": "subtitles.vtt",
        "srt": "subtitles.srt",
        "en": {"vtt": "subtitles.en.vtt", "srt": "subtitles.en.srt"},
    }
    english = cues_text(out / "subtitles.en.vtt")
    assert cues_text(out / "subtitles.en.srt") == english
    original = cues_text(out / "subtitles.vtt")
    assert english_share(english) >= 0.2, english
    assert english_share(english) > english_share(original) + 0.1, (english, original)


def test_japanese_metadata_has_real_terms_and_subtitles_keep_the_script_unspaced(
    processed,
) -> None:
    doc, out, _ = processed["ja"]
    text = (out / "transcript.txt").read_text("utf-8")
    assert doc["tags"], "no tags"
    for tag in doc["tags"]:
        assert tag in text, f"tag {tag!r} is not a term of the transcript"
        assert 2 <= len(tag) <= 30
    assert doc["title"] and doc["title"] in text.replace("\n", "")
    for event in pysubs2.load(str(out / "subtitles.vtt"), encoding="utf-8"):
        for line in event.plaintext.splitlines():
            assert " " not in line and len(line) <= 16, line


def test_spanish_metadata_is_spanish_by_default(processed) -> None:
    doc, out, _ = processed["es"]
    text = (out / "transcript.txt").read_text("utf-8").casefold()
    assert doc["extracted_video_resolution"] == "320x240"
    assert doc["tags"] and all(tag in text for tag in doc["tags"])


def test_metadata_language_en_summarises_the_english_translation(tmp_path) -> None:
    doc = process_file(recordings.clip("ja"), tmp_path / "out", settings(metadata_language="en"))
    assert doc["language"] == "ja"
    english = cues_text(tmp_path / "out" / "subtitles.en.vtt").casefold()
    assert doc["tags"] and all(tag.isascii() for tag in doc["tags"])
    assert all(tag in english for tag in doc["tags"])
    assert doc["description"].isascii()


def test_english_only_model_refuses_other_languages(tmp_path) -> None:
    wav = tmp_path / "es.wav"
    PyAVMediaToolkit().extract_audio(recordings.clip("es"), wav)
    transcriber = WhisperTranscriber(str(english_model_path()))  # as WHISPER_MODEL=…/tiny.en
    with pytest.raises(LanguageUnsupportedError) as info:
        transcriber.transcribe(wav)
    assert info.value.error_code == "language_unsupported"
    assert info.value.retryable is False
    assert "'es'" in info.value.message


def test_without_a_multilingual_model_the_language_is_unknown_not_english(tmp_path) -> None:
    wav = tmp_path / "es.wav"
    PyAVMediaToolkit().extract_audio(recordings.clip("es"), wav)
    transcript = WhisperTranscriber(multilingual_model=False).transcribe(wav)
    assert transcript.language is None
    assert transcript.language_probability is None
    assert transcript.translation == ()


def test_english_stays_on_the_english_model_without_translation(tmp_path) -> None:
    wav = tmp_path / "en.wav"
    PyAVMediaToolkit().extract_audio(recordings.clip("en"), wav)
    transcriber = WhisperTranscriber()
    transcript = transcriber.transcribe(wav)
    assert transcript.language == "en"
    assert transcript.language_probability is not None and transcript.language_probability > 0.5
    assert transcript.model == transcriber.model  # tiny.en, not the multilingual model
    assert transcript.translation == ()
    reference = recordings.reference_text("en")
    assert error_rate("en", reference, transcript.text) < 0.3


def test_models_are_loaded_once_per_process() -> None:
    first, second = WhisperTranscriber(), WhisperTranscriber()
    assert first.loaded_model() is second.loaded_model()
    path = first.multilingual_path()
    assert path is not None and path == second.multilingual_path()
    assert first._loaded(path) is second._loaded(path)


@pytest.mark.parametrize("cover", [None, (320, 320)])
def test_mp3_podcast_end_to_end(tmp_path, cover) -> None:
    samples = fixtures.decode_mono(recordings.clip("en"), rate=44_100)
    talk = fixtures.write_mp3(tmp_path / "talk.mp3", samples, 44_100, cover=cover)
    out = tmp_path / "out"
    doc = process_file(talk, out, settings())

    assert doc["extracted_video_format"] == "mp3"
    assert doc["extracted_video_resolution"] is None
    assert doc["extracted_video_duration_seconds"] == pytest.approx(len(samples) / 44_100, abs=0.2)
    assert doc["language"] == "en"
    reference = recordings.reference_text("en")
    text = (out / "transcript.txt").read_text("utf-8")
    assert error_rate("en", reference, text) < 0.3, text
    assert doc["subtitle_files_urls"] == {"vtt": "subtitles.vtt", "srt": "subtitles.srt"}
    assert not (out / "subtitles.en.vtt").exists()
    assert error_rate("en", text, cues_text(out / "subtitles.vtt")) < 0.05
    assert doc["title"] and doc["tags"] and doc["description"]

    with av.open(str(out / "thumbnail.jpg")) as image:
        frame = next(image.decode(video=0))
        rgb = frame.to_ndarray(format="rgb24")
    if cover is not None:  # the cover art, not a waveform
        assert (frame.width, frame.height) == cover
        expected = fixtures.pattern_frame(*cover, 0).astype(np.int16)
        assert np.abs(rgb.astype(np.int16) - expected).mean() < 12
    else:  # a waveform: the dark background, a bright wave that follows the speech
        assert (frame.width, frame.height) == (1280, 720)
        bright = (rgb.mean(axis=2) > 100).mean(axis=0)  # share of wave pixels per column
        assert 0.0 < bright.mean() < 0.6
        assert bright.max() > 0.3 and bright.min() < 0.05  # loud and quiet moments differ
