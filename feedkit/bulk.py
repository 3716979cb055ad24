"""The bulk import: stream, validate, send in batches, journal, resume, report.

``import_activities(client, "posts.csv", mapping)`` reads the source in bounded batches
(memory stays flat), converts them with :mod:`feedkit.convert`, and upserts the valid
activities in requests of at most 100 from a few worker threads. The client retries
transport errors, 429 (with one rate budget for all workers) and 5xx. With a checkpoint,
every acknowledged request is journaled, so a rerun after a crash or Ctrl-C sends only what
was not acknowledged; ids are mapped or derived from the rows, so nothing is duplicated.
"""

from __future__ import annotations

import csv
import hashlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, fields, replace
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from feedkit.checkpoint import Journal
from feedkit.client import Client
from feedkit.convert import ERROR_COLUMNS, ConvertedBatch, convert, errors_frame
from feedkit.errors import APIError, FeedkitError
from feedkit.mapping import Mapping
from feedkit.schema import MAX_BATCH, Reason
from feedkit.sources import RowError

__all__ = ["ImportInterrupted", "ImportOptions", "ImportReport", "import_activities"]

UPSERT_PATH = "/api/v2/feeds/activities/batch"


@dataclass(frozen=True)
class ImportOptions:
    """How an import runs. Pass these as keywords to :func:`import_activities`."""

    batch_size: int = MAX_BATCH  # activities per request, 1..100
    concurrency: int = 4  # requests in flight
    checkpoint: str | PathLike[str] | None = None  # journal file: makes a rerun resume
    dry_run: bool = False  # validate and report; send nothing
    progress: bool = True  # a tqdm bar (a widget in notebooks)
    errors_path: str | PathLike[str] | None = None  # write every failure to this CSV
    keep_errors: int = 100_000  # failures kept in the report's table (all go to errors_path)
    read_rows: int = 10_000  # rows converted at a time: bounds memory

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be 1..{MAX_BATCH}, not {self.batch_size}")
        if not 1 <= self.concurrency <= 64:
            raise ValueError(f"concurrency must be 1..64, not {self.concurrency}")
        if self.read_rows < 1 or self.keep_errors < 0:
            raise ValueError("read_rows must be >= 1 and keep_errors >= 0")


@dataclass
class ImportReport:
    """What an import did, row by row accounted: read = valid + invalid, and
    valid = skipped (acknowledged by an earlier run) + acknowledged + failed (+ unsent in a
    dry run or an interrupted run)."""

    source: str
    rows_read: int = 0
    valid: int = 0
    invalid: int = 0
    skipped: int = 0
    sent: int = 0
    acknowledged: int = 0
    failed: int = 0
    duration: float = 0.0
    dry_run: bool = False
    interrupted: bool = False
    errors_total: int = 0
    errors: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ERROR_COLUMNS))
    checkpoint: str | None = None

    @property
    def rate(self) -> float:
        """Rows read per second."""
        return self.rows_read / self.duration if self.duration > 0 else 0.0

    @property
    def ok(self) -> bool:
        """Every row was valid and every valid row is stored."""
        return (
            not self.invalid
            and not self.failed
            and not self.interrupted
            and (self.dry_run or self.skipped + self.acknowledged == self.valid)
        )

    def summary(self) -> str:
        mode = " (dry run: nothing sent)" if self.dry_run else ""
        lines = [
            f"import of {self.source}{mode}",
            f"  rows read     {self.rows_read:>10,}",
            f"  valid         {self.valid:>10,}",
            f"  invalid       {self.invalid:>10,}",
        ]
        if not self.dry_run:
            lines += [
                f"  skipped       {self.skipped:>10,}  (acknowledged by an earlier run)",
                f"  sent          {self.sent:>10,}",
                f"  acknowledged  {self.acknowledged:>10,}",
                f"  failed        {self.failed:>10,}",
            ]
        lines.append(f"  duration      {self.duration:>10.2f} s  ({self.rate:,.0f} rows/s)")
        if self.errors_total:
            kept = f", {len(self.errors):,} kept" if len(self.errors) < self.errors_total else ""
            lines.append(f"  errors        {self.errors_total:>10,}{kept}")
        if self.interrupted:
            lines.append("  interrupted: rerun with the same checkpoint to send the rest")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        color = "#1a7f37" if self.ok else "#b00"
        rows = "".join(
            f"<tr><th style='text-align:left'>{k}</th><td style='text-align:right'>{v:,}</td></tr>"
            for k, v in (
                ("rows read", self.rows_read),
                ("valid", self.valid),
                ("invalid", self.invalid),
                ("skipped", self.skipped),
                ("sent", self.sent),
                ("acknowledged", self.acknowledged),
                ("failed", self.failed),
            )
        )
        verdict = "complete" if self.ok else "incomplete: see the errors below"
        table = self.errors.head(20).to_html(index=False) if len(self.errors) else ""
        return (
            f"<div><b style='color:{color}'>Import of {self.source}: {verdict}</b>"
            f"<table>{rows}</table><p>{self.duration:.2f} s, {self.rate:,.0f} rows/s"
            f"{' (dry run)' if self.dry_run else ''}</p>{table}</div>"
        )


class ImportInterrupted(KeyboardInterrupt):
    """Ctrl-C (or the notebook's interrupt) stopped an import. Still a KeyboardInterrupt;
    ``report`` is what the run did before it stopped, with ``interrupted`` set."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__(f"import of {report.source} interrupted")
        self.report = report


class _Errors:
    """Failures: counted, kept up to a limit, and all streamed to a CSV file if asked."""

    def __init__(self, path: str | PathLike[str] | None, keep: int) -> None:
        self.keep = keep
        self.kept: list[RowError] = []
        self.total = 0
        self._lock = threading.Lock()
        self._file = open(path, "w", newline="", encoding="utf-8") if path else None  # noqa: SIM115
        self._writer = csv.writer(self._file) if self._file else None
        if self._writer:
            self._writer.writerow(ERROR_COLUMNS)

    def add(self, errors: list[RowError]) -> None:
        if not errors:
            return
        with self._lock:
            self.total += len(errors)
            room = self.keep - len(self.kept)
            if room > 0:
                self.kept += errors[:room]
            if self._writer:
                self._writer.writerows(
                    (e.row, e.column, e.field, e.code, e.message, e.value) for e in errors
                )

    def close(self) -> None:
        if self._file:
            self._file.close()


def _requests(
    cb: ConvertedBatch, send: np.ndarray, batch_size: int
) -> Iterator[tuple[bytes, np.ndarray]]:
    """Request bodies of at most ``batch_size`` activities, with the rows each one carries."""
    texts = cb.json.filter(pa.array(send))
    rows = cb.rows[send]
    n = len(rows)
    if not n:
        return
    offsets = np.append(np.arange(0, n, batch_size), n).astype(np.int32)
    lists = pa.ListArray.from_arrays(pa.array(offsets), texts)
    bodies = pc.binary_join_element_wise('{"activities":[', pc.binary_join(lists, ","), "]}", "")
    for i, body in enumerate(bodies.to_pylist()):
        yield body.encode(), rows[offsets[i] : offsets[i + 1]]


class _Sender:
    """Sends request bodies and journals what the server acknowledged."""

    def __init__(
        self, client: Client, journal: Journal | None, errors: _Errors, report: ImportReport
    ) -> None:
        self.client = client
        self.journal = journal
        self.errors = errors
        self.report = report
        self._lock = threading.Lock()

    def send(self, body: bytes, rows: np.ndarray, holes: frozenset[int] = frozenset()) -> None:
        """Send one request; ``holes`` are rows between these that the server refused."""
        try:
            self.client.request("POST", UPSERT_PATH, content=body, retry=True, decode=False)
        except FeedkitError as exc:
            self._sent(rows, holes)
            if (
                isinstance(exc, APIError)
                and exc.status == 400
                and exc.exception_fields
                and len(rows) > 1
            ):
                self._resend_without_rejected(body, rows, holes, exc)
                return
            self._failed(rows, f"{exc}")
            return
        self._sent(rows, holes)
        self._acknowledged(rows, holes)

    def _sent(self, rows: np.ndarray, holes: frozenset[int]) -> None:
        """Count rows whose request went out and came back (answered or given up on); a
        resend without refused rows (``holes``) counts once."""
        if not holes:
            with self._lock:
                self.report.sent += len(rows)

    def _resend_without_rejected(
        self, body: bytes, rows: np.ndarray, holes: frozenset[int], exc: APIError
    ) -> None:
        """The server refused the batch for some items: report those, send the others."""
        items = orjson.loads(body)["activities"]
        rejected: dict[int, str] = {}
        for key, message in exc.exception_fields.items():
            if key.startswith("activities["):
                index = int(key[len("activities[") : key.index("]")])
                rejected.setdefault(index, f"{key[key.index(']') + 2 :]}: {message}")
        if not rejected or len(rejected) >= len(items):
            self._failed(rows, f"{exc}")
            return
        for index, message in rejected.items():
            self._failed(rows[index : index + 1], f"server refused: {message}")
        keep = [i for i in range(len(items)) if i not in rejected]
        again = orjson.dumps({"activities": [items[i] for i in keep]})
        self.send(again, rows[keep], holes | {int(rows[i]) for i in rejected})

    def _acknowledged(self, rows: np.ndarray, holes: frozenset[int]) -> None:
        if self.journal is not None:
            # Journal spans of acknowledged rows; a refused row must stay outside them so
            # that a rerun tries it again.
            first = prev = int(rows[0])
            for row in rows[1:].tolist():
                if any(prev < h < row for h in holes):
                    self.journal.record(first, prev)
                    first = row
                prev = row
            self.journal.record(first, prev)
        with self._lock:
            self.report.acknowledged += len(rows)

    def _failed(self, rows: np.ndarray, message: str) -> None:
        self.errors.add(
            [RowError(int(r), "", "", Reason.SEND_FAILED.value, message) for r in rows.tolist()]
        )
        with self._lock:
            self.report.failed += len(rows)


def _identity(source: Any, opened_fingerprint: str | None, mapping: Mapping) -> dict[str, str]:
    digest = hashlib.sha256(repr(mapping).encode()).hexdigest()[:16]
    where = opened_fingerprint or f"{type(source).__name__}"
    return {"source": where, "mapping": digest}


def import_activities(
    client: Client,
    source: Any,
    mapping: Mapping,
    options: ImportOptions | None = None,
    **overrides: Any,
) -> ImportReport:
    """Import every valid row of ``source`` as an activity; return the :class:`ImportReport`.

    ``overrides`` are :class:`ImportOptions` fields: ``batch_size``, ``concurrency``,
    ``checkpoint``, ``dry_run``, ``progress``, ``errors_path``, ``keep_errors``, ``read_rows``.
    Ctrl-C stops sending, journals what was acknowledged, and raises
    :class:`ImportInterrupted` (a KeyboardInterrupt) whose ``report`` says what was stored.
    """
    known = {f.name for f in fields(ImportOptions)}
    unknown = set(overrides) - known
    if unknown:
        raise TypeError(f"unknown option(s) {sorted(unknown)}; options: {sorted(known)}")
    opts = replace(options or ImportOptions(), **overrides)
    started = time.perf_counter()
    opened, batches = convert(source, mapping, batch_rows=opts.read_rows)
    report = ImportReport(
        source=opened.name,
        dry_run=opts.dry_run,
        checkpoint=str(opts.checkpoint) if opts.checkpoint else None,
    )
    journal = (
        Journal(opts.checkpoint, _identity(source, opened.fingerprint, mapping))
        if opts.checkpoint and not opts.dry_run
        else None
    )
    errors = _Errors(opts.errors_path, opts.keep_errors)
    sender = _Sender(client, journal, errors, report)
    bar = _progress(opts.progress, opened.total_rows, opened.name)
    pool = ThreadPoolExecutor(max_workers=opts.concurrency, thread_name_prefix="feedkit-import")
    pending: set[Future[None]] = set()
    try:
        for cb in batches:
            report.rows_read += cb.rows_read
            report.valid += len(cb.rows)
            report.invalid += len({e.row for e in cb.errors})
            errors.add(cb.errors)
            if not opts.dry_run:
                done = journal.covered(cb.rows) if journal else np.zeros(len(cb.rows), bool)
                report.skipped += int(done.sum())
                for body, rows in _requests(cb, ~done, opts.batch_size):
                    while len(pending) >= 2 * opts.concurrency:  # bounded memory
                        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for f in finished:
                            f.result()
                    pending.add(pool.submit(sender.send, body, rows))
            bar.update(cb.rows_read)
            bar.set_postfix(
                valid=report.valid,
                invalid=report.invalid,
                stored=report.acknowledged + report.skipped,
                refresh=False,
            )
        for f in pending:
            f.result()
        bar.set_postfix(
            valid=report.valid, invalid=report.invalid, stored=report.acknowledged + report.skipped
        )
    except KeyboardInterrupt:
        report.interrupted = True
        for f in pending:
            f.cancel()
        raise ImportInterrupted(report) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if journal is not None:
            journal.close()
        errors.close()
        bar.close()
        report.duration = time.perf_counter() - started
        report.errors_total = errors.total
        report.errors = errors_frame(errors.kept)
    return report


def _progress(enabled: bool, total: int | None, name: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        unit=" rows",
        desc=f"import {Path(name).name}",
        disable=not enabled,
        unit_scale=True,
    )
