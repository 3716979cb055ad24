"""Sets of keys as 64-bit hashes whose memory stays flat however many keys they hold.

A migration's reference checks remember each step's kept keys (:mod:`feedkit.references`). Up
to :data:`MEMORY_KEYS` keys a set holds them in memory, sorted (8 bytes a key); past that, its
keys go to a sorted temporary file, of which only one key a page (:data:`PAGE_KEYS` keys) stays
in memory. A lookup then reads the pages its keys may be on, a bounded span at a time, and
keys added later are merged into the file in bounded chunks: what a set holds in memory is at
most about ``MEMORY_KEYS`` keys plus one key in ``PAGE_KEYS``, whatever the app's size.

    >>> keys = KeySet(memory_keys=2)
    >>> keys.add(["a", "b", "c"])
    >>> keys.freeze()
    >>> keys.contains(["c", "d", "a"]).tolist(), len(keys), keys.spilled
    ([True, False, True], 3, True)
"""

from __future__ import annotations

import itertools
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

import numpy as np

from feedkit.dedupe import key_hashes

__all__ = ["FAN_IN", "MEMORY_KEYS", "PAGE_KEYS", "READ_KEYS", "KeySet"]

MEMORY_KEYS = 262_144  # keys a set holds in memory (2 MiB); past that, they go to a file
PAGE_KEYS = 512  # keys a page of a set's file: one key a page stays in memory
READ_KEYS = 131_072  # keys read at a time by a lookup or, all sources together, a merge (1 MiB)
FAN_IN = 8  # sorted files of added keys merged into one as soon as there are this many
_GAP_PAGES = 4  # pages a lookup reads through rather than seek over
_KEY = np.dtype(np.int64)


class KeySet:
    """Keys added in bulk, looked up a batch at a time; :meth:`freeze` makes added keys
    visible (a step's keys join the set when the step ends)."""

    def __init__(self, memory_keys: int = MEMORY_KEYS) -> None:
        self._memory_keys = max(1, memory_keys)
        self._sorted = np.empty(0, dtype=_KEY)  # the frozen keys, when in memory
        self._file: _SortedFile | None = None  # the frozen keys, once past memory_keys
        self._added: list[np.ndarray] = []  # added since the last freeze
        self._added_count = 0
        self._runs: list[_SortedFile] = []  # added keys moved to files, sorted

    @property
    def spilled(self) -> bool:
        """Whether the frozen keys are in a file."""
        return self._file is not None

    def add(self, keys: Iterable[str]) -> None:
        self._take(key_hashes(keys))

    def _take(self, hashes: np.ndarray) -> None:
        if len(hashes):
            self._added.append(hashes)
            self._added_count += len(hashes)
            if self._added_count > self._memory_keys:
                self._runs.append(_SortedFile(_in_memory(self._pending())(READ_KEYS)))
            if len(self._runs) >= FAN_IN:
                self._runs = [_SortedFile(_merged([r.chunks for r in self._runs]))]

    def _pending(self) -> np.ndarray:
        """The keys added in memory, sorted and distinct; let go of by the set."""
        keys = np.concatenate(self._added) if len(self._added) > 1 else self._added[0]
        self._added, self._added_count = [], 0
        return _distinct(np.sort(keys))

    def freeze(self) -> None:
        if not self._added and not self._runs:
            return
        parts: list[Chunks] = [r.chunks for r in self._runs]
        if self._added:
            parts.append(_in_memory(self._pending()))
        if self._file is not None:
            parts.append(self._file.chunks)
        elif len(self._sorted):
            parts.append(_in_memory(self._sorted))
        self._sorted, self._file = np.empty(0, dtype=_KEY), None
        merged = _merged(parts)
        held: list[np.ndarray] = []  # the merged keys, while they fit in memory
        count = 0
        for chunk in merged:
            held.append(chunk)
            count += len(chunk)
            if count > self._memory_keys:
                self._file = _SortedFile(itertools.chain(held, merged))
                break
        else:
            self._sorted = _joined(held)
        self._runs = []

    def contains(self, keys: list[str]) -> np.ndarray:
        """Whether each of ``keys`` is among the frozen keys."""
        if not keys or not len(self):
            return np.zeros(len(keys), dtype=bool)
        wanted = key_hashes(keys)
        if self._file is not None:
            return self._file.contains(wanted)
        return _found(self._sorted, wanted)

    def update(self, other: KeySet) -> None:
        """Add every key of ``other`` (frozen or not) and freeze; ``other`` is emptied."""
        if other._file is not None:
            self._runs.append(other._file)
        elif len(other._sorted):
            self._take(other._sorted)
        self._runs += other._runs
        for hashes in other._added:
            self._take(hashes)
        other._sorted, other._file, other._added, other._added_count, other._runs = (
            np.empty(0, dtype=_KEY), None, [], 0, [])  # fmt: skip
        self.freeze()

    def __len__(self) -> int:
        return len(self._file) if self._file is not None else len(self._sorted)


class _SortedFile:
    """Distinct keys in ascending order in a temporary file; the first key of each page is
    kept in memory, so a lookup reads only the pages its keys may be on."""

    def __init__(self, chunks: Iterable[np.ndarray]) -> None:
        self._f: BinaryIO = tempfile.TemporaryFile(prefix="feedkit-keys-")  # noqa: SIM115
        self._lock = threading.Lock()
        fences: list[np.ndarray] = []
        self._count = 0
        for chunk in chunks:
            fences.append(chunk[(-self._count) % PAGE_KEYS :: PAGE_KEYS].copy())  # not a view
            self._f.write(np.ascontiguousarray(chunk).data)
            self._count += len(chunk)
        self._f.flush()
        self._fences = _joined(fences)

    def __len__(self) -> int:
        return self._count

    def __del__(self) -> None:
        self._f.close()

    def _read(self, start: int, stop: int) -> np.ndarray:
        with self._lock:  # a seek and a read
            self._f.seek(start * _KEY.itemsize)
            data = self._f.read((stop - start) * _KEY.itemsize)
        return np.frombuffer(data, dtype=_KEY)

    def chunks(self, size: int) -> Iterator[np.ndarray]:
        for start in range(0, self._count, size):
            yield self._read(start, min(start + size, self._count))

    def contains(self, wanted: np.ndarray) -> np.ndarray:
        found = np.zeros(len(wanted), dtype=bool)
        order = np.argsort(wanted, kind="stable")
        keys = wanted[order]
        pages = np.searchsorted(self._fences, keys, side="right") - 1  # -1: below every key
        needed = np.unique(pages[pages >= 0])
        if not len(needed):
            return found
        # Spans of pages read at once: pages close together are read through, a span is
        # at most READ_KEYS keys.
        breaks = np.flatnonzero(np.diff(needed) > _GAP_PAGES) + 1
        span_pages = READ_KEYS // PAGE_KEYS
        for run in np.split(needed, breaks):
            for first in range(int(run[0]), int(run[-1]) + 1, span_pages):
                last = min(first + span_pages, int(run[-1]) + 1)
                lo, hi = np.searchsorted(pages, [first, last])
                if lo == hi:
                    continue
                block = self._read(first * PAGE_KEYS, min(last * PAGE_KEYS, self._count))
                found[order[lo:hi]] = _found(block, keys[lo:hi])
        return found


def _found(sorted_keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Whether each of ``wanted`` is in ``sorted_keys`` (ascending, not empty)."""
    at = np.minimum(np.searchsorted(sorted_keys, wanted), len(sorted_keys) - 1)
    found: np.ndarray = sorted_keys[at] == wanted
    return found


def _distinct(ordered: np.ndarray) -> np.ndarray:
    """An ascending array without its repeats (itself when it has none)."""
    repeat = ordered[1:] == ordered[:-1]
    return ordered[np.append(True, ~repeat)] if repeat.any() else ordered


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0, dtype=_KEY)


Chunks = Callable[[int], Iterator[np.ndarray]]  # ascending keys, given a chunk's size


def _in_memory(keys: np.ndarray) -> Chunks:
    return lambda size: (keys[start : start + size] for start in range(0, len(keys), size))


def _merged(parts: list[Chunks]) -> Iterator[np.ndarray]:
    """The distinct keys of several ascending sources, ascending, a bounded chunk at a time
    (:data:`READ_KEYS` in all): each round takes from every source the keys up to the
    smallest last key of their current chunks (no later chunk holds a smaller one), so rounds
    never overlap."""
    size = max(PAGE_KEYS, READ_KEYS // max(1, len(parts)))
    sources = [part(size) for part in parts]
    heads: list[np.ndarray | None] = [_next(s) for s in sources]
    while True:
        live = [h for h in heads if h is not None]
        if not live:
            return
        bound = min(h[-1] for h in live)
        taken: list[np.ndarray] = []
        for i, head in enumerate(heads):
            if head is None:
                continue
            cut = int(np.searchsorted(head, bound, side="right"))
            taken.append(head[:cut])
            heads[i] = head[cut:] if cut < len(head) else _next(sources[i])
        keys = _joined(taken)
        keys.sort()
        yield _distinct(keys)


def _next(source: Iterator[np.ndarray]) -> np.ndarray | None:
    for chunk in source:
        if len(chunk):
            return chunk
    return None
