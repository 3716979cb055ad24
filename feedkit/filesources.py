"""Files as one source: a CSV, TSV, JSON lines or Parquet file, or a directory, glob or URL.

The files a location names (:func:`feedkit.locations.resolve`) are read one after the other in
path order, as one table: records are numbered on across files, and where there are several
files each batch and each error also names its file and the record within it
(:attr:`~feedkit.sources.RowError.file`, ``file_row``). ``key=value`` folders (hive partitions)
are text columns. The files must be of one format (compression aside: ``a.csv`` and
``b.csv.gz`` go together); a set that mixes formats is refused by name. Every file is opened
before the first batch, so a missing column or an unreadable file stops the import before it
starts, and the fingerprint covers every file's name, size and modification time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from feedkit.csvsource import csv_batches, csv_header
from feedkit.jsonlsource import jsonl_batches
from feedkit.locations import (
    FileRef,
    Files,
    LocationError,
    Opener,
    local_path,
    resolve,
)
from feedkit.sources import (
    Source,
    SourceBatch,
    SourceError,
    located,
    missing_columns,
    parquet_batches,
    unique_columns,
)

__all__ = ["FORMATS", "open_files"]

# Suffix -> format. .json is left out: a JSON document is not JSON lines.
FORMATS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_READS = ".csv, .tsv, .jsonl, .ndjson or .parquet files (compressed text too)"


@dataclass
class _Part:
    """One file ready to read: its format, and what its reader needs."""

    ref: FileRef
    format: str
    opener: Opener | None = None  # text formats
    names: list[str] | None = None  # a CSV header (None: an empty file)
    parquet_rows: int | None = None  # a Parquet file's row count (from its footer)

    def batches(self, columns: Sequence[str], batch_rows: int) -> Iterator[SourceBatch]:
        if self.parquet_rows is not None:
            return self._parquet(columns, batch_rows)
        assert self.opener is not None
        if self.format == "jsonl":
            return jsonl_batches(self.opener, columns, batch_rows)
        tab = self.format == "tsv"
        return csv_batches(self.ref.name, self.opener, self.names, columns, batch_rows, tab)

    def position(self) -> int:
        return self.opener.position() if self.opener is not None else 0

    def _parquet(self, columns: Sequence[str], batch_rows: int) -> Iterator[SourceBatch]:
        # Opened again here, so that a set of many files holds one open at a time.
        with _parquet_file(self.ref) as pf:
            yield from parquet_batches(pf, columns, batch_rows)


def open_files(source: Any, columns: Sequence[str], batch_rows: int) -> Source:
    """The files ``source`` (a path or URL, maybe a directory or glob) names, as a Source."""
    found = resolve(source)
    formats = {_format(ref) for ref in found.files}
    if len(formats) > 1:
        example = {f: next(r.name for r in found.files if _format(r) == f) for f in formats}
        named = ", ".join(f"{f}: {n}" for f, n in sorted(example.items()))
        raise SourceError(
            f"{found.name} mixes formats ({named}); a source is files of one format: name "
            "them with a glob, or import each format apart"
        )
    fmt = next(iter(formats))
    keys = sorted({k for ref in found.files for k, _ in ref.partitions})
    parts = [_open(ref, fmt, columns, keys) for ref in found.files]
    return _source(found, parts, columns, keys, batch_rows)


def _format(ref: FileRef) -> str:
    fmt = FORMATS.get(ref.suffix)
    if fmt is None:
        raise SourceError(f"{ref.name}: read {_READS} (or pass a DataFrame)")
    return fmt


def _open(ref: FileRef, fmt: str, columns: Sequence[str], keys: list[str]) -> _Part:
    file_columns = [c for c in columns if c not in keys]
    if fmt == "parquet":
        return _open_parquet(ref, columns, file_columns, keys)
    opener = Opener(ref)
    if opener.kind in ("zip", "parquet"):
        hint = "unzip it first" if opener.kind == "zip" else "name it .parquet"
        raise SourceError(
            f"{ref.name}: this is a {opener.kind} file, not {fmt.upper()} text; {hint}"
        )
    part = _Part(ref, fmt, opener)
    if fmt in ("csv", "tsv"):
        part.names = csv_header(ref.name, opener, fmt == "tsv")
        if part.names is not None:
            _check(ref, columns, file_columns, part.names, keys)
    return part


def _open_parquet(
    ref: FileRef, columns: Sequence[str], file_columns: list[str], keys: list[str]
) -> _Part:
    with _parquet_file(ref) as pf:
        _check(ref, columns, file_columns, pf.schema_arrow.names, keys)
        return _Part(ref, "parquet", parquet_rows=pf.metadata.num_rows)


def _parquet_file(ref: FileRef) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(ref.random_access())
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"{ref.name}: not a readable Parquet file: {exc}") from None
    except LocationError as exc:
        raise SourceError(f"{ref.name}: cannot read it as Parquet: {exc}") from None


def _check(
    ref: FileRef, columns: Sequence[str], file_columns: list[str], names: list[str], keys: list[str]
) -> None:
    """The mapped columns are in the file (or partition keys), each once."""
    twice = [k for k in keys if k in names and k in columns]
    if twice:
        raise SourceError(
            f"{ref.name} has a column named like its partition folder {twice[0]!r}: a mapping "
            "cannot tell them apart; rename one"
        )
    missing_columns(file_columns, names, ref.name)
    unique_columns(columns, names, ref.name)


def _source(
    found: Files, parts: list[_Part], columns: Sequence[str], keys: list[str], batch_rows: int
) -> Source:
    text = any(p.opener is not None for p in parts)
    total = None if text else sum(p.parquet_rows or 0 for p in parts)
    done = [0]  # bytes of the files already read
    current: list[_Part] = []

    def position() -> int:
        return done[0] + (current[0].position() if current else 0)

    def batches() -> Iterator[SourceBatch]:
        start = 0
        for part in parts:
            current[:] = [part]
            read = 0
            file = None if found.single else part.ref.name
            if file is not None:
                source.file_starts.append((start, file))
            for sb in part.batches([c for c in columns if c not in keys], batch_rows):
                read += sb.rows_read
                yield _placed(sb, start, file, part.ref, columns, keys)
            start += read
            done[0] += part.ref.size
        current.clear()

    source = Source(
        found.name if not found.single else _single_name(found),
        batches(),
        total,
        _fingerprint(found),
        size=sum(p.ref.size for p in parts) if text else None,
        position=position if text else None,
        text=parts[0].format in ("csv", "tsv"),
    )
    return source


def _placed(
    sb: SourceBatch,
    start: int,
    file: str | None,
    ref: FileRef,
    columns: Sequence[str],
    keys: list[str],
) -> SourceBatch:
    """A file's batch as part of the whole: rows numbered on from ``start``, the file named,
    partition columns added, columns in mapping order."""
    batch = sb.batch
    if keys:
        values = dict(ref.partitions)
        arrays = {n: batch.column(n) for n in batch.schema.names}
        fields = {f.name: f for f in batch.schema}
        for k in keys:
            if k in columns:
                arrays[k] = pa.array([values.get(k)] * batch.num_rows, pa.string())
                fields[k] = pa.field(k, pa.string())
        batch = pa.RecordBatch.from_arrays(
            [arrays[c] for c in columns], schema=pa.schema([fields[c] for c in columns])
        )
    errors = [replace(e, row=e.row + start) for e in sb.errors]
    if file is not None:
        errors = located(errors, file, start)
    return SourceBatch(batch, sb.rows + np.int64(start), errors, file=file, file_start=start)


def _single_name(found: Files) -> str:
    path = local_path(found.files[0])
    return str(Path(found.name)) if path is not None else found.name


def _fingerprint(found: Files) -> str:
    """One file: its resolved path (or URL), size and modification time; several: their
    count and a digest of each one's name, size and modification time."""
    if found.single:
        ref = found.files[0]
        path = local_path(ref)
        if path is not None:
            return f"{path.resolve()}:{ref.size}:{ref.mtime_ns}"
        return ref.identity()
    digest = hashlib.blake2b(digest_size=16)
    for ref in found.files:
        digest.update(ref.identity().encode() + b"\n")
    return f"{found.name}:{len(found.files)} files:{digest.hexdigest()}"
