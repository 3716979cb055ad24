"""Sources beyond one file: directories, globs, compressed text, JSON lines, Arrow streams
(polars, DuckDB, any ``__arrow_c_stream__``) and http URLs, each read end to end into a store.

Every row ``i`` of a source holds ``pid = f"p{i}"`` and ``text = f"r{i}"``, so the store must
hold exactly ``p0..p{n-1}`` with their text, and an error's row says which record it was.
"""

from __future__ import annotations

import bz2
import fnmatch
import gzip
import http.server
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _sources import MAPPING, assert_imported, csv_text, drain, jsonl_text, rows, stored
from hypothesis import given
from hypothesis import strategies as st

import feedkit
from feedkit.errors import UsageError
from feedkit.locations import _glob_regex
from feedkit.mapping import MappingError
from feedkit.sources import SourceError, SourceNotFoundError, open_source

# -- directories of Parquet files, hive partitions ------------------------------------------


def parquet_tree(root: Path) -> Path:
    """Three Parquet files in hive partitions (rows 0-4, 5-9, 10-14 in path order), and the
    side files a writer leaves (skipped)."""
    for n, (start, folder) in enumerate([(0, "year=2024/month=1"), (5, "year=2024/month=2"),
                                         (10, "year=2025/month=1")]):  # fmt: skip
        (root / folder).mkdir(parents=True)
        pq.write_table(pa.table(rows(start, start + 5)), root / folder / f"part-{n}.parquet",
                       row_group_size=2)  # fmt: skip
    (root / "_SUCCESS").write_text("")
    (root / ".part-0.parquet.crc").write_bytes(b"\x00")
    return root


def test_directory_of_parquet_numbers_rows_across_files(tmp_path: Path) -> None:
    root = parquet_tree(tmp_path / "posts")
    source = open_source(root, ["text", "year", "month"], batch_rows=2)
    assert source.total_rows == 15 and source.name == str(root)
    seen, errors = drain(source, 2)
    assert seen == list(range(15)) and errors == []


def test_hive_partitions_are_text_columns(tmp_path: Path) -> None:
    root = parquet_tree(tmp_path / "posts")
    by_file: dict[str | None, list[Any]] = {}
    for b in open_source(root, ["year", "text", "month"], batch_rows=100):
        assert b.batch.schema.names == ["year", "text", "month"]
        by_file.setdefault(b.file, []).append(b)
    assert list(by_file) == [
        f"{root}/year=2024/month=1/part-0.parquet",
        f"{root}/year=2024/month=2/part-1.parquet",
        f"{root}/year=2025/month=1/part-2.parquet",
    ]
    columns = [pa.Table.from_batches([b.batch for b in bs]) for bs in by_file.values()]
    assert [t.column("year").to_pylist() for t in columns][2] == ["2025"] * 5
    assert [t.column("month").to_pylist() for t in columns][1] == ["2"] * 5
    mapping = feedkit.Mapping.build(
        {
            "id": "{pid}",
            "type": "post",
            "user_id": "{who}",
            "feeds": ["user:{who}"],
            "text": "{text} in {year}",
        }
    )
    with feedkit.connect(":memory:") as client:
        feedkit.import_activities(client, root, mapping, progress=False)
        assert stored(client)["p12"]["text"] == "r12 in 2025"


def test_directory_of_parquet_end_to_end(tmp_path: Path) -> None:
    assert_imported(parquet_tree(tmp_path / "posts"), range(15), read_rows=4)


def test_resume_over_a_directory_skips_everything(tmp_path: Path) -> None:
    root = parquet_tree(tmp_path / "posts")
    db, checkpoint = tmp_path / "store.db", tmp_path / "import.ckpt"
    with feedkit.connect(db) as client:
        first = feedkit.import_activities(client, root, MAPPING, checkpoint=checkpoint,
                                          batch_size=4, progress=False)  # fmt: skip
    assert (first.acknowledged, first.skipped) == (15, 0)
    with feedkit.connect(db) as client:
        again = feedkit.import_activities(client, root, MAPPING, checkpoint=checkpoint,
                                          batch_size=4, progress=False)  # fmt: skip
        assert (again.sent, again.skipped, again.valid) == (0, 15, 15)
        assert sorted(stored(client)) == sorted(f"p{i}" for i in range(15))
    # A file added to the set shifts nothing before it: only its rows go out.
    pq.write_table(pa.table(rows(15, 18)), root / "year=2025" / "month=1" / "part-3.parquet")
    with feedkit.connect(db) as client:
        grown = feedkit.import_activities(client, root, MAPPING, checkpoint=checkpoint,
                                          batch_size=4, progress=False)  # fmt: skip
        assert grown.valid == 18 and grown.skipped >= 12 and grown.sent <= 6
        assert sorted(stored(client)) == sorted(f"p{i}" for i in range(18))


def test_fingerprint_covers_every_file(tmp_path: Path) -> None:
    root = parquet_tree(tmp_path / "posts")
    first = open_source(root, ["text"]).fingerprint
    assert first is not None and "3 files" in first
    assert open_source(root, ["text"]).fingerprint == first
    path = root / "year=2024" / "month=2" / "part-1.parquet"
    pq.write_table(pa.table(rows(5, 9)), path)  # one file changed
    changed = open_source(root, ["text"]).fingerprint
    assert changed != first
    (root / "year=2026").mkdir()
    pq.write_table(pa.table(rows(20, 21)), root / "year=2026" / "x.parquet")
    assert open_source(root, ["text"]).fingerprint not in (first, changed)


def test_a_partition_named_like_a_column_is_refused(tmp_path: Path) -> None:
    (tmp_path / "text=a").mkdir()
    pq.write_table(pa.table(rows(0, 2)), tmp_path / "text=a" / "p.parquet")
    with pytest.raises(SourceError, match="partition folder 'text'"):
        open_source(tmp_path, ["text"])


# -- globs of CSV files, compressed or not ------------------------------------------------------


def csv_set(root: Path) -> Path:
    """Rows 0-11 in four files of four codecs; b.csv.gz has a ragged line (row 5, its 2nd)."""
    root.mkdir()
    (root / "a.csv").write_text(csv_text(0, 4))
    ragged = csv_text(4, 8).replace("p5,ann,r5\n", "p5,ann\n")
    (root / "b.csv.gz").write_bytes(gzip.compress(ragged.encode()))
    (root / "c.csv.bz2").write_bytes(bz2.compress(csv_text(8, 10).encode()))
    with pa.CompressedOutputStream(str(root / "d.csv.zst"), "zstd") as out:
        out.write(csv_text(10, 12).encode())
    (root / "notes.md").write_text("not data")
    return root


def test_glob_of_compressed_csv_names_the_file_of_an_error(tmp_path: Path) -> None:
    root = csv_set(tmp_path / "logs")
    source = open_source(f"{root}/*.csv*", ["pid", "text"], batch_rows=3)
    assert source.total_rows is None and source.size == sum(
        p.stat().st_size for p in root.glob("*.csv*")
    )
    seen, errors = drain(source, 3)
    assert seen == [i for i in range(12) if i != 5]
    (e,) = errors
    assert (e.row, e.file, e.file_row, e.code) == (5, f"{root}/b.csv.gz", 1, "malformed_row")
    assert e.message.startswith(f"{root}/b.csv.gz, row 1: ")
    assert source.position() == source.size  # progress in bytes reaches the end


def test_glob_errors_name_the_file_end_to_end(tmp_path: Path) -> None:
    root = csv_set(tmp_path / "logs")
    (root / "e.csv").write_text(csv_text(12, 14).replace("p13,ann,r13", ",ann,r13"))
    report = feedkit.validate_source(f"{root}/*.csv*", MAPPING, progress=False)
    assert (report.rows_read, report.valid, report.invalid) == (14, 12, 2)
    got = report.errors[["row", "code", "field"]].values.tolist()
    assert got == [[5, "malformed_row", ""], [13, "required", "id"]]
    messages = report.errors["message"].tolist()
    assert messages[0].startswith(f"{root}/b.csv.gz, row 1: ")
    assert messages[1].startswith(f"{root}/e.csv, row 1: ")
    with feedkit.connect(":memory:") as client:
        done = feedkit.import_activities(client, f"{root}/*.csv*", MAPPING, progress=False)
        assert done.acknowledged == 12
        assert sorted(stored(client)) == sorted(f"p{i}" for i in range(14) if i not in (5, 13))


def test_a_duplicate_id_across_files_names_the_file_of_each(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(csv_text(0, 3))
    (tmp_path / "b.csv").write_text(csv_text(3, 5).replace("p4,", "p1,"))  # row 4 repeats p1
    for client in (None, feedkit.connect(":memory:")):
        report = feedkit.import_activities(client, tmp_path, MAPPING, progress=False,
                                           dry_run=client is None)  # fmt: skip
        (error,) = report.errors.itertuples()
        assert (error.row, error.code) == (1, "duplicate_id")
        assert error.message.startswith(f"{tmp_path}/a.csv, row 1: ")
        if client is not None:
            assert stored(client)["p1"]["text"] == "r4"  # the last row wins
            client.close()


def test_glob_of_tsv_across_folders(tmp_path: Path) -> None:
    for n, start in enumerate((0, 3, 6)):
        folder = tmp_path / f"day{n}"
        folder.mkdir()
        (folder / "posts.tsv").write_text(csv_text(start, start + 3, "\t"))
    (tmp_path / "day0" / "other.tsv").write_text("nothing\n")  # not matched
    assert_imported(f"{tmp_path}/day*/posts.tsv", range(9), read_rows=2)


def test_recursive_glob(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "top.csv").write_text(csv_text(0, 2))
    (tmp_path / "a" / "mid.csv").write_text(csv_text(2, 4))
    (tmp_path / "a" / "b" / "low.csv").write_text(csv_text(4, 6))
    # Sorted by path: a/b/low.csv, a/mid.csv, top.csv hold rows 4-5, 2-3, 0-1.
    source = open_source(f"{tmp_path}/**/*.csv", ["pid"])
    assert [b.batch.column("pid").to_pylist() for b in source] == [
        ["p4", "p5"],
        ["p2", "p3"],
        ["p0", "p1"],
    ]


def test_a_set_mixing_formats_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(csv_text(0, 2))
    pq.write_table(pa.table(rows(2, 4)), tmp_path / "b.parquet")
    refused = r"mixes formats \(csv: .*a\.csv, parquet: .*b\.parquet\)"
    with pytest.raises(SourceError, match=refused):
        open_source(tmp_path, ["pid"])
    # A glob picks one format out of the folder.
    assert_imported(f"{tmp_path}/*.parquet", range(2, 4))


def test_an_unreadable_file_in_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(csv_text(0, 2))
    (tmp_path / "README.md").write_text("# data")
    with pytest.raises(SourceError, match=r"README\.md: read \.csv"):
        open_source(tmp_path, ["pid"])


def test_a_mapped_column_missing_from_one_file_names_it(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(csv_text(0, 2))
    (tmp_path / "b.csv").write_text("pid,who\np2,ann\n")
    with pytest.raises(MappingError, match=r"b\.csv: mapped column\(s\) \['text'\]"):
        open_source(tmp_path, ["pid", "text"])


def test_empty_files_in_a_set_add_no_rows(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(csv_text(0, 2))
    (tmp_path / "b.csv").write_text("")
    (tmp_path / "c.csv").write_text("pid,who,text\n")
    (tmp_path / "d.csv").write_text(csv_text(2, 3))
    assert_imported(tmp_path, range(3))


@pytest.mark.parametrize("where", ["nothing/*.csv", "missing_dir", "missing.csv", "empty"])
def test_nothing_there_is_a_usage_error(tmp_path: Path, where: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "nothing").mkdir()
    with pytest.raises(SourceNotFoundError) as caught:
        open_source(tmp_path / where, ["pid"])
    assert isinstance(caught.value, UsageError)


# -- JSON lines ---------------------------------------------------------------------------------


def test_jsonl_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl"
    path.write_text(jsonl_text(0, 7))
    assert_imported(path, range(7), read_rows=3)


def test_jsonl_compressed_in_a_glob(tmp_path: Path) -> None:
    (tmp_path / "a.ndjson.gz").write_bytes(gzip.compress(jsonl_text(0, 3).encode()))
    (tmp_path / "b.jsonl").write_text(jsonl_text(3, 5))
    assert_imported(f"{tmp_path}/*", range(5))


def test_jsonl_malformed_lines_are_row_errors(tmp_path: Path) -> None:
    lines = jsonl_text(0, 6).splitlines()
    lines[1] = '{"pid": "p1", "text": '  # cut short
    lines[3] = "[1, 2]"  # not an object
    lines.insert(4, "")  # a blank line is no record
    lines[5] = lines[5].replace("r4", "r4\udcff")  # becomes bytes that are not UTF-8
    data = "\n".join(lines).encode("utf-8", "surrogateescape") + b"\n"
    path = tmp_path / "posts.jsonl"
    path.write_bytes(data)
    seen, errors = drain(open_source(path, ["pid", "text"], batch_rows=2), 2)
    assert seen == [0, 2, 5]
    assert [(e.row, e.code) for e in errors] == [(1, "malformed_row"), (3, "malformed_row"),
                                                 (4, "malformed_row")]  # fmt: skip
    assert errors[0].message.startswith("line 2 is not valid JSON")
    assert errors[0].value == '{"pid": "p1", "text": '
    assert errors[1].message == "line 4 holds a JSON list, not an object"
    assert errors[2].message.startswith("line 6 is not valid JSON")
    report = feedkit.validate_source(path, MAPPING, progress=False)
    assert (report.rows_read, report.valid, report.invalid) == (6, 3, 3)


def test_jsonl_nested_values_reach_json_fields(tmp_path: Path) -> None:
    records = [
        {"pid": "p0", "who": "ann", "text": "r0", "meta": {"lang": "fr", "n": [1, 2]},
         "tags": ["a", "b"], "likes": 3},
        {"pid": "p1", "who": "bob", "text": "r1", "meta": None, "tags": [], "likes": 4.5},
        {"pid": "p2", "who": "bob", "text": "r2", "meta": {"deep": {"er": True}}},
    ]  # fmt: skip
    path = tmp_path / "posts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    mapping = feedkit.Mapping.build({
        "id": "{pid}", "type": "post", "user_id": "{who}", "feeds": ["user:{who}"],
        "text": "{text}", "filter_tags": {"column": "tags"}, "custom": ["meta", "likes"],
    })  # fmt: skip
    with feedkit.connect(":memory:") as client:
        report = feedkit.import_activities(client, path, mapping, progress=False)
        assert report.ok, report.errors
        got = stored(client)
    assert got["p0"]["custom"] == {"meta": {"lang": "fr", "n": [1, 2]}, "likes": 3}
    assert got["p0"]["filter_tags"] == ["a", "b"]
    assert got["p1"]["custom"] == {"likes": 4.5}
    assert got["p2"]["custom"] == {"meta": {"deep": {"er": True}}}


def test_jsonl_column_mixing_types_is_text(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"text": "r0", "x": 1}\n{"text": "r1", "x": "one"}\n{"text": "r2"}\n')
    (sb,) = list(open_source(path, ["text", "x"]))
    assert sb.batch.column("x").to_pylist() == ["1", "one", None]


def test_jsonl_text_stays_text(tmp_path: Path) -> None:
    # JSON says what is a number: "007" is text, not 7 as a CSV cell's type inference would
    # have it (the same holds for a Parquet file's string columns).
    path = tmp_path / "t.jsonl"
    path.write_text('{"pid": "p0", "who": "ann", "text": "r0", "zip": "007", "n": 7}\n')
    pq.write_table(pa.table({"pid": ["p1"], "who": ["ann"], "text": ["r1"], "zip": ["007"],
                             "n": [7]}), tmp_path / "t.parquet")  # fmt: skip
    mapping = feedkit.Mapping.build({"id": "{pid}", "type": "post", "user_id": "{who}",
                                     "feeds": ["user:{who}"], "custom": ["zip", "n"]})  # fmt: skip
    for name in ("t.jsonl", "t.parquet"):
        (activity,) = feedkit.to_activities(tmp_path / name, mapping).activities
        assert activity["custom"] == {"zip": "007", "n": 7}


def test_json_documents_are_not_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(jsonl_text(0, 1))
    with pytest.raises(SourceError, match=r"\.jsonl"):
        open_source(path, ["pid"])


# -- Arrow streams: polars, DuckDB, anything with __arrow_c_stream__ -------------------------


class Capsule:
    """Only the Arrow PyCapsule stream interface: nothing else to read it by."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self.table.__arrow_c_stream__(requested_schema)


def test_any_arrow_stream_object(tmp_path: Path) -> None:
    table = pa.concat_tables([pa.table(rows(0, 4)), pa.table(rows(4, 9))])
    source = open_source(Capsule(table), ["text"], batch_rows=3)
    assert source.name == "test_filesources.Capsule"
    seen, _ = drain(source, 3)
    assert seen == list(range(9))
    assert_imported(Capsule(table), range(9))


class OneShot:
    """An Arrow stream that can be read once (a reader's export): a second read is empty."""

    def __init__(self, reader: pa.RecordBatchReader) -> None:
        self.reader = reader

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self.reader.__arrow_c_stream__(requested_schema)


def test_a_stream_read_once_is_spooled_for_the_imports_two_passes() -> None:
    # A real import reads its source twice (duplicates first): a one-shot stream is spooled
    # to a temporary Arrow file, or the second pass would find it empty.
    table = pa.table(rows(0, 7))
    with feedkit.connect(":memory:") as client:
        reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(3))
        report = feedkit.import_activities(client, OneShot(reader), MAPPING, progress=False)
        assert (report.rows_read, report.acknowledged) == (7, 7)
        assert sorted(stored(client)) == sorted(f"p{i}" for i in range(7))


def test_polars_dataframe_without_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    import polars as pl

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("copied into pandas")

    monkeypatch.setattr(pl.DataFrame, "to_pandas", refuse)
    frame = pl.DataFrame({**rows(0, 6), "tags": [["x"]] * 6})
    source = open_source(frame, ["text", "tags"])
    (sb,) = list(source)
    assert sb.batch.schema.field("text").type == pa.string()  # polars sends string_view
    assert sb.batch.column("tags").to_pylist() == [["x"]] * 6
    assert_imported(frame, range(6), read_rows=4)


def test_duckdb_relation() -> None:
    import duckdb

    con = duckdb.connect()
    relation = con.sql(
        "SELECT 'p' || i AS pid, CASE WHEN i % 2 = 1 THEN 'ann' ELSE 'bob' END AS who, "
        "'r' || i AS text FROM range(25) t(i) ORDER BY i"
    )
    assert_imported(relation, range(25), read_rows=10)


def test_a_broken_stream_is_a_source_error() -> None:
    class Broken:
        def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
            return "not a capsule"

    with pytest.raises(SourceError, match="Broken"):
        open_source(Broken(), ["text"])


# -- http(s) URLs -------------------------------------------------------------------------------


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Files of a folder, with byte ranges (``Range: bytes=N-``) as Parquet readers ask."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        wanted = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not wanted or not path.is_file():
            return super().do_GET()
        start = int(wanted.removeprefix("bytes=").split("-")[0])
        data = path.read_bytes()[start:]
        self.send_response(206)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Range", f"bytes {start}-{start + len(data) - 1}/*")
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def serving(
    folder: Path, handler_class: type[http.server.SimpleHTTPRequestHandler]
) -> Iterator[str]:
    """A local http server on 127.0.0.1 over ``folder``; yields its URL."""

    def handler(*args: Any) -> http.server.SimpleHTTPRequestHandler:
        return handler_class(*args, directory=str(folder))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local http server with byte ranges: (its URL, the folder it serves)."""
    folder = tmp_path / "www"
    folder.mkdir()
    with serving(folder, RangeHandler) as url:
        yield url, folder


class PlainHandler(http.server.SimpleHTTPRequestHandler):
    """Whole files only: a Range header is ignored (Python's own server)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_http_csv_gz_jsonl_and_parquet(web: tuple[str, Path]) -> None:
    url, folder = web
    (folder / "posts.csv.gz").write_bytes(gzip.compress(csv_text(0, 5).encode()))
    (folder / "posts.jsonl").write_text(jsonl_text(0, 4))
    pq.write_table(pa.table(rows(0, 6)), folder / "posts.parquet", row_group_size=2)
    assert_imported(f"{url}/posts.csv.gz?token=secret", range(5))
    assert_imported(f"{url}/posts.jsonl", range(4))
    report = assert_imported(f"{url}/posts.parquet", range(6), read_rows=2)
    assert report.source == f"{url}/posts.parquet"
    source = open_source(f"{url}/posts.csv.gz?token=secret", ["pid"])
    assert "secret" not in source.name and "secret" not in (source.fingerprint or "")


def test_http_missing_file_is_a_usage_error(web: tuple[str, Path]) -> None:
    url, _ = web
    with pytest.raises(SourceNotFoundError, match="404"):
        open_source(f"{url}/nope.csv", ["pid"])


def test_http_parquet_needs_byte_ranges(tmp_path: Path) -> None:
    pq.write_table(pa.table(rows(0, 3)), tmp_path / "posts.parquet")
    (tmp_path / "posts.csv").write_text(csv_text(0, 3))
    with serving(tmp_path, PlainHandler) as url:
        assert_imported(f"{url}/posts.csv", range(3))  # streamed: no ranges needed
        with pytest.raises(SourceError, match="byte ranges"):
            list(open_source(f"{url}/posts.parquet", ["pid"]))


class NoHeadHandler(RangeHandler):
    """A server that refuses HEAD, as a URL signed for GET only does."""

    def do_HEAD(self) -> None:
        self.send_error(403)

    def do_GET(self) -> None:
        wanted = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if wanted == "bytes=0-0" and path.is_file():
            self.send_response(206)
            self.send_header("Content-Length", "1")
            self.send_header("Content-Range", f"bytes 0-0/{path.stat().st_size}")
            self.end_headers()
            self.wfile.write(path.read_bytes()[:1])
            return
        super().do_GET()


def test_http_without_head(tmp_path: Path) -> None:
    pq.write_table(pa.table(rows(0, 4)), tmp_path / "posts.parquet", row_group_size=3)
    (tmp_path / "posts.jsonl").write_text(jsonl_text(0, 3))
    with serving(tmp_path, NoHeadHandler) as url:
        source = open_source(f"{url}/posts.jsonl", ["pid"])
        assert source.size == (tmp_path / "posts.jsonl").stat().st_size
        assert_imported(f"{url}/posts.jsonl", range(3))
        assert_imported(f"{url}/posts.parquet", range(4))
        with pytest.raises(SourceNotFoundError):
            open_source(f"{url}/nope.jsonl", ["pid"])


# -- the command line ---------------------------------------------------------------------------


def test_cli_reads_globs_directories_and_refuses_what_is_not_there(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from feedkit.cli import main

    root = parquet_tree(tmp_path / "posts")
    mapping = tmp_path / "m.toml"
    mapping.write_text(MAPPING.to_toml())
    db = tmp_path / "store.db"
    runner = CliRunner()
    done = runner.invoke(main, ["validate", str(root), "--mapping", str(mapping), "--no-progress"])
    assert done.exit_code == 0, done.output
    (tmp_path / "a.jsonl").write_text(jsonl_text(15, 17))
    args = ["import", f"{tmp_path}/*.jsonl", "--mapping", str(mapping), "--db", str(db)]
    done = runner.invoke(main, [*args, "--no-progress"])
    assert done.exit_code == 0, done.output
    with feedkit.connect(db) as client:
        assert sorted(stored(client)) == ["p15", "p16"]
    missing = runner.invoke(main, ["validate", f"{tmp_path}/*.csv", "--mapping", str(mapping)])
    assert missing.exit_code == 2 and "no file matches '*.csv'" in missing.output


def test_os_pathlike_and_relative_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    os.mkdir("d")
    Path("d/a.csv").write_text(csv_text(0, 2))
    Path("d/b.csv").write_text(csv_text(2, 3))
    source = open_source("d/*.csv", ["pid", "text"])
    assert [sb.file for sb in source] == ["d/a.csv", "d/b.csv"]
    assert_imported("d", range(3))


def test_files_are_read_one_batch_at_a_time(tmp_path: Path) -> None:
    # Bounded memory: no batch beyond batch_rows, and the first batch comes before the later
    # files are read (the source streams; it does not load the set first).
    for n in range(4):
        (tmp_path / f"part-{n}.jsonl").write_text(jsonl_text(n * 500, n * 500 + 500))
    source = open_source(tmp_path, ["pid", "text"], batch_rows=100)
    batches = iter(source)
    first = next(batches)
    assert first.batch.num_rows == 100 and first.file == f"{tmp_path}/part-0.jsonl"
    assert 0 < source.position() <= (tmp_path / "part-0.jsonl").stat().st_size
    seen, _ = drain(source, 100)
    assert seen == list(range(100, 2000))


@given(
    pattern=st.text(alphabet="ab.*?", min_size=1, max_size=6),
    name=st.text(alphabet="ab.", max_size=6),
)
def test_a_glob_within_a_folder_matches_as_fnmatch_does(pattern: str, name: str) -> None:
    assert bool(_glob_regex(pattern).fullmatch(name)) == fnmatch.fnmatchcase(name, pattern)


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*.csv", "a/b.csv", False),  # * stays within a folder
        ("*/*.csv", "a/b.csv", True),
        ("**/*.csv", "b.csv", True),
        ("**/*.csv", "a/b/c.csv", True),
        ("a/**", "a/b/c.csv", True),
        ("[ab].csv", "b.csv", True),
        ("[!ab].csv", "b.csv", False),
        ("p?.csv", "p1.csv", True),
    ],
)
def test_glob_folders(pattern: str, path: str, matches: bool) -> None:
    assert bool(_glob_regex(pattern).fullmatch(path)) == matches
