"""The duplicate index: the last row of an id wins, in memory or spilled to partition files."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from feedkit.dedupe import IdIndex


def last_row_wins(batches: list[list[str]]) -> dict[int, int]:
    """Earlier row -> the last row with its id, by reading the rows in order."""
    last: dict[str, int] = {}
    rows: list[tuple[int, str]] = []
    n = 0
    for ids in batches:
        for key in ids:
            rows.append((n, key))
            last[key] = n
            n += 1
    return {row: last[key] for row, key in rows if last[key] != row}


@given(st.lists(st.lists(st.sampled_from([f"id{i}" for i in range(40)]), max_size=30),
                max_size=8), st.integers(1, 50))  # fmt: skip
def test_spilled_or_not_the_winners_are_the_last_rows(batches: list[list[str]], spill: int) -> None:
    want = last_row_wins(batches)
    for index in (IdIndex(), IdIndex(spill_rows=spill)):
        start = 0
        for ids in batches:
            index.add(ids, np.arange(start, start + len(ids)))
            start += len(ids)
        assert index.superseded().winner == want


def test_a_spilled_index_leaves_no_files() -> None:
    before = set(Path(tempfile.gettempdir()).glob("feedkit-ids-*"))
    index = IdIndex(spill_rows=10)
    for start in range(0, 100, 20):
        index.add([f"k{i % 30}" for i in range(start, start + 20)], np.arange(start, start + 20))
    assert index._folder is not None  # spilled
    winner = index.superseded().winner
    assert winner[0] == 90 and len(winner) == 70
    assert set(Path(tempfile.gettempdir()).glob("feedkit-ids-*")) == before
