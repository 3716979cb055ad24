"""Replies after their parents: the depth of every row of a kind that refers to its own kind
(a comment's ``parent_id``), so an import can store a source's rows level by level, whatever
order the source lists them in.

The first pass of an import gathers each valid row's key as a 64-bit hash beside its row number,
and each reply's parent (16 bytes a row, 16 more a reply); :meth:`Threads.depths` then gives each
row its depth: 0 for a row with no parent or a parent outside the source (it must be at the
destination), else one more than its parent's. Rows in a cycle of replies have none (-1).

    >>> t = Threads()
    >>> t.add(["c2", "c1", "c3"], ["c1", None, "c2"], np.array([0, 1, 2]))
    >>> t.depths(3).tolist()
    [1, 0, 2]
"""

from __future__ import annotations

import numpy as np

from feedkit.dedupe import key_hashes

__all__ = ["NO_DEPTH", "Threads"]

NO_DEPTH = -1  # a row in a cycle of replies: no level stores it


class Threads:
    """Keys and parents of a source's valid rows, gathered batch by batch."""

    def __init__(self) -> None:
        self._keys: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []
        self._parents: list[np.ndarray] = []  # of the replies alone
        self._replies: list[np.ndarray] = []  # their positions among the gathered rows
        self._gathered = 0

    def add(self, keys: list[str], parents: list[str | None], rows: np.ndarray) -> None:
        replies = [i for i, p in enumerate(parents) if p]
        self._keys.append(key_hashes(keys))
        self._rows.append(np.asarray(rows, dtype=np.int64))
        self._parents.append(key_hashes(parents[i] for i in replies))  # type: ignore[misc]
        self._replies.append(np.asarray(replies, dtype=np.int64) + self._gathered)
        self._gathered += len(keys)

    def depths(self, rows_total: int) -> np.ndarray:
        """The depth of every row number below ``rows_total`` (0 for rows not gathered);
        what was gathered is let go (keys sorted in place, positions of 4 bytes: the peak stays
        about 24 bytes a gathered row)."""
        if not self._keys:
            return np.zeros(rows_total, dtype=np.int32)
        keys = _joined(self._keys)
        order = np.argsort(keys, kind="stable")
        keys.sort()  # in place: the values of keys[order], without a second copy
        position = np.int32 if self._gathered < 2**31 else np.int64
        order = order.astype(position)  # positions among the gathered rows, 4 bytes a row
        child, wanted = _joined(self._replies).astype(position), _joined(self._parents)
        at = np.searchsorted(keys, wanted)
        found = at < len(keys)
        found[found] = keys[at[found]] == wanted[found]
        child, wanted = child[found], wanted[found]
        # the parent's position among the gathered rows (the last row of a repeated key)
        parent = order[np.searchsorted(keys, wanted, side="right") - 1]
        del keys, order, at, found, wanted
        depth = np.zeros(self._gathered, dtype=np.int32)
        depth[child] = NO_DEPTH
        while len(child):  # a level a round: stops when no depth changes
            above = depth[parent]
            ready = above >= 0
            if not ready.any():
                break
            depth[child[ready]] = above[ready] + 1
            child, parent = child[~ready], parent[~ready]
        out = np.zeros(rows_total, dtype=np.int32)
        out[_joined(self._rows)] = depth
        self._gathered = 0
        return out


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """The parts as one array; the list is emptied (each part freed once copied)."""
    joined = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    parts.clear()
    return joined
