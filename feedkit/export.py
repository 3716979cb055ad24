"""Feeds and queries -> typed DataFrames and Parquet files, page by page.

``feed_to_dataframe(client, "user:alice")`` and ``query_to_dataframe(client, filter=...)``
follow the cursors through every page and return one row per activity with a stable,
Arrow-backed schema: the activity's fields (times as timezone-aware timestamps, lists as
lists, ``location.lat``/``location.lng``, attachments as a list of structs) and ``custom.*`` /
``search_data.*`` flattened with '.' (nested objects become dotted columns, types are kept).
``to_parquet`` streams to a file without holding the export in memory.
``Mapping.identity()`` reads such a table back, so export -> import -> export is the identity.
"""

from __future__ import annotations

import gc
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import IO, Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from feedkit.activity_table import (
    ACTIVITY_COLUMNS,
    OBJECT_ROOTS,
    ReadPage,
    TableBuilder,
    activities_to_table,
    conflicts,
    read_answer,
)
from feedkit.arrowjson import JSON_METADATA, is_json_field, json_value, rfc3339
from feedkit.client import Client
from feedkit.files import replacing
from feedkit.mapping import JSON_COLUMNS_ATTR
from feedkit.paging import iter_pages
from feedkit.progress import counter
from feedkit.schema import MAX_PAGE

__all__ = [
    "ACTIVITY_COLUMNS",
    "activities_to_table",
    "feed_to_dataframe",
    "frame_table",
    "iter_pages",
    "query_to_dataframe",
    "table_frame",
    "text_table",
    "to_csv",
    "to_jsonl",
    "to_parquet",
    "write_csv",
]

SPOOL_CODEC = "lz4"  # JSON answers shrink about 7x at some 800 MB/s: under 2% of an export


def table_frame(table: pa.Table) -> pd.DataFrame:
    """An exported table as an Arrow-backed DataFrame, its JSON text columns named in attrs."""
    frame = table.to_pandas(types_mapper=pd.ArrowDtype)
    # pandas keeps no field metadata: name the JSON text columns for Mapping.identity.
    frame.attrs[JSON_COLUMNS_ATTR] = [f.name for f in table.schema if is_json_field(f)]
    return frame


def frame_table(frame: pd.DataFrame) -> pa.Table:
    """An exported DataFrame back as the table it was (:func:`table_frame`), its JSON text
    columns marked in their fields' metadata again."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    marked = set(frame.attrs.get(JSON_COLUMNS_ATTR, []))
    schema = pa.schema([f.with_metadata(JSON_METADATA) if f.name in marked else
                        f.remove_metadata() for f in table.schema])  # fmt: skip
    return table.cast(schema)


@contextmanager
def _heap_frozen() -> Iterator[None]:
    """Every object alive now kept out of the cyclic collector's walks until the end.

    An export allocates millions of short-lived objects, so the collector runs often, and each
    full collection would walk the caller's whole heap again (a notebook's: pandas, pyarrow and
    every object of the session), which costs more than decoding the pages. ``gc.freeze``
    moves what exists into a generation the collector skips; ``gc.unfreeze`` hands it back.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _collect(
    pages: Iterator[ReadPage], limit: int | None, progress: bool, what: str, counts: bool = False
) -> pd.DataFrame:
    return table_frame(_collect_table(pages, limit, progress, what, counts))


def _collect_table(
    pages: Iterator[ReadPage], limit: int | None, progress: bool, what: str, counts: bool = False
) -> pa.Table:
    builder = TableBuilder(counts=counts)
    with counter(progress, f"export {what}") as bar:
        for page in pages:
            take = page if limit is None else page.head(max(0, limit - builder.rows))
            builder.add(take)
            bar.update(take.rows)
            if limit is not None and builder.rows >= limit:
                break
        return builder.table()


def feed_to_dataframe(
    client: Client,
    feed: str,
    *,
    limit: int | None = None,
    page_size: int = MAX_PAGE,
    progress: bool = True,
    counts: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """Every activity of ``feed`` (e.g. "user:alice"), newest first, as a DataFrame.

    ``counts`` adds integer columns reaction_count, comment_count and bookmark_count, read
    from the answers themselves (no request more)."""
    with _heap_frozen():
        pages = iter_pages(client, feed=feed, page_size=page_size, read=read_answer, **options)
        return _collect(pages, limit, progress, feed, counts)


def query_to_dataframe(
    client: Client,
    filter: Mapping[str, Any] | None = None,
    *,
    sort: list[dict[str, Any]] | None = None,
    limit: int | None = None,
    page_size: int = MAX_PAGE,
    progress: bool = True,
    concurrency: int | None = None,
    counts: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """Every activity a query matches, following the cursors, as a DataFrame; ``counts`` as
    :func:`feed_to_dataframe` says.

    A query sorted by ``created_at`` (the default) is read in time ranges on ``concurrency``
    threads (see :mod:`feedkit.paging`): the same rows in the same order, sooner. The default
    is 4 for a server in another process, on another machine (the hosted service: long round
    trips) or on this one (``feedkit serve`` answers one range while we read others; measured
    1.6x faster than one cursor on 2 cores), and 1 for the embedded server, which shares this
    process's GIL. With a ``limit`` the pages are read one after another.
    """
    if concurrency is None:
        concurrency = default_concurrency(client)
    with _heap_frozen():
        pages = iter_pages(
            client,
            filter=filter,
            sort=sort,
            page_size=page_size,
            concurrency=1 if limit is not None else concurrency,
            read=read_answer,
            **options,
        )
        return _collect(pages, limit, progress, "query", counts)


def default_concurrency(client: Client) -> int:
    """Concurrent page reads worth having from ``client``'s server (see query_to_dataframe)."""
    return 1 if client.db_path is not None else 4


def to_parquet(
    client: Client,
    path: str | os.PathLike[str],
    *,
    feed: str | None = None,
    filter: Mapping[str, Any] | None = None,
    sort: list[dict[str, Any]] | None = None,
    page_size: int = MAX_PAGE,
    rows_per_group: int = 10_000,
    progress: bool = True,
    **options: Any,
) -> int:
    """Stream a feed or a query to a Parquet file; returns the number of activities.

    The answers are spooled to a temporary file as they arrive (LZ4-compressed: about 170
    bytes of disk per activity rather than 1.2 KB), so the file's schema covers every custom
    key of every page while memory holds one row group at a time: the first pass learns the
    schema row group by row group, the second writes them.
    """
    keys: dict[str, pa.Field] = {}
    whole: frozenset[str] = frozenset()

    def learn(table: pa.Table) -> None:
        nonlocal keys, whole
        for f in table.schema:
            keys[f.name] = _widen(keys.get(f.name), f)
        found = conflicts(keys)
        if found - whole:
            whole = whole | found
            keys = {k: f for k, f in keys.items()
                    if not any(k.startswith(c + ".") for c in whole)}  # fmt: skip
            for c in found:
                keys[c] = pa.field(c, pa.string(), metadata=JSON_METADATA)

    count = 0
    with replacing(path) as (part,), tempfile.TemporaryFile() as spool, _heap_frozen():
        builder = TableBuilder()
        pages = iter_pages(client, feed=feed, filter=filter, sort=sort, page_size=page_size,
                           read=_spoolable, **options)  # fmt: skip
        with counter(progress, "export") as bar:
            for body, page in pages:
                _spool(spool, body)
                builder.add(page)
                if builder.rows >= rows_per_group:
                    learn(builder.table(whole))
                    builder = TableBuilder()
                count += page.rows
                bar.update(page.rows)
        learn(builder.table(whole))
        schema = _schema(keys)
        with pq.ParquetWriter(part, schema) as writer:
            builder = TableBuilder()
            for body in _unspooled(spool):
                builder.add(read_answer(body)[0])
                if builder.rows >= rows_per_group:
                    writer.write_table(_conform(builder.table(whole), schema))
                    builder = TableBuilder()
            if builder.rows or not count:
                writer.write_table(_conform(builder.table(whole), schema))
    return count


def _spool(spool: IO[bytes], body: bytes) -> None:
    """Append one answer: its compressed and its own size, then the LZ4 frame."""
    packed = pa.compress(body, codec=SPOOL_CODEC, asbytes=True)
    spool.write(len(packed).to_bytes(8, "little") + len(body).to_bytes(8, "little") + packed)


def _unspooled(spool: IO[bytes]) -> Iterator[bytes]:
    """The answers spooled, from the start, as they arrived."""
    spool.seek(0)
    while head := spool.read(16):
        packed, size = int.from_bytes(head[:8], "little"), int.from_bytes(head[8:], "little")
        yield pa.decompress(spool.read(packed), size, codec=SPOOL_CODEC, asbytes=True)


def _spoolable(body: bytes) -> tuple[tuple[bytes, ReadPage], str | None]:
    """A page read, and the answer's bytes kept beside it (to_parquet spools them)."""
    page, cursor = read_answer(body)
    return (body, page), cursor


def _widen(old: pa.Field | None, new: pa.Field) -> pa.Field:
    if old is None or old.type == new.type or pa.types.is_null(new.type):
        return old if old is not None and pa.types.is_null(new.type) else new
    if pa.types.is_null(old.type):
        return new
    numeric = {pa.int64(), pa.float64()}
    if old.type in numeric and new.type in numeric:
        return pa.field(old.name, pa.float64())
    return pa.field(old.name, pa.string(), metadata=JSON_METADATA)


def _schema(keys: dict[str, pa.Field]) -> pa.Schema:
    fixed = [pa.field(n, t) for n, t in ACTIVITY_COLUMNS]
    extra = [keys[k] for k in sorted(keys) if k.split(".")[0] in OBJECT_ROOTS]
    extra = [f if not pa.types.is_null(f.type) else pa.field(f.name, pa.string()) for f in extra]
    return pa.schema(fixed + extra)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A page table in the file's schema: missing columns null, types widened."""
    arrays = []
    for f in schema:
        if f.name not in table.column_names:
            arrays.append(pa.nulls(table.num_rows, f.type))
            continue
        col = table.column(f.name)
        if col.type == f.type:
            arrays.append(col)
        elif f.metadata == JSON_METADATA and not (
            f.name in table.schema.names and table.schema.field(f.name).metadata
        ):
            arrays.append(pa.array([None if v is None else orjson.dumps(v).decode()
                                    for v in col.to_pylist()], pa.string()))  # fmt: skip
        else:
            arrays.append(col.cast(f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def text_table(
    table: pa.Table, roots: tuple[str, ...] | None = OBJECT_ROOTS
) -> tuple[pa.Table, dict[str, str]]:
    """A table for text formats (CSV): nested values as JSON text, times as RFC 3339, plus
    the ``[columns]`` types that read it back exactly: of every JSON column, and of the
    numbers and booleans of the columns under ``roots`` (None: of every column)."""
    arrays, types = [], {}
    for f, col in zip(table.schema, table.columns, strict=True):
        arr = col.combine_chunks()
        t = f.type
        if pa.types.is_list(t) or pa.types.is_struct(t) or is_json_field(f):
            arrays.append(json_value(arr) if not is_json_field(f) else arr)
            types[f.name] = "json"
        elif pa.types.is_timestamp(t):
            arrays.append(rfc3339(arr))
        else:
            arrays.append(arr)
            kind = {pa.int64(): "int", pa.float64(): "float", pa.bool_(): "bool"}.get(t)
            if kind and (roots is None or f.name.split(".")[0] in roots):
                types[f.name] = kind
    return pa.Table.from_arrays(arrays, names=table.column_names), types


def to_csv(
    client: Client,
    path: str | os.PathLike[str],
    *,
    feed: str | None = None,
    filter: Mapping[str, Any] | None = None,
    sort: list[dict[str, Any]] | None = None,
    progress: bool = True,
    **options: Any,
) -> tuple[int, str]:
    """Write a feed or a query to CSV, and beside it the mapping that imports it back
    (``OUT.mapping.toml``); returns the number of activities and the mapping's path."""

    def table() -> pa.Table:
        with _heap_frozen():
            pages = iter_pages(client, feed=feed, filter=filter, sort=sort, read=read_answer,
                               **options)  # fmt: skip
            return _collect_table(pages, None, progress, feed or "query")

    return write_csv(table, path)


def write_csv(
    table: Callable[[], pa.Table], path: str | os.PathLike[str], kind: str = "activity"
) -> tuple[int, str]:
    """Write the exported table of ``kind`` that ``table()`` reads to CSV, and beside it the
    mapping that imports it back (``OUT.mapping.toml``, typing every column the text loses);
    returns the number of rows and the mapping's path. A path that cannot be written fails
    before anything is read."""
    import pyarrow.csv as pcsv

    from feedkit.mapping import Mapping as KindMapping

    mapping_path = f"{os.fspath(path).rsplit('.', 1)[0]}.mapping.toml"
    with replacing(path, mapping_path) as (part, mapping_part):
        read = table()
        text, types = text_table(read, OBJECT_ROOTS if kind == "activity" else None)
        identity = KindMapping.identity(read, kind=kind)
        mapping = replace(identity, column_types={**identity.column_types, **types})
        pcsv.write_csv(text, part)
        mapping_part.write_text(mapping.to_toml(), encoding="utf-8")
    return read.num_rows, mapping_path


def to_jsonl(
    client: Client,
    path: str | os.PathLike[str],
    *,
    feed: str | None = None,
    filter: Mapping[str, Any] | None = None,
    sort: list[dict[str, Any]] | None = None,
    progress: bool = True,
    **options: Any,
) -> int:
    """Stream a feed or a query into a bulk import file (JSON lines that keep history)."""
    from feedkit.importfile import exported_lines

    count = 0
    with (
        replacing(path) as (part,),
        open(part, "wb") as out,
        counter(progress, "export") as bar,
    ):
        for page in iter_pages(client, feed=feed, filter=filter, sort=sort, **options):
            for line in exported_lines(page):
                out.write(orjson.dumps(line) + b"\n")
            count += len(page)
            bar.update(len(page))
    return count
