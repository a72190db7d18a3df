"""Exponential backoff with jitter: the one rule every retry loop in vproc sleeps by.

Each loop keeps its own constants (a `Backoff`) beside the loop; this module owns only the math.
Job retries are not here: `fail_job` computes their `run_after` in SQL.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Delays that double (by `multiplier`) from `initial_seconds` up to `max_seconds`.

    `jitter` is the range of a uniform factor the capped delay is multiplied by: (1.0, 1.0) is
    no jitter, (0.5, 1.5) spreads each delay ±50 % so workers that failed together do not
    retry together, (1.0, 1.1) only ever adds up to 10 %.
    """

    initial_seconds: float
    max_seconds: float
    multiplier: float = 2.0
    jitter: tuple[float, float] = (1.0, 1.0)

    def __post_init__(self) -> None:
        low, high = self.jitter
        # max_seconds below initial_seconds is allowed: every delay is then the cap.
        if self.initial_seconds < 0 or self.max_seconds < 0:
            raise ValueError("Backoff needs initial_seconds >= 0 and max_seconds >= 0")
        if self.multiplier < 1 or not 0 <= low <= high:
            raise ValueError("Backoff needs multiplier >= 1 and 0 <= jitter low <= high")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failure number `attempt` (1 for the first failure).

        The delay is `initial_seconds * multiplier ** (attempt - 1)`, capped at `max_seconds`,
        then scaled by a factor drawn from `jitter` (with `rng`, else the module's generator).
        """
        if attempt < 1:
            raise ValueError(f"attempt counts from 1, got {attempt}")
        # Past the cap the exponent only grows; stop computing it before it overflows.
        exponent = min(attempt - 1, 1024)
        try:
            base = min(self.initial_seconds * self.multiplier**exponent, self.max_seconds)
        except OverflowError:
            base = self.max_seconds
        low, high = self.jitter
        if low == high:
            return base * low
        return base * (rng or random).uniform(low, high)
