"""s3:// sources against a local S3-compatible server (moto's server mode on 127.0.0.1, as
pyarrow's and s3fs's own tests do): a prefix of hive-partitioned Parquet files, a glob of
compressed CSV, JSON lines, resume with a checkpoint, and what is not there."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from _sources import MAPPING, assert_imported, csv_text, drain, jsonl_text, rows, stored
from moto.server import ThreadedMotoServer

import feedkit
from feedkit.errors import UsageError
from feedkit.sources import SourceError, SourceNotFoundError, open_source

BUCKET = "feeds-export"
KEY = "testing"  # moto takes any credentials; these are no one's


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> pafs.S3FileSystem:
    """An empty bucket on the local server, s3:// URLs pointed at it, and the filesystem to
    fill it with."""
    env = {
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": KEY,
        "AWS_ENDPOINT_URL": f"http://{moto_endpoint}",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",  # never ask a cloud's metadata service
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    fs = pafs.S3FileSystem(
        access_key=KEY,
        secret_key=KEY,
        endpoint_override=moto_endpoint,
        scheme="http",
        region="us-east-1",
        allow_bucket_creation=True,
        allow_bucket_deletion=True,
    )
    fs.create_dir(BUCKET)
    yield fs
    fs.delete_dir(BUCKET)


def put(fs: pafs.S3FileSystem, key: str, data: bytes) -> None:
    # compression=None: the bytes as given (Arrow would gzip a .gz name's bytes once more)
    with fs.open_output_stream(f"{BUCKET}/{key}", compression=None) as out:
        out.write(data)


def put_parquet(fs: pafs.S3FileSystem, key: str, table: pa.Table, **options: Any) -> None:
    with fs.open_output_stream(f"{BUCKET}/{key}", compression=None) as out:
        pq.write_table(table, out, **options)


def partitioned(fs: pafs.S3FileSystem) -> str:
    """Rows 0-11 in three hive-partitioned Parquet files under one prefix."""
    for n, (start, part) in enumerate([(0, "year=2024"), (4, "year=2025"), (8, "year=2026")]):
        put_parquet(fs, f"posts/{part}/part-{n}.parquet", pa.table(rows(start, start + 4)),
                    row_group_size=3)  # fmt: skip
    put(fs, "posts/_SUCCESS", b"")
    return f"s3://{BUCKET}/posts"


def test_s3_prefix_of_partitioned_parquet(s3: pafs.S3FileSystem) -> None:
    url = partitioned(s3)
    source = open_source(url, ["text", "year"], batch_rows=2)
    assert source.name == url and source.total_rows == 12
    seen, errors = drain(source, 2)
    assert seen == list(range(12)) and errors == []
    years = [y for sb in open_source(url, ["year"]) for y in sb.batch.column("year").to_pylist()]
    assert years == ["2024"] * 4 + ["2025"] * 4 + ["2026"] * 4
    assert_imported(url, range(12), read_rows=5)


def test_s3_glob_of_compressed_csv_and_jsonl(s3: pafs.S3FileSystem) -> None:
    put(s3, "csv/a.csv", csv_text(0, 3).encode())
    ragged = csv_text(3, 6).replace("p4,bob,r4\n", "p4,bob,r4,extra\n")
    put(s3, "csv/b.csv.gz", gzip.compress(ragged.encode()))
    put(s3, "csv/skip.txt.md", b"not matched")
    report = feedkit.validate_source(f"s3://{BUCKET}/csv/*.csv*", MAPPING, progress=False)
    assert (report.rows_read, report.valid, report.invalid) == (6, 5, 1)
    (message,) = report.errors["message"].tolist()
    assert message.startswith(f"s3://{BUCKET}/csv/b.csv.gz, row 1: ")
    put(s3, "logs/day=1/a.jsonl.gz", gzip.compress(jsonl_text(0, 4).encode()))
    put(s3, "logs/day=2/b.jsonl", jsonl_text(4, 7).encode())
    assert_imported(f"s3://{BUCKET}/logs/**/*.jsonl*", range(7))
    assert_imported(f"s3://{BUCKET}/logs/day=2/b.jsonl", range(4, 7))


def test_s3_resume_skips_everything(s3: pafs.S3FileSystem, tmp_path: Path) -> None:
    url = partitioned(s3)
    db, checkpoint = tmp_path / "store.db", tmp_path / "import.ckpt"
    for run in range(2):
        with feedkit.connect(db) as client:
            report = feedkit.import_activities(client, url, MAPPING, checkpoint=checkpoint,
                                               batch_size=5, progress=False)  # fmt: skip
            assert sorted(stored(client)) == sorted(f"p{i}" for i in range(12))
        assert (report.sent, report.skipped) == ((12, 0) if run == 0 else (0, 12))


def test_s3_fingerprint_notices_a_changed_object(s3: pafs.S3FileSystem) -> None:
    url = partitioned(s3)
    first = open_source(url, ["text"]).fingerprint
    assert first == open_source(url, ["text"]).fingerprint
    put_parquet(s3, "posts/year=2025/part-1.parquet", pa.table(rows(4, 7)))
    assert open_source(url, ["text"]).fingerprint != first
    assert KEY not in (first or "")


@pytest.mark.parametrize(
    "where", ["missing.csv", "nothing/", "posts/*.csv", "posts/year=1999/x.parquet"]
)
def test_s3_nothing_there_is_a_usage_error(s3: pafs.S3FileSystem, where: str) -> None:
    partitioned(s3)
    with pytest.raises(SourceNotFoundError) as caught:
        open_source(f"s3://{BUCKET}/{where}", ["pid"])
    assert isinstance(caught.value, UsageError)


def test_s3_keys_in_a_url_never_reach_a_message(s3: pafs.S3FileSystem) -> None:
    # Arrow refuses keys in an S3 URL's query, naming the parameter: the value stays out.
    url = f"s3://{BUCKET}/x.csv?access_key=AKIDSECRET&secret_key=SHHH"
    with pytest.raises(SourceError) as caught:
        open_source(url, ["pid"])
    assert "SHHH" not in str(caught.value) and "AKIDSECRET" not in str(caught.value)
    assert str(caught.value).startswith(f"s3://{BUCKET}/x.csv: ")
