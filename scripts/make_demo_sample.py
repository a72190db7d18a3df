"""Generate processor/demo/sample.mp4, the video `vproc demo` processes by default.

Needs espeak-ng (Debian package `espeak-ng`): `uv run python scripts/make_demo_sample.py`.
Synthetic speech over a generated moving pattern; no third-party content.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.make_fixtures import make_speech_video  # noqa: E402

SAMPLE = ROOT / "processor" / "demo" / "sample.mp4"

# What the sample says; `vproc demo` output should read like it.
SAMPLE_TEXT = (
    "Welcome to the vproc demo. "
    "This short video was made by a speech synthesizer, and vproc is about to turn it into "
    "a transcript, subtitles, a title, tags and a thumbnail. "
    "First, the worker downloads the video and probes it to learn its duration, its "
    "resolution and its format. "
    "Then the audio track is decoded and resampled to sixteen kilohertz, so that the speech "
    "model can read it. "
    "The Whisper model writes down every word with a timestamp. "
    "Those timestamps become subtitles, with short lines that are easy to read. "
    "Finally, a summary of the transcript gives the video its title, its description and its "
    "tags, and the sharpest frame becomes the thumbnail. "
    "Thanks for watching."
)


def main() -> None:
    SAMPLE.parent.mkdir(parents=True, exist_ok=True)
    make_speech_video(SAMPLE, SAMPLE_TEXT, width=640, height=360, fps=5)
    print(f"wrote {SAMPLE} ({SAMPLE.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
