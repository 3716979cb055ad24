"""Export: typed frames, Parquet, CSV and import files, and the lossless round trip."""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from _importschemas import validator
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import feedkit
from feedkit.cli import main
from feedkit.export import to_csv, to_jsonl

ROOT = Path(__file__).resolve().parents[1]
MAPPING = feedkit.Mapping.from_toml(ROOT / "data" / "posts.toml")
VOLATILE = ("created_at", "updated_at")  # set by the server at write time


@pytest.fixture
def client() -> Iterator[feedkit.Client]:
    with feedkit.connect(":memory:") as c:
        yield c


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in frame.columns if c not in VOLATILE]
    return frame[cols].sort_values("id").reset_index(drop=True)


RICH: dict[str, Any] = {
    "id": "rich", "type": "video", "feeds": ["user:zed", "topic:x"], "user_id": "zed",
    "text": 't\n"q" é 😀\x01', "visibility": "tag", "visibility_tag": "vip",
    "restrict_replies": "nobody", "location": {"lat": 1.5, "lng": -2.0},
    "mentioned_user_ids": ["bob"], "expires_at": "2031-01-01T00:00:00.123456789Z",
    "filter_tags": ["a", "b"], "interest_tags": ["i"], "search_data": {"k": "v"},
    "custom": {"a": 1, "f": 2.0, "b": {"c": [1, 2], "d": "x", "e": {"f": True}},
               "mixed": [1, "a", {"z": 1}], "objs": [{"k": 1}]},
    "attachments": [{"type": "video", "asset_url": "https://v/1.mp4", "custom": {"dur": 120}}],
}  # fmt: skip


def test_frame_has_the_stable_typed_schema(client: feedkit.Client) -> None:
    client.add_activity(RICH)
    frame = feedkit.query_to_dataframe(client, progress=False)
    row = frame.iloc[0]
    assert str(frame["created_at"].dtype) == "timestamp[ns, tz=UTC][pyarrow]"
    assert str(frame["feeds"].dtype).startswith("list<item: string>")
    assert row["expires_at"] == pd.Timestamp("2031-01-01T00:00:00.123456789Z")
    assert row["location.lat"] == 1.5 and row["user_id"] == "zed"
    assert row["custom.b.c"] == [1, 2] and row["custom.b.e.f"] is True
    assert row["custom.f"] == 2.0 and str(frame["custom.f"].dtype) == "double[pyarrow]"
    assert json.loads(row["custom.mixed"]) == [1, "a", {"z": 1}]
    assert frame.attrs["feedkit.json_columns"] == ["custom.mixed", "custom.objs"]
    assert row["attachments"][0]["asset_url"] == "https://v/1.mp4"


def round_trip(client: feedkit.Client) -> tuple[pd.DataFrame, pd.DataFrame]:
    first = feedkit.query_to_dataframe(client, progress=False, include_expired_activities=True)
    with feedkit.connect(":memory:") as fresh:
        report = feedkit.import_activities(fresh, first, feedkit.Mapping.identity(first),
                                           progress=False)  # fmt: skip
        assert report.ok, report.errors
        second = feedkit.query_to_dataframe(fresh, progress=False,
                                            include_expired_activities=True)  # fmt: skip
        stored = {a["id"]: a for a in fresh.iter_activities(include_expired_activities=True)}
    if "rich" in stored:  # JSON text columns go back as JSON values, not strings
        assert stored["rich"]["custom"] == RICH["custom"]
    return first, second


def test_export_import_export_is_the_identity(client: feedkit.Client) -> None:
    feedkit.import_activities(client, ROOT / "data" / "posts.parquet", MAPPING, progress=False)
    client.add_activity(RICH)
    first, second = round_trip(client)
    pd.testing.assert_frame_equal(comparable(first), comparable(second))


def test_parquet_file_equals_the_frame(client: feedkit.Client, tmp_path: Path) -> None:
    feedkit.import_activities(client, ROOT / "data" / "posts.parquet", MAPPING, progress=False)
    client.add_activity(RICH)
    path = tmp_path / "out.parquet"
    count = feedkit.to_parquet(client, path, progress=False, rows_per_group=700)
    frame = feedkit.query_to_dataframe(client, progress=False)
    assert count == len(frame) == pq.ParquetFile(path).metadata.num_rows
    assert pq.ParquetFile(path).metadata.num_row_groups == -(-count // 700)
    from_file = pq.read_table(path).to_pandas(types_mapper=pd.ArrowDtype)
    pd.testing.assert_frame_equal(comparable(from_file), comparable(frame))
    with feedkit.connect(":memory:") as fresh:  # the file imports back through identity()
        report = feedkit.import_activities(fresh, path, feedkit.Mapping.identity(path),
                                           progress=False)  # fmt: skip
        assert report.ok and report.acknowledged == count
        again = feedkit.query_to_dataframe(fresh, progress=False)
    pd.testing.assert_frame_equal(comparable(again), comparable(frame))


def test_csv_with_its_mapping_round_trips(client: feedkit.Client, tmp_path: Path) -> None:
    client.add_activity(RICH)
    feedkit.import_activities(client, ROOT / "data" / "posts.parquet", MAPPING, progress=False)
    count, mapping_path = to_csv(client, tmp_path / "out.csv", progress=False)
    assert Path(mapping_path).name == "out.mapping.toml"
    with feedkit.connect(":memory:") as fresh:
        report = feedkit.import_activities(fresh, tmp_path / "out.csv",
                                           feedkit.Mapping.from_toml(mapping_path),
                                           progress=False)  # fmt: skip
        assert report.ok and report.acknowledged == count
        again = feedkit.query_to_dataframe(fresh, progress=False)
    frame = feedkit.query_to_dataframe(client, progress=False)
    pd.testing.assert_frame_equal(comparable(again), comparable(frame))


def test_import_file_lines_validate_and_keep_history(tmp_path: Path) -> None:
    mapping = feedkit.Mapping.build({**MAPPING_DICT, "created_at": "{created}"})
    out = tmp_path / "posts.jsonl"
    written = feedkit.write_import_file(ROOT / "data" / "posts.parquet", mapping, out)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    check = validator()
    assert [e.message for line in lines for e in check.iter_errors(line)] == []
    activities = [x["data"] for x in lines if x["type"] == "activity"]
    users = [x["data"]["id"] for x in lines if x["type"] == "user"]
    assert len(activities) == written.activities == 3000 - written.invalid
    assert len(users) == len(set(users)) == written.users
    source = pd.read_parquet(ROOT / "data" / "posts.parquet").set_index("post_id")
    first = activities[0]
    assert first["fids"] and "feeds" not in first
    assert pd.Timestamp(first["created_at"]) == source.loc[first["id"], "created"]
    seen: set[str] = set()
    for line in lines:  # every user line comes before that user's first activity
        if line["type"] == "user":
            seen.add(line["data"]["id"])
        else:
            assert line["data"]["user_id"] in seen


def test_import_file_refuses_what_the_format_cannot_hold(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "pid": ["a", "b", "c", "d"],
            "who": ["ann", "b.o.b", "", "dee"],
            "img": ["https://x/1.png", "http://x/2.png", None, "ftp://x/4"],
        }
    )
    mapping = feedkit.Mapping.build(
        {
            "id": "{pid}",
            "type": "post",
            "user_id": "{who}",
            "feeds": ["topic:t"],
            "attachments": [{"type": "image", "image_url": "{img}"}],
        }
    )
    written = feedkit.write_import_file(frame, mapping, tmp_path / "x.jsonl")
    assert written.activities == 1
    got = written.errors[["row", "field", "code"]].values.tolist()
    assert got == [[1, "user_id", "format"], [2, "user_id", "required"],
                   [3, "attachments[0].image_url", "format"]]  # fmt: skip


def test_exported_jsonl_is_an_import_file(client: feedkit.Client, tmp_path: Path) -> None:
    client.add_activity(RICH)
    client.add_activity(id="p", type="post", feeds=["user:ann"], user_id="ann", text="x")
    count = to_jsonl(client, tmp_path / "all.jsonl", progress=False)
    lines = [json.loads(x) for x in (tmp_path / "all.jsonl").read_text().splitlines()]
    assert count == 2 and [e.message for x in lines for e in validator().iter_errors(x)] == []
    rich = next(x["data"] for x in lines if x["type"] == "activity" and x["data"]["id"] == "rich")
    assert rich["custom"] == RICH["custom"] and rich["fids"] == RICH["feeds"]
    assert rich["created_at"].endswith("Z")


@pytest.mark.parametrize(
    "export",
    [
        lambda c: feedkit.feed_to_dataframe(c, "user:u", progress=False, page_size=7),
        lambda c: feedkit.query_to_dataframe(c, progress=False, page_size=9, concurrency=4),
    ],
    ids=["feed", "query-in-concurrent-ranges"],
)
def test_export_is_exact_while_writes_happen(client: feedkit.Client, export: Any) -> None:
    client.upsert_activities([{"id": f"o{i:04}", "type": "post", "feeds": ["user:u"],
                               "user_id": "u"} for i in range(700)])  # fmt: skip
    before = {f"o{i:04}" for i in range(700)}
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set() and n < 2000:
            client.add_activity(id=f"new{n}", type="post", feeds=["user:u"], user_id="u")
            client.update_activity_partial(f"o{n % 700:04}", set={"text": f"edit {n}"})
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        frame = export(client)
    finally:
        stop.set()
        thread.join(timeout=30)
    ids = frame["id"].tolist()
    assert len(ids) == len(set(ids)), "an activity came twice"
    assert before <= set(ids), f"skipped: {sorted(before - set(ids))[:5]}"


def test_limit_and_feed(client: feedkit.Client) -> None:
    client.upsert_activities([{"id": f"l{i}", "type": "post", "feeds": ["user:a"],
                               "user_id": "a"} for i in range(30)])  # fmt: skip
    assert len(feedkit.feed_to_dataframe(client, "user:a", limit=12, page_size=5,
                                         progress=False)) == 12  # fmt: skip
    empty = feedkit.query_to_dataframe(client, {"user_id": "nobody"}, progress=False)
    assert len(empty) == 0 and "id" in empty.columns


def test_cli_export_writes_each_format(client: feedkit.Client, tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    with feedkit.connect(db) as c:
        c.add_activity(RICH)
    for name in ("out.parquet", "out.csv", "out.jsonl"):
        result = CliRunner().invoke(main, ["export", "user:zed", "-o", str(tmp_path / name),
                                           "--db", str(db), "--no-progress"])  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "exported 1 activities" in result.output
    query = CliRunner().invoke(main, ["export", "--query", '{"filter_tags": {"$in": ["a"]}}',
                                      "-o", str(tmp_path / "q.parquet"), "--db", str(db),
                                      "--no-progress"])  # fmt: skip
    assert query.exit_code == 0 and "exported 1 activities" in query.output
    both = CliRunner().invoke(main, ["export", "user:zed", "--query", "{}", "-o", "x.csv"])
    assert both.exit_code == 2
    bad = CliRunner().invoke(main, ["export", "user:zed", "-o", "x.txt", "--db", str(db)])
    assert bad.exit_code == 2


@pytest.mark.parametrize("suffix", ["parquet", "csv", "jsonl"])
def test_an_output_that_cannot_be_written_fails_at_once_and_by_name(
    tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "e.db"
    with feedkit.connect(db) as c:
        c.add_activity(RICH)
    calls = fail_on_call(monkeypatch, feedkit.Client, "request_read", 99)  # counts the reads
    out = tmp_path / "no-such-dir" / f"out.{suffix}"
    result = CliRunner().invoke(main, ["export", "user:zed", "-o", str(out), "--db", str(db),
                                       "--no-progress"])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert f"{out}: No such file or directory" in result.output
    assert "Traceback" not in result.output and calls[0] == 0  # before any page is read


MAPPING_DICT: dict[str, Any] = {
    "id": "{post_id}", "type": "post", "user_id": "{author}",
    "feeds": ["user:{author}", "topic:{topic}"], "text": "{body}", "expires_at": "{expires}",
    "visibility": "{vis}", "visibility_tag": "{vis_tag}", "parent_id": "{reply_to}",
    "filter_tags": {"column": "tags"}, "interest_tags": {"column": "topics"},
    "mentioned_user_ids": {"column": "mentions"}, "location": {"lat": "lat", "lng": "lng"},
    "custom": ["likes", "lang"], "search_data": {"title": "{title}"},
    "attachments": [{"type": "image", "image_url": "{image}"}],
}  # fmt: skip

# -- the property: random activities survive export -> import -> export ---------------------

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
# Object keys as legacy data holds them: plain, and ones a dotted column name could misread
# (a dot, empty, braces, quotes, spaces at either end, percent signs).
KEY = st.one_of(
    st.text("abcdefgh", min_size=1, max_size=4),
    st.text('ab.{}" %', max_size=4),
    st.sampled_from(["a.b", "", ".", "a.", ".a", "{a}", '"a"', " a ", "a b", "é.ü", "😀"]),
)
SCALAR = st.one_of(st.integers(-(2**53), 2**53), st.booleans(), TEXT,
                   st.floats(allow_nan=False, allow_infinity=False, width=32))  # fmt: skip
OBJECT = st.dictionaries(
    KEY,
    st.recursive(SCALAR, lambda inner: st.dictionaries(KEY, inner, min_size=1, max_size=3),
                 max_leaves=6),
    min_size=1, max_size=4,
)  # fmt: skip
TAG = st.text("abcxyz-_", min_size=1, max_size=6)
TIME = st.builds(
    lambda s, us: datetime(2030, 1, 1, tzinfo=UTC) + timedelta(seconds=s, microseconds=us),
    st.integers(0, 10**8), st.integers(0, 999_999),
)  # fmt: skip
VISIBILITY = st.one_of(
    st.just({}),
    st.sampled_from([{"visibility": "public"}, {"visibility": "private"}]),
    st.builds(lambda tag: {"visibility": "tag", "visibility_tag": tag}, TAG),
)
# Every optional field of the schema, each drawn or left out (visibility with its tag).
OPTIONAL: dict[str, Any] = {
    "text": TEXT,
    "restrict_replies": st.sampled_from(["everyone", "people_i_follow", "nobody"]),
    "location": st.builds(lambda lat, lng: {"lat": lat, "lng": lng},
                          st.floats(-90, 90), st.floats(-180, 180)),
    "expires_at": TIME,
    "mentioned_user_ids": st.lists(TAG, min_size=1, max_size=3),
    "parent_id": TAG,
    "poll_id": TAG,
    "custom": OBJECT,
    "search_data": OBJECT,
    "filter_tags": st.lists(TAG, min_size=1, max_size=4),
    "interest_tags": st.lists(TAG, min_size=1, max_size=4),
    "attachments": st.lists(
        st.builds(lambda url, title, custom: {"type": "image", "image_url": f"https://i/{url}.png",
                                              "title": title, "custom": custom},
                  TAG, TEXT, OBJECT),
        min_size=1, max_size=2,
    ),
}  # fmt: skip


@st.composite
def activities(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for i in range(draw(st.integers(1, 6))):
        a: dict[str, Any] = {
            "id": f"h{i}",
            "type": draw(st.sampled_from(["post", "video"])),
            "user_id": draw(st.sampled_from(["ann", "bob"])),
            "feeds": draw(st.lists(st.sampled_from(["user:a", "topic:b", "x:y"]),
                                   min_size=1, max_size=3, unique=True)),
            **draw(VISIBILITY),
        }  # fmt: skip
        for name, values in OPTIONAL.items():
            if draw(st.booleans()):
                a[name] = draw(values)
        out.append(a)
    return out


def test_the_property_draws_every_field_of_the_schema() -> None:
    drawn = {"id", "type", "user_id", "feeds", "visibility", "visibility_tag", *OPTIONAL}
    assert drawn == set(feedkit.schema.FIELDS)


def _as_sent(a: dict[str, Any]) -> dict[str, Any]:
    """The request fields an activity was upserted with, as an answer gives them back."""
    out = {k: v for k, v in a.items() if v not in ("", [], {})}
    if "expires_at" in out:
        out["expires_at"] = feedkit.schema.format_time(pd.Timestamp(out["expires_at"]).value)
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(activities())
def test_property_round_trip_is_exact(items: list[dict[str, Any]]) -> None:
    """export -> import -> export is the identity for every field, history included (kept
    through an import file, as the API cannot set it), for any custom/search_data key."""
    with feedkit.connect(":memory:") as client:
        client.upsert_activities(items)
        first = feedkit.query_to_dataframe(client, progress=False, include_expired_activities=True)
    with feedkit.connect(":memory:") as fresh:
        report = feedkit.import_activities(fresh, first, feedkit.Mapping.identity(first),
                                           progress=False)  # fmt: skip
        assert report.ok, report.errors.to_dict("records")
        second = feedkit.query_to_dataframe(fresh, progress=False,
                                            include_expired_activities=True)  # fmt: skip
        stored = {a["id"]: a for a in fresh.iter_activities(include_expired_activities=True)}
    pd.testing.assert_frame_equal(comparable(first), comparable(second))
    for a in items:  # what was stored again equals what was first sent, field by field
        got = feedkit.results.request_fields(stored[a["id"]])
        assert {k: got.get(k) for k in _as_sent(a)} == _as_sent(a)
        defaults = {k: got[k] for k in set(got) - set(_as_sent(a))}  # the server's, unsent
        assert defaults.items() <= {"visibility": "public", "restrict_replies": "everyone"}.items()
    with tempfile.TemporaryDirectory() as tmp:  # history: the import file keeps both times
        out = Path(tmp) / "history.jsonl"
        written = feedkit.write_import_file(first, feedkit.Mapping.identity(first), out)
        assert written.invalid == 0, written.errors.to_dict("records")
        lines = [json.loads(x) for x in out.read_bytes().split(b"\n") if x]  # not splitlines:
        # U+2028 and \x85 are characters inside a JSON string, not line ends
    times = {x["data"]["id"]: x["data"] for x in lines if x["type"] == "activity"}
    assert set(times) == set(first["id"])
    for row in first.itertuples():
        for name in ("created_at", "updated_at"):
            assert pd.Timestamp(times[row.id][name]) == getattr(row, name)


def test_a_value_in_one_row_and_an_object_in_another(tmp_path: Path) -> None:
    with feedkit.connect(":memory:") as client:
        client.upsert_activities([
            {"id": "v", "type": "post", "feeds": ["user:a"], "user_id": "a",
             "custom": {"a": 0, "k": 1}},
            {"id": "o", "type": "post", "feeds": ["user:a"], "user_id": "a",
             "custom": {"a": {"b": {"c": 1}}, "k": 2}},
        ])  # fmt: skip
        frame = feedkit.query_to_dataframe(client, progress=False)
        assert [c for c in frame.columns if c.startswith("custom")] == ["custom.a", "custom.k"]
        path = tmp_path / "conflict.parquet"
        feedkit.to_parquet(client, path, page_size=1, progress=False)  # one row per page
        assert pq.read_schema(path).names[-2:] == ["custom.a", "custom.k"]
        groups = tmp_path / "groups.parquet"  # and a row group per row: learnt apart
        feedkit.to_parquet(client, groups, page_size=1, rows_per_group=1, progress=False)
        assert pq.read_table(groups).equals(pq.read_table(path))
        assert pq.ParquetFile(groups).num_row_groups == 2
        for source in (frame, path):
            with feedkit.connect(":memory:") as fresh:
                feedkit.import_activities(fresh, source, feedkit.Mapping.identity(source),
                                          progress=False)  # fmt: skip
                got = {a["id"]: a["custom"] for a in fresh.iter_activities()}
            assert got == {"v": {"a": 0, "k": 1}, "o": {"a": {"b": {"c": 1}}, "k": 2}}


def add_posts(client: feedkit.Client, n: int) -> None:
    client.upsert_activities(
        [{"type": "post", "feeds": ["user:a"], "user_id": "a", "text": f"t{i}"} for i in range(n)]
    )


def fail_on_call(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, n: int) -> list[int]:
    """Make ``owner.name`` raise OSError on its n-th call; returns the call counter."""
    real, calls = getattr(owner, name), [0]

    def failing(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == n:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, failing)
    return calls


@pytest.mark.parametrize("suffix", ["parquet", "csv", "jsonl"])
def test_a_failed_export_leaves_the_previous_file_whole(
    client: feedkit.Client, tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_posts(client, 250)
    out = tmp_path / f"out.{suffix}"
    out.write_bytes(b"previous export")
    calls = fail_on_call(monkeypatch, feedkit.Client, "request_read", 2)  # the second page
    writer = {"parquet": feedkit.to_parquet, "csv": to_csv, "jsonl": to_jsonl}[suffix]
    with pytest.raises(OSError, match="No space"):
        writer(client, out, progress=False)
    assert calls[0] == 2
    assert out.read_bytes() == b"previous export"
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_a_parquet_file_failing_between_row_groups_is_not_left_behind(
    client: feedkit.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_posts(client, 250)
    import feedkit.export

    calls = fail_on_call(monkeypatch, feedkit.export, "_conform", 2)  # after group 1 is written
    with pytest.raises(OSError, match="No space"):
        feedkit.to_parquet(client, tmp_path / "out.parquet", progress=False, rows_per_group=100)
    assert calls[0] == 2 and list(tmp_path.iterdir()) == []


def test_an_import_file_failing_half_way_is_not_left_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import feedkit.importfile

    calls = fail_on_call(monkeypatch, feedkit.importfile, "_buffer", 5)  # batches of lines
    with pytest.raises(OSError, match="No space"):
        feedkit.write_import_file(ROOT / "data" / "posts.parquet", MAPPING, tmp_path / "x.jsonl",
                                  batch_rows=500)  # fmt: skip
    assert calls[0] == 5 and list(tmp_path.iterdir()) == []


def test_spooled_answers_come_back_as_they_were_in_less_space(client: feedkit.Client) -> None:
    import tempfile

    from feedkit.export import _spool, _unspooled

    add_posts(client, 250)
    bodies = [client.query_read(lambda b: b, {}, limit=n) for n in (1, 100, 100)]
    with tempfile.TemporaryFile() as spool:
        for body in bodies:
            _spool(spool, body)
        assert spool.tell() < sum(map(len, bodies)) / 3  # JSON shrinks
        assert list(_unspooled(spool)) == bodies
