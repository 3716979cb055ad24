"""An import file's analysis and batches, shared with a worker process for a big file.

The analysis checks every line (:func:`analyze`; with a worker, each takes half the file).
Then the task applies its file :data:`BATCH_LINES` lines a transaction
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
order, one batch a transaction, with the task's progress saved in it, and the analysis finds
the same lines with the same numbers. A worker that dies is replaced by the import thread
doing its part from where it was.
"""

from __future__ import annotations

import contextlib
import logging
import os
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

__all__ = [
    "AHEAD_MIN_BYTES",
    "BATCH_LINES",
    "Analysis",
    "Batch",
    "Reader",
    "analyze",
    "read_batch",
    "reading",
]

log = logging.getLogger("feedkit.server")

BATCH_LINES = 5000  # lines a transaction: few commits, each holding the store under a second
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


class Analysis(NamedTuple):
    """What checking the lines of a stretch of the file found: the lines read (blank ones
    too), those not blank, the valid ones, the first refusals ``{line, type, reason}`` and
    how many lines were refused."""

    read: int
    lines: int
    valid: int
    errors: list[dict[str, Any]]
    invalid: int


def analyze(path: Path, start: int, end: int | None, keep: int) -> Analysis:
    """Check each line of ``path`` from byte ``start`` to ``end`` (its end: None), keeping
    the first ``keep`` refusals (their lines numbered from the stretch's first, 1)."""
    read = lines = valid = invalid = 0
    errors: list[dict[str, Any]] = []
    with open(path, "rb") as f:
        f.seek(start)
        at = start
        for raw in f:
            if end is not None and at >= end:
                break
            at += len(raw)
            read += 1
            if not raw.strip():
                continue
            lines += 1
            kind, _, reason = check_line(raw)
            if reason is None:
                valid += 1
                continue
            invalid += 1
            if len(errors) < keep:
                errors.append({"line": read, "type": kind, "reason": reason})
    return Analysis(read, lines, valid, errors, invalid)


def _joined(first: Analysis, then: Analysis, keep: int) -> Analysis:
    """Two stretches' analyses as one (the second's lines numbered after the first's)."""
    later = [{**e, "line": e["line"] + first.read} for e in then.errors]
    return Analysis(first.read + then.read, first.lines + then.lines, first.valid + then.valid,
                    (first.errors + later)[:keep], first.invalid + then.invalid)  # fmt: skip


class Reader:
    """An import file's analysis and batches; with a worker process (``ahead``), each half
    the analysis on a core of its own, each batch read one ahead (the module's docstring)."""

    def __init__(self, path: Path, worker: _Worker | None) -> None:
        self.path = path
        self.worker = worker

    def analysis(self, keep: int) -> Analysis:
        """Every line checked: :func:`analyze` of the whole file."""
        size = self.path.stat().st_size
        if self.worker is None or size < 2:
            return analyze(self.path, 0, None, keep)
        with open(self.path, "rb") as f:  # the half way point, at the start of a line
            f.seek(size // 2)
            half = size // 2 + len(f.readline())
        self.worker.ask("analyze", self.path, half, None, keep)
        first = analyze(self.path, 0, half, keep)
        then = self.worker.answer()
        if not isinstance(then, Analysis):
            log.warning("the import's worker stopped: analysing on in this thread")
            self.worker = None
            then = analyze(self.path, half, None, keep)
        return _joined(first, then, keep)

    def batches(self, offset: int, line: int, checked: bool) -> Iterator[Batch]:
        """The batches from ``offset`` (after line ``line``) to the end, :data:`BATCH_LINES`
        lines each; ``checked``: as :func:`read_batch` takes it."""
        count = BATCH_LINES
        if self.worker is not None:
            self.worker.ask("read_batch", self.path, offset, line, checked, count, True)
        while self.worker is not None:
            batch = self.worker.answer()
            if not isinstance(batch, Batch):
                log.warning("the import's worker stopped: reading on in this thread")
                self.worker = None
                break
            if not batch.read:
                return
            offset, line = batch.offset, batch.line
            # asked before this batch is applied: the worker reads the next one meanwhile
            self.worker.ask("read_batch", self.path, offset, line, checked, count, True)
            yield batch
        while True:
            batch = read_batch(self.path, offset, line, checked, count)
            if not batch.read:
                return
            offset, line = batch.offset, batch.line
            yield batch


@contextlib.contextmanager
def reading(path: Path, ahead: bool) -> Iterator[Reader]:
    """A :class:`Reader` of ``path``; ``ahead``: with a worker process, ended on leaving."""
    worker = _Worker.start() if ahead else None
    try:
        yield Reader(path, worker)
    finally:
        if worker is not None:
            worker.stop()


class _Worker:
    """A child process (:mod:`feedkit.server.import_worker`) analysing and reading for
    the import thread: asked and answered by pickles over its stdin and stdout. A process
    of its own, not a multiprocessing one: that would start by importing the ``__main__``
    of whatever program runs the server (a script without a main guard would run again)."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process

    @classmethod
    def start(cls) -> _Worker | None:
        # The server's own import path, so the worker finds the same feedkit.
        path = os.pathsep.join(p for p in sys.path if p)
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "feedkit.server.import_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env={**os.environ, "PYTHONPATH": path},
            )
        except OSError as exc:
            log.warning("no reading worker for the import (%s): reading in this thread", exc)
            return None
        return cls(process)

    def ask(self, name: str, *args: Any) -> None:
        """Ask for ``name(*args)`` (:data:`feedkit.server.import_worker.CALLS`)."""
        assert self.process.stdin is not None
        try:
            pickle.dump((name, args), self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.process.stdin.flush()
        except OSError:
            pass  # (it stopped: answer() says so)

    def answer(self) -> Any:
        """The answer to the oldest question, or None if the worker stopped."""
        assert self.process.stdout is not None
        try:
            return pickle.load(self.process.stdout)
        except (EOFError, OSError, pickle.UnpicklingError):
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
