"""The stop callback that long-running work calls between units (windows, packets, frames)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

RaiseIfInterrupted: TypeAlias = Callable[[], None]
"""Raises if the job must stop now: it was cancelled, its lease was lost, or the worker is
shutting down (JobCancelledError, LeaseLostError, ShutdownRequestedError)."""
