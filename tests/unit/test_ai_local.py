"""The offline metadata engine: deterministic, drawn from the text, sensible on short input."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest

from processor.ai.contract import Chapter, GeneratedMetadata, MetadataContext, Segment, Transcript
from processor.ai.local import LocalMetadataGenerator

# A two-minute talk in three parts, separated by pauses of about 3.5 s (at 41-44 s and 83-87 s).
LINES = [
    (0.0, 4.2, "Hi everyone, welcome back to the channel."),
    (4.5, 11.0, "Today we are building a video processing backend on Supabase."),
    (
        11.2,
        18.9,
        "The frontend uploads a file to Supabase Storage and inserts a row into the videos table.",
    ),
    (19.1, 26.0, "A database trigger then creates a processing job for that video."),
    (26.3, 33.5, "Row level security keeps every user inside their own videos and jobs."),
    (33.8, 41.0, "Storage policies do the same for the files in each bucket."),
    (44.5, 51.0, "Now let's talk about the job queue."),
    (
        51.3,
        59.8,
        "Workers claim jobs with select for update skip locked, so two workers never take the same job.",
    ),
    (
        60.0,
        67.5,
        "Each claim comes with a lease, and the worker sends a heartbeat to extend the lease while it runs.",
    ),
    (67.8, 75.0, "If a worker crashes, its lease expires and another worker claims the job again."),
    (
        75.3,
        83.0,
        "Failed jobs are retried with exponential backoff until they run out of attempts.",
    ),
    (86.9, 93.0, "The last part is the AI pipeline."),
    (
        93.4,
        101.0,
        "Whisper transcribes the audio track and we write subtitles in VTT and SRT format.",
    ),
    (
        101.2,
        109.5,
        "A language model turns the transcript into a title, a description, tags and show notes.",
    ),
    (109.8, 117.0, "Without an API key, a local engine extracts keywords and a summary instead."),
    (
        117.3,
        124.0,
        "Every result lands in the video metadata table, and Realtime pushes progress to the browser.",
    ),
    (124.5, 129.0, "Thanks for watching, see you next time."),
]

TALK = Transcript(
    language="en",
    segments=tuple(Segment(text=t, start_time=s, end_time=e) for s, e, t in LINES),
    duration_seconds=130.0,
)


def normalised(text: str) -> str:
    return " ".join(re.findall(r"[\w'-]+", text.lower()))


@pytest.fixture(scope="module")
def talk_metadata() -> GeneratedMetadata:
    return LocalMetadataGenerator().generate_metadata(
        TALK, MetadataContext(original_filename="talk.mp4", duration_seconds=130.0)
    )


def test_same_transcript_gives_the_same_metadata(talk_metadata: GeneratedMetadata) -> None:
    again = LocalMetadataGenerator().generate_metadata(
        TALK, MetadataContext(original_filename="talk.mp4", duration_seconds=130.0)
    )
    assert again == talk_metadata
    assert again.model_dump_json() == talk_metadata.model_dump_json()


def test_tags_are_5_to_15_distinct_phrases_from_the_text(
    talk_metadata: GeneratedMetadata,
) -> None:
    text = normalised(TALK.text)
    assert 5 <= len(talk_metadata.tags) <= 15
    assert len({t.casefold() for t in talk_metadata.tags}) == len(talk_metadata.tags)
    for tag in talk_metadata.tags:
        assert tag == tag.lower()
        assert f" {normalised(tag)} " in f" {text} ", tag
    # The talk's subjects are found; greetings and fillers are not.
    assert "supabase storage" in talk_metadata.tags
    assert {"job queue", "lease"} <= set(talk_metadata.tags)
    assert not {"channel", "welcome", "today", "thanks"} & set(talk_metadata.tags)


def test_title_is_the_leading_key_phrase(talk_metadata: GeneratedMetadata) -> None:
    assert 0 < len(talk_metadata.title) <= 100
    assert talk_metadata.title == "Supabase Storage and Video Processing Backend"


def test_chapters_start_at_zero_and_follow_the_pauses(talk_metadata: GeneratedMetadata) -> None:
    starts = [c.start_time for c in talk_metadata.chapters]
    assert starts == [0.0, 44.0, 86.0]
    titles = [c.title for c in talk_metadata.chapters]
    assert len(set(titles)) == len(titles)
    assert titles[1] == "Job Queue"
    for title in titles:
        assert normalised(title) in normalised(TALK.text)


def test_description_and_show_notes_are_extracted_sentences(
    talk_metadata: GeneratedMetadata,
) -> None:
    sentences = {t for _, _, t in LINES}
    described = re.split(r"(?<=[.!?])\s+", talk_metadata.description)
    assert 1 <= len(described) <= 3
    assert set(described) <= sentences
    assert "welcome back" not in talk_metadata.description
    notes = talk_metadata.show_notes
    assert notes.startswith("## Summary\n")
    assert "## Chapters\n\n- 00:00 " in notes
    assert "- 00:44 Job Queue" in notes
    assert "- 01:26 " in notes
    assert re.search(r"^- \*\*00:51\*\* Workers claim jobs", notes, re.M)
    assert "## Topics\n\n" + ", ".join(talk_metadata.tags) in notes


def test_a_one_sentence_transcript_still_gets_five_tags_and_one_chapter() -> None:
    tip = Transcript(
        language="en",
        segments=(
            Segment(
                text="Quick tip: use pgvector for semantic search in Postgres.",
                start_time=0.0,
                end_time=4.0,
            ),
        ),
        duration_seconds=4.0,
    )
    metadata = LocalMetadataGenerator().generate_metadata(tip, MetadataContext())
    assert len(metadata.tags) == 5
    assert {"semantic search", "pgvector", "postgres"} <= set(metadata.tags)
    for tag in metadata.tags:
        assert tag in tip.text.lower()
    assert metadata.description == "Quick tip: use pgvector for semantic search in Postgres."
    assert [c.start_time for c in metadata.chapters] == [0.0]
    assert metadata.title


def test_no_speech_falls_back_to_the_file_name() -> None:
    metadata = LocalMetadataGenerator().generate_metadata(
        Transcript(language=None, duration_seconds=12.0),
        MetadataContext(original_filename="my_holiday-clip.mov"),
    )
    assert metadata.title == "My Holiday Clip"
    assert metadata.tags == []
    assert metadata.chapters == []


def test_other_languages_use_their_stopwords_and_sentence_case() -> None:
    german = Transcript(
        language="de",
        segments=(
            Segment(
                text=(
                    "Heute zeige ich euch, wie man Sauerteigbrot backt. Zuerst braucht der "
                    "Sauerteig drei Tage Ruhe. Dann wird der Teig gefaltet und über Nacht gekühlt."
                ),
                start_time=0.0,
                end_time=14.0,
            ),
        ),
        duration_seconds=14.0,
    )
    metadata = LocalMetadataGenerator().generate_metadata(german, MetadataContext())
    assert 5 <= len(metadata.tags) <= 15
    assert not {"der", "und", "wie", "ich"} & set(metadata.tags)
    assert " and " not in metadata.title
    for tag in metadata.tags:
        assert tag in german.text.lower()


def test_a_long_transcript_gets_bounded_chapters() -> None:
    segments = []
    for part in range(30):
        for start, end, text in LINES:
            offset = part * 130.0
            segments.append(Segment(text=text, start_time=start + offset, end_time=end + offset))
    hour = Transcript(language="en", segments=tuple(segments), duration_seconds=3900.0)
    metadata = LocalMetadataGenerator().generate_metadata(hour, MetadataContext())
    starts = [c.start_time for c in metadata.chapters]
    assert starts[0] == 0.0
    assert 2 <= len(starts) <= 12
    assert all(b - a >= 3900.0 / 12 for a, b in pairwise(starts))
    assert 5 <= len(metadata.tags) <= 15


def test_the_speech_fixture_gets_sensible_metadata() -> None:
    from tests.fixtures.make_fixtures import SPEECH_LEAD_SECONDS, SPEECH_TEXT

    # As whisper segments tests/fixtures/speech.mp4: one segment per sentence.
    first, second = re.split(r"(?<=\.)\s+", SPEECH_TEXT.strip(), maxsplit=1)
    speech = Transcript(
        language="en",
        segments=(
            Segment(first, SPEECH_LEAD_SECONDS, SPEECH_LEAD_SECONDS + 2.2),
            Segment(second, SPEECH_LEAD_SECONDS + 2.4, SPEECH_LEAD_SECONDS + 8.0),
        ),
        duration_seconds=SPEECH_LEAD_SECONDS + 9.0,
    )
    metadata = LocalMetadataGenerator().generate_metadata(
        speech, MetadataContext(original_filename="speech.mp4")
    )
    assert metadata.title == "Open Source Software"
    assert metadata.tags[0] == "open source software"
    assert 5 <= len(metadata.tags) <= 15
    for tag in metadata.tags:
        assert tag in SPEECH_TEXT.lower()
    assert metadata.chapters == [Chapter(start_time=0.0, title="Open Source Software")]
    assert "open source software" in metadata.description


@pytest.mark.parametrize(
    ("language", "lines", "expected_tags"),
    [
        (
            "ja",
            [
                "真っ昼間なのにキャンプの外れの電柱に電球がともっていた。",
                "キャンプの電球は明るかった。",
            ],
            {"キャンプ", "電球", "電柱"},
        ),
        (
            "zh",
            ["今天我们来讨论人工智能的发展。", "人工智能正在改变我们的生活。"],
            {"人工智能", "讨论", "发展"},
        ),
    ],
)
def test_scripts_without_spaces_get_real_terms_as_tags(language, lines, expected_tags) -> None:
    transcript = Transcript(
        language=language,
        segments=tuple(Segment(t, i * 4.0, i * 4.0 + 3.5) for i, t in enumerate(lines)),
        duration_seconds=8.0,
    )
    metadata = LocalMetadataGenerator().generate_metadata(
        transcript, MetadataContext(language=language)
    )
    text = "".join(lines)
    assert metadata.tags, "no tags"
    assert expected_tags <= set(metadata.tags), metadata.tags
    assert all(tag in text and len(tag) >= 2 for tag in metadata.tags)
    assert metadata.title in text and metadata.title.strip()
    assert metadata.description.startswith(lines[0])
