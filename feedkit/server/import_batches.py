"""The batches of an import file's lines, read ahead by a worker process for a big file.

An import task applies its file :data:`BATCH_LINES` lines a transaction
(:mod:`feedkit.server.imports`). :func:`read_batch` reads one batch from a place in the file:
its lines grouped in runs of one kind, each line's data parsed (and checked, unless the
analysis found every line valid). Half of an import's time is that Python work (parsing,
checking, building each activity's record and encoding its row); the other half is SQLite's.
So a file of :data:`AHEAD_MIN_BYTES` or more is read by one worker process, a batch ahead of
the import thread, which writes the batch before meanwhile: the two halves run on two cores.
The worker also makes each run of activities ready to write (:func:`prepare`: the checks,
record and row a write would make of a new activity), so the import thread only sets their
times and writes them (:meth:`ActivitiesService.write_prepared`); a run with an activity
that is not plainly valid, or that exists already, is written the usual way.

Reading ahead changes nothing in what is stored: the same lines are applied in the same
order, one batch a transaction, with the task's progress saved in it. A worker that dies is
replaced by reading in the import thread from where it was.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from feedkit.server.activities import prepare
from feedkit.server.import_lines import check_line
from feedkit.server.importer import Line, history, request
from feedkit.server.problems import Problem

__all__ = ["AHEAD_MIN_BYTES", "BATCH_LINES", "Batch", "batches", "read_batch"]

log = logging.getLogger("feedkit.server")

BATCH_LINES = 2000  # lines a transaction: fewer commits, each of a few hundred ms at most
AHEAD_MIN_BYTES = 16 * 1024**2  # a file this big is read ahead by a worker process
STOP_TIMEOUT_S = 10.0  # for the worker to end once its stdin is closed


class Batch(NamedTuple):
    """Lines read from a place in the file: how many (blank ones too), the place after the
    last and its number, and the lines to apply in runs of one kind."""

    read: int
    offset: int
    line: int
    runs: list[tuple[str, list[Line]]]


def _parsed(raw: bytes) -> tuple[str, Any, None]:
    """A line the analysis checked already: its type and data."""
    line = orjson.loads(raw)
    return line["type"], line["data"], None


def read_batch(
    path: Path, offset: int, line: int, checked: bool, count: int, ready: bool = False
) -> Batch:
    """Up to ``count`` lines of ``path`` from byte ``offset`` (the first is line
    ``line + 1``). ``checked``: the analysis found every line valid, so none is checked
    again (else a line it refused is left out: it was reported). ``ready``: each run of
    activities made ready to write (:func:`prepare`) where every line of it can be."""
    parse = _parsed if checked else check_line
    runs: list[tuple[str, list[Line]]] = []
    raws: list[list[bytes]] = []
    read = 0
    with open(path, "rb") as f:
        f.seek(offset)
        for raw in f:
            line += 1
            read += 1
            if raw.strip():
                kind, data, reason = parse(raw)
                if reason is None:
                    if not runs or runs[-1][0] != kind:
                        runs.append((kind, []))
                        raws.append([])
                    runs[-1][1].append((line, data))
                    raws[-1].append(raw)
            if read == count:
                break
        offset = f.tell()
    if ready:
        runs = [(kind, _ready(lines, raw) if kind == "activity" else lines)
                for (kind, lines), raw in zip(runs, raws, strict=True)]  # fmt: skip
    return Batch(read, offset, line, runs)


def _ready(lines: list[Line], raws: list[bytes]) -> list[Line]:
    """A run of activity lines, each :class:`Prepared`, or as they are if one cannot be."""
    out: list[Line] = []
    for (number, data), raw in zip(lines, raws, strict=True):
        try:
            made = prepare(request("activity", data), history(data), raw)
        except (Problem, KeyError, TypeError, ValueError):
            made = None
        if made is None:
            return lines
        out.append((number, made))
    return out


def batches(path: Path, offset: int, line: int, checked: bool, ahead: bool) -> Iterator[Batch]:
    """The batches of ``path`` from ``offset`` to its end, :data:`BATCH_LINES` lines each;
    ``ahead``: each read by a worker process while the caller applies the one before (see
    the module's docstring)."""
    count = BATCH_LINES
    worker = _Worker.start() if ahead else None
    if worker is None:
        yield from _read_here(path, offset, line, checked, count)
        return
    try:
        worker.ask(path, offset, line, checked, count)
        while True:
            batch = worker.answer()
            if batch is None:
                log.warning("the import's reading worker stopped: reading on in this thread")
                yield from _read_here(path, offset, line, checked, count)
                return
            if not batch.read:
                return
            offset, line = batch.offset, batch.line
            worker.ask(path, offset, line, checked, count)
            yield batch
    finally:
        worker.stop()


class _Worker:
    """A child process (:mod:`feedkit.server.import_worker`) reading batches with
    :func:`read_batch`: asked and answered by pickles over its stdin and stdout. A process
    of its own, not a multiprocessing one: that would start by importing the ``__main__``
    of whatever program runs the server (a script without a main guard would run again)."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process

    @classmethod
    def start(cls) -> _Worker | None:
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "feedkit.server.import_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        except OSError as exc:
            log.warning("no reading worker for the import (%s): reading in this thread", exc)
            return None
        return cls(process)

    def ask(self, path: Path, offset: int, line: int, checked: bool, count: int) -> None:
        assert self.process.stdin is not None
        try:
            pickle.dump((str(path), offset, line, checked, count), self.process.stdin)
            self.process.stdin.flush()
        except OSError:
            pass  # (it stopped: answer() says so)

    def answer(self) -> Batch | None:
        """The batch asked for, or None if the worker stopped."""
        assert self.process.stdout is not None
        try:
            return Batch(*pickle.load(self.process.stdout))
        except (EOFError, OSError, pickle.UnpicklingError, TypeError):
            return None

    def stop(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                # (a question may still be buffered for a worker that stopped)
                with contextlib.suppress(OSError):
                    pipe.close()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _read_here(path: Path, offset: int, line: int, checked: bool, count: int) -> Iterator[Batch]:
    while True:
        batch = read_batch(path, offset, line, checked, count)
        if not batch.read:
            return
        offset, line = batch.offset, batch.line
        yield batch
