"""Every kind's export: columns and dtypes, threaded comments, counts, and the round trip
export -> import -> export for each kind."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from _kinds import seed

import feedkit
from feedkit.errors import UsageError
from feedkit.tables import export_kind

TIMES = ("created_at", "updated_at")  # set by the server at write time: not compared
TS = "timestamp[ns, tz=UTC][pyarrow]"
STR = "string[pyarrow]"
STRS = "list<item: string>[pyarrow]"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[feedkit.Client]:
    with feedkit.connect(db=tmp_path / "source.db") as c:
        seed(c)
        yield c


def dtypes(frame: pd.DataFrame) -> dict[str, str]:
    return {str(k): str(v) for k, v in frame.dtypes.items()}


def test_users_columns_and_dtypes(client: feedkit.Client) -> None:
    frame = feedkit.users_to_dataframe(client, progress=False)
    assert dtypes(frame) == {
        "id": STR, "name": STR, "image": STR, "role": STR, "language": STR,
        "invisible": "bool[pyarrow]", "teams": STRS, "teams_role.red": STR,
        "privacy_settings.read_receipts.enabled": "bool[pyarrow]", "custom.city": STR,
        "custom.mixed": STR, "custom.n": "int64[pyarrow]", "created_at": TS, "updated_at": TS,
    }  # fmt: skip
    ann = frame.set_index("id").loc["ann"]
    assert ann["teams"] == ["red"] and ann["custom.n"] == 1
    assert json.loads(ann["custom.mixed"]) == [1, "a"]
    assert frame.attrs["feedkit.json_columns"] == ["custom.mixed"]
    assert list(feedkit.users_to_dataframe(client, {"id": "bob"}, progress=False)["id"]) == ["bob"]


def test_follows_columns_and_dtypes(client: feedkit.Client) -> None:
    frame = feedkit.follows_to_dataframe(client, progress=False)
    assert dtypes(frame) == {"source": STR, "target": STR, "push_preference": STR, "status": STR,
                             "custom.since": "int64[pyarrow]", "created_at": TS,
                             "updated_at": TS}  # fmt: skip
    assert frame.iloc[0][["source", "target", "push_preference", "status"]].tolist() == [
        "timeline:bob", "user:ann", "all", "accepted"]  # fmt: skip
    none = feedkit.follows_to_dataframe(client, {"source_feed": "user:x"}, progress=False)
    assert none.empty and list(none.columns) == ["source", "target", "push_preference",
                                                 "status", "created_at", "updated_at"]  # fmt: skip


def test_comments_are_threaded_at_every_depth(client: feedkit.Client) -> None:
    frame = feedkit.comments_to_dataframe(client, "a1", progress=False)
    assert list(frame.columns) == [
        "id", "object_id", "object_type", "parent_id", "user_id", "comment", "attachments",
        "mentioned_user_ids", "custom.k", "created_at", "updated_at", "depth"]  # fmt: skip
    assert frame["depth"].dtype == "int64[pyarrow]" and frame["created_at"].dtype == TS
    # each comment followed by its replies, oldest first: parents always before replies
    assert list(zip(frame["id"], frame["depth"], strict=True)) == [
        ("c1", 0), ("c2", 1), ("c3", 2), ("c4", 3), ("c6", 1), ("c5", 0)]  # fmt: skip
    c1 = frame.iloc[0]
    assert c1["comment"] == "top" and c1["user_id"] == "bob"
    assert c1["mentioned_user_ids"] == ["ann"]
    assert c1["attachments"][0]["image_url"] == "https://x/y.png"
    assert set(frame["object_id"]) == {"a1"} and frame.iloc[1]["custom.k"] == [1, 2]


def test_a_query_of_comments_brings_their_replies_and_true_depths(
    client: feedkit.Client,
) -> None:
    frame = feedkit.comments_to_dataframe(client, filter={"id": "c2"}, progress=False)
    assert list(zip(frame["id"], frame["depth"], strict=True)) == [("c2", 1), ("c3", 2),
                                                                   ("c4", 3)]  # fmt: skip
    every = feedkit.comments_to_dataframe(client, progress=False)
    assert sorted(every["id"]) == [f"c{i}" for i in range(1, 8)]


def test_reactions_of_an_activity_or_a_comment(client: feedkit.Client) -> None:
    frame = feedkit.reactions_to_dataframe(client, "a1", progress=False)
    assert dtypes(frame) == {"activity_id": STR, "comment_id": STR, "type": STR, "user_id": STR,
                             "custom.w": "int64[pyarrow]", "created_at": TS,
                             "updated_at": TS}  # fmt: skip
    assert sorted(frame["type"]) == ["like", "love"] and frame["comment_id"].isna().all()
    on_comment = feedkit.reactions_to_dataframe(client, comment_id="c2", progress=False)
    assert on_comment[["comment_id", "type"]].iloc[0].tolist() == ["c2", "upvote"]
    assert on_comment["activity_id"].isna().all()  # a reaction is to one object
    liked = feedkit.reactions_to_dataframe(client, "a1", filter={"reaction_type": "like"},
                                           progress=False)  # fmt: skip
    assert list(liked["user_id"]) == ["bob"]
    for both in ({}, {"activity_id": "a1", "comment_id": "c2"}):
        with pytest.raises(UsageError, match="activity_id or the comment_id"):
            feedkit.reactions_to_dataframe(client, progress=False, **both)


def test_bookmarks_columns_and_dtypes(client: feedkit.Client) -> None:
    frame = feedkit.bookmarks_to_dataframe(client, progress=False)
    assert dtypes(frame) == {"activity_id": STR, "user_id": STR, "folder_id": STR,
                             "custom.note": STR, "created_at": TS, "updated_at": TS}  # fmt: skip
    assert frame.iloc[0][["activity_id", "user_id", "custom.note"]].tolist() == [
        "a1", "bob", "read later"]  # fmt: skip
    assert feedkit.bookmarks_to_dataframe(client, user_id="ann", progress=False).empty


def test_every_page_is_followed(client: feedkit.Client) -> None:
    one = {"page_size": 1, "progress": False}
    assert len(feedkit.users_to_dataframe(client, **one)) == 2
    assert len(feedkit.comments_to_dataframe(client, "a1", **one)) == 6
    assert len(feedkit.reactions_to_dataframe(client, "a1", **one)) == 2
    client.add_bookmark("a2", user_id="bob")
    assert len(feedkit.bookmarks_to_dataframe(client, **one)) == 2


def test_counts_come_from_the_answers(client: feedkit.Client) -> None:
    calls: list[str] = []
    real = client.request_read

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(str(args[0]))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    client.request_read = counted  # type: ignore[method-assign]
    frame = feedkit.feed_to_dataframe(client, "user:ann", counts=True, progress=False)
    by_id = frame.set_index("id")
    assert by_id.loc["a1", ["reaction_count", "comment_count", "bookmark_count"]].tolist() == [
        2, 6, 1]  # fmt: skip
    assert by_id.loc["a2", ["reaction_count", "comment_count", "bookmark_count"]].tolist() == [
        0, 1, 0]  # fmt: skip
    assert str(frame["comment_count"].dtype) == "int64[pyarrow]"
    assert len(calls) <= 2  # the feed's page (and the check that the feed exists), no more
    plain = feedkit.feed_to_dataframe(client, "user:ann", progress=False)
    assert "reaction_count" not in plain.columns
    queried = feedkit.query_to_dataframe(client, counts=True, progress=False)
    assert queried.set_index("id").loc["a1", "comment_count"] == 6


def all_reactions(client: feedkit.Client) -> pd.DataFrame:
    """The reactions to a1 and to c2: the API lists one object's at a time."""
    to_activity = feedkit.reactions_to_dataframe(client, "a1", progress=False)
    to_comment = feedkit.reactions_to_dataframe(client, comment_id="c2", progress=False)
    frame = pd.concat([to_activity, to_comment], ignore_index=True)
    frame.attrs = to_activity.attrs
    return frame


KEYS = {"user": ["id"], "follow": ["source", "target"], "comment": ["id"],
        "reaction": ["activity_id", "comment_id", "type", "user_id"],
        "bookmark": ["activity_id", "user_id"]}  # fmt: skip
EXPORTS: dict[str, Callable[[feedkit.Client], pd.DataFrame]] = {
    "user": lambda c: feedkit.users_to_dataframe(c, progress=False),
    "follow": lambda c: feedkit.follows_to_dataframe(c, progress=False),
    "comment": lambda c: feedkit.comments_to_dataframe(c, "a1", progress=False),
    "reaction": lambda c: all_reactions(c),
    "bookmark": lambda c: feedkit.bookmarks_to_dataframe(c, progress=False),
}


def comparable(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    kept = frame[[c for c in frame.columns if c not in TIMES]]
    return kept.sort_values(KEYS[kind]).reset_index(drop=True)


def test_export_import_export_is_the_identity_for_every_kind(
    client: feedkit.Client, tmp_path: Path
) -> None:
    first = {kind: export(client) for kind, export in EXPORTS.items()}
    activities = feedkit.query_to_dataframe(client, progress=False)
    with feedkit.connect(db=tmp_path / "copy.db") as fresh:
        report = feedkit.import_rows(fresh, activities, feedkit.Mapping.identity(activities),
                                     progress=False)  # fmt: skip
        assert report.ok, report.errors
        for kind, frame in first.items():  # in dependency order: users first, comments
            # before the reactions to them
            source = frame.reset_index(drop=True)
            source.attrs = frame.attrs
            report = feedkit.import_rows(fresh, source, feedkit.Mapping.identity(frame, kind=kind),
                                         progress=False)  # fmt: skip
            assert report.ok, (kind, report.errors.to_dict("records"))
        second = {kind: export(fresh) for kind, export in EXPORTS.items()}
        stored = fresh.query_users({"id": "ann"})[0]
    assert stored["custom"]["mixed"] == [1, "a"]  # JSON text went back as JSON
    for kind in EXPORTS:
        pd.testing.assert_frame_equal(comparable(first[kind], kind), comparable(second[kind], kind))


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_files_of_every_kind_import_back(client: feedkit.Client, tmp_path: Path,
                                         suffix: str) -> None:  # fmt: skip
    out = tmp_path / f"users.{suffix}"
    count, mapping_path = export_kind(client, "user", out, progress=False)
    assert count == 2 and (mapping_path is None) == (suffix == "parquet")
    mapping = (feedkit.Mapping.identity(out, kind="user") if mapping_path is None
               else feedkit.Mapping.from_toml(mapping_path))  # fmt: skip
    with feedkit.connect(db=tmp_path / "copy.db") as fresh:
        assert feedkit.import_rows(fresh, out, mapping, progress=False).ok
        again = feedkit.users_to_dataframe(fresh, progress=False)
    first = feedkit.users_to_dataframe(client, progress=False)
    pd.testing.assert_frame_equal(comparable(again, "user"), comparable(first, "user"))
    if suffix == "parquet":
        assert pq.read_schema(out).field("custom.mixed").metadata  # marked as JSON text


def test_export_kind_refuses_what_the_kind_does_not_take(
    client: feedkit.Client, tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match="user exports take none"):
        export_kind(client, "user", tmp_path / "u.csv", activity_id="a1")
    with pytest.raises(UsageError, match=r"\.parquet or \.csv"):
        export_kind(client, "follow", tmp_path / "f.jsonl")
    with pytest.raises(UsageError, match="kinds are"):
        export_kind(client, "feed", tmp_path / "f.csv")
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith("source.db")]
