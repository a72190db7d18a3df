"""processor.backoff: the exponential-with-jitter rule the retry loops share."""

from __future__ import annotations

import random

import pytest

from processor.backoff import Backoff
from processor.db.listener import RECONNECT_BACKOFF
from processor.queue.jobs import FINAL_WRITE_BACKOFF
from processor.queue.worker import CLAIM_BACKOFF


def test_delays_double_from_the_initial_delay_up_to_the_cap() -> None:
    backoff = Backoff(initial_seconds=0.5, max_seconds=30.0)
    assert [backoff.delay(n) for n in range(1, 9)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_a_multiplier_other_than_two() -> None:
    backoff = Backoff(initial_seconds=1.0, max_seconds=100.0, multiplier=3.0)
    assert [backoff.delay(n) for n in range(1, 5)] == [1.0, 3.0, 9.0, 27.0]


def test_a_huge_attempt_stays_at_the_cap() -> None:
    backoff = Backoff(initial_seconds=0.2, max_seconds=5.0)
    assert backoff.delay(10_000) == 5.0
    assert backoff.delay(10**9) == 5.0


def test_jitter_stays_inside_its_range_and_spreads_the_delays() -> None:
    backoff = Backoff(initial_seconds=1.0, max_seconds=1.0, jitter=(0.5, 1.5))
    rng = random.Random(3)
    delays = [backoff.delay(5, rng) for _ in range(500)]
    assert all(0.5 <= d <= 1.5 for d in delays)
    assert min(delays) < 0.6
    assert max(delays) > 1.4


def test_jitter_is_reproducible_with_a_seeded_generator() -> None:
    backoff = Backoff(initial_seconds=1.0, max_seconds=16.0, jitter=(1.0, 1.1))
    first = [backoff.delay(n, random.Random(9)) for n in range(1, 6)]
    again = [backoff.delay(n, random.Random(9)) for n in range(1, 6)]
    assert first == again
    assert all(2 ** (n - 1) <= d <= 2 ** (n - 1) * 1.1 for n, d in enumerate(first, start=1))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial_seconds": -1.0, "max_seconds": 1.0},
        {"initial_seconds": 1.0, "max_seconds": -1.0},
        {"initial_seconds": 1.0, "max_seconds": 2.0, "multiplier": 0.5},
        {"initial_seconds": 1.0, "max_seconds": 2.0, "jitter": (1.5, 0.5)},
        {"initial_seconds": 1.0, "max_seconds": 2.0, "jitter": (-0.1, 1.0)},
    ],
)
def test_nonsense_parameters_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)  # type: ignore[arg-type]


def test_a_cap_below_the_initial_delay_caps_every_delay() -> None:
    backoff = Backoff(initial_seconds=20.0, max_seconds=16.0)
    assert [backoff.delay(n) for n in (1, 2, 3)] == [16.0, 16.0, 16.0]


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError):
        Backoff(initial_seconds=1.0, max_seconds=2.0).delay(0)


def test_the_loops_keep_their_constants() -> None:
    # The claim loop and the final writes spread their retries; the listener does not.
    assert (CLAIM_BACKOFF.initial_seconds, CLAIM_BACKOFF.max_seconds) == (0.5, 30.0)
    assert CLAIM_BACKOFF.jitter == (0.5, 1.5)
    assert (FINAL_WRITE_BACKOFF.initial_seconds, FINAL_WRITE_BACKOFF.max_seconds) == (0.2, 5.0)
    assert FINAL_WRITE_BACKOFF.jitter == (0.75, 1.25)
    assert [RECONNECT_BACKOFF.delay(n) for n in (1, 2, 7, 8)] == [0.5, 1.0, 30.0, 30.0]
