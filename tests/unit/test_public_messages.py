"""What owners may read about a failure: errors.redact and errors.public_message."""

from __future__ import annotations

import socket

import pytest

from processor.errors import (
    InvalidMediaError,
    StorageUnavailableError,
    VprocError,
    public_message,
    redact,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "not a readable video (/tmp/vproc-job-7-x1/source: Invalid data)",
            "not a readable video ([path]: Invalid data)",
        ),
        ("cannot reach https://abc.supabase.co/storage/v1?token=s3cr3t", "cannot reach [url]"),
        ("open 'C:\\\\work\\\\source' failed", "open '[path]' failed"),
        ("~/vproc/work/source is gone", "[path] is gone"),
        # Not paths: MIME types, object keys, fractions.
        ("video/mp4 at 3f0e/12/clip.mp4, 1/2 done", "video/mp4 at 3f0e/12/clip.mp4, 1/2 done"),
        ("first line\nTraceback (most recent call last):", "first line"),
    ],
)
def test_redact_removes_paths_and_urls(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redact_removes_the_host_and_concealed_words() -> None:
    host = socket.gethostname()
    worker = f"{host}-4242-a1b2c3"
    line = redact(f"lease held by {worker} on {host}", conceal=(worker,))
    assert host not in line and "4242" not in line
    assert line == "lease held by [worker] on [worker]"


def test_a_taxonomy_error_keeps_its_curated_message() -> None:
    exc = StorageUnavailableError("cannot read videos/owner/a.mp4: Connection refused")
    assert public_message(exc) == "cannot read videos/owner/a.mp4: Connection refused"
    assert public_message(InvalidMediaError("bad /var/lib/vproc/x")) == "bad [path]"


def test_any_other_exception_reads_as_the_generic_internal_line() -> None:
    line = public_message(PermissionError(13, "Permission denied", "/srv/vproc/work/source"))
    assert line == VprocError.__doc__
    assert "/srv" not in line and "Permission" not in line


def test_messages_are_one_bounded_line() -> None:
    line = public_message(InvalidMediaError("x" * 2000 + "\nsecond"))
    assert "\n" not in line and len(line) <= 500
