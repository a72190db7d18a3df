"""A waveform picture for audio-only media: per-column peaks drawn as a centred bar chart.

Pure numpy (PyAV reads the peaks and encodes the JPEG in `pyav.py`).
"""

from __future__ import annotations

import numpy as np

WIDTH = 1280
HEIGHT = 720
BACKGROUND = (18, 24, 38)  # dark blue-grey
WAVE = (94, 180, 255)  # light blue
MIDLINE = (60, 72, 96)
MARGIN = 0.1  # share of the height left free above and below the loudest peak


def column_peaks(samples: np.ndarray, columns: int) -> np.ndarray:
    """The largest absolute sample (0..1) in each of `columns` equal slices of `samples`."""
    if columns <= 0:
        return np.zeros(0, dtype=np.float32)
    if len(samples) == 0:
        return np.zeros(columns, dtype=np.float32)
    edges = np.linspace(0, len(samples), columns + 1).astype(np.int64)
    magnitude = np.abs(samples.astype(np.float32))
    peaks = np.zeros(columns, dtype=np.float32)
    for i in range(columns):
        lo, hi = edges[i], max(edges[i + 1], edges[i] + 1)
        peaks[i] = magnitude[lo:hi].max(initial=0.0)
    return peaks


def render(peaks: np.ndarray, *, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """An RGB image (height, width, 3) of `peaks` (0..1, one per column), scaled to the
    loudest peak so quiet recordings still show their shape."""
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = BACKGROUND
    middle = height // 2
    image[middle, :] = MIDLINE
    if len(peaks) == 0:
        return image
    resampled = np.interp(
        np.linspace(0, len(peaks) - 1, width), np.arange(len(peaks)), peaks.astype(np.float64)
    )
    loudest = float(resampled.max())
    if loudest <= 0:
        return image
    half = (resampled / loudest) * (middle * (1 - MARGIN))
    rows = np.arange(height)[:, None]
    mask = np.abs(rows - middle) <= np.maximum(half, 1.0)[None, :]
    image[mask] = WAVE
    return image
