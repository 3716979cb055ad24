"""Output files are written whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedkit.files import replacing


def test_a_clean_exit_renames_every_part_onto_its_destination(tmp_path: Path) -> None:
    out, side = tmp_path / "out.csv", tmp_path / "out.mapping.toml"
    out.write_text("old")
    with replacing(out, side) as (part, side_part):
        assert part.parent == tmp_path and part.name.startswith(".out.csv.")
        part.write_text("new")
        side_part.write_text("mapping")
        assert out.read_text() == "old"  # nothing visible until the end
    assert out.read_text() == "new" and side.read_text() == "mapping"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "out.mapping.toml"]


def test_an_exception_keeps_the_previous_file_and_leaves_no_part(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    out.write_text("previous export")
    with pytest.raises(RuntimeError, match="page 3"), replacing(out) as (part,):
        part.write_text("half an export")
        raise RuntimeError("page 3 failed")
    assert out.read_text() == "previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]


def test_parts_exist_from_the_start_and_go_when_nothing_was_written(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), replacing(tmp_path / "x.jsonl") as (part,):
        assert part.exists() and part.stat().st_size == 0
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_a_destination_that_cannot_be_written_fails_on_entry(tmp_path: Path) -> None:
    entered = False
    missing = tmp_path / "no" / "x"
    with pytest.raises(FileNotFoundError) as raised, replacing(tmp_path / "out.csv", missing):
        entered = True
    assert raised.value.filename == str(missing)
    assert not entered and list(tmp_path.iterdir()) == []  # the first part is gone too
