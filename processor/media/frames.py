"""Frame scoring for thumbnails: exposure, contrast and sharpness of a grey-scale picture.

Pure numpy, so the rules are unit-tested without decoding anything.
"""

from __future__ import annotations

import math

import numpy as np

DARK_LEVEL = 24  # grey levels (0..255) counted as black
BRIGHT_LEVEL = 235  # … and as blown out
MIN_STD = 6.0  # below this contrast a frame is flat (a fade, a title card of one colour)


def score_frame(gray: np.ndarray) -> float:
    """Score a grey-scale frame (2-D uint8); 0 for black, blown-out or flat frames.

    Higher is better: sharp detail (mean absolute Laplacian, log-scaled), weighted by how well
    exposed and how contrasty the frame is and by how much of it is neither black nor white.
    """
    if gray.ndim != 2 or min(gray.shape) < 3:
        return 0.0
    g = gray.astype(np.float32)
    mean = float(g.mean())
    std = float(g.std())
    if mean < DARK_LEVEL or mean > BRIGHT_LEVEL or std < MIN_STD:
        return 0.0
    laplacian = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    sharpness = math.log1p(float(np.abs(laplacian).mean()))
    exposure = 1.0 - abs(mean - 120.0) / 120.0
    contrast = min(std / 60.0, 1.0)
    clipped = float(((g < DARK_LEVEL) | (g > BRIGHT_LEVEL)).mean())
    return sharpness * (0.5 + 0.5 * exposure) * (0.5 + 0.5 * contrast) * (1.0 - 0.8 * clipped)


def brightness(gray: np.ndarray) -> float:
    """Mean grey level, the tie-breaker when every candidate scores 0."""
    return float(gray.mean()) if gray.size else 0.0


def fit_width(width: int, height: int, max_width: int) -> tuple[int, int]:
    """Scale (width, height) down to at most `max_width` wide, keeping the aspect, even sizes."""
    if width <= max_width:
        new_w, new_h = width, height
    else:
        new_w, new_h = max_width, round(height * max_width / width)
    return max(2, new_w - new_w % 2), max(2, new_h - new_h % 2)
