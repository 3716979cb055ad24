"""Sources as bounded batches: every row keeps its 0-based record index, whatever the source.

Each source below holds a column ``u`` whose value in record ``i`` is ``f"r{i}"``, so a batch
row labelled ``k`` must hold ``f"r{k}"``: that one check catches any numbering slip across
batches, Parquet row groups, table chunks, ragged CSV lines and multi-line CSV values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from feedkit.mapping import MappingError
from feedkit.schema import Reason
from feedkit.sources import RowError, Source, SourceBatch, SourceError, open_source


def _drain(source: Source) -> tuple[list[int], list[RowError], int, list[int]]:
    """Every labelled row (checked against its ``u`` value), every error, rows read, sizes."""
    rows: list[int] = []
    errors: list[RowError] = []
    read = 0
    sizes = []
    for sb in source:
        assert isinstance(sb, SourceBatch)
        assert len(sb.rows) == sb.batch.num_rows
        values = sb.batch.column("u").to_pylist()
        for row, value in zip(sb.rows.tolist(), values, strict=True):
            if value is not None:
                assert value == f"r{row}", f"batch row labelled {row} holds {value!r}"
        rows += sb.rows.tolist()
        errors += sb.errors
        read += sb.rows_read
        sizes.append(sb.batch.num_rows)
    return rows, errors, read, sizes


def _write(path: Path, data: str | bytes) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _records(n: int, skip: frozenset[int] = frozenset()) -> list[str]:
    return [f"r{i}" if i in skip else f"r{i},v{i}" for i in range(n)]


# -- DataFrame, Table, RecordBatchReader, Parquet ---------------------------------------------


def test_dataframe_rows_are_positions_across_batches() -> None:
    df = pd.DataFrame({"u": [f"r{i}" for i in range(7)], "v": range(7), "unused": range(7)})
    df.index = pd.Index([100 + 7 * i for i in range(7)])  # labels are not positions
    source = open_source(df, ["v", "u"], batch_rows=3)
    assert source.total_rows == 7
    assert source.fingerprint is None
    batches = list(source)
    assert [b.rows.tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6]]
    assert batches[0].batch.schema.names == ["v", "u"]  # only the mapped columns, in order
    assert [b.batch.column("u").to_pylist() for b in batches][2] == ["r6"]
    assert sum(b.rows_read for b in batches) == 7


def test_dataframe_with_no_rows() -> None:
    source = open_source(pd.DataFrame({"u": pd.Series([], dtype=object)}), ["u"])
    assert source.total_rows == 0
    assert _drain(source) == ([], [], 0, [])


def test_dataframe_mixed_object_column_becomes_text() -> None:
    df = pd.DataFrame({"u": ["r0", "r1", "r2"], "x": [1, "two", None]})
    (sb,) = list(open_source(df, ["u", "x"]))
    assert sb.batch.column("x").to_pylist() == ["1", "two", None]


def test_table_with_several_chunks() -> None:
    table = pa.concat_tables(
        [pa.table({"u": [f"r{i}" for i in range(s, s + 4)]}) for s in range(0, 12, 4)]
    )
    assert table.column("u").num_chunks == 3
    source = open_source(table, ["u"], batch_rows=3)
    assert source.total_rows == 12
    rows, errors, read, sizes = _drain(source)
    assert rows == list(range(12)) and errors == [] and read == 12
    assert max(sizes) <= 3


def test_record_batch_reader_slices_large_batches() -> None:
    schema = pa.schema([("u", pa.string()), ("n", pa.int64())])
    batches = [
        pa.record_batch([[f"r{i}" for i in range(s, s + 4)], list(range(s, s + 4))], schema=schema)
        for s in (0, 4)
    ]
    source = open_source(pa.RecordBatchReader.from_batches(schema, batches), ["u"], batch_rows=3)
    assert source.total_rows is None
    rows, errors, read, sizes = _drain(source)
    assert rows == list(range(8)) and errors == [] and read == 8
    assert sizes == [3, 1, 3, 1]


def test_parquet_rows_across_row_groups(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(
        pa.table({"u": [f"r{i}" for i in range(10)], "n": list(range(10))}),
        path,
        row_group_size=4,
    )
    source = open_source(path, ["u", "n"], batch_rows=3)
    assert source.total_rows == 10
    assert source.fingerprint is not None and str(path.resolve()) in source.fingerprint
    rows, errors, read, sizes = _drain(source)
    assert rows == list(range(10)) and errors == [] and read == 10
    assert max(sizes) <= 3


def test_parquet_pq_suffix_and_str_path(tmp_path: Path) -> None:
    path = tmp_path / "t.pq"
    pq.write_table(pa.table({"u": ["r0", "r1"]}), path)
    source = open_source(str(path), ["u"])
    assert source.total_rows == 2
    assert _drain(source)[0] == [0, 1]


# -- CSV ---------------------------------------------------------------------------------------


def test_csv_rows_across_batches(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "\n".join(["u,v", *_records(10)]) + "\n")
    source = open_source(path, ["u", "v"], batch_rows=3)
    assert source.total_rows is None
    assert source.fingerprint is not None
    rows, errors, read, sizes = _drain(source)
    assert rows == list(range(10)) and errors == [] and read == 10
    assert sizes == [3, 3, 3, 1]


@pytest.mark.parametrize("batch_rows", [1, 2, 1000])
def test_csv_ragged_line_in_the_middle(tmp_path: Path, batch_rows: int) -> None:
    # Record 1 has too few fields, record 3 too many; the rest keep their record index.
    text = "u,v\nr0,a\nr1\nr2,c\nr3,d,extra\nr4,e\nr5,f\n"
    rows, errors, read, _ = _drain(
        open_source(_write(tmp_path / "t.csv", text), ["u", "v"], batch_rows=batch_rows)
    )
    assert rows == [0, 2, 4, 5]
    assert [(e.row, e.code, e.column, e.field, e.value) for e in errors] == [
        (1, Reason.MALFORMED_ROW.value, "", "", "r1"),
        (3, Reason.MALFORMED_ROW.value, "", "", "r3,d,extra"),
    ]
    assert read == 6


def test_csv_ragged_first_and_last_lines(tmp_path: Path) -> None:
    text = "u,v\nr0\nr1,b\nr2,c\nr3"  # no newline at the end
    rows, errors, read, _ = _drain(open_source(_write(tmp_path / "t.csv", text), ["u", "v"]))
    assert rows == [1, 2]
    assert sorted(e.row for e in errors) == [0, 3]
    assert {e.code for e in errors} == {Reason.MALFORMED_ROW.value}
    assert read == 4


def test_csv_only_ragged_lines(tmp_path: Path) -> None:
    rows, errors, read, _ = _drain(
        open_source(_write(tmp_path / "t.csv", "u,v\nr0\nr1,a,b\n"), ["u", "v"])
    )
    assert rows == []
    assert [e.row for e in errors] == [0, 1]
    assert read == 2


@pytest.mark.parametrize("batch_rows", [1, 2, 1000])
def test_csv_multiline_values_then_ragged_lines(tmp_path: Path, batch_rows: int) -> None:
    text = 'u,v\nr0,"one\ntwo\nthree"\nr1\nr2,"x,""y"""\nr3,"a\r\nb"\nr4,1,2\nr5,f\n'
    source = open_source(_write(tmp_path / "t.csv", text), ["u", "v"], batch_rows=batch_rows)
    values: dict[int, str] = {}
    errors: list[RowError] = []
    read = 0
    for sb in source:
        for row, u, v in zip(
            sb.rows.tolist(),
            sb.batch.column("u").to_pylist(),
            sb.batch.column("v").to_pylist(),
            strict=True,
        ):
            assert u == f"r{row}"
            values[row] = v
        errors += sb.errors
        read += sb.rows_read
    assert values == {0: "one\ntwo\nthree", 2: 'x,"y"', 3: "a\r\nb", 5: "f"}
    assert [e.row for e in errors] == [1, 4]
    assert read == 6


def test_csv_ragged_lines_beyond_the_first_block(tmp_path: Path) -> None:
    # A file of a few MB is read in several blocks; a ragged line in a later block must not
    # shift the record index of the rows read before or after it.
    pad = "x" * 200
    bad = frozenset({5000, 9000, 14000})
    lines = ["u,v"] + [f"r{i}" if i in bad else f"r{i},{pad}" for i in range(16_000)]
    path = _write(tmp_path / "big.csv", "\n".join(lines) + "\n")
    assert path.stat().st_size > 3 * (1 << 20)
    source = open_source(path, ["u"])
    labelled: list[tuple[int, str]] = []
    errors: list[RowError] = []
    read = 0
    for sb in source:
        labelled += zip(sb.rows.tolist(), sb.batch.column("u").to_pylist(), strict=True)
        errors += sb.errors
        read += sb.rows_read
    wrong = [(row, u) for row, u in labelled if u != f"r{row}"]
    assert wrong == [], f"{len(wrong)} rows carry another record's index, first {wrong[:3]}"
    assert sorted(e.row for e in errors) == sorted(bad)
    assert read == 16_000


def test_csv_records_longer_than_the_block(tmp_path: Path) -> None:
    # Records of several MiB (one a quoted cell of many lines, quotes and commas) among small
    # ones, ragged lines and a bad byte around them: each long record comes in a block of its
    # own, every row once, in order, with its own number.
    big = {3: "x" * (3 << 20), 7: '"' + ('a,""b""\nc' * 300_000) + '"', 8: "y" * (1 << 20)}
    bad, broken = frozenset({5, 9}), 10
    lines = ["u,v"]
    for i in range(12):
        cell = big.get(i, f"v{i}")
        lines.append(f"r{i}" if i in bad else f"r{i},{cell}" if i != broken else f"r{i},\udcff")
    data = "\n".join(lines).encode("utf-8", "surrogateescape") + b"\n"
    rows, errors, read, _ = _drain(open_source(_write(tmp_path / "long.csv", data), ["u", "v"]))
    assert rows == [i for i in range(12) if i not in bad] and read == 12
    assert sorted((e.row, e.code) for e in errors) == [
        (5, Reason.MALFORMED_ROW.value), (9, Reason.MALFORMED_ROW.value),
        (broken, Reason.ENCODING.value),
    ]  # fmt: skip
    values = {
        row: v
        for sb in open_source(tmp_path / "long.csv", ["u", "v"])
        for row, v in zip(sb.rows.tolist(), sb.batch.column("v").to_pylist(), strict=True)
    }
    assert values[3] == big[3] and values[8] == big[8]
    assert values[7] == ('a,"b"\nc' * 300_000) and values[6] == "v6"


def test_tsv(tmp_path: Path) -> None:
    text = 'u\tv\nr0\tx,y\nr1\t"quoted\ttab"\nr2\n'
    source = open_source(_write(tmp_path / "t.tsv", text), ["u", "v"])
    batches = list(source)
    # A ragged last record may come in a batch of its own (the reader reports it late).
    assert [b.rows.tolist() for b in batches if b.batch.num_rows] == [[0, 1]]
    assert batches[0].batch.column("v").to_pylist() == ["x,y", "quoted\ttab"]
    assert [(e.row, e.code) for b in batches for e in b.errors] == [(2, Reason.MALFORMED_ROW.value)]


def test_csv_crlf_line_ends(tmp_path: Path) -> None:
    rows, errors, read, _ = _drain(
        open_source(_write(tmp_path / "t.csv", "u,v\r\nr0,a\r\nr1\r\nr2,c\r\n"), ["u", "v"])
    )
    assert rows == [0, 2] and [e.row for e in errors] == [1] and read == 3


def test_csv_txt_suffix(tmp_path: Path) -> None:
    rows, *_ = _drain(open_source(_write(tmp_path / "t.txt", "u\nr0\nr1\n"), ["u"]))
    assert rows == [0, 1]


def test_csv_every_value_is_text_and_empty_is_null(tmp_path: Path) -> None:
    (sb,) = list(open_source(_write(tmp_path / "t.csv", 'u,n\nr0,1\nr1,\nr2,""\n'), ["u", "n"]))
    assert sb.batch.schema.field("n").type == pa.string()
    assert sb.batch.column("n").to_pylist() == ["1", None, ""]


def test_csv_invalid_utf8_is_a_row_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", b"u,v,other\nr0,ok,x\nr1,bad\xff\xfe,x\nr2,fine,\xff\n")
    (sb,) = list(open_source(path, ["u", "v"]))
    assert sb.rows.tolist() == [0, 1, 2]
    assert sb.batch.column("v").to_pylist() == ["ok", None, "fine"]
    # Bytes in a column the mapping does not read are no concern.
    assert [(e.row, e.column, e.code) for e in sb.errors] == [(1, "v", Reason.ENCODING.value)]
    assert sb.rows_read == 3


def test_csv_invalid_utf8_rows_across_batches(tmp_path: Path) -> None:
    lines = [b"u,v"] + [b"r%d,%s" % (i, b"\xc3\x28" if i in (2, 5) else b"ok") for i in range(7)]
    path = _write(tmp_path / "t.csv", b"\n".join(lines) + b"\n")
    rows, errors, read, sizes = _drain(open_source(path, ["u", "v"], batch_rows=2))
    assert rows == list(range(7)) and read == 7 and max(sizes) <= 2
    assert [(e.row, e.code) for e in errors] == [(2, "encoding"), (5, "encoding")]


def test_empty_csv_file_has_no_rows(tmp_path: Path) -> None:
    source = open_source(_write(tmp_path / "empty.csv", b""), ["u"])
    assert _drain(source) == ([], [], 0, [])


@pytest.mark.parametrize("text", ["u,v\n", "u,v"])
def test_header_only_csv_has_no_rows(tmp_path: Path, text: str) -> None:
    rows, errors, read, _ = _drain(open_source(_write(tmp_path / "h.csv", text), ["u", "v"]))
    assert (rows, errors, read) == ([], [], 0)


# -- what cannot be read at all ------------------------------------------------------------


def test_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        open_source(tmp_path / "nope.csv", ["u"])


@pytest.mark.parametrize("name", ["data.json", "data.xlsx", "data"])
def test_unsupported_extension_is_a_source_error(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path / name, "u\nr0\n")
    with pytest.raises(SourceError, match=r"\.csv"):
        open_source(path, ["u"])


def test_not_parquet_named_parquet_is_a_source_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "fake.parquet", "u,v\nr0,a\n")
    with pytest.raises(SourceError, match="Parquet"):
        open_source(path, ["u"])


@pytest.mark.parametrize("thing", [[{"u": "r0"}], {"u": ["r0"]}, 42])
def test_unreadable_object_is_a_source_error(thing: Any) -> None:
    with pytest.raises(SourceError, match="DataFrame"):
        open_source(thing, ["u"])


def test_batch_rows_must_be_positive() -> None:
    with pytest.raises(ValueError, match="batch_rows"):
        open_source(pd.DataFrame({"u": ["r0"]}), ["u"], batch_rows=0)


def _sources(tmp_path: Path) -> dict[str, Any]:
    table = pa.table({"u": ["r0"], "v": ["a"]})
    pq.write_table(table, tmp_path / "t.parquet")
    return {
        "DataFrame": table.to_pandas(),
        "Table": table,
        "RecordBatchReader": pa.RecordBatchReader.from_batches(table.schema, table.to_batches()),
        "Parquet": tmp_path / "t.parquet",
        "CSV": _write(tmp_path / "t.csv", "u,v\nr0,a\n"),
        "TSV": _write(tmp_path / "t.tsv", "u\tv\nr0\ta\n"),
    }


@pytest.mark.parametrize(
    "kind", ["DataFrame", "Table", "RecordBatchReader", "Parquet", "CSV", "TSV"]
)
def test_missing_mapped_column_is_refused_when_opened(tmp_path: Path, kind: str) -> None:
    # A mapping that names a column the source lacks fails at open time, before any batch
    # is read, for every kind of source alike (a bulk import must not start, then stop).
    source = _sources(tmp_path)[kind]
    with pytest.raises(MappingError, match="nope") as caught:
        open_source(source, ["u", "nope"])
    assert caught.value.columns == ["nope"]


def test_file_fingerprint_follows_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "u\nr0\n")
    first = open_source(path, ["u"]).fingerprint
    assert first == open_source(path, ["u"]).fingerprint
    _write(path, "u\nr0\nr1\n")
    assert open_source(path, ["u"]).fingerprint != first
