"""Duplicate ids within one source: the last valid row wins, as upserts in source order would.

An import reads its source twice. The first pass collects the id of every valid row, as a
64-bit hash beside the row's number (16 bytes a row, whatever the row holds; past 250,000
rows they go to temporary files, partitioned by hash, so memory stays flat); the ids seen more
than once are then known, and :class:`Superseded` says, for each earlier row, which later row
supersedes it. The second pass sends only the last row of each id and reports the earlier ones
(``duplicate_id``, naming both rows), so the store ends as the source's last word whatever the
threads' timing. A hash is compared again with the ids themselves when the second pass meets
them: two different ids that share a hash (about one chance in 10^6 for 10 million rows) are
reported instead of silently merged.

    >>> index = IdIndex()
    >>> index.add(["a", "b", "a"], np.array([0, 1, 2]))
    >>> index.add(["c", "b"], np.array([5, 7]))
    >>> sorted(index.superseded().winner.items())
    [(0, 2), (1, 7)]
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

__all__ = ["PARTITIONS", "SPILL_ROWS", "IdIndex", "Superseded", "key_hashes"]


SPILL_ROWS = 250_000  # rows held in memory before the index moves to partition files
PARTITIONS = 256  # files a spilled index is split into, by hash: each is judged alone


def key_hashes(keys: Iterable[str]) -> np.ndarray:
    """Rows' keys as 64-bit hashes (the same key, the same hash, within one process)."""
    return np.fromiter(map(hash, keys), dtype=np.int64)


class IdIndex:
    """The ids of a source's valid rows, gathered batch by batch.

    Up to :data:`SPILL_ROWS` rows are held in memory (16 bytes each). Past that, every
    (hash, row) pair goes to one of :data:`PARTITIONS` temporary files by its hash's low
    bits, so equal ids meet in one partition, and :meth:`superseded` reads one partition at a
    time: the memory an index takes stays flat however many rows the source has (what it
    keeps is the duplicates it finds).
    """

    def __init__(self, spill_rows: int = SPILL_ROWS) -> None:
        self._hashes: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []
        self._held = 0
        self._spill_rows = spill_rows
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._files: list[BinaryIO] = []

    def add(self, ids: list[str], rows: np.ndarray) -> None:
        self._hashes.append(key_hashes(ids))
        self._rows.append(np.asarray(rows, dtype=np.int64))
        self._held += len(ids)
        if self._held >= self._spill_rows:
            self._spill()

    def _spill(self) -> None:
        """Append the held pairs to their partitions' files."""
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="feedkit-ids-")
            folder = Path(self._folder.name)
            self._files = [open(folder / f"{i:03d}", "w+b") for i in range(PARTITIONS)]  # noqa: SIM115
        pairs = np.empty((self._held, 2), dtype=np.int64)
        pairs[:, 0] = np.concatenate(self._hashes)
        pairs[:, 1] = np.concatenate(self._rows)
        self._hashes, self._rows, self._held = [], [], 0
        part = pairs[:, 0] & (PARTITIONS - 1)
        order = np.argsort(part, kind="stable")
        pairs, part = pairs[order], part[order]
        bounds = np.searchsorted(part, np.arange(PARTITIONS + 1))
        for i in np.flatnonzero(np.diff(bounds)).tolist():
            self._files[i].write(pairs[bounds[i] : bounds[i + 1]].tobytes())

    def superseded(self) -> Superseded:
        """Which rows a later row with the same id supersedes."""
        if self._folder is None:
            if not self._hashes:
                return Superseded({})
            hashes, rows = np.concatenate(self._hashes), np.concatenate(self._rows)
            self._hashes, self._rows, self._held = [], [], 0
            return Superseded(_winners(hashes, rows))
        if self._held:
            self._spill()
        winner: dict[int, int] = {}
        try:
            for f in self._files:
                f.seek(0)
                pairs = np.frombuffer(f.read(), dtype=np.int64).reshape(-1, 2)
                winner.update(_winners(pairs[:, 0], pairs[:, 1]))
        finally:
            for f in self._files:
                f.close()
            self._folder.cleanup()
            self._folder, self._files = None, []
        return Superseded(winner)


def _winners(hashes: np.ndarray, rows: np.ndarray) -> dict[int, int]:
    """Earlier row -> the last row of its hash, among these pairs."""
    ordered = np.sort(hashes)  # (mostly no hash repeats: a sort says so, cheaper than lexsort)
    if not (ordered[1:] == ordered[:-1]).any():
        return {}
    order = np.lexsort((rows, hashes))  # by id hash, then by row: the last of a run wins
    hashes, rows = hashes[order], rows[order]
    same_as_next = hashes[:-1] == hashes[1:]
    if not same_as_next.any():
        return {}
    # The index of the last row of each run of equal hashes, for every position.
    last = np.flatnonzero(np.append(~same_as_next, True))
    run_end = last[np.searchsorted(last, np.arange(len(rows)))]
    earlier = np.flatnonzero(np.append(same_as_next, False))
    return dict(zip(rows[earlier].tolist(), rows[run_end[earlier]].tolist(), strict=True))


@dataclass
class Superseded:
    """Earlier rows and the later row of the same id that supersedes each."""

    winner: dict[int, int]  # earlier row -> the last row with its id
    _ids: dict[int, str] = field(default_factory=dict)  # ids of earlier rows met so far
    _earlier: dict[int, list[int]] = field(default_factory=dict)  # winner -> its earlier rows

    def __post_init__(self) -> None:
        for earlier, later in self.winner.items():
            self._earlier.setdefault(later, []).append(earlier)

    def __len__(self) -> int:
        return len(self.winner)

    def __bool__(self) -> bool:
        return bool(self.winner)

    def mask(self, rows: np.ndarray, ids: list[str]) -> np.ndarray:
        """Which of these rows are superseded (not to be sent); their ids are kept to be
        checked against their winners'."""
        out = np.zeros(len(rows), dtype=bool)
        if not self.winner:
            return out
        for i, row in enumerate(rows.tolist()):
            if row in self.winner:
                out[i] = True
                self._ids[row] = ids[i]
        return out

    def mismatched(self, rows: np.ndarray, ids: list[str]) -> list[int]:
        """Earlier rows that shared only a hash with one of these winning rows (a different
        id): they were held back wrongly."""
        if not self._ids:
            return []
        return [
            earlier
            for i, row in enumerate(rows.tolist())
            for earlier in self._earlier.get(row, ())
            if self._ids.pop(earlier, ids[i]) != ids[i]
        ]
