"""Thumbnail frame scoring: black, blown-out and flat frames lose; sharp, exposed ones win."""

from __future__ import annotations

import numpy as np
import pytest

from processor.media.frames import fit_width, score_frame


def checker(size: int = 64, cell: int = 8, low: int = 40, high: int = 200) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size]
    return np.where(((x // cell) + (y // cell)) % 2 == 0, low, high).astype(np.uint8)


def blur(gray: np.ndarray, passes: int = 6) -> np.ndarray:
    out = gray.astype(np.float32)
    for _ in range(passes):
        out = (out + np.roll(out, 1, 0) + np.roll(out, -1, 0) + np.roll(out, 1, 1)) / 4
    return out.astype(np.uint8)


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((48, 64), np.uint8),  # black
        np.full((48, 64), 250, np.uint8),  # blown out
        np.full((48, 64), 128, np.uint8),  # flat grey
        np.full((2, 64), 128, np.uint8),  # too small to judge
    ],
    ids=["black", "white", "flat", "tiny"],
)
def test_unusable_frames_score_zero(frame: np.ndarray) -> None:
    assert score_frame(frame) == 0.0


def test_sharp_beats_blurred_and_well_exposed_beats_dark() -> None:
    sharp = checker()
    assert score_frame(sharp) > score_frame(blur(sharp)) > 0
    dark = checker(low=5, high=60)
    assert score_frame(sharp) > score_frame(dark)


def test_fit_width_keeps_aspect_and_even_sizes() -> None:
    assert fit_width(1920, 1080, 1280) == (1280, 720)
    assert fit_width(320, 240, 1280) == (320, 240)
    assert fit_width(321, 241, 1280) == (320, 240)
    assert fit_width(4000, 3000, 1280) == (1280, 960)
