"""The checkpoint journal of an import: which source rows the server acknowledged.

An append-only text file: a header naming the source and the mapping, then one line
``FIRST LAST`` per acknowledged request (inclusive source row indices; the invalid rows in
that span were never sent). Each line is one ``write`` to an ``O_APPEND`` file, made after
the server answered, so a crash loses at most the lines of requests still in flight, and
those are sent again on the rerun: upserts by id make that harmless. A torn last line is
ignored. A rerun skips the rows the journal covers and sends the rest.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import orjson

from feedkit.errors import FeedkitError

MAGIC = "feedkit-checkpoint 1"


class CheckpointError(FeedkitError):
    """The checkpoint belongs to another source or mapping, or is not a checkpoint."""


class Journal:
    def __init__(self, path: str | os.PathLike[str], identity: dict[str, str]) -> None:
        self.path = Path(path)
        self.identity = identity
        self._lock = threading.Lock()
        starts: list[int] = []
        ends: list[int] = []
        if self.path.exists() and self.path.stat().st_size:
            lines = self.path.read_text(encoding="utf-8", errors="replace").split("\n")
            self._check_header(lines[0])
            for line in lines[1:]:
                parts = line.split()
                if len(parts) == 2 and all(p.isdigit() for p in parts):
                    starts.append(int(parts[0]))
                    ends.append(int(parts[1]))
            fresh = False
        else:
            fresh = True
        self.starts, self.ends = _merge(starts, ends)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if fresh:
            header = MAGIC + " " + orjson.dumps(identity).decode() + "\n"
            os.write(self._fd, header.encode())

    def _check_header(self, line: str) -> None:
        if not line.startswith(MAGIC + " "):
            raise CheckpointError(f"{self.path} is not a feedkit checkpoint")
        try:
            found = orjson.loads(line[len(MAGIC) + 1 :])
        except orjson.JSONDecodeError:
            raise CheckpointError(f"{self.path}: unreadable checkpoint header") from None
        for key, value in self.identity.items():
            if found.get(key) != value:
                raise CheckpointError(
                    f"{self.path} was written for another {key} ({found.get(key)!r}, not "
                    f"{value!r}); delete it to start over, or pass another --checkpoint"
                )

    @property
    def acknowledged_rows(self) -> int:
        """How many row indices the journal's spans cover (invalid rows included)."""
        return int((self.ends - self.starts + 1).sum())

    def covered(self, rows: np.ndarray) -> np.ndarray:
        """A mask of the rows already acknowledged by an earlier run."""
        if not len(self.starts) or not len(rows):
            return np.zeros(len(rows), dtype=bool)
        i = np.searchsorted(self.starts, rows, side="right") - 1
        ok = i >= 0
        out = np.zeros(len(rows), dtype=bool)
        out[ok] = rows[ok] <= self.ends[i[ok]]
        return out

    def record(self, first: int, last: int) -> None:
        """Journal that the rows from ``first`` to ``last`` were acknowledged."""
        with self._lock:
            os.write(self._fd, f"{first} {last}\n".encode())

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def _merge(starts: list[int], ends: list[int]) -> tuple[np.ndarray, np.ndarray]:
    if not starts:
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    order = np.argsort(starts, kind="stable")
    s = np.asarray(starts, dtype=np.int64)[order]
    e = np.asarray(ends, dtype=np.int64)[order]
    out_s, out_e = [int(s[0])], [int(e[0])]
    for a, b in zip(s[1:].tolist(), e[1:].tolist(), strict=True):
        if a <= out_e[-1] + 1:
            out_e[-1] = max(out_e[-1], b)
        else:
            out_s.append(a)
            out_e.append(b)
    return np.array(out_s, dtype=np.int64), np.array(out_e, dtype=np.int64)
