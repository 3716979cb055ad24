"""Migration integrity: nothing lost, nothing duplicated, one bad value never stops the rest.

Each test asserts the exact end state of the store (which ids, and each one's content against
the source's last row of that id), the error table and, through the CLI, the exit code.
"""

from __future__ import annotations

import gzip
import io
import os
import random
import re
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import feedkit
from feedkit.cli import main
from feedkit.results import request_fields
from feedkit.schema import MAX_ACTIVITY_BYTES, parse_time
from feedkit.server.app import create_app
from feedkit.transport import InProcessTransport

MAPPING = feedkit.Mapping.build(
    {"id": "{pid}", "type": "post", "user_id": "{who}", "feeds": ["user:{who}"], "text": "{body}"}
)


def posts(n: int, **columns: Any) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "pid": [f"p{i}" for i in range(n)],
            "who": ["ann", "bob"] * (n // 2) + ["ann"] * (n % 2),
            "body": [f"post {i}" for i in range(n)],
        }
    )
    for name, values in columns.items():
        frame[name] = values
    return frame


def expected(source: Any, mapping: feedkit.Mapping = MAPPING) -> dict[str, dict[str, Any]]:
    """id -> the request the source's last valid row of that id makes."""
    conversion = feedkit.to_activities(source, mapping)
    return {a["id"]: a for a in conversion.activities}


def assert_store_is(client: feedkit.Client, want: dict[str, dict[str, Any]]) -> None:
    """The store holds exactly these activities, each field as the source row says."""
    got = {
        a["id"]: request_fields(a) for a in client.iter_activities(include_expired_activities=True)
    }
    assert sorted(got) == sorted(want)
    for aid, activity in want.items():
        for key, value in activity.items():
            have = got[aid].get(key)
            if key == "expires_at":
                assert parse_time(have) == parse_time(value), aid
            else:
                assert have == value, (aid, key)


@pytest.fixture
def client() -> Iterator[feedkit.Client]:
    with feedkit.connect(":memory:") as c:
        yield c


def codes(report: feedkit.ImportReport) -> list[tuple[int, str]]:
    return sorted(zip(report.errors["row"].tolist(), report.errors["code"].tolist(), strict=True))


# -- the checkpoint and its destination ---------------------------------------------------------


def test_a_checkpoint_of_a_deleted_store_is_refused_by_the_cli(tmp_path: Path) -> None:
    source, db, ck = tmp_path / "posts.csv", tmp_path / "s.db", tmp_path / "ck"
    posts(300).to_csv(source, index=False)
    mapping = tmp_path / "m.toml"
    mapping.write_text(MAPPING.to_toml())
    args = [
        "import",
        str(source),
        "--mapping",
        str(mapping),
        "--db",
        str(db),
        "--checkpoint",
        str(ck),
        "--no-progress",
    ]
    assert CliRunner().invoke(main, args).exit_code == 0
    db.unlink()  # the store is gone; the journal says its 300 rows were stored
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 1 and "another destination" in again.output, again.output
    with feedkit.connect(db) as fresh:
        assert len(fresh.query_activities()) == 0  # and nothing was claimed as skipped
    ck.unlink()
    assert CliRunner().invoke(main, args).exit_code == 0
    with feedkit.connect(db) as fresh:
        assert_store_is(fresh, expected(source))


def _behind(app: Any) -> feedkit.Client:
    """A client of ``app`` at one fixed URL and key: a server replaced behind its address."""
    return feedkit.Client("http://feeds.test", "key", "s" * 40, transport=InProcessTransport(app))


def test_a_server_replaced_behind_the_same_url_gets_everything_again(tmp_path: Path) -> None:
    frame, ck = posts(250), tmp_path / "ck"
    first_app = create_app(":memory:", api_key="key", api_secret="s" * 40)
    with _behind(first_app) as first:
        feedkit.import_activities(first, frame, MAPPING, checkpoint=ck, progress=False)
    second_app = create_app(":memory:", api_key="key", api_secret="s" * 40)  # emptied
    with _behind(second_app) as second:
        report = feedkit.import_activities(second, frame, MAPPING, checkpoint=ck, progress=False)
        assert report.skipped == 0 and report.acknowledged == 250
        assert any("not all at" in note for note in report.notes), report.notes
        assert_store_is(second, expected(frame))


def test_an_edit_of_the_same_size_with_the_mtime_kept_is_sent(
    client: feedkit.Client, tmp_path: Path
) -> None:
    source, ck = tmp_path / "posts.csv", tmp_path / "ck"
    posts(500).to_csv(source, index=False)
    feedkit.import_activities(client, source, MAPPING, checkpoint=ck, progress=False)
    before = source.stat()
    text = source.read_text().replace("post 321", "tsop 321")  # same size
    source.write_text(text)
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))
    report = feedkit.import_activities(client, source, MAPPING, checkpoint=ck, progress=False)
    assert report.sent == 100 and report.skipped == 400  # the one request holding row 321
    assert client.get_activity("p321")["text"] == "tsop 321"
    assert_store_is(client, expected(source))


def test_a_journal_line_with_a_changed_number_is_not_trusted(
    client: feedkit.Client, tmp_path: Path
) -> None:
    ck, frame = tmp_path / "ck", posts(300)
    feedkit.import_activities(client, frame, MAPPING, checkpoint=ck, progress=False)
    lines = ck.read_text().split("\n")
    ack = next(i for i, line in enumerate(lines) if line.startswith('["ack",100,199,'))
    lines[ack] = lines[ack].replace(",199,", ",299,")
    ck.write_text("\n".join(lines))
    edited = frame.assign(body=[f"edited {i}" for i in range(300)])
    report = feedkit.import_activities(client, edited, MAPPING, checkpoint=ck, progress=False)
    assert report.skipped == 0 and report.acknowledged == 300  # every body changed
    assert_store_is(client, expected(edited))
    again = feedkit.import_activities(client, edited, MAPPING, checkpoint=ck, progress=False)
    assert again.skipped == 300 and again.sent == 0


# -- duplicate ids -----------------------------------------------------------------------------


def duplicated(n: int = 300) -> pd.DataFrame:
    frame = posts(n)
    for earlier, later in ((5, 250), (17, 18), (40, 299)):  # later rows repeat earlier ids
        frame.loc[later, "pid"] = frame.loc[earlier, "pid"]
    return frame


@pytest.mark.parametrize("run", range(5))
def test_the_last_row_of_an_id_wins_whatever_the_timing(run: int) -> None:
    frame = duplicated()
    with feedkit.connect(":memory:") as client:
        report = feedkit.import_activities(
            client, frame, MAPPING, progress=False, concurrency=8, batch_size=7 + run
        )
        assert_store_is(client, expected(frame))
        assert client.get_activity("p5")["text"] == "post 250"
        assert client.get_activity("p40")["text"] == "post 299"
    assert report.acknowledged == 297 == report.valid and report.duplicates == 3
    assert report.invalid == 3 and report.rows_read == 300 and not report.ok
    assert codes(report) == [(5, "duplicate_id"), (17, "duplicate_id"), (40, "duplicate_id")]
    first = report.errors.set_index("row").loc[5]
    assert first["field"] == "id" and "row 250" in first["message"] and first["value"] == "p5"


def test_a_dry_run_and_validate_report_the_same_duplicates(tmp_path: Path) -> None:
    frame = duplicated()
    dry = feedkit.validate_source(frame, MAPPING, progress=False)
    assert dry.duplicates == 3 and dry.valid == 297 and codes(dry)[0] == (5, "duplicate_id")
    source = tmp_path / "dup.parquet"
    frame.to_parquet(source)
    mapping = tmp_path / "m.toml"
    mapping.write_text(MAPPING.to_toml())
    out = CliRunner().invoke(
        main, ["validate", str(source), "--mapping", str(mapping), "--no-progress"]
    )
    assert out.exit_code == 1 and "duplicates" in out.output and "duplicate_id" in out.output


def test_a_stream_is_read_twice_through_a_spool(client: feedkit.Client) -> None:
    table = pa.Table.from_pandas(duplicated(), preserve_index=False)
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=50))
    report = feedkit.import_activities(client, reader, MAPPING, progress=False)
    assert report.duplicates == 3 and report.acknowledged == 297
    assert_store_is(client, expected(duplicated()))


def test_derived_ids_are_chosen_and_the_report_says_what_an_edit_does(
    client: feedkit.Client,
) -> None:
    with pytest.raises(feedkit.MappingError, match="derive"):
        feedkit.Mapping.build({"type": "post", "feeds": ["user:{who}"], "text": "{body}"})
    derived = feedkit.Mapping.build({**MAPPING_FIELDS, "id": {"derive": True}})
    frame = posts(10)
    report = feedkit.import_activities(client, frame, derived, progress=False)
    assert "becomes a new activity" in report.summary()
    edited = frame.assign(body=[*frame["body"][:9], "corrected"])
    feedkit.import_activities(client, edited, derived, progress=False)
    assert len(client.query_activities()) == 11  # as the note says: the edit is a new one
    assert (
        "becomes a new activity"
        in feedkit.validate_source(frame, derived, progress=False).summary()
    )


# -- one bad value never stops the rest --------------------------------------------------------


def test_a_huge_row_is_a_row_error_and_its_neighbours_are_stored(client: feedkit.Client) -> None:
    frame = posts(100)
    frame.loc[37, "body"] = "x" * (5 * 2**20)
    report = feedkit.import_activities(client, frame, MAPPING, progress=False)
    assert codes(report) == [(37, "too_large")] and report.acknowledged == 99
    error = report.errors.iloc[0]
    assert error["field"] == "text" and error["column"] == "body"
    assert f"{MAX_ACTIVITY_BYTES:,}" in error["message"]
    assert_store_is(client, expected(frame.drop(index=37)))


def test_json_cells_too_deep_or_invalid_are_row_errors(client: feedkit.Client) -> None:
    frame = posts(50)
    frame["extra"] = ['{"k": 1}'] * 50
    frame.loc[3, "extra"] = '{"a":' * 1000 + "1" + "}" * 1000
    frame.loc[9, "extra"] = '{"unterminated": '
    mapping = feedkit.Mapping.build(
        {**MAPPING_FIELDS, "custom": {"extra": "{extra}"}}, {"extra": "json"}
    )
    report = feedkit.import_activities(client, frame, mapping, progress=False)
    assert codes(report) == [(3, "too_deep"), (9, "format")] and report.acknowledged == 48
    assert set(report.errors["column"]) == {"extra"}
    assert set(report.errors["field"]) == {"custom.extra"}
    assert_store_is(client, expected(frame.drop(index=[3, 9]), mapping))


MAPPING_FIELDS: dict[str, Any] = {
    "id": "{pid}",
    "type": "post",
    "user_id": "{who}",
    "feeds": ["user:{who}"],
    "text": "{body}",
}


def test_a_request_refused_whole_is_split_until_only_the_guilty_row_fails() -> None:
    class Poisoned(httpx.BaseTransport):
        """A server that refuses a whole batch (400 naming no item, or 413) when it holds
        the poisoned row: only splitting finds which row that is."""

        def __init__(self, inner: httpx.BaseTransport) -> None:
            self.inner, self.refused = inner, 0

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            body = request.read()
            if b"poison" in body or (b"big-" in body and len(body) > 20_000):
                self.refused += 1
                status = 400 if b"poison" in body else 413
                return httpx.Response(
                    status,
                    json={
                        "code": 4,
                        "message": "refused whole",
                        "StatusCode": status,
                        "details": [],
                    },
                )
            return self.inner.handle_request(request)

    frame = posts(100)
    frame.loc[61, "body"] = "poison"
    frame.loc[70:79, "body"] = ["big-" + "y" * 3000] * 10  # 10 rows: 30 kB in one request
    app = create_app(":memory:", api_key="key", api_secret="s" * 40)
    transport = Poisoned(InProcessTransport(app))
    with feedkit.Client("http://feeds.test", "key", "s" * 40, transport=transport) as client:
        report = feedkit.import_activities(client, frame, MAPPING, progress=False)
        assert codes(report) == [(61, "send_failed")] and report.acknowledged == 99
        assert transport.refused > 2
        assert_store_is(client, expected(frame.drop(index=61)))


def test_a_body_over_the_servers_limit_is_sent_in_smaller_requests() -> None:
    app = create_app(":memory:", api_key="key", api_secret="s" * 40, max_body_bytes=40_000)
    frame = posts(100, body=["z" * 2000] * 100)  # 100 rows: ~210 kB in one request
    with _behind(app) as client:
        report = feedkit.import_activities(client, frame, MAPPING, progress=False)
        assert report.ok and report.acknowledged == 100 and report.failed == 0
        assert_store_is(client, expected(frame))


@pytest.mark.parametrize(
    "never",
    [
        pa.array([pd.Timestamp("9999-12-31").date()], pa.date32()),
        pa.array([pd.Timestamp("9999-12-31").date()], pa.date64()),
        pa.array([253402214400], pa.timestamp("s", tz="UTC")),
        pa.array([253402214400_000], pa.timestamp("ms", tz="Europe/Paris")),
        pa.array([253402214400_000_000], pa.timestamp("us", tz="UTC")),
        pa.array([-(10**16)], pa.timestamp("us", tz="UTC")),  # year 1653
    ],
    ids=lambda a: str(a.type),
)
def test_a_time_outside_the_range_is_a_row_error_naming_row_and_column(
    client: feedkit.Client, tmp_path: Path, never: pa.Array
) -> None:
    table = pa.Table.from_pandas(posts(3), preserve_index=False)
    # row 0 says "never"; rows 1 and 2 have no expiry
    table = table.append_column("until", pa.concat_arrays([never, pa.nulls(2, never.type)]))
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    mapping = feedkit.Mapping.build({**MAPPING_FIELDS, "expires_at": "{until}"})
    report = feedkit.import_activities(client, path, mapping, progress=False)
    assert codes(report) == [(0, "range")], report.errors
    assert report.errors["column"].tolist() == ["until"] and report.acknowledged == 2
    assert_store_is(client, expected(table.slice(1)))


def test_a_csv_time_out_of_range_says_range(client: feedkit.Client) -> None:
    frame = posts(3, until=["2030-01-01T00:00:00Z", "9999-12-31T23:59:59Z", ""])
    mapping = feedkit.Mapping.build({**MAPPING_FIELDS, "expires_at": "{until}"})
    report = feedkit.import_activities(client, frame, mapping, progress=False)
    assert codes(report) == [(1, "range")] and report.acknowledged == 2


def test_a_64_mb_cell_is_one_row_error_and_later_rows_are_read(
    client: feedkit.Client, tmp_path: Path
) -> None:
    source = tmp_path / "big.csv"
    with source.open("w") as f:
        f.write("pid,who,body\np0,ann,first\np1,ann,")
        f.write("w" * (64 * 2**20 + 10))
        f.write("\np2,bob,third\np3,bob,fourth\n")
    report = feedkit.import_activities(client, source, MAPPING, progress=False)
    assert codes(report) == [(1, "too_large")] and report.acknowledged == 3
    assert sorted(a["id"] for a in client.iter_activities()) == ["p0", "p2", "p3"]


def test_a_line_both_ragged_and_not_utf8_is_one_row_error(
    client: feedkit.Client, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bad.csv"
    source.write_bytes(
        b"pid,who,body\np0,ann,a\np1,\xff\xfeann,b,extra\np2,bob,c\n"
        + b"".join(b"p%d,bob,t%d\n" % (i, i) for i in range(3, 200))
    )
    report = feedkit.import_activities(client, source, MAPPING, progress=False)
    assert codes(report) == [(1, "malformed_row")] and report.acknowledged == 199
    assert "not UTF-8" in report.errors["message"][0]
    assert "Exception ignored" not in capfd.readouterr().err


@pytest.mark.parametrize("name", ["posts.csv.gz", "posts.csv", "posts.tsv.gz"])
def test_gzip_is_read_whatever_its_name(client: feedkit.Client, tmp_path: Path, name: str) -> None:
    frame = posts(120)
    text = frame.to_csv(index=False, sep="\t" if ".tsv" in name else ",")
    (tmp_path / name).write_bytes(gzip.compress(text.encode()))
    report = feedkit.import_activities(client, tmp_path / name, MAPPING, progress=False)
    assert report.ok and report.rows_read == 120
    assert_store_is(client, expected(frame))


def test_a_zip_named_csv_is_refused_by_name(client: feedkit.Client, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("posts.csv", posts(5).to_csv(index=False))
    (tmp_path / "posts.csv").write_bytes(buffer.getvalue())
    with pytest.raises(feedkit.sources.SourceError, match="zip file"):
        feedkit.import_activities(client, tmp_path / "posts.csv", MAPPING, progress=False)
    assert len(client.query_activities()) == 0


def test_two_columns_of_one_name_are_refused_by_name(
    client: feedkit.Client, tmp_path: Path
) -> None:
    source = tmp_path / "twice.csv"
    source.write_text("pid,who,body,body\np0,ann,first,second\n")
    with pytest.raises(feedkit.sources.SourceError, match="'body'"):
        feedkit.import_activities(client, source, MAPPING, progress=False)
    frame = pd.DataFrame([["p0", "ann", "a", "b"]], columns=["pid", "who", "body", "body"])
    with pytest.raises(feedkit.sources.SourceError, match="'body'"):
        feedkit.import_activities(client, frame, MAPPING, progress=False)


def test_a_lone_surrogate_is_an_encoding_error(client: feedkit.Client) -> None:
    frame = posts(4).astype(object)
    frame.loc[2, "body"] = "a\ud800b"
    report = feedkit.import_activities(client, frame, MAPPING, progress=False)
    assert codes(report) == [(2, "encoding")] and report.acknowledged == 3
    with pytest.raises(feedkit.ValidationError, match="text: holds a lone surrogate"):
        client.add_activity(type="post", feeds=["user:a"], text="a\ud800b")


@pytest.mark.parametrize("aid", [".", "..", "...", "a/..", "%2e%2E"])
def test_dot_ids_are_reachable(client: feedkit.Client, aid: str) -> None:
    frame = pd.DataFrame({"pid": [aid], "who": ["ann"], "body": ["dots"]})
    assert feedkit.import_activities(client, frame, MAPPING, progress=False).ok
    assert client.get_activity(aid)["text"] == "dots"
    client.update_activity_partial(aid, set={"text": "changed"})
    assert client.get_activity(aid)["text"] == "changed"
    client.delete_activity(aid, hard_delete=True)
    with pytest.raises(feedkit.NotFoundError):
        client.get_activity(aid)


def test_custom_keys_with_dots_come_back_exactly(client: feedkit.Client) -> None:
    weird = [{"a.b": 1}, {"a.b": 1, "a": {"b": 2}}, {"": 3}, {"{x}": {"": [1]}}]
    client.upsert_activities(
        [
            {"id": f"w{i}", "type": "post", "feeds": ["user:a"], "user_id": "a", "custom": c}
            for i, c in enumerate(weird)
        ]
    )
    frame = feedkit.query_to_dataframe(client, progress=False)
    with feedkit.connect(":memory:") as fresh:
        assert feedkit.import_activities(
            fresh, frame, feedkit.Mapping.identity(frame), progress=False
        ).ok
        got = {a["id"]: a["custom"] for a in fresh.iter_activities()}
    assert got == {f"w{i}": c for i, c in enumerate(weird)}


def test_random_rows_change_between_runs_and_the_store_follows(tmp_path: Path) -> None:
    rng = random.Random(14)
    ck, frame = tmp_path / "ck", posts(400)
    with feedkit.connect(tmp_path / "s.db") as client:
        for _ in range(4):
            for row in rng.sample(range(400), 25):
                frame.loc[row, "body"] = f"changed {rng.random()}"
            report = feedkit.import_activities(
                client, frame, MAPPING, checkpoint=ck, progress=False, batch_size=20
            )
            assert report.ok and report.skipped + report.sent == 400
            assert_store_is(client, expected(frame))


# -- everything at once: kills, a damaged journal, edits, a fresh store ------------------------


def _damage(path: Path, rng: random.Random) -> str:
    """Damage a journal as a disk, a person or a crash might: what was done."""
    raw = bytearray(path.read_bytes())
    how = rng.choice(["truncate", "flip", "garbage", "delete", "number"])
    if how == "truncate":
        del raw[rng.randrange(len(raw) // 2, len(raw) + 1) :]
    elif how == "flip":
        raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
    elif how == "garbage":
        raw += bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))
    else:
        lines = bytes(raw).split(b"\n")
        i = rng.randrange(1, max(2, len(lines) - 1))
        if how == "delete":
            del lines[i]
        else:  # a changed number: a span that would cover other rows
            lines[i] = lines[i].replace(b"9,", b"8,", 1)
        raw = bytearray(b"\n".join(lines))
    path.write_bytes(bytes(raw))
    return how


def test_kills_damage_edits_and_a_fresh_store_never_lose_or_skip_a_row(tmp_path: Path) -> None:
    rng = random.Random(1414)
    frame = posts(3000)
    for later in rng.sample(range(1000, 3000), 40):  # ids repeated: the last row wins
        frame.loc[later, "pid"] = frame.loc[rng.randrange(0, 1000), "pid"]
    source, ck, mapping = tmp_path / "posts.csv", tmp_path / "ck", tmp_path / "m.toml"
    mapping.write_text(MAPPING.to_toml())
    db = tmp_path / "store-0.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAM_", "FEEDKIT_"))}

    def command() -> list[str]:
        return [sys.executable, "-m", "feedkit", "import", str(source), "--mapping",
                str(mapping), "--db", str(db), "--checkpoint", str(ck), "--batch-size", "20",
                "--concurrency", "3", "--no-progress"]  # fmt: skip

    done: list[str] = []
    for round_ in range(8):
        for row in rng.sample(range(3000), rng.randint(0, 30)):
            frame.loc[row, "body"] = f"round {round_} {rng.random()}"
        frame.to_csv(source, index=False)
        if ck.exists() and rng.random() < 0.6:
            done.append(_damage(ck, rng))
        if rng.random() < 0.25:  # the same command pointed at a new, empty store
            db = tmp_path / f"store-{round_ + 1}.db"
            refused = subprocess.run(command(), capture_output=True, text=True, env=env,
                                     timeout=120)  # fmt: skip
            if ck.exists() and "another destination" in refused.stdout + refused.stderr:
                assert refused.returncode == 1
                with feedkit.connect(db) as fresh:
                    assert len(fresh.query_activities()) == 0
                ck.unlink()  # as the message says
                done.append("refused")
        proc = subprocess.Popen(command(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env)  # fmt: skip
        target, deadline = rng.randint(5, 150), time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if ck.exists() and ck.read_bytes().count(b"\n") >= target:
                proc.send_signal(signal.SIGKILL)
                done.append("killed")
                break
            time.sleep(0.005)
        proc.wait(timeout=60)
    final = subprocess.run(command(), capture_output=True, text=True, env=env, timeout=300)
    assert final.returncode == 1, final.stdout + final.stderr  # the duplicates, reported
    assert re.search(r"^ +failed +0$", final.stdout, re.M) and "duplicates" in final.stdout
    assert {"killed", "refused"} <= set(done), done
    with feedkit.connect(db) as client:
        assert_store_is(client, expected(source))
    last = subprocess.run(command(), capture_output=True, text=True, env=env, timeout=300)
    assert re.search(r"^ +sent +0$", last.stdout, re.M), last.stdout  # and nothing is left
