"""The bulk import: stream, validate, send in batches, journal, resume, report.

``import_rows(client, "posts.csv", mapping)`` reads the source in bounded batches (memory
stays flat), converts them with :mod:`feedkit.convert` into the mapping's kind (activities,
users, follows, comments, reactions, bookmarks, feed groups), and stores the valid rows in
requests of at most 100 (and ``MAX_REQUEST_BYTES``), or one a row for kinds without a batch
operation (:mod:`feedkit.senders`), from a few worker threads. The client retries transport
errors, 429 (with one rate budget for all workers) and 5xx. ``import_activities`` is
``import_rows`` for activity mappings.

Exactly once, whatever happens:

- Keys repeated within the source (an id; a follow's source and target; a reaction's object,
  type and user...): the source is read twice; the first pass finds them (:mod:`feedkit.dedupe`)
  and the last valid row of each key is the only one sent, the earlier ones are reported
  (``duplicate_id``). So the store holds one row per key, the source's last word, and
  ``acknowledged`` counts rows stored. The first pass reads the keys alone
  (:func:`feedkit.convert.convert_keys`: a Parquet or Arrow source only its key columns); only
  when some key repeats does it convert the rows, to learn which of them are valid.
- A request the server refuses for some items (400 naming them) is sent again without them; one
  it refuses as a whole (413, or a 400 naming no item) is split in halves until only the guilty
  rows fail. Rows over a limit of the server are row errors before anything is sent.
- With a checkpoint (:mod:`feedkit.checkpoint`), every request is journaled with a digest of
  its body; a rerun re-reads the source and skips only requests acknowledged with exactly the
  body it would send now, after checking that a sample of them is at the destination.
"""

from __future__ import annotations

import csv
import hashlib
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, field, fields, replace
from os import PathLike
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from feedkit import senders
from feedkit.checkpoint import Journal, body_digest
from feedkit.client import Client
from feedkit.convert import (
    ERROR_COLUMNS,
    KEY_SEPARATOR,
    ConvertedBatch,
    convert,
    convert_keys,
    errors_frame,
    line_ends,
)
from feedkit.dedupe import IdIndex, Superseded
from feedkit.display import report_html
from feedkit.errors import APIError, FeedkitError
from feedkit.mapping import Mapping, spec_columns
from feedkit.progress import Progress
from feedkit.resources import Resource
from feedkit.schema import DEFAULT_CONCURRENCY, MAX_BATCH, MAX_REQUEST_BYTES, Reason
from feedkit.sources import RowError, is_stream, stream_reader
from feedkit.threads import NO_DEPTH, Threads

__all__ = [
    "ImportInterrupted",
    "ImportOptions",
    "ImportReport",
    "import_activities",
    "import_rows",
    "validate_source",
]

ENVELOPE_BYTES = 64  # a batch body's bytes besides its rows: '{"activities":[' ... ']}'
SPOT_CHECK = 16  # acknowledged ids a resume looks for at the destination before skipping
DERIVED_IDS_NOTE = (
    "ids are derived from each row's content (id = { derive = true }): a row edited after "
    "this import becomes a new activity beside the old one"
)


@dataclass(frozen=True)
class ImportOptions:
    """How an import runs. Pass these as keywords to :func:`import_activities`."""

    batch_size: int = MAX_BATCH  # activities per request, 1..100
    concurrency: int = DEFAULT_CONCURRENCY  # requests in flight
    checkpoint: str | PathLike[str] | None = None  # journal file: makes a rerun resume
    dry_run: bool = False  # validate and report; send nothing
    progress: bool = True  # a tqdm bar (a widget in notebooks)
    errors_path: str | PathLike[str] | None = None  # write every failure to this CSV
    keep_errors: int = 100_000  # failures kept in the report's table (all go to errors_path)
    read_rows: int = 10_000  # rows converted at a time: bounds memory
    label: str = ""  # what the progress bars name first (a migration's step)

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be 1..{MAX_BATCH}, not {self.batch_size}")
        if not 1 <= self.concurrency <= 64:
            raise ValueError(f"concurrency must be 1..64, not {self.concurrency}")
        if self.read_rows < 1 or self.keep_errors < 0:
            raise ValueError("read_rows must be >= 1 and keep_errors >= 0")


@dataclass
class ImportReport:
    """What an import did, row by row accounted: read = valid + invalid (duplicates
    included: rows whose key a later row repeats), and valid = skipped (acknowledged by an
    earlier run) + acknowledged + failed (+ unsent in a dry run or an interrupted run).
    Every valid row is one row of ``kind`` (an activity, a user, a follow...)."""

    source: str
    kind: str = "activity"
    rows_read: int = 0
    valid: int = 0
    invalid: int = 0
    duplicates: int = 0
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
    notes: list[str] = field(default_factory=list)  # what a person should know of this run
    errors_path: str | None = None  # where every failure was written, if anywhere
    # Through the import pipeline: the task as it ended (its state and history are in the
    # summary; its ids and times would only make the repr long).
    task: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def rate(self) -> float:
        """Rows read per second."""
        return self.rows_read / self.duration if self.duration > 0 else 0.0

    @property
    def ok(self) -> bool:
        """Every row was valid and every valid row is stored."""
        if self.task is not None and (self.task.get("state") != "completed"
                                      or self.task.get("error_count")):  # fmt: skip
            return False
        return (
            not self.invalid
            and not self.failed
            and not self.interrupted
            and (self.dry_run or self.skipped + self.acknowledged == self.valid)
        )

    @property
    def verdict(self) -> str:
        """One line: complete, or what is incomplete."""
        if self.interrupted:
            return "interrupted: rerun with the same checkpoint to send the rest"
        if self.ok:
            return "dry run: every row is valid" if self.dry_run else "complete"
        if self.dry_run:
            return f"{self.invalid:,} invalid rows"
        bad = [f"{n:,} {what}" for n, what in ((self.invalid, "invalid"),
               (self.failed, "failed")) if n]  # fmt: skip
        return "incomplete: " + (", ".join(bad) or "some valid rows were not stored")

    def figures(self) -> list[tuple[str, int | str, str]]:
        """(label, value, note) of each figure, in the order every rendering shows them."""
        out: list[tuple[str, int | str, str]] = [
            ("rows read", self.rows_read, ""),
            ("valid", self.valid, ""),
            ("invalid", self.invalid, ""),
        ]
        if self.duplicates:
            out.append(("duplicates", self.duplicates,
                        "of the invalid: a later row has the same key and wins"))  # fmt: skip
        if not self.dry_run:
            if self.checkpoint:
                out.append(("skipped", self.skipped, "acknowledged by an earlier run"))
            out += [("sent", self.sent, ""), ("acknowledged", self.acknowledged, ""),
                    ("failed", self.failed, "")]  # fmt: skip
        if self.task is not None:
            history = " -> ".join(h["next_state"] for h in self.task.get("history") or [])
            out += [("import task", str(self.task.get("state")), history),
                    ("line errors", int(self.task.get("error_count") or 0),
                     "lines of the file the service refused")]  # fmt: skip
        out.append(("duration", f"{self.duration:.2f} s", f"{self.rate:,.0f} rows/s"))
        if self.errors_total:
            kept = f"{len(self.errors):,} kept" if len(self.errors) < self.errors_total else ""
            out.append(("errors", self.errors_total, kept))
        return out

    def summary(self) -> str:
        mode = " (dry run: nothing sent)" if self.dry_run else ""
        lines = [f"import of {self.source}{self.what}{mode}"]
        for label, value, note in self.figures():
            shown = f"{value:>10,}" if isinstance(value, int) else f"{value:>12}"
            lines.append(f"  {label:<13} {shown}" + (f"  ({note})" if note else ""))
        lines += [f"  note: {note}" for note in self.notes]
        if self.interrupted:
            lines.append(f"  {self.verdict}")
        return "\n".join(lines)

    @property
    def what(self) -> str:
        """`` (user rows)``: the kind, for any kind but activities (the default)."""
        return "" if self.kind == "activity" else f" ({self.kind.replace('_', ' ')} rows)"

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return report_html(
            f"Import of {self.source}{self.what}", self.ok, self.verdict, self.figures(),
            self.notes, self.errors,
        )  # fmt: skip


class ImportInterrupted(KeyboardInterrupt):
    """Ctrl-C (or the notebook's interrupt) stopped an import. Still a KeyboardInterrupt;
    ``report`` is what the run did before it stopped, with ``interrupted`` set."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__(f"import of {report.source} interrupted")
        self.report = report


class _Errors:
    """Failures: counted, kept up to a limit, and all streamed to a CSV file if asked."""

    def __init__(
        self,
        path: str | PathLike[str] | None,
        keep: int,
        locate: Callable[[list[RowError]], list[RowError]] | None = None,
    ) -> None:
        self.keep = keep
        self._locate = locate  # names the file of each row, in a source of several files
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
        if self._locate is not None:
            errors = self._locate(errors)
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


@dataclass(frozen=True)
class _Slot:
    """One request as first planned: the valid source rows ``first``..``last`` it carries
    (a checkpoint's unit), their JSON and keys, and the first row's key."""

    texts: pa.Array
    rows: np.ndarray
    keys: pa.Array
    first_id: str | None
    level: int = 0  # the pass sending it: replies go a level after their parents

    @property
    def span(self) -> tuple[int, int]:
        return int(self.rows[0]), int(self.rows[-1])


def _body(resource: Resource, texts: pa.Array, keys: pa.Array) -> bytes:
    """One request's body; empty for a kind sent one request a row."""
    return (
        senders.batch_body(resource, texts, keys)
        if resource.items
        else b"".join(t.encode() + b"\n" for t in texts.to_pylist())
    )


def _slots(
    cb: ConvertedBatch,
    keep: np.ndarray,
    batch_size: int,
    resource: Resource,
    level: int = 0,
    max_bytes: int = MAX_REQUEST_BYTES,
) -> Iterator[_Slot]:
    """The requests a batch's kept rows go out in: at most ``batch_size`` rows and
    ``max_bytes`` of body each (every row fits one: the converter refuses larger ones)."""
    texts = cb.json.filter(pa.array(keep))
    rows = cb.rows[keep]
    ids = cb.ids.filter(pa.array(keep))
    sizes = pc.binary_length(texts).to_numpy(zero_copy_only=False).astype(np.int64) + 1
    if resource.keyed:  # each row also carries its key: "key":
        sizes += pc.binary_length(ids).to_numpy(zero_copy_only=False).astype(np.int64) * 2 + 3
    ends = np.concatenate([[0], np.cumsum(sizes)])
    room = max_bytes - ENVELOPE_BYTES
    start, n = 0, len(rows)
    while start < n:
        fits = int(np.searchsorted(ends, ends[start] + room, side="right")) - 1
        end = max(start + 1, min(start + batch_size, n, fits))
        yield _Slot(texts.slice(start, end - start), rows[start:end],
                    ids.slice(start, end - start), ids[start].as_py(), level)  # fmt: skip
        start = end


class _Sender:
    """Sends planned requests, journals them, and accounts for every row."""

    def __init__(
        self,
        client: Client,
        journal: Journal | None,
        errors: _Errors,
        report: ImportReport,
        resource: Resource,
    ) -> None:
        self.client = client
        self.journal = journal
        self.errors = errors
        self.report = report
        self.resource = resource
        self._lock = threading.Lock()

    def send(self, slot: _Slot, body: bytes, digest: str) -> None:
        first, last = slot.span
        if self.journal is not None:
            self.journal.sending(first, last, digest, slot.first_id, slot.level)
        failed = self._deliver(slot.texts, slot.rows, slot.keys, body)
        with self._lock:
            self.report.sent += len(slot.rows)
        if not failed and self.journal is not None:
            self.journal.acknowledge(first, last, digest, slot.first_id, slot.level)

    def _deliver(
        self, texts: pa.Array, rows: np.ndarray, keys: pa.Array, body: bytes | None = None
    ) -> int:
        """Send these rows; the number that failed. A refusal naming rows drops them (or,
        for rows that exist already, settles them: :func:`feedkit.senders.settle_existing`)
        and sends the rest; one naming none (413, a body refused whole) is split in halves
        until only the guilty rows fail."""
        if not len(rows):
            return 0
        if self.resource.items is None:
            return self._one_by_one(texts, rows)
        try:
            content = body if body is not None else _body(self.resource, texts, keys)
            self.client.call(self.resource.operation, content=content, retry=True, decode=False)
        except APIError as exc:
            rejected = (
                senders.rejected_items(self.resource, exc, keys.to_pylist())
                if exc.status == 400
                else {}
            )
            if rejected and all(0 <= i < len(rows) for i in rejected):
                failed = 0
                for index, message in rejected.items():
                    left = senders.settle_existing(self.client, self.resource,
                                                   texts[index].as_py(), message)  # fmt: skip
                    if left is None:
                        with self._lock:
                            self.report.acknowledged += 1
                    else:
                        self._failed(rows[index : index + 1], f"server refused: {left}")
                        failed += 1
                keep = np.ones(len(rows), dtype=bool)
                keep[list(rejected)] = False
                mask = pa.array(keep)
                return failed + self._deliver(texts.filter(mask), rows[keep], keys.filter(mask))
            if exc.status in (400, 404, 413) and len(rows) > 1:
                half = len(rows) // 2
                return self._deliver(
                    texts.slice(0, half), rows[:half], keys.slice(0, half)
                ) + self._deliver(texts.slice(half), rows[half:], keys.slice(half))
            self._failed(rows, f"{exc}")
            return len(rows)
        except FeedkitError as exc:
            self._failed(rows, f"{exc}")
            return len(rows)
        with self._lock:
            self.report.acknowledged += len(rows)
        return 0

    def _one_by_one(self, texts: pa.Array, rows: np.ndarray) -> int:
        failed = 0
        for text, row in zip(texts.to_pylist(), rows.tolist(), strict=True):
            try:
                senders.send_row(self.client, self.resource, text)
            except FeedkitError as exc:
                self._failed(np.array([row]), f"server refused: {exc}")
                failed += 1
                continue
            with self._lock:
                self.report.acknowledged += 1
        return failed

    def _failed(self, rows: np.ndarray, message: str) -> None:
        self.errors.add(
            [RowError(int(r), "", "", Reason.SEND_FAILED.value, message) for r in rows.tolist()]
        )
        with self._lock:
            self.report.failed += len(rows)


def _spot_check(client: Client, journal: Journal, report: ImportReport, resource: Resource) -> None:
    """Before a resume skips anything: are some of the rows the journal holds as
    acknowledged at the destination? If any is missing (a store replaced or emptied, another
    app behind the same URL), nothing in the journal is trusted and every row is sent again."""
    ids = journal.acknowledged_ids()
    if not ids:
        return
    sample = random.sample(ids, min(SPOT_CHECK, len(ids)))
    try:
        found = senders.present(client, resource, sample)
    except FeedkitError as exc:
        found, why = set(), f"the check failed: {exc}"
    else:
        missing = len(set(sample) - found)
        why = f"{missing} of {len(sample)} sampled {resource.plural} are missing"
    if not set(sample) <= found:
        journal.forget()
        report.notes.append(
            f"the checkpoint's acknowledged rows are not all at {client.destination} ({why}): "
            "nothing in it was trusted, every row was sent again"
        )


def _identity(source_name: str, mapping: Mapping) -> dict[str, str]:
    """What a new journal's header records for people (never checked: digests decide)."""
    return {
        "source": source_name,
        "mapping": hashlib.sha256(repr(mapping).encode()).hexdigest()[:16],
    }


def _rereadable(source: Any, stack: ExitStack) -> Callable[[], Any]:
    """A way to open ``source`` again for each pass: a stream (a RecordBatchReader) is first
    spooled to a temporary Arrow file, read back memory-mapped; anything else as it is."""
    if not is_stream(source):
        return lambda: source
    source = stream_reader(source)  # a one-shot __arrow_c_stream__ object too
    folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="feedkit-spool-"))
    path = Path(folder) / "source.arrow"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, source.schema) as writer:
        for batch in source:
            writer.write_batch(batch)

    def reopen() -> pa.RecordBatchReader:
        spooled = pa.ipc.open_file(pa.memory_map(str(path)))
        batches = (spooled.get_batch(i) for i in range(spooled.num_record_batches))
        return pa.RecordBatchReader.from_batches(spooled.schema, batches)

    return reopen


def _superseded(
    open_source: Callable[[], Any],
    mapping: Mapping,
    opts: ImportOptions,
    check: Check | None,
    import_file: bool = False,
) -> tuple[Superseded, int, np.ndarray | None]:
    """The first pass: which valid rows a later row with the same id supersedes, how many
    rows the source has (the total of the second pass's bar) and, for a kind whose rows reply
    to each other, every row's depth (:mod:`feedkit.threads`)."""
    parent = mapping.resource.parent
    threads = Threads() if parent is not None and parent in mapping.fields else None
    if threads is None and not (check is not None and check.first_pass):
        rows_total = _unrepeated(open_source, mapping, opts)
        if rows_total is not None:
            return Superseded({}), rows_total, None
    index = IdIndex()
    opened, batches = convert(open_source(), mapping, batch_rows=opts.read_rows,
                              import_file=import_file)  # fmt: skip
    rows = 0
    with Progress(opts.progress, opened, f"{opts.label}check ids") as bar:  # then the import
        for cb in batches:
            ids = cb.ids.to_pylist()
            index.add(ids, cb.rows)
            if threads is not None:
                threads.add(ids, cb.refs[str(parent)].to_pylist(), cb.rows)
            if check is not None and check.first_pass:
                check.gather(cb)
            rows += cb.rows_read
            bar.advance(cb.rows_read)
    if check is not None and check.first_pass:
        check.finish_gathering()
    return index.superseded(), rows, threads.depths(rows) if threads is not None else None


def _unrepeated(
    open_source: Callable[[], Any], mapping: Mapping, opts: ImportOptions
) -> int | None:
    """The rows of a source whose keys, read alone (:func:`feedkit.convert.convert_keys`),
    never repeat: then no valid row supersedes another, and the first pass need not convert
    the rows. None when some key repeats (or keys need whole rows): the full pass decides."""
    found = convert_keys(open_source(), mapping, batch_rows=opts.read_rows)
    if found is None:
        return None
    opened, batches = found
    index = IdIndex()
    rows = 0
    with Progress(opts.progress, opened, f"{opts.label}check ids") as bar:
        for keys, sb in batches:
            present = keys.is_valid().to_numpy(zero_copy_only=False)
            index.add(keys.drop_null().to_pylist(), sb.rows[present])
            rows += sb.rows_read
            bar.advance(sb.rows_read)
    return None if index.superseded() else rows


def _key_field(mapping: Mapping) -> str:
    resource = mapping.resource
    return "id" if resource.derivable else ",".join(k for k in resource.key if k in mapping.fields)


def _id_columns(mapping: Mapping) -> str:
    names = _key_field(mapping).split(",")
    return ",".join(dict.fromkeys(
        c for n in names if n in mapping.fields for c in spec_columns(mapping.fields[n])
    ))  # fmt: skip


def key_text(mapping: Mapping, key: str) -> str:
    """A row's key as people read it: ``id 'a1'``, ``source, target ('a', 'b')``."""
    resource = mapping.resource
    if resource.derivable or len(resource.key) == 1:
        return f"{resource.key[0]} {key!r}"
    parts = dict(zip(resource.key, key.split(KEY_SEPARATOR), strict=True))
    named = {k: v for k, v in parts.items() if k in mapping.fields}
    return f"{', '.join(named)} ({', '.join(repr(v) for v in named.values())})"


def _duplicate_errors(
    rows: np.ndarray, ids: list[str], late: np.ndarray, superseded: Superseded, mapping: Mapping
) -> list[RowError]:
    column = _id_columns(mapping)
    return [
        RowError(
            row, column, _key_field(mapping), Reason.DUPLICATE_ID.value,
            f"{key_text(mapping, ident)} appears again in row {superseded.winner[row]}: the "
            "last row wins, so this one is not sent",
            ident.replace(KEY_SEPARATOR, ", "),
        )
        for row, ident, superseded_here in zip(rows.tolist(), ids, late.tolist(), strict=True)
        if superseded_here
    ]  # fmt: skip


def validate_source(
    source: Any, mapping: Mapping, options: ImportOptions | None = None, **overrides: Any
) -> ImportReport:
    """Check every row of ``source`` as an import would, sending nothing and needing no
    server: a dry run's :class:`ImportReport`, duplicates and derived ids included."""
    return import_rows(None, source, mapping, options, **{**overrides, "dry_run": True})


def import_activities(
    client: Client | None,
    source: Any,
    mapping: Mapping,
    options: ImportOptions | None = None,
    **overrides: Any,
) -> ImportReport:
    """:func:`import_rows` of an activity mapping."""
    if mapping.kind != "activity":
        raise TypeError(f"this mapping fills {mapping.kind} rows: use feedkit.import_rows")
    return import_rows(client, source, mapping, options, **overrides)


class Sink(Protocol):
    """Receives valid rows as an import file's lines (:mod:`feedkit.importfile`)."""

    def write(self, kind: str, lines: pa.Array, keys: pa.Array, refs: dict[str, pa.Array]) -> int:
        """Write these rows' lines (``lines``: each row's whole line, as
        ``convert(import_file=True)`` writes it; ``keys`` their keys, ``refs`` what they
        name); the number written."""


class Check(Protocol):
    """Refuses rows beyond the mapping (a migration plan's reference checks)."""

    @property
    def first_pass(self) -> bool:
        """Whether :meth:`gather` must see every valid row before any is refused."""

    def gather(self, cb: ConvertedBatch) -> None: ...

    def finish_gathering(self) -> None: ...

    def refuse(self, cb: ConvertedBatch) -> list[RowError]: ...

    def activities_of(self, comment_ids: list[str]) -> dict[str, str]:
        """The activity of each of these comments that the check knows (an import file's
        reaction on a comment names the comment's activity too)."""
        ...


def import_rows(
    client: Client | None,
    source: Any,
    mapping: Mapping,
    options: ImportOptions | None = None,
    *,
    check: Check | None = None,
    sink: Sink | None = None,
    via: str = "api",
    **overrides: Any,
) -> ImportReport:
    """Import every valid row of ``source`` as a row of the mapping's kind (an activity, a
    user, a follow, a comment, a reaction, a bookmark, a feed group); return the
    :class:`ImportReport`. ``check`` refuses more rows of each converted batch (a migration
    plan's reference checks): its errors' rows are invalid and not sent. ``sink`` (an
    :class:`feedkit.importfile.ImportFileWriter`, ``client`` None) receives the rows as the
    lines of a bulk import file instead: validated for that format, in the same order, with
    the same duplicates and replies after their parents.

    ``via="import"`` goes through the vendor's import pipeline instead of the API's writes
    (:mod:`feedkit.pipeline`): the rows become an import file (beside ``checkpoint``, which
    then also records the upload and the task, so a rerun resumes), uploaded and imported;
    the report adds the task's final state, and its ``task`` has the lines it refused.
    ``via="auto"`` takes the pipeline where it is faster (:func:`pipeline_wanted`), and says
    so in the report's notes.

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
    if via not in ("api", "import", "auto"):
        raise ValueError(f"via must be 'api', 'import' or 'auto', not {via!r}")
    if via != "api" and client is not None and not opts.dry_run and sink is None:
        why = pipeline_wanted(client, source, mapping) if via == "auto" else ""
        if via == "import" or why:
            return _through_pipeline(client, source, mapping, opts, check, why)
    if sink is not None and (client is not None or opts.dry_run or opts.checkpoint):
        raise ValueError("a sink writes a file: no client, dry run or checkpoint with it")
    if client is None and sink is None and not opts.dry_run:
        raise ValueError("a client is needed to send; pass dry_run=True to only validate")
    started = time.perf_counter()
    stack = ExitStack()
    try:
        reopen = _rereadable(source, stack)
        # A real import knows the duplicates before it sends; a dry run learns them as it reads.
        gathering = check is not None and check.first_pass
        first = (
            None
            if opts.dry_run and not gathering
            else _superseded(reopen, mapping, opts, check, sink is not None)
        )
        return _Import(client, mapping, opts, started, check, sink).run(reopen, first)
    finally:
        stack.close()


AUTO_PIPELINE_BYTES = 256 * 1024**2  # via="auto": a source this big to a remote server
AUTO_ROWWISE_BYTES = 1024**2  # via="auto": a source this big of a kind stored a request a row
AUTO_ROWWISE_ROWS = 10_000  # the same for a table in memory


def pipeline_wanted(client: Client, source: Any, mapping: Mapping) -> str:
    """Why ``via="auto"`` takes the import pipeline, or "" when it does not: a kind the API
    stores one request a row (reactions, bookmarks) from a source of
    :data:`AUTO_ROWWISE_BYTES` or more (:data:`AUTO_ROWWISE_ROWS` rows of a table), or any
    kind from a source of :data:`AUTO_PIPELINE_BYTES` or more sent to a remote server (the
    embedded one writes batches about as fast either way). Never for rows the import file
    could refuse where the API stores them (:func:`fits_import_file`)."""
    resource = mapping.resource
    if not fits_import_file(mapping):
        return ""
    if isinstance(source, (str, os.PathLike)):
        paths = [Path(source)] if Path(source).is_file() else list(Path(source).rglob("*"))
        size = sum(p.stat().st_size for p in paths if p.is_file())
        big = size >= AUTO_ROWWISE_BYTES
    else:
        size, big = 0, _rows_in(source) >= AUTO_ROWWISE_ROWS
    if resource.items is None and big:
        return f"{resource.plural} are stored a request a row: a big source goes as one file"
    if client.store_id is None and size >= AUTO_PIPELINE_BYTES:
        return "a big source sent to a remote server"
    return ""


def fits_import_file(mapping: Mapping) -> bool:
    """Whether every row the API would store can be a line of the import file as mapped:
    the file needs some fields the API does not (an activity's user_id, a comment's
    object_id: ``import_required``), so a mapping must fill them, and fill nothing that
    stands in for them (a comment mapped to a parent_id may have no object_id). A field
    the file needs that is found from another (``import_derived``: a reaction on a
    comment names the comment's activity, found by :func:`_derived`) need not be mapped."""
    res = mapping.resource
    needed = set(res.import_required) - set(res.import_derived)
    stand_ins = set(res.one_of) - needed if needed & set(res.one_of) else set()
    return needed <= set(mapping.fields) and not stand_ins & set(mapping.fields)


def _rows_in(source: Any) -> int:
    """Rows of a table in memory (a DataFrame, an Arrow table); 0 when unknown."""
    try:
        return len(source) if isinstance(source, (pd.DataFrame, pa.Table)) else 0
    except TypeError:
        return 0


def _through_pipeline(
    client: Client,
    source: Any,
    mapping: Mapping,
    opts: ImportOptions,
    check: Check | None,
    why: str,
) -> ImportReport:
    from feedkit.importfile import import_file
    from feedkit.pipeline import run_pipeline, users_at, users_note
    from feedkit.references import References

    if check is None and set(mapping.resource.import_derived.values()) & set(mapping.fields):
        # (a reaction on a comment names the comment's activity: the destination knows it)
        check = References(client, dry_run=True).step(mapping)

    def write(path: Path) -> ImportReport:
        with import_file(path, users_at(client, path)) as writer:
            written = import_rows(None, source, mapping, replace(opts, checkpoint=None),
                                  check=check, sink=writer)  # fmt: skip
        written.notes += users_note(writer)
        return written

    started = time.perf_counter()
    kept = Path(f"{os.fspath(opts.checkpoint)}.jsonl") if opts.checkpoint is not None else None
    report, run = run_pipeline(client, write, kept, progress=opts.progress)
    report.task = run.task
    report.duration = time.perf_counter() - started  # the file, its upload and the task
    report.checkpoint = str(opts.checkpoint) if opts.checkpoint else None
    report.notes += run.notes
    if why:
        report.notes.insert(0, f"sent through the import pipeline (--via auto: {why})")
    report.sent = report.valid  # in the file; stored once the task completed without errors
    report.acknowledged = report.valid if run.ok else 0
    return report


class _Import:
    """One import of a source: the pass that reads, checks, accounts for and sends every
    row, then (for replies) one pass a level that sends the rows the first one held back."""

    def __init__(
        self,
        client: Client | None,
        mapping: Mapping,
        opts: ImportOptions,
        started: float,
        check: Check | None,
        sink: Sink | None = None,
    ) -> None:
        self.client = client
        self.sink = sink
        self.mapping = mapping
        self.opts = opts
        self.started = started
        self.check = check
        self.resource = mapping.resource
        self.journal: Journal | None = None
        self.pending: set[Future[None]] = set()

    def run(
        self, reopen: Callable[[], Any], first: tuple[Superseded, int, np.ndarray | None] | None
    ) -> ImportReport:
        superseded, rows_total, depths = first if first is not None else (None, None, None)
        opts, mapping, client = self.opts, self.mapping, self.client
        opened, batches = self._convert(reopen)
        report = self.report = ImportReport(
            source=opened.name,
            kind=mapping.kind,
            dry_run=opts.dry_run,
            checkpoint=str(opts.checkpoint) if opts.checkpoint else None,
            errors_path=os.fspath(opts.errors_path) if opts.errors_path else None,
        )
        if mapping.derive_ids:
            report.notes.append(DERIVED_IDS_NOTE)
        if opts.checkpoint and client is not None and not opts.dry_run:
            self.journal = self._journal(client, opened.name)
        errors = self.errors = _Errors(opts.errors_path, opts.keep_errors, opened.locate)
        self.sender = (
            _Sender(client, self.journal, errors, report, self.resource) if client else None
        )
        index = IdIndex() if superseded is None else None
        parent = self.resource.parent
        threads = Threads() if index is not None and parent in mapping.fields else None
        what = "validate" if opts.dry_run else "write" if self.sink else "import"
        bar = Progress(opts.progress, opened, f"{opts.label}{what}", rows_total)
        self.pool = ThreadPoolExecutor(max_workers=opts.concurrency,
                                       thread_name_prefix="feedkit-import")  # fmt: skip
        try:
            for cb in batches:
                if self.check is not None:
                    cb = _checked(cb, self.check.refuse(cb))
                if self.sink is not None and self.resource.import_derived:
                    cb = _checked(*_derived(cb, self.resource, self.mapping, self.check))
                report.rows_read += cb.rows_read
                late = np.zeros(len(cb.rows), dtype=bool)
                if superseded:  # (none superseded, mostly: then nothing to hold back)
                    ids = cb.ids.to_pylist()
                    late = superseded.mask(cb.rows, ids)
                    if late.any():
                        errors.add(_duplicate_errors(cb.rows, ids, late, superseded, mapping))
                    kept_ids = [i for i, x in zip(ids, late.tolist(), strict=True) if not x]
                    errors.add(_collisions(superseded.mismatched(cb.rows[~late], kept_ids)))
                elif index is not None:  # a dry run learns the duplicates as it reads
                    ids = cb.ids.to_pylist()
                    index.add(ids, cb.rows)
                    if threads is not None:
                        threads.add(ids, cb.refs[str(parent)].to_pylist(), cb.rows)
                report.valid += len(cb.rows) - int(late.sum())
                report.duplicates += int(late.sum())
                report.invalid += len({e.row for e in cb.errors}) + int(late.sum())
                errors.add(cb.errors)
                keep = ~late
                if depths is not None:  # replies wait for their parents' level
                    keep = self._level_zero(cb, keep, depths)
                if not opts.dry_run:
                    self._send(cb, keep)
                bar.advance(cb.rows_read, _stats(report))
            self._drain()
            if index is not None:  # a dry run: the duplicates and reply cycles it read
                superseded = index.superseded()
                _count_dry_run_duplicates(superseded, report, errors, mapping)
                if threads is not None:
                    self._cycles(np.flatnonzero(threads.depths(report.rows_read) == NO_DEPTH),
                                 superseded)  # fmt: skip
            bar.advance(0, _stats(report))
            if depths is not None and not opts.dry_run:
                for level in range(1, int(depths.max(initial=0)) + 1):
                    self._replies(reopen, depths, level, rows_total)
        except KeyboardInterrupt:
            report.interrupted = True
            for f in self.pending:
                f.cancel()
            raise ImportInterrupted(report) from None
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)
            if self.journal is not None:
                self.journal.close()
            errors.close()
            bar.close()
            report.duration = time.perf_counter() - self.started
            report.errors_total = errors.total
            report.errors = errors_frame(errors.kept)
        return report

    def _journal(self, client: Client, source_name: str) -> Journal:
        report = self.report
        assert self.opts.checkpoint is not None
        journal = Journal(self.opts.checkpoint, client.destination,
                          _identity(source_name, self.mapping))  # fmt: skip
        if journal.restarted:
            report.notes.append(
                f"the checkpoint's header was damaged: nothing in it was trusted, every row "
                f"was sent again ({journal.damaged:,} lines ignored)"
            )
        elif journal.damaged:
            report.notes.append(
                f"{journal.damaged:,} damaged checkpoint lines were ignored: their rows were "
                "sent again"
            )
        _spot_check(client, journal, report, self.resource)
        return journal

    def _level_zero(self, cb: ConvertedBatch, keep: np.ndarray, depths: np.ndarray) -> np.ndarray:
        """The rows of ``cb`` the first pass sends (no parent in the source); replies in a
        cycle are refused, and rows refused here are never sent by a later level."""
        depth = depths[cb.rows]
        cycle = keep & (depth == NO_DEPTH)
        if cycle.any():
            self._cycles(cb.rows[cycle])
        depths[cb.rows[~keep]] = 0
        depths[[e.row for e in cb.errors]] = 0  # refused by the mapping or the plan's checks
        ready: np.ndarray = keep & (depth == 0)
        return ready

    def _cycles(self, rows: np.ndarray, superseded: Superseded | None = None) -> None:
        """Refuse replies whose chain of parents runs in a cycle."""
        if superseded is not None:  # a dry run: rows already refused as duplicates stay so
            rows = np.array([r for r in rows.tolist() if r not in superseded.winner], np.int64)
        if not len(rows):
            return
        parent = str(self.resource.parent)
        self.errors.add([
            RowError(row, ",".join(spec_columns(self.mapping.fields[parent])), parent,
                     Reason.REPLY_CYCLE.value,
                     "its chain of parents runs in a cycle and never reaches a stored "
                     "comment: no reply in it can be stored after its parent, so none is sent")
            for row in rows.tolist()
        ])  # fmt: skip
        self.report.valid -= len(rows)
        self.report.invalid += len(rows)

    def _replies(
        self, reopen: Callable[[], Any], depths: np.ndarray, level: int, rows_total: int | None
    ) -> None:
        """A pass sending the rows at ``level``, once every row above them was sent."""
        opened, batches = self._convert(reopen)
        label = f"{self.opts.label}replies, level {level}"
        with Progress(self.opts.progress, opened, label, rows_total) as bar:
            for cb in batches:
                self._send(cb, depths[cb.rows] == level, level)
                bar.advance(cb.rows_read, _stats(self.report))
            self._drain()

    def _convert(self, reopen: Callable[[], Any]) -> tuple[Any, Iterator[ConvertedBatch]]:
        return convert(reopen(), self.mapping, batch_rows=self.opts.read_rows,
                       import_file=self.sink is not None)  # fmt: skip

    def _send(self, cb: ConvertedBatch, keep: np.ndarray, level: int = 0) -> None:
        journal, report = self.journal, self.report
        if self.sink is not None:  # lines of an import file, in order, in this thread
            if not keep.all():
                mask = pa.array(keep)
                cb = ConvertedBatch(cb.json.filter(mask), cb.rows[keep], [], cb.rows_read,
                                    cb.ids.filter(mask),
                                    {k: v.filter(mask) for k, v in cb.refs.items()})  # fmt: skip
            written = self.sink.write(self.mapping.kind, cb.json, cb.ids, cb.refs)
            report.sent += written
            report.acknowledged += written
            return
        for slot in _slots(cb, keep, self.opts.batch_size, self.resource, level):
            body = _body(self.resource, slot.texts, slot.keys)
            digest = body_digest(body)
            if journal is not None and journal.acknowledged(*slot.span, digest, level):
                report.skipped += len(slot.rows)
                continue
            while len(self.pending) >= 2 * self.opts.concurrency:  # bounded memory
                finished, self.pending = wait(self.pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    f.result()
            assert self.sender is not None  # not a dry run
            self.pending.add(self.pool.submit(self.sender.send, slot, body, digest))

    def _drain(self) -> None:
        for f in self.pending:
            f.result()
        self.pending = set()


def _derived(
    cb: ConvertedBatch, resource: Resource, mapping: Mapping, check: Check | None
) -> tuple[ConvertedBatch, list[RowError]]:
    """The batch (import lines) with the fields an import file needs that its rows left to be found
    (``import_derived``: a reaction on a comment names the comment's activity, found among
    the plan's comments or at the destination by ``check``), and the rows whose cannot be."""
    refused: list[RowError] = []
    for name, source in resource.import_derived.items():
        given, via = cb.refs.get(name), cb.refs.get(source)
        if via is None:
            continue
        wanted = pc.and_(pc.is_valid(via), pc.is_null(given) if given is not None
                         else pa.repeat(True, len(via)))  # fmt: skip
        at = np.flatnonzero(wanted.to_numpy(zero_copy_only=False))
        if not len(at):
            continue
        keys = via.take(pa.array(at)).to_pylist()
        found = check.activities_of(sorted(set(keys))) if check is not None else {}
        texts: list[str | None] = [None] * len(cb.json)
        values: list[str | None] = [None] * len(cb.json)
        start = line_ends(mapping.kind)[0] + "{"  # each row's line, up to its data's members
        for i, key in zip(at.tolist(), keys, strict=True):
            if key in found:  # (the data gains the field first: {"activity_id":"...",...)
                values[i] = found[key]
                texts[i] = start + orjson.dumps({name: found[key]}).decode()[1:-1] + ","
            else:
                where = ("neither among the plan's valid rows nor at the destination"
                         if check is not None else "known to a migration plan or the "
                         "destination only")  # fmt: skip
                message = (
                    f"is required in an import file: it is the "
                    f"{source.removesuffix('_id')}'s, and {source} {key!r} is {where}"
                )
                column = ",".join(spec_columns(mapping.fields[source]))
                refused.append(RowError(int(cb.rows[i]), column, name, Reason.REQUIRED.value,
                                        message, key))  # fmt: skip
        rest = pc.utf8_slice_codeunits(cb.json, len(start))
        patched = pc.binary_join_element_wise(pa.array(texts, cb.json.type), rest, "")
        refs = dict(cb.refs)
        refs[name] = pc.coalesce(pa.array(values, pa.string()), given) if given is not None \
            else pa.array(values, pa.string())  # fmt: skip
        cb = replace(cb, json=pc.coalesce(patched, cb.json), refs=refs)
    return cb, refused


def _checked(cb: ConvertedBatch, refused: list[RowError]) -> ConvertedBatch:
    """The batch without the rows ``refused`` names, its errors with theirs."""
    if not refused:
        return cb
    bad = {e.row for e in refused}
    ok = np.array([r not in bad for r in cb.rows.tolist()], dtype=bool)
    mask = pa.array(ok)
    refs = {k: v.filter(mask) for k, v in cb.refs.items()}
    return ConvertedBatch(cb.json.filter(mask), cb.rows[ok], cb.errors + refused, cb.rows_read,
                          cb.ids.filter(mask), refs)  # fmt: skip


def _collisions(rows: list[int]) -> list[RowError]:
    return [
        RowError(row, "", "id", Reason.SEND_FAILED.value,
                 "held back as a duplicate of a later row whose id only shares its hash: not "
                 "sent; run the import again to send it")
        for row in rows
    ]  # fmt: skip


def _count_dry_run_duplicates(
    superseded: Superseded, report: ImportReport, errors: _Errors, mapping: Mapping
) -> None:
    rows = np.array(sorted(superseded.winner), dtype=np.int64)
    column = _id_columns(mapping)
    errors.add([
        RowError(row, column, _key_field(mapping), Reason.DUPLICATE_ID.value,
                 f"a later row ({superseded.winner[row]}) has the same "
                 f"{_key_field(mapping).replace(',', ', ')}: the last row wins, so"
                 " this one would not be sent")
        for row in rows.tolist()
    ])  # fmt: skip
    report.duplicates = len(rows)
    report.valid -= len(rows)
    report.invalid += len(rows)


def _stats(report: ImportReport) -> dict[str, int]:
    """The figures a progress bar shows, in this order."""
    stats = {"valid": report.valid, "invalid": report.invalid}
    if not report.dry_run:
        stats["stored"] = report.acknowledged + report.skipped
    return stats
