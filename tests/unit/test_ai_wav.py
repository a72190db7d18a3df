"""The one WAV windowing loop: fixed windows (Gemini) and windows cut where it is quiet (whisper)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from processor.ai.wav import SAMPLE_RATE, open_wav, wav_duration, wav_windows
from processor.errors import InvalidMediaError


def write_wav(path: Path, samples: np.ndarray, *, rate: int, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype(np.int16).tobytes())
    return path


def test_fixed_windows_keep_the_file_format_and_cover_it_exactly(tmp_path: Path) -> None:
    rate = 8_000
    rng = np.random.default_rng(7)
    samples = rng.integers(-20_000, 20_000, size=2 * int(rate * 2.5))  # 2.5 s of stereo
    path = write_wav(tmp_path / "stereo.wav", samples, rate=rate, channels=2)

    with open_wav(path, what=path.name) as wav:
        windows = list(wav_windows(wav, 1.0, what=path.name))

    assert [w.offset_seconds for w in windows] == [0.0, 1.0, 2.0]
    assert [w.duration_seconds for w in windows] == [1.0, 1.0, 0.5]
    assert b"".join(w.frames for w in windows) == samples.astype(np.int16).tobytes()
    assert wav_duration(path, what=path.name) == 2.5


def test_quiet_cut_windows_end_in_the_silence_and_lose_nothing(tmp_path: Path) -> None:
    seconds = 10
    t = np.arange(seconds * SAMPLE_RATE) / SAMPLE_RATE
    samples = (np.sin(2 * np.pi * 440 * t) * 12_000).astype(np.int16)
    silence = slice(int(3.3 * SAMPLE_RATE), int(3.6 * SAMPLE_RATE))
    samples[silence] = 0
    path = write_wav(tmp_path / "speech.wav", samples, rate=SAMPLE_RATE)

    with open_wav(path, what="audio", require_16k_mono=True) as wav:
        windows = list(wav_windows(wav, 4.0, what="audio", boundary_search_seconds=1.0))

    first_end = windows[0].offset_seconds + windows[0].duration_seconds
    assert 3.3 <= first_end <= 3.6
    assert windows[1].offset_seconds == first_end
    assert b"".join(w.frames for w in windows) == samples.tobytes()
    assert isinstance(windows[0].samples(), np.ndarray)
    assert windows[0].samples().dtype == np.float32
    assert all(w.total_seconds == seconds for w in windows)


def test_whisper_refuses_audio_of_another_shape(tmp_path: Path) -> None:
    path = write_wav(
        tmp_path / "stereo.wav", np.zeros(1600, dtype=np.int16), rate=8_000, channels=2
    )

    with pytest.raises(InvalidMediaError, match="not 16 kHz mono 16-bit PCM"):
        wav_duration(path, what="the extracted audio", require_16k_mono=True)
    text = tmp_path / "notes.wav"
    text.write_text("not a wav")
    with pytest.raises(InvalidMediaError, match=r"notes\.wav is not a readable PCM WAV file"):
        wav_duration(text, what=text.name)
