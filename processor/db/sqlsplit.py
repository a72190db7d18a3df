"""Split a SQL file into statements exactly as the Supabase CLI does.

The CLI records each migration in `supabase_migrations.schema_migrations.statements` as the
list its parser (`pkg/parser`, `SplitAndTrim`) produces, so `vproc db migrate` must split the
same way for both tools to keep identical rows. This is a port of that state machine:
semicolons end a statement except inside quotes, dollar-quoted bodies, comments, parentheses
and `BEGIN ATOMIC … END` blocks; each statement then loses its trailing semicolons and
surrounding white space, and empty ones are dropped. Comments stay inside statements.
"""

from __future__ import annotations

import unicodedata

# Characters trimmed around a statement (the CLI's notion of white space).
_TRIM = frozenset("\t\n\v\f\r \xa0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)


def _is_tag_char(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category.startswith("L") or category == "Nd" or ch == "_"


def _is_ident(ch: str) -> bool:
    return _is_tag_char(ch) or ch == "$"


def _ends_with_begin_atomic(token: str) -> bool:
    """Whether `token` ends in the keywords BEGIN ATOMIC (case-insensitive, own words)."""
    if len(token) < 6 or token[-6:].upper() != "ATOMIC":
        return False
    head = token[:-6]
    if head and _is_ident(head[-1]):
        return False
    head = head.rstrip("".join(_TRIM))
    if len(head) < 5 or head[-5:].upper() != "BEGIN":
        return False
    return len(head) == 5 or not _is_ident(head[-6])


class _State:
    def next(self, ch: str, token: str) -> _State | None:  # None: the statement ends here
        raise NotImplementedError


class _Ready(_State):
    def next(self, ch: str, token: str) -> _State | None:
        if ch == "$":
            return _Tag(len(token) - 1)
        if ch in "'\"":
            return _Quote(ch)
        if ch == "-":
            return _MaybeLineComment()
        if ch == "/":
            return _BlockComment()
        if ch == "\\":
            return _Escape()
        if ch == ";":
            return None
        if ch == "(":
            return _Nested(self, ")")
        if ch in "cC" and _ends_with_begin_atomic(token):
            return _Nested(self, "END")
        return self


class _MaybeLineComment(_State):
    def next(self, ch: str, token: str) -> _State | None:
        if ch == "-":
            return _Delimited("\n")
        return _Ready().next(ch, token)


class _BlockComment(_State):
    def __init__(self) -> None:
        self.depth = 0

    def next(self, ch: str, token: str) -> _State | None:
        window = token[-2:]
        if window == "/*":
            self.depth += 1
            return self
        if self.depth == 0:
            return _Ready().next(ch, token)
        if window == "*/":
            self.depth -= 1
            if self.depth == 0:
                return _Ready()
        return self


class _Quote(_State):
    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter
        self.maybe_closed = False

    def next(self, ch: str, token: str) -> _State | None:
        if self.maybe_closed:
            if ch == self.delimiter:  # a doubled quote is an escaped quote
                self.maybe_closed = False
                return self
            return _Ready().next(ch, token)
        if ch == self.delimiter:
            self.maybe_closed = True
        return self


class _Delimited(_State):
    """Inside a dollar-quoted body or a line comment, until `delimiter` closes it."""

    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter

    def next(self, ch: str, token: str) -> _State | None:
        return _Ready() if token.endswith(self.delimiter) else self


class _Tag(_State):
    def __init__(self, offset: int) -> None:
        self.offset = offset

    def next(self, ch: str, token: str) -> _State | None:
        if ch == "$":
            return _Delimited(token[self.offset :])
        if _is_tag_char(ch):
            return self
        return _Ready().next(ch, token)


class _Escape(_State):
    def next(self, ch: str, token: str) -> _State | None:
        return _Ready()


class _Nested(_State):
    """Inside parentheses or BEGIN ATOMIC: semicolons do not end the statement."""

    def __init__(self, outer: _State, closer: str) -> None:
        self.inner: _State = outer
        self.closer = closer

    def next(self, ch: str, token: str) -> _State | None:
        following = self.inner.next(ch, token)
        if following is not None:
            self.inner = following
        if isinstance(self.inner, _Ready) and token[-len(self.closer) :].upper() == self.closer:
            return _Ready()
        return self


def split_raw(sql: str) -> list[str]:
    """Split into raw statements, each keeping its terminating semicolon and white space."""
    tokens: list[str] = []
    state: _State | None = _Ready()
    start = 0
    for index, ch in enumerate(sql):
        assert state is not None
        state = state.next(ch, sql[start : index + 1])
        if state is None:
            tokens.append(sql[start : index + 1])
            start, state = index + 1, _Ready()
    if start < len(sql):
        tokens.append(sql[start:])
    return tokens


def split_statements(sql: str) -> list[str]:
    """Split and trim as the Supabase CLI records statements; empty statements are dropped."""
    trim = "".join(_TRIM)
    statements = (token.rstrip(";").strip(trim) for token in split_raw(sql))
    return [statement for statement in statements if statement]
