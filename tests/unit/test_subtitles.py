"""Subtitle layout rules on synthetic word timings, and the files pysubs2 writes."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pysubs2
import pytest

from processor.ai.contract import Word
from processor.media.subtitles import (
    MAX_CUE_SECONDS,
    MAX_LINE_CHARS,
    MAX_LINES,
    MIN_CUE_SECONDS,
    Cue,
    build_cues,
    wrap_lines,
    write_subtitles,
)

# fmt: off
VOCABULARY = (
    "the", "video", "shows", "how", "a", "small", "team", "builds", "software", "together",
    "and", "ships", "it", "every", "week", "with", "tests", "reviews", "a", "lot", "of",
    "coffee,", "then", "explains", "why.", "subtitles", "matter!",
)
# fmt: on


def speech(n_words: int, *, seed: int, pause_every: int = 0) -> list[Word]:
    """Words of plausible lengths and timings (0.15–0.6 s each, some pauses)."""
    rng = random.Random(seed)
    t, words = 0.3, []
    for i in range(n_words):
        duration = rng.uniform(0.15, 0.6)
        words.append(Word(" " + rng.choice(VOCABULARY), round(t, 3), round(t + duration, 3)))
        t += duration + rng.uniform(0.0, 0.12)
        if pause_every and i % pause_every == pause_every - 1:
            t += 1.5
    return words


def assert_rules(cues: list[Cue], words: list[Word], media_duration: float | None) -> None:
    assert cues, "no cues"
    for cue in cues:
        assert 1 <= len(cue.lines) <= MAX_LINES, cue
        assert all(0 < len(line) <= MAX_LINE_CHARS for line in cue.lines), cue
        assert cue.end_time - cue.start_time <= MAX_CUE_SECONDS + 1e-6, cue
        if media_duration is not None:
            assert cue.end_time <= media_duration + 1e-6
    for before, after in itertools.pairwise(cues):
        assert before.end_time <= after.start_time, (before, after)
    # Every word appears once, in order.
    assert " ".join(" ".join(c.lines) for c in cues).split() == [w.text.strip() for w in words]


@pytest.mark.parametrize("seed", range(8))
def test_random_speech_obeys_every_rule(seed: int) -> None:
    words = speech(400, seed=seed, pause_every=37)
    media_end = words[-1].end_time + 0.2
    cues = build_cues(words, media_duration=media_end)
    assert_rules(cues, words, media_end)
    # A cue may stay shorter than the minimum only when it is boxed in on both sides.
    for i, cue in enumerate(cues):
        if cue.end_time - cue.start_time >= MIN_CUE_SECONDS - 1e-6:
            continue
        next_start = cues[i + 1].start_time if i + 1 < len(cues) else media_end
        previous_end = cues[i - 1].end_time if i else 0.0
        assert next_start - cue.end_time < 0.05, cue
        assert cue.start_time - previous_end < 0.05, cue


def test_short_cue_is_stretched_to_the_minimum_when_there_is_room() -> None:
    cues = build_cues([Word(" Yes.", 1.0, 1.2)], media_duration=10.0)
    assert cues == [Cue(1.0, 2.0, ("Yes.",))]


def test_short_cue_at_the_end_grows_backwards_not_past_the_media() -> None:
    cues = build_cues([Word(" Bye.", 4.8, 4.95)], media_duration=5.0)
    assert cues[0].end_time == 5.0
    assert cues[0].end_time - cues[0].start_time == pytest.approx(MIN_CUE_SECONDS)


def test_breaks_at_sentence_ends_and_pauses() -> None:
    words = [
        Word(" Hello", 0.0, 0.4),
        Word(" there.", 0.4, 1.1),
        Word(" New", 1.2, 1.5),
        Word(" thought", 1.5, 2.0),
        Word(" after", 3.5, 3.9),  # 1.5 s pause before
        Word(" pause", 3.9, 4.5),
    ]
    cues = build_cues(words)
    assert [c.text for c in cues] == ["Hello there.", "New thought", "after pause"]


def test_long_sentence_splits_before_a_conjunction_into_balanced_lines() -> None:
    text = "today we talk about open source software and how a computer can turn speech into text."
    words = [Word(" " + w, i * 0.3, i * 0.3 + 0.25) for i, w in enumerate(text.split())]
    cues = build_cues(words)
    assert [c.lines for c in cues] == [
        ("today we talk about open source software",),
        ("and how a computer can", "turn speech into text."),
    ]


def test_a_word_longer_than_a_line_is_cut() -> None:
    url = "https://example.com/" + "a" * 60
    cues = build_cues([Word(" see", 0.0, 0.3), Word(" " + url, 0.3, 2.0)])
    assert all(len(line) <= MAX_LINE_CHARS for c in cues for line in c.lines)


def test_overlapping_and_backwards_word_times_become_monotonic() -> None:
    words = [Word(" one", 1.0, 1.5), Word(" two", 0.8, 1.2), Word(" three", 1.1, 1.0)]
    cues = build_cues(words)
    assert cues[0].start_time == 1.0
    assert all(c.end_time > c.start_time for c in cues)


def test_empty_words_make_no_cues() -> None:
    assert build_cues([Word(" ", 0.0, 0.1)]) == []


def test_wrap_lines_balances_two_lines() -> None:
    assert wrap_lines("a" * 20 + " " + "b" * 20) == ["a" * 20 + " " + "b" * 20]
    lines = wrap_lines("one two three four five six seven eight nine ten eleven twelve")
    assert len(lines) == 2 and all(len(line) <= MAX_LINE_CHARS for line in lines)
    assert abs(len(lines[0]) - len(lines[1])) <= 8


def test_written_files_parse_back_with_the_same_cues(tmp_path: Path) -> None:
    words = speech(120, seed=42, pause_every=15)
    cues = build_cues(words, media_duration=words[-1].end_time + 1)
    vtt, srt = tmp_path / "s.vtt", tmp_path / "s.srt"
    write_subtitles(cues, vtt, srt)
    assert vtt.read_text("utf-8").startswith("WEBVTT")
    for path in (vtt, srt):
        parsed = pysubs2.load(str(path), encoding="utf-8")
        assert len(parsed) == len(cues)
        for event, cue in zip(parsed, cues, strict=True):
            assert event.start == round(cue.start_time * 1000)
            assert event.end == round(cue.end_time * 1000)
            assert event.plaintext.split("\n") == list(cue.lines)


def test_word_pieces_without_a_leading_space_join_the_word_before() -> None:
    words = [
        Word(" Welcome", 0.0, 0.4),
        Word(" to", 0.4, 0.5),
        Word(" V", 0.5, 0.7),
        Word("-Proc.", 0.7, 1.2),
    ]
    [cue] = build_cues(words, media_duration=5.0)
    assert cue.text == "Welcome to V-Proc."


def test_words_without_the_space_convention_stay_separate_words() -> None:
    words = [Word("Hello", 0.0, 0.4), Word("there", 0.5, 0.9), Word("friend.", 1.0, 1.4)]
    [cue] = build_cues(words, media_duration=5.0)
    assert cue.text == "Hello there friend."


def test_japanese_words_join_without_spaces_on_short_lines() -> None:
    pieces = ["真っ", "昼間", "なのに", "、", "キャンプ", "の", "外れ", "の", "電柱", "に", "、"]
    pieces += ["電球", "が", "とも", "って", "いた", "。"] * 2
    words = [Word(text, 0.3 * i, 0.3 * i + 0.25) for i, text in enumerate(pieces)]
    cues = build_cues(words)
    text = "".join("".join(c.lines) for c in cues)
    assert text == "".join(pieces)  # nothing added, nothing lost
    for cue in cues:
        assert len(cue.lines) <= MAX_LINES
        for line in cue.lines:
            assert " " not in line and 0 < len(line) <= 16, line


def test_a_few_japanese_words_in_english_speech_keep_the_spaces() -> None:
    words = [
        Word(f" {w}", i * 0.4, i * 0.4 + 0.3) for i, w in enumerate(["we", "ate", "寿司", "today."])
    ]
    assert build_cues(words)[0].lines == ("we ate 寿司 today.",)
