"""Subtitle layout: timed words into readable cues, written as WebVTT and SubRip with pysubs2.

Rules (the usual broadcast ones): at most 42 characters per line and 2 lines per cue, cues
between about 1 and 7 seconds, never overlapping, broken at sentence ends, pauses and commas
rather than mid-phrase. Scripts written without spaces (Chinese, Japanese, Thai) join
words without a space and get shorter lines. Pure logic apart from `write_subtitles`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from processor.ai.contract import Word, is_unspaced_script

MAX_LINE_CHARS = 42
MAX_LINE_CHARS_UNSPACED = 16  # full-width characters per line (Japanese broadcast practice)
MAX_LINES = 2
MIN_CUE_SECONDS = 1.0
MAX_CUE_SECONDS = 7.0
PAUSE_SECONDS = 0.6  # a gap this long between words ends a cue
MIN_GAP_SECONDS = 0.04  # kept between cues so players never show two at once
_SENTENCE_END = (".", "?", "!", "…", "。", "？", "！")
_CLAUSE_END = (",", ";", ":", "—", "，", "、")
_CONJUNCTIONS = frozenset(
    [
        "and",
        "but",
        "or",
        "so",
        "because",
        "which",
        "that",
        "when",
        "while",
        "if",
        "then",
        "although",
        "unless",
        "until",
    ]
)


@dataclass(frozen=True)
class Cue:
    """One subtitle on screen: its lines and when it shows (seconds)."""

    start_time: float
    end_time: float
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True)
class _Token:
    text: str
    start: float
    end: float


def build_cues(
    words: Iterable[Word],
    *,
    media_duration: float | None = None,
    max_line_chars: int = MAX_LINE_CHARS,
    max_lines: int = MAX_LINES,
    min_seconds: float = MIN_CUE_SECONDS,
    max_seconds: float = MAX_CUE_SECONDS,
) -> list[Cue]:
    """Group timed words into cues that obey the layout and timing rules.

    Words must be in time order (a transcript's are). Cue times are word times, stretched to
    `min_seconds` where the neighbours leave room, and never past `media_duration`.
    """
    words = list(words)
    sep = " "
    if is_unspaced_script("".join(w.text for w in words)):
        sep = ""
        max_line_chars = min(max_line_chars, MAX_LINE_CHARS_UNSPACED)
    tokens = _tokens(words, max_line_chars, spaced_script=bool(sep))
    groups: list[list[_Token]] = []
    current: list[_Token] = []
    for token in tokens:
        if current:
            candidate = [*current, token]
            too_long = _wrap(_texts(candidate), max_line_chars, max_lines, sep) is None
            too_slow = token.end - current[0].start > max_seconds
            if too_long or too_slow:
                keep = _best_split(current)
                groups.append(current[:keep])
                current = current[keep:]
            elif _is_soft_break(current, token, min_seconds, sep):
                groups.append(current)
                current = []
        current.append(token)
    if current:
        groups.append(current)
    return _timed(groups, media_duration, max_line_chars, max_lines, min_seconds, max_seconds, sep)


def wrap_lines(text: str, max_line_chars: int = MAX_LINE_CHARS) -> list[str]:
    """Split text into balanced lines of at most `max_line_chars` (two when it fits in two)."""
    lines = _wrap(text.split(" "), max_line_chars, MAX_LINES)
    if lines is not None:
        return lines
    out: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > max_line_chars:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*out, line] if line else out


def write_subtitles(cues: Sequence[Cue], vtt_path: Path, srt_path: Path) -> None:
    """Write the cues as WebVTT and SubRip files (UTF-8) with pysubs2."""
    import pysubs2

    subs = pysubs2.SSAFile()
    for cue in cues:
        event = pysubs2.SSAEvent(start=round(cue.start_time * 1000), end=round(cue.end_time * 1000))
        event.plaintext = cue.text
        subs.append(event)
    subs.save(str(vtt_path), encoding="utf-8", format_="vtt")
    subs.save(str(srt_path), encoding="utf-8", format_="srt")


def _tokens(
    words: Iterable[Word], max_line_chars: int, *, spaced_script: bool = True
) -> list[_Token]:
    """Strip words, drop empty ones, cut words longer than a line, force times monotonic."""
    out: list[_Token] = []
    last_end = 0.0
    words = list(words)
    # Whisper marks a new word with a leading space; a piece without one ("-Proc" after " V")
    # continues the word before it. Only trust that when the words follow the convention.
    spaced = spaced_script and sum(w.text[:1].isspace() for w in words) * 2 > len(words)
    for word in words:
        text = " ".join(word.text.split())
        if not text:
            continue
        start = max(word.start_time, last_end)
        end = max(word.end_time, start)
        continues = spaced and out and not word.text[:1].isspace()
        if continues and len(out[-1].text) + len(text) <= max_line_chars:
            out[-1] = _Token(out[-1].text + text, out[-1].start, end)
            last_end = end
            continue
        pieces = [text[i : i + max_line_chars] for i in range(0, len(text), max_line_chars)]
        step = (end - start) / len(pieces)
        for i, piece in enumerate(pieces):
            out.append(_Token(piece, start + i * step, start + (i + 1) * step))
        last_end = end
    return out


def _texts(tokens: Sequence[_Token]) -> list[str]:
    return [t.text for t in tokens]


def _is_soft_break(
    current: Sequence[_Token], nxt: _Token, min_seconds: float, sep: str = " "
) -> bool:
    """End the cue before `nxt` at a sentence end or pause, or at a clause end once long."""
    last = current[-1]
    chars = len(sep.join(_texts(current)))
    duration = last.end - current[0].start
    settled = duration >= min_seconds or chars >= 16
    pause = nxt.start - last.end
    if pause >= 2 * PAUSE_SECONDS or (pause >= PAUSE_SECONDS and settled):
        return True
    if last.text.endswith(_SENTENCE_END) and settled:
        return True
    return last.text.endswith(_CLAUSE_END) and chars >= (
        MAX_LINE_CHARS if sep else MAX_LINE_CHARS_UNSPACED
    )


def _best_split(tokens: Sequence[_Token]) -> int:
    """How many tokens a full cue keeps; the rest starts the next cue.

    Candidates are the break points in the cue's second half, scored: after punctuation,
    before a conjunction, at a pause. With no good candidate the cue keeps everything.
    """
    best_keep, best_score = len(tokens), 0.5
    for keep in range(max(len(tokens) // 2, 1), len(tokens)):
        last, nxt = tokens[keep - 1], tokens[keep]
        score = min(nxt.start - last.end, 1.0) * 2
        if last.text.endswith(_SENTENCE_END):
            score += 4
        elif last.text.endswith(_CLAUSE_END):
            score += 3
        if nxt.text.lower().strip("\"'“”¿¡(") in _CONJUNCTIONS:
            score += 2
        if score >= best_score:
            best_keep, best_score = keep, score
    return best_keep


def _wrap(
    words: Sequence[str], max_line_chars: int, max_lines: int, sep: str = " "
) -> list[str] | None:
    """Balanced lines for `words` joined by `sep`, or None if it needs more than `max_lines`."""
    text = sep.join(words)
    if len(text) <= max_line_chars:
        return [text]
    if max_lines < 2:
        return None
    best: tuple[float, int] | None = None
    for i in range(1, len(words)):
        first, second = sep.join(words[:i]), sep.join(words[i:])
        if len(first) > max_line_chars:
            break
        if len(second) > max_line_chars:
            continue
        # Prefer balanced lines, and breaking after punctuation.
        after_punctuation = first.endswith(_SENTENCE_END + _CLAUSE_END)
        cost = abs(len(first) - len(second)) - (8 if after_punctuation else 0)
        if best is None or cost < best[0]:
            best = (cost, i)
    if best is None:
        return None
    i = best[1]
    return [sep.join(words[:i]), sep.join(words[i:])]


def _timed(
    groups: Sequence[Sequence[_Token]],
    media_duration: float | None,
    max_line_chars: int,
    max_lines: int,
    min_seconds: float,
    max_seconds: float,
    sep: str = " ",
) -> list[Cue]:
    """Give each group a start and end: word times, stretched to the minimum where there is
    room, capped at the maximum, never overlapping the neighbours or passing the media end."""
    spans = [[g[0].start, g[-1].end] for g in groups]
    limit = media_duration if media_duration and media_duration > 0 else None
    for i, span in enumerate(spans):
        previous_end = spans[i - 1][1] + MIN_GAP_SECONDS if i else 0.0
        next_start = spans[i + 1][0] - MIN_GAP_SECONDS if i + 1 < len(spans) else None
        span[0] = max(span[0], previous_end)
        bounds = [x for x in (next_start, limit) if x is not None]
        ceiling = min(bounds) if bounds else None
        if span[1] - span[0] < min_seconds:
            wanted = span[0] + min_seconds
            span[1] = wanted if ceiling is None else max(span[1], min(wanted, ceiling))
        if span[1] - span[0] < min_seconds:
            span[0] = max(previous_end, span[1] - min_seconds)
        span[1] = min(span[1], span[0] + max_seconds)
        if limit is not None:
            span[1] = min(span[1], limit)
        span[1] = max(span[1], span[0] + 0.001)
    cues = []
    for group, (start, end) in zip(groups, spans, strict=True):
        text = sep.join(_texts(group))
        lines = _wrap(_texts(group), max_line_chars, max_lines, sep)
        if lines is None:
            lines = (
                wrap_lines(text, max_line_chars)
                if sep
                else [text[i : i + max_line_chars] for i in range(0, len(text), max_line_chars)]
            )
        cues.append(Cue(round(start, 3), round(end, 3), tuple(lines)))
    return cues
