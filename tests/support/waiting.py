"""Wait on a condition instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    predicate: Callable[[], object], timeout: float = 10.0, *, what: str, interval: float = 0.01
) -> object:
    """Poll `predicate` until it returns a truthy value; fail saying `what` never happened."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for: {what}")
        time.sleep(interval)
