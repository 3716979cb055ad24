"""Hostile source files, as real legacy exports hold them, each imported by ``feedkit import``.

Every kind is one test: a small source with one (or a few) hostile values among good rows, run
through the CLI into a fresh embedded store with ``--errors``. Each asserts the exact end
state: which ids are stored and each one's text, the error table's (row, code) pairs, and the
exit code. One bad value must be one row error; a file that cannot be read at all must be
refused by name with nothing stored; nothing may be stored that the source does not say.
The figures of the whole corpus go to RELIABILITY.md (``bash scripts/reliability``).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _reliability import record, table
from click.testing import CliRunner

import feedkit
from feedkit.cli import main

pytestmark = pytest.mark.reliability

BASE: dict[str, Any] = {
    "id": "{pid}",
    "type": "post",
    "user_id": "{who}",
    "feeds": ["user:{who}"],
    "text": "{body}",
}
HEADER = "pid,who,body\n"


def good(n: int, start: int = 0) -> str:
    return "".join(f"p{i},ann,t{i}\n" for i in range(start, start + n))


@dataclass(frozen=True)
class Kind:
    """One kind of hostile input and exactly what an import of it must leave."""

    name: str
    write: Callable[[Path], Path]  # writes the source into a folder, returns its path
    stored: dict[str, str]  # id -> text the store must hold, and nothing else
    errors: list[tuple[int, str]] = field(default_factory=list)  # (row, code), sorted
    exit: int = 1
    mapping: dict[str, Any] = field(default_factory=lambda: dict(BASE))
    columns: dict[str, str] = field(default_factory=dict)
    refused: str = ""  # a file refused whole: this text in the output, nothing stored


def _bytes(name: str, data: bytes) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        (folder / name).write_bytes(data)
        return folder / name

    return write


def _text(text: str, name: str = "src.csv") -> Callable[[Path], Path]:
    return _bytes(name, text.encode())


def _parquet(columns: dict[str, pa.Array]) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        pq.write_table(pa.table(columns), folder / "src.parquet")
        return folder / "src.parquet"

    return write


def _stored(n: int, skip: tuple[int, ...] = ()) -> dict[str, str]:
    return {f"p{i}": f"t{i}" for i in range(n) if i not in skip}


def _zip(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("src.csv", text)
    return buffer.getvalue()


def _zstd(text: str) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as out:
        out.write(text.encode())
    return bytes(sink.getvalue())


def _times(values: pa.Array) -> Callable[[Path], Path]:
    n = len(values)
    return _parquet(
        {
            "pid": pa.array([f"p{i}" for i in range(n)]),
            "who": pa.array(["ann"] * n),
            "body": pa.array([f"t{i}" for i in range(n)]),
            "until": values,
        }
    )


UNTIL = {**BASE, "expires_at": "{until}"}
NEVER_S = 253402214400  # 9999-12-31T00:00:00Z, the "never" of many a legacy table
DEEP = '{"a":' * 1000 + "1" + "}" * 1000
CSV_TEXT = HEADER + good(4)

KINDS = [
    Kind(
        "duplicate ids, the later row wins",
        _text(HEADER + good(3) + "p1,ann,later\n"),
        {"p0": "t0", "p1": "later", "p2": "t2"},
        [(1, "duplicate_id")],
    ),
    Kind(
        "duplicate id repeated three times",
        _text(HEADER + "p0,ann,a\np0,ann,b\np1,ann,c\np0,ann,d\n"),
        {"p0": "d", "p1": "c"},
        [(0, "duplicate_id"), (1, "duplicate_id")],
    ),
    Kind(
        "two columns of one mapped name",
        _text("pid,who,body,body\np0,ann,a,b\n"),
        {},
        refused="more than one column named 'body'",
    ),
    Kind(
        "gzip named .csv", _bytes("src.csv", gzip.compress(CSV_TEXT.encode())), _stored(4), exit=0
    ),
    Kind(".csv.gz", _bytes("src.csv.gz", gzip.compress(CSV_TEXT.encode())), _stored(4), exit=0),
    Kind(".csv.bz2", _bytes("src.csv.bz2", bz2.compress(CSV_TEXT.encode())), _stored(4), exit=0),
    Kind(".csv.xz", _bytes("src.csv.xz", lzma.compress(CSV_TEXT.encode())), _stored(4), exit=0),
    Kind(".csv.zst", _bytes("src.csv.zst", _zstd(CSV_TEXT)), _stored(4), exit=0),
    Kind(
        "zip archive named .csv", _bytes("src.csv", _zip(CSV_TEXT)), {}, refused="zip file, not CSV"
    ),
    Kind(
        "Parquet file named .csv",
        _bytes("src.csv", b"PAR1" + b"\0" * 64),
        {},
        refused="parquet file, not CSV",
    ),
    Kind(
        "a 64 MB cell",
        _text(HEADER + "p0,ann,t0\np1,ann," + "w" * (64 * 2**20) + "\n" + good(2, 2)),
        _stored(4, skip=(1,)),
        [(1, "too_large")],
    ),
    Kind(
        "a ragged short line",
        _text(HEADER + "p0,ann,t0\np1,ann\n" + good(2, 2)),
        _stored(4, skip=(1,)),
        [(1, "malformed_row")],
    ),
    Kind(
        "a ragged long line",
        _text(HEADER + "p0,ann,t0\np1,ann,t1,extra\n" + good(2, 2)),
        _stored(4, skip=(1,)),
        [(1, "malformed_row")],
    ),
    Kind(
        "a cell that is not UTF-8",
        _bytes(
            "src.csv", (HEADER + "p0,ann,t0\n").encode() + b"p1,ann,caf\xe9\n" + good(2, 2).encode()
        ),
        _stored(4, skip=(1,)),
        [(1, "encoding")],
    ),
    Kind(
        "a line ragged and not UTF-8",
        _bytes(
            "src.csv", (HEADER + "p0,ann,t0\n").encode() + b"\xff\xfe,x,y,z\n" + good(2, 2).encode()
        ),
        _stored(4, skip=(1,)),
        [(1, "malformed_row")],
    ),
    Kind("a UTF-8 byte order mark", _text("\ufeff" + CSV_TEXT), _stored(4), exit=0),
    Kind("CRLF line ends", _text(CSV_TEXT.replace("\n", "\r\n")), _stored(4), exit=0),
    Kind(
        "quoted newlines and quotes",
        _text(HEADER + 'p0,ann,"a\nb ""c"""\n' + good(1, 1)),
        {"p0": 'a\nb "c"', "p1": "t1"},
        exit=0,
    ),
    Kind(
        "a quote inside an unquoted cell",
        _text(HEADER + 'p0,ann,5" tall\n' + good(1, 1)),
        {"p0": '5" tall', "p1": "t1"},
        exit=0,
    ),
    Kind(
        "a NUL byte in a cell",
        _text(HEADER + "p0,ann,a\x00b\n" + good(1, 1)),
        {"p0": "a\x00b", "p1": "t1"},
        exit=0,
    ),
    Kind(
        "date32 9999-12-31",
        _times(pa.array([NEVER_S // 86400, None], pa.date32())),
        _stored(2, skip=(0,)),
        [(0, "range")],
        mapping=UNTIL,
    ),
    Kind(
        "date64 year 1000",
        _times(pa.array([-30610224000000, None], pa.date64())),
        _stored(2, skip=(0,)),
        [(0, "range")],
        mapping=UNTIL,
    ),
    Kind(
        "timestamp[s] 9999",
        _times(pa.array([NEVER_S, None], pa.timestamp("s", tz="UTC"))),
        _stored(2, skip=(0,)),
        [(0, "range")],
        mapping=UNTIL,
    ),
    Kind(
        "timestamp[ms, Europe/Paris] 9999",
        _times(pa.array([NEVER_S * 1000, None], pa.timestamp("ms", tz="Europe/Paris"))),
        _stored(2, skip=(0,)),
        [(0, "range")],
        mapping=UNTIL,
    ),
    Kind(
        "timestamp[us] 9999",
        _times(pa.array([NEVER_S * 10**6, None], pa.timestamp("us", tz="UTC"))),
        _stored(2, skip=(0,)),
        [(0, "range")],
        mapping=UNTIL,
    ),
    Kind(
        "timestamp[us] year 1600",
        _times(pa.array([-11676096000 * 10**6, None], pa.timestamp("us", tz="UTC"))),
        _stored(2, skip=(0,)),
        [(0, "range")],
        mapping=UNTIL,
    ),
    Kind(
        "timestamp without a zone",
        _times(pa.array([0, None], pa.timestamp("us"))),
        _stored(2, skip=(0,)),
        [(0, "timezone")],
        mapping=UNTIL,
    ),
    Kind(
        "CSV time 9999-12-31",
        _text("pid,who,body,until\np0,ann,t0,9999-12-31T00:00:00Z\np1,ann,t1,\n"),
        _stored(2, skip=(0,)),
        [(0, "range")],
        mapping=UNTIL,
    ),
    Kind(
        "CSV time of month 13",
        _text("pid,who,body,until\np0,ann,t0,2030-13-01T00:00:00Z\np1,ann,t1,\n"),
        _stored(2, skip=(0,)),
        [(0, "time_format")],
        mapping=UNTIL,
    ),
    Kind(
        "CSV time without an offset",
        _text("pid,who,body,until\np0,ann,t0,2030-01-01 10:00\np1,ann,t1,\n"),
        _stored(2, skip=(0,)),
        [(0, "timezone")],
        mapping=UNTIL,
    ),
    Kind(
        "invalid JSON in a json column",
        _text('pid,who,body,extra\np0,ann,t0,"{""a"": "\np1,ann,t1,"{""a"": 1}"\n'),
        _stored(2, skip=(0,)),
        [(0, "format")],
        mapping={**BASE, "custom": {"extra": "{extra}"}},
        columns={"extra": "json"},
    ),
    Kind(
        "JSON nested 1,000 deep",
        _text(
            f'pid,who,body,extra\np0,ann,t0,"{DEEP.replace(chr(34), chr(34) * 2)}"\n'
            'p1,ann,t1,"{""a"": 1}"\n'
        ),
        _stored(2, skip=(0,)),
        [(0, "too_deep")],
        mapping={**BASE, "custom": {"extra": "{extra}"}},
        columns={"extra": "json"},
    ),
    Kind(
        "an id of 256 characters",
        _text(HEADER + "p0,ann,t0\n" + "x" * 256 + ",ann,t1\n"),
        {"p0": "t0"},
        [(1, "too_long")],
    ),
    Kind("an empty id", _text(HEADER + "p0,ann,t0\n,ann,t1\n"), {"p0": "t0"}, [(1, "required")]),
    Kind(
        "ids . and .. and a slash",
        _text(HEADER + ".,ann,dot\n..,ann,dots\na/b,ann,slash\n"),
        {".": "dot", "..": "dots", "a/b": "slash"},
        exit=0,
    ),
    Kind(
        "a feed id without a group",
        _text("pid,who,body\np0,user:ann,t0\np1,ann,t1\n"),
        {"p0": "t0"},
        [(1, "feed_format")],
        mapping={**BASE, "user_id": "x", "feeds": ["{who}"]},
    ),
    Kind(
        "latitude 95",
        _text("pid,who,body,lat,lng\np0,ann,t0,95,4\np1,ann,t1,52,4\n"),
        _stored(2, skip=(0,)),
        [(0, "range")],
        mapping={**BASE, "location": {"lat": "lat", "lng": "lng"}},
    ),
    Kind(
        "latitude that is not a number",
        _text("pid,who,body,lat,lng\np0,ann,t0,north,4\np1,ann,t1,52,4\n"),
        _stored(2, skip=(0,)),
        [(0, "type")],
        mapping={**BASE, "location": {"lat": "lat", "lng": "lng"}},
    ),
    Kind(
        "visibility tag without its tag",
        _text("pid,who,body,vis\np0,ann,t0,tag\np1,ann,t1,\n"),
        _stored(2, skip=(0,)),
        [(0, "dependency")],
        mapping={**BASE, "visibility": "{vis}"},
    ),
    Kind(
        "51 filter tags",
        _text(
            "pid,who,body,tags\np0,ann,t0,"
            + "|".join(f"g{i}" for i in range(51))
            + "\np1,ann,t1,a|b\n"
        ),
        _stored(2, skip=(0,)),
        [(0, "too_many")],
        mapping={**BASE, "filter_tags": {"column": "tags", "split": "|"}},
    ),
    Kind("a header and no rows", _text(HEADER), {}, exit=0),
    Kind("an empty file", _text(""), {}, exit=0),
    Kind(
        "only ragged lines",
        _text(HEADER + "a\nb\n"),
        {},
        [(0, "malformed_row"), (1, "malformed_row")],
    ),
]


@dataclass
class Outcome:
    rows: int
    stored: int
    expected: int
    exit: int


@pytest.fixture(scope="module")
def ledger(request: pytest.FixtureRequest) -> Iterator[dict[str, Outcome]]:
    book: dict[str, Outcome] = {}
    failed_before = request.session.testsfailed
    yield book
    if request.session.testsfailed != failed_before or len(book) != len(KINDS):
        return  # a failing (or partial) run records nothing
    rows = [
        [k.name, o.rows, f"{o.stored} / {o.expected}", o.exit] for k in KINDS if (o := book[k.name])
    ]
    exits = sorted({o.exit for o in book.values()})
    record(
        "hostile-files",
        "Hostile input: source files",
        f"{len(KINDS)} kinds of hostile source file, each a test of "
        "`tests/test_reliability_corpus.py`: a few good rows around the hostile value, "
        "imported by `feedkit import --errors` into a fresh embedded store. Each asserts the "
        "store's exact end state (every id and its text), the error table's (row, code) pairs "
        "and the exit code; a file that cannot be read at all is refused by name with nothing "
        f"stored. All {len(KINDS)} kinds passed; rows stored equal rows expected in every "
        f"one ({sum(o.stored for o in book.values())} of "
        f"{sum(o.expected for o in book.values())}); exit codes seen: "
        f"{', '.join(map(str, exits))}.\n\n"
        + table(["kind", "rows read", "stored / expected", "exit"], rows),
        test="tests/test_reliability_corpus.py (one test per kind)",
    )


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_hostile_source(kind: Kind, tmp_path: Path, ledger: dict[str, Outcome]) -> None:
    source = kind.write(tmp_path)
    mapping = tmp_path / "m.toml"
    mapping.write_text(feedkit.Mapping.build(kind.mapping, kind.columns).to_toml())
    db, errors = tmp_path / "store.db", tmp_path / "errors.csv"
    args = [
        "import",
        str(source),
        "--mapping",
        str(mapping),
        "--db",
        str(db),
        "--errors",
        str(errors),
        "--no-progress",
    ]
    result = CliRunner().invoke(main, args)
    output = result.output
    assert result.exit_code == kind.exit, output
    assert "Traceback" not in output, output
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    with feedkit.connect(db) as client:
        got = {
            a["id"]: a.get("text") for a in client.iter_activities(include_expired_activities=True)
        }
    assert got == kind.stored, output
    if kind.refused:
        assert kind.refused in output, output
        rows = 0
    else:
        table_ = pd.read_csv(errors, keep_default_na=False, dtype={"code": str})
        found = sorted(zip(table_["row"].astype(int), table_["code"], strict=True))
        assert found == kind.errors, output
        for _, error in table_.iterrows():  # every error names its row and what was wrong
            assert error["code"] and error["message"], dict(error)
        rows = int(
            next(
                line.split()[-1].replace(",", "")
                for line in output.splitlines()
                if line.strip().startswith("rows read")
            )
        )
    ledger[kind.name] = Outcome(rows, len(got), len(kind.stored), result.exit_code)


def test_the_corpus_has_at_least_forty_kinds() -> None:
    assert len(KINDS) >= 40 and len({k.name for k in KINDS}) == len(KINDS)
