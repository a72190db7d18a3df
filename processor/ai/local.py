"""Offline metadata: YAKE keywords, an extractive summary, chapters from pauses and topic shifts.

Needs no key, network or model weights, and is deterministic: the same transcript and context
always give the same metadata. Every tag and title is a phrase found in the transcript.
Scripts written without spaces (Japanese, Chinese, Thai) are not fed to YAKE, which needs word
boundaries: their terms are runs of one script (kanji, katakana) and frequent character pairs.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import PurePath

import yake

from processor.ai.contract import (
    Chapter,
    GeneratedMetadata,
    MetadataContext,
    Segment,
    Transcript,
    is_unspaced_script,
)
from processor.ai.timestamps import format_timestamp

ALGORITHM_VERSION = "local-v1"


# Words that YAKE's stopword lists keep but that make poor tags or titles in spoken English:
# greetings, fillers, discourse markers and generic verbs.
def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_FILLER = _word_set(
    """
    actually alright anyway anything back basically bit bye channel cool couple everybody
    everyone folks going gonna got guys hello hey hi hmm kind let lets let's like lot lots
    maybe mean mhm okay ok oh pretty probably really right say saying says see seen show
    showing something sort stuff subscribe sure talk talking thank thanks thing things think
    today tomorrow uh um wanna want watch watching way welcome well whatever yeah
    yep yes yesterday first second third next finally also just now then start started
    starting get getting gets make making makes made need needs use using used look looking
    know knows go goes went come comes take takes took put puts give gives try trying tried
    great good nice awesome bunch today's short quick little
    """
)
# Words that are fine inside a phrase ("video processing") but too vague as a tag on their own.
_VAGUE_ALONE = _word_set("video videos episode part channel content stuff file files")

_WORD = re.compile(r"[^\W_](?:[\w'’-]*[^\W_])?")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+|(?<=[。！？])[」』”’)\]]*\s*")
_FULL_STOPS = ".!?…。！？"
# Runs of one script in unspaced text: kanji (with 々), katakana (with ー), Latin words, digits.
# Hiragana runs (particles, inflections) and punctuation separate terms and are never terms.
_TERM_RUN = re.compile(
    r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆]+|[\u30a1-\u30faー]+|[A-Za-z][A-Za-z'-]+"
    r"|[\u0e00-\u0e7f]+"
)
MAX_TERM_CHARS = 4  # a longer kanji run (Chinese has no kana) is cut into character pairs
_KANJI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆]+")
# Chinese function characters that end a word: long kanji runs are first cut at them.
_CHINESE_PARTICLES = re.compile("[的了是在我你他她它们这那也和与就都着吗呢吧把被很又还来]+")


@dataclass(frozen=True)
class _Sentence:
    index: int
    text: str
    start_time: float


@dataclass(frozen=True)
class _Keyphrase:
    text: str  # as first written in the transcript
    key: str  # normalised for comparison: lower case, crude singular
    words: frozenset[str]
    score: float  # lower is better
    sequence: tuple[str, ...] = ()  # the words, lower case, in order
    occurrences: int = 1


def _words(text: str) -> list[str]:
    return [w.casefold().replace("’", "'") for w in _WORD.findall(text)]


def _stem(word: str) -> str:
    """A crude singular so `video`/`videos` and `policy`/`policies` compare equal."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _language_code(language: str | None) -> str:
    code = (language or "en").strip().lower()[:2]
    return code if code.isalpha() and len(code) == 2 else "en"


def _title_case(phrase: str, stopwords: frozenset[str], language: str = "en") -> str:
    """Capitalise lower-case words (English) or the first word (other languages).

    Acronyms and brand casing ("pgvector", "API") are kept as written.
    """
    out = []
    for position, word in enumerate(phrase.split()):
        wanted = position == 0 or (language == "en" and word not in stopwords)
        if word.islower() and wanted:
            word = word[0].upper() + word[1:]
        out.append(word)
    return " ".join(out)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return (cut or text[: limit - 1]) + "…"


class LocalMetadataGenerator:
    """MetadataGenerator that runs on the CPU with no key or network."""

    name = "local"
    model = "yake-extractive"
    prompt_version = ALGORITHM_VERSION

    def __init__(
        self,
        *,
        min_tags: int = 5,
        max_tags: int = 15,
        max_chapters: int = 12,
        min_chapter_seconds: float = 30.0,
    ) -> None:
        self.min_tags = min_tags
        self.max_tags = max_tags
        self.max_chapters = max_chapters
        self.min_chapter_seconds = min_chapter_seconds

    def generate_metadata(
        self, transcript: Transcript, context: MetadataContext
    ) -> GeneratedMetadata:
        """Generate metadata from the transcript alone (the file name only as a last resort)."""
        language = _language_code(context.language or transcript.language)
        extractor = yake.KeywordExtractor(lan=language, n=3, dedup_lim=0.7, top=60)
        stopwords = frozenset(w.strip() for w in extractor.stopword_set if w.strip()) | _FILLER
        text = transcript.text
        unspaced = is_unspaced_script(text)
        sentences = _sentences(transcript)
        if unspaced:
            keyphrases = _script_terms(text)
            # No top-up from single words: the regex word split does not fit these scripts.
            tags = _tags(keyphrases, "", stopwords, self.min_tags, self.max_tags)
        else:
            keyphrases = _keyphrases(extractor, text, stopwords)
            tags = _tags(keyphrases, text, stopwords, self.min_tags, self.max_tags)
        ranked = _rank_sentences(sentences, keyphrases, stopwords)
        if unspaced and ranked:
            title = _clip(ranked[0].text.rstrip(_FULL_STOPS), 60)
        else:
            title = _title(keyphrases, sentences, context, stopwords, language)
        chapters = self._chapters(transcript, language, stopwords, title, unspaced=unspaced)
        description = _description(ranked, sentences)
        show_notes = _show_notes(ranked, sentences, chapters, tags, description)
        return GeneratedMetadata(
            title=title,
            description=description,
            tags=tags,
            show_notes=show_notes,
            chapters=chapters,
        )

    def _chapters(
        self,
        transcript: Transcript,
        language: str,
        stopwords: frozenset[str],
        video_title: str,
        *,
        unspaced: bool = False,
    ) -> list[Chapter]:
        segments = [s for s in transcript.segments if s.text.strip()]
        if not segments:
            return []
        duration = max(transcript.duration_seconds, segments[-1].end_time)
        starts = _chapter_starts(
            segments, duration, stopwords, self.min_chapter_seconds, self.max_chapters
        )
        if len(starts) == 1:
            return [Chapter(start_time=0.0, title=video_title)]
        extractor = yake.KeywordExtractor(lan=language, n=3, dedup_lim=0.7, top=20)
        chapters: list[Chapter] = []
        used: set[str] = set()
        bounds = [*starts, math.inf]
        for number, start in enumerate(starts, 1):
            text = " ".join(
                s.text.strip() for s in segments if start <= s.start_time < bounds[number]
            )
            title = None
            phrases = _script_terms(text) if unspaced else _keyphrases(extractor, text, stopwords)
            for phrase in phrases:
                if phrase.key not in used:
                    used.add(phrase.key)
                    title = _title_case(phrase.text, stopwords, language)
                    break
            if title is None:
                title = _clip(text, 60) or f"Part {number}"
            chapters.append(Chapter(start_time=float(int(start)), title=_clip(title, 100)))
        return chapters


def _sentences(transcript: Transcript) -> list[_Sentence]:
    """Split the transcript into sentences across segment boundaries, each with a start time."""
    pieces: list[tuple[str, float]] = []
    pending = ""
    pending_start = 0.0
    for segment in transcript.segments:
        text = " ".join(segment.text.split())
        if not text:
            continue
        if not pending:
            pending_start = segment.start_time
        pending = f"{pending} {text}".strip()
        parts = _SENTENCE_END.split(pending)
        for part in parts[:-1]:
            if part.strip():
                pieces.append((part.strip(), pending_start))
            pending_start = segment.start_time
        pending = parts[-1]
        if pending and pending[-1] in _FULL_STOPS:
            pieces.append((pending, pending_start))
            pending = ""
    if pending.strip():
        pieces.append((pending.strip(), pending_start))
    return [_Sentence(i, text, start) for i, (text, start) in enumerate(pieces)]


def _keyphrases(
    extractor: yake.KeywordExtractor, text: str, stopwords: frozenset[str]
) -> list[_Keyphrase]:
    """YAKE candidates that make sense as tags, best first, with their first surface form.

    YAKE scores single documents without a corpus; frequency breaks its habit of ranking
    one-off phrases highly in conversational text.
    """
    if not text.strip():
        return []
    found: list[_Keyphrase] = []
    seen: set[str] = set()
    for order, (candidate, score) in enumerate(extractor.extract_keywords(text)):
        words = _words(candidate)
        if not words or len(words) > 3 or any(w in _FILLER for w in words):
            continue
        # Only phrases of content words: "backend on supabase" reads as a fragment, not a topic.
        if any(w in stopwords for w in words):
            continue
        key = " ".join(_stem(w) for w in words)
        if key in seen:
            continue
        pattern = r"(?<!\w)" + r"\W+".join(re.escape(w) for w in candidate.split()) + r"(?!\w)"
        matches = list(re.finditer(pattern, text, re.IGNORECASE))
        occurrences = max(1, len(matches))
        rank = float(score) / (1.0 + math.log1p(occurrences))
        if len(words) == 1:
            word = words[0]
            if len(word) < 3 or word.isdigit() or word in _VAGUE_ALONE:
                continue
            # A single common word said once is rarely a topic; a name said once may be.
            if occurrences < 2 and not _is_name(matches, text):
                continue
        else:
            rank *= 0.75
        seen.add(key)
        shown = " ".join(matches[0].group(0).split()) if matches else candidate
        found.append(
            _Keyphrase(
                text=shown,
                key=key,
                words=frozenset(_stem(w) for w in words),
                score=rank + order * 1e-9,
                sequence=tuple(words),
                occurrences=occurrences,
            )
        )
    # Drop a phrase that is never said outside a longer candidate ("row level" inside
    # "row level security"): the longer one is the topic.
    found = [
        k
        for k in found
        if not any(
            len(other.sequence) > len(k.sequence)
            and other.occurrences >= k.occurrences
            and _contains(other.sequence, k.sequence)
            for other in found
        )
    ]
    found.sort(key=lambda k: k.score)
    return found


def _script_terms(text: str) -> list[_Keyphrase]:
    """Terms of unspaced text, most frequent (then longest, then earliest) first.

    A katakana run, or a kanji run of 2..MAX_TERM_CHARS characters, is a term as it stands
    (Japanese compounds: 電球, キャンプ). A longer kanji run (Chinese has no kana between
    words) is cut at function characters, and what is still long into character pairs, as
    most Chinese words are two characters; two pairs that only ever occur together are one
    four-character term (人工 + 智能).
    """
    groups = [
        [(match.start() + offset, piece) for offset, piece in group]
        for match in _TERM_RUN.finditer(text)
        for group in _term_groups(match.group(0))
    ]
    single = Counter(piece for group in groups for _, piece in group)
    adjacent = Counter((a[1], b[1]) for group in groups for a, b in pairwise(group))
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    for group in groups:
        i = 0
        while i < len(group):
            position, piece = group[i]
            step = 1
            if i + 1 < len(group):
                nxt = group[i + 1][1]
                together = adjacent[(piece, nxt)]
                if together >= 2 and together == single[piece] == single[nxt]:
                    piece, step = piece + nxt, 2
            counts[piece] += 1
            first.setdefault(piece, position)
            i += step
    ranked = sorted(counts, key=lambda t: (-counts[t], -len(t), first[t]))
    terms: list[_Keyphrase] = []
    for order, term in enumerate(ranked):
        terms.append(
            _Keyphrase(
                text=term,
                key=term.casefold(),
                words=frozenset([term.casefold()]),
                score=1.0 / (1.0 + counts[term]) + order * 1e-6,
                sequence=(term.casefold(),),
                occurrences=counts[term],
            )
        )
    return terms


def _term_groups(run: str) -> list[list[tuple[int, str]]]:
    """Runs of adjacent (offset, term) pieces of one script run (see `_script_terms`)."""
    if not _KANJI.fullmatch(run) or len(run) <= MAX_TERM_CHARS:
        return [[(0, run[:30])]] if len(run) >= 2 else []
    groups: list[list[tuple[int, str]]] = []
    position = 0
    for part in _CHINESE_PARTICLES.split(run):
        start = run.index(part, position) if part else position
        position = start + len(part)
        if len(part) <= MAX_TERM_CHARS:
            if len(part) >= 2:
                groups.append([(start, part)])
            continue
        groups.append([(start + i, part[i : i + 2]) for i in range(0, len(part) - 1, 2)])
    return groups


def _contains(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    size = len(shorter)
    return any(longer[i : i + size] == shorter for i in range(len(longer) - size + 1))


def _is_name(matches: Sequence[re.Match[str]], text: str) -> bool:
    """Whether a word is written like a name: capitalised away from a sentence start."""
    for match in matches:
        word = match.group(0)
        if not word[:1].isupper():
            continue
        before = text[: match.start()].rstrip()
        if before and before[-1] not in ".!?…\"'“‘(":
            return True
        if len(word) > 1 and word.isupper():
            return True
    return False


def _tags(
    keyphrases: Sequence[_Keyphrase],
    text: str,
    stopwords: frozenset[str],
    min_tags: int,
    max_tags: int,
) -> list[str]:
    """Lower-case tags from the keyphrases; frequent content words top up a short list.

    A phrase whose words are all covered by chosen tags is used only when the list is short.
    """
    chosen: list[str] = []
    keys: set[str] = set()
    covered: set[str] = set()
    deferred: list[_Keyphrase] = []
    for phrase in keyphrases:
        if len(chosen) >= max_tags:
            break
        if phrase.words <= covered:
            deferred.append(phrase)
            continue
        chosen.append(phrase.text.lower())
        keys.add(phrase.key)
        covered |= phrase.words
    for phrase in deferred:
        if len(chosen) >= min_tags:
            break
        chosen.append(phrase.text.lower())
        keys.add(phrase.key)
    if len(chosen) < min_tags:
        counts = Counter(
            w
            for w in _words(text)
            if len(w) >= 3 and w not in stopwords and w not in _VAGUE_ALONE and not w.isdigit()
        )
        # Most frequent first, then longer (more specific), then in spoken order; words of
        # chosen phrases come last.
        words = sorted(counts, key=lambda w: (_stem(w) in covered, -counts[w], -len(w)))
        for word in words:
            if len(chosen) >= min_tags:
                break
            if _stem(word) not in keys:
                chosen.append(word)
                keys.add(_stem(word))
    return [_clip(tag, 50) for tag in chosen[:max_tags]]


def _title(
    keyphrases: Sequence[_Keyphrase],
    sentences: Sequence[_Sentence],
    context: MetadataContext,
    stopwords: frozenset[str],
    language: str,
) -> str:
    """The leading key phrase (preferring a multi-word one), joined by a close second."""
    multi = [k for k in keyphrases[:8] if len(k.words) > 1]
    leading = multi[0] if multi else (keyphrases[0] if keyphrases else None)
    if leading is not None:
        title = _title_case(leading.text, stopwords, language)
        # A second topic joins a short title only when it scores almost as well.
        partner = next(
            (k for k in multi if not (k.words & leading.words) and k.score <= 2 * leading.score),
            None,
        )
        if len(title) < 24 and partner is not None:
            joiner = " and " if language == "en" else " – "
            title += joiner + _title_case(partner.text, stopwords, language)
        return _clip(title, 100)
    if sentences:
        return _clip(sentences[0].text.rstrip(".!?…"), 100)
    if context.original_filename:
        stem = PurePath(context.original_filename).stem
        pretty = " ".join(re.sub(r"[_\-.]+", " ", stem).split())
        if pretty:
            return _clip(_title_case(pretty, stopwords, language), 100)
    return "Untitled video"


def _rank_sentences(
    sentences: Sequence[_Sentence],
    keyphrases: Sequence[_Keyphrase],
    stopwords: frozenset[str],
) -> list[_Sentence]:
    """Sentences by salience: frequent content words and key phrases, per sqrt of length.

    Sentences of fewer than four words count only when there is nothing longer.
    """
    content = [[_stem(w) for w in _words(s.text) if w not in stopwords] for s in sentences]
    frequency = Counter(w for words in content for w in set(words))
    top = max(frequency.values(), default=1)
    phrase_weight = {k.key: 1.0 / (1.0 + i) for i, k in enumerate(keyphrases[:20])}
    scored: list[tuple[float, int, _Sentence]] = []
    has_long = any(len(_words(s.text)) >= 4 for s in sentences)
    for sentence, words in zip(sentences, content, strict=True):
        if has_long and len(_words(sentence.text)) < 4:
            continue
        if not words:
            scored.append((0.0, sentence.index, sentence))
            continue
        stems = " ".join(words)
        score = sum(frequency[w] / top for w in set(words))
        score += 2.0 * sum(
            weight for key, weight in phrase_weight.items() if f" {key} " in f" {stems} "
        )
        scored.append((score / math.sqrt(len(words)), sentence.index, sentence))
    scored.sort(key=lambda item: (-item[0], item[1]))
    picked: list[_Sentence] = []
    picked_words: list[set[str]] = []
    for _, _, sentence in scored:
        distinct = set(content[sentence.index])
        if any(_jaccard(distinct, other) > 0.6 for other in picked_words):
            continue
        picked.append(sentence)
        picked_words.append(distinct)
    return picked


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _description(ranked: Sequence[_Sentence], sentences: Sequence[_Sentence]) -> str:
    """The best two or three sentences in spoken order, about 150 to 400 characters."""
    chosen: list[_Sentence] = []
    length = 0
    for sentence in ranked:
        if len(chosen) >= 3 or length >= 150:
            break
        if chosen and length + len(sentence.text) > 400:
            continue
        chosen.append(sentence)
        length += len(sentence.text) + 1
    if not chosen and sentences:
        chosen = [sentences[0]]
    return _clip(" ".join(s.text for s in sorted(chosen, key=lambda s: s.index)), 500)


def _show_notes(
    ranked: Sequence[_Sentence],
    sentences: Sequence[_Sentence],
    chapters: Sequence[Chapter],
    tags: Sequence[str],
    description: str,
) -> str:
    """Markdown: summary, timestamped highlights, the chapter list and topics."""
    blocks: list[str] = []
    summary = sorted(ranked[:5], key=lambda s: s.index)
    if summary:
        blocks.append("## Summary\n\n" + " ".join(s.text for s in summary))
    elif description:
        blocks.append("## Summary\n\n" + description)
    highlights = sorted(ranked[:6], key=lambda s: s.index) if len(sentences) > 3 else []
    if highlights:
        blocks.append(
            "## Highlights\n\n"
            + "\n".join(f"- **{format_timestamp(s.start_time)}** {s.text}" for s in highlights)
        )
    if chapters:
        blocks.append(
            "## Chapters\n\n"
            + "\n".join(f"- {format_timestamp(c.start_time)} {c.title}" for c in chapters)
        )
    if tags:
        blocks.append("## Topics\n\n" + ", ".join(tags))
    return "\n\n".join(blocks) + "\n" if blocks else ""


def _bag(segments: Iterable[Segment], stopwords: frozenset[str]) -> Counter[str]:
    return Counter(
        _stem(w) for s in segments for w in _words(s.text) if w not in stopwords and len(w) > 2
    )


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    if not a or not b:
        return 0.0
    dot = sum(count * b[word] for word, count in a.items() if word in b)
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


def _chapter_starts(
    segments: Sequence[Segment],
    duration: float,
    stopwords: frozenset[str],
    min_chapter_seconds: float,
    max_chapters: int,
) -> list[float]:
    """Chapter start times: 0, then the strongest pause-or-topic-shift boundaries.

    A boundary before segment i scores the vocabulary change between the segments just before
    and just after it (1 - cosine similarity) plus the silence before it (capped at 3 s).
    Boundaries keep chapters at least `min_length` long, where min_length grows with duration
    so a long video gets at most max_chapters; only above-average boundaries are taken.
    """
    min_length = max(min_chapter_seconds, duration / max(1, max_chapters))
    if duration < 2 * min_length or len(segments) < 4:
        return [0.0]
    window = 3
    candidates: list[tuple[float, float]] = []
    for i in range(1, len(segments)):
        start = segments[i].start_time
        if start < min_length or duration - start < min_length:
            continue
        pause = max(0.0, start - segments[i - 1].end_time)
        before = _bag(segments[max(0, i - window) : i], stopwords)
        after = _bag(segments[i : i + window], stopwords)
        shift = 1.0 - _cosine(before, after)
        candidates.append((shift + min(pause, 3.0) / 3.0, start))
    if not candidates:
        return [0.0]
    scores = [score for score, _ in candidates]
    mean = sum(scores) / len(scores)
    spread = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
    threshold = mean + 0.25 * spread
    starts = [0.0]
    for score, start in sorted(candidates, key=lambda c: (-c[0], c[1])):
        if len(starts) >= max_chapters:
            break
        if score < threshold:
            break
        if all(abs(start - other) >= min_length for other in starts):
            starts.append(start)
    return sorted(starts)
