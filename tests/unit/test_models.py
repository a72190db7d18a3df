"""Joining a split model into the cache: once, whole, verified, safe under concurrency."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from processor.ai.models import MANIFEST, ModelParts, join_model
from processor.errors import ConfigurationError


def make_parts(root: Path, sizes: tuple[int, int] = (300_000, 200_001)) -> ModelParts:
    root.mkdir(parents=True, exist_ok=True)
    parts = []
    for i, size in enumerate(sizes, 1):
        part = root / f"model.bin.part{i}"
        part.write_bytes(os.urandom(size))
        parts.append(part)
    files = []
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (root / name).write_text(f"{name} contents", "utf-8")
        files.append(root / name)
    return ModelParts(parts=tuple(parts), files=tuple(files), version="1.0.0")


def test_join_writes_the_parts_in_order_with_the_other_files(tmp_path) -> None:
    parts = make_parts(tmp_path / "pkg")
    dest = join_model(parts, tmp_path / "cache" / "whisper-base-1.0.0")
    expected = b"".join(p.read_bytes() for p in parts.parts)
    assert (dest / "model.bin").read_bytes() == expected
    for source in parts.files:
        assert (dest / source.name).read_text("utf-8") == source.read_text("utf-8")
    manifest = json.loads((dest / MANIFEST).read_text("utf-8"))
    assert manifest["size_bytes"] == len(expected)
    # Nothing but the model directory and its lock file is left beside it.
    assert sorted(p.name for p in dest.parent.iterdir()) == [
        "whisper-base-1.0.0",
        "whisper-base-1.0.0.lock",
    ]


def test_a_finished_join_is_reused_and_an_unfinished_one_is_redone(tmp_path) -> None:
    parts = make_parts(tmp_path / "pkg")
    dest = tmp_path / "cache" / "m"
    join_model(parts, dest)
    stamp = (dest / "model.bin").stat().st_mtime_ns
    assert join_model(parts, dest) == dest
    assert (dest / "model.bin").stat().st_mtime_ns == stamp  # not joined again

    (dest / MANIFEST).unlink()  # as if a crash came before the manifest (never happens
    (dest / "model.bin").write_bytes(b"half")  # with the rename, but a user may meddle)
    join_model(parts, dest)
    assert (dest / "model.bin").read_bytes() == b"".join(p.read_bytes() for p in parts.parts)


def test_a_new_package_version_is_joined_anew(tmp_path) -> None:
    parts = make_parts(tmp_path / "pkg")
    dest = tmp_path / "cache" / "m"
    join_model(parts, dest)
    (parts.parts[1]).write_bytes(os.urandom(1234))  # a different part 2, same directory
    join_model(parts, dest)
    assert (dest / "model.bin").read_bytes() == b"".join(p.read_bytes() for p in parts.parts)


def _join_in_process(args: tuple[str, str]) -> str:
    root, dest = args
    pkg = Path(root)
    parts = ModelParts(
        parts=(pkg / "model.bin.part1", pkg / "model.bin.part2"),
        files=tuple(pkg / n for n in ("config.json", "tokenizer.json", "vocabulary.txt")),
        version="1.0.0",
    )
    out = join_model(parts, Path(dest))
    return (out / "model.bin").read_bytes().hex()[:64]


def test_workers_starting_together_join_once_and_all_see_the_whole_model(tmp_path) -> None:
    parts = make_parts(tmp_path / "pkg", sizes=(3_000_000, 2_000_000))
    dest = tmp_path / "cache" / "m"
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        heads = pool.map(_join_in_process, [(str(tmp_path / "pkg"), str(dest))] * 4)
    expected = b"".join(p.read_bytes() for p in parts.parts)
    assert set(heads) == {expected.hex()[:64]}
    assert (dest / "model.bin").read_bytes() == expected
    leftovers = [p.name for p in dest.parent.iterdir() if p.name not in ("m", "m.lock")]
    assert leftovers == []


def test_an_unwritable_cache_is_a_configuration_error(tmp_path) -> None:
    parts = make_parts(tmp_path / "pkg")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory", "utf-8")
    with pytest.raises(ConfigurationError) as info:
        join_model(parts, blocker / "m")
    assert info.value.error_code == "bad_config"
