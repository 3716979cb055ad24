"""Replies after their parents: the depth of every row of a kind that refers to its own kind
(a comment's ``parent_id``), so an import can store a source's rows level by level, whatever
order the source lists them in.

The first pass of an import gathers each valid row's key and parent as 64-bit hashes beside
its row number (24 bytes a row); :meth:`Threads.depths` then gives each row its depth: 0 for
a row with no parent or a parent outside the source (it must be at the destination), else one
more than its parent's. Rows in a cycle of replies have none (-1).

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
        self._parents: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []
        self._has_parent: list[np.ndarray] = []

    def add(self, keys: list[str], parents: list[str | None], rows: np.ndarray) -> None:
        n = len(keys)
        self._keys.append(key_hashes(keys))
        self._parents.append(
            np.fromiter((hash(p) if p else 0 for p in parents), dtype=np.int64, count=n)
        )
        self._has_parent.append(np.fromiter((bool(p) for p in parents), dtype=bool, count=n))
        self._rows.append(np.asarray(rows, dtype=np.int64))

    def depths(self, rows_total: int) -> np.ndarray:
        """The depth of every row number below ``rows_total`` (0 for rows not gathered)."""
        out = np.zeros(rows_total, dtype=np.int64)
        if not self._keys:
            return out
        keys = np.concatenate(self._keys)
        parents = np.concatenate(self._parents)
        has_parent = np.concatenate(self._has_parent)
        rows = np.concatenate(self._rows)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        at = np.searchsorted(sorted_keys, parents)
        found = has_parent & (at < len(keys))
        found[found] = sorted_keys[at[found]] == parents[found]
        # the parent's position among the gathered rows (the last row of a repeated key)
        parent_of = np.full(len(keys), -1, dtype=np.int64)
        last = np.searchsorted(sorted_keys, parents[found], side="right") - 1
        parent_of[found] = order[last]
        depth = np.where(found, NO_DEPTH, 0)
        for _ in range(len(keys)):  # a level a round: stops when no depth changes
            pending = depth == NO_DEPTH
            ready = pending & (depth[np.maximum(parent_of, 0)] >= 0) & (parent_of >= 0)
            if not ready.any():
                break
            depth[ready] = depth[parent_of[ready]] + 1
        out[rows] = depth
        return out
