"""Answers spliced from stored rows equal the protocol's activity objects, member by member.

The oracle below builds each activity as PROTOCOL.md describes it, from the record alone;
``Answer`` builds the same JSON from the stored row's bytes (encoded columns, the doc as it
is stored, users rendered once per answer). Both are decoded and compared whole.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from feedkit.server.render import USER_DEFAULTS, Answer, user_response
from feedkit.server.store import record_row, row_to_record

NOW = 1_800_000_000_000_000_000


def expected(rec: dict[str, Any], users: dict[str, dict[str, Any]], parent: bool = True) -> Any:
    """An activity object as the protocol answers it, made from the record directly."""
    out: dict[str, Any] = {
        "id": rec["id"],
        "type": rec["type"],
        "feeds": rec.get("feeds") or [],
        "user": user_response(rec["user_id"], users, NOW),
        "visibility": rec.get("visibility") or "public",
        "restrict_replies": rec.get("restrict_replies") or "everyone",
        "attachments": rec.get("attachments") or [],
        "custom": rec.get("custom") or {},
        "search_data": rec.get("search_data") or {},
        "filter_tags": rec.get("filter_tags") or [],
        "interest_tags": rec.get("interest_tags") or [],
        "mentioned_users": [
            user_response(u, users, NOW) for u in rec.get("mentioned_user_ids") or ()
        ],
        "comments": [], "latest_reactions": [], "own_bookmarks": [], "own_reactions": [],
        "reaction_groups": {}, "collections": {}, "bookmark_count": 0, "comment_count": 0,
        "reaction_count": 0, "share_count": rec.get("share_count") or 0,
        "popularity": rec.get("popularity") or 0, "score": 0.0, "hidden": False,
        "preview": False, "created_at": rec["created_at"], "updated_at": rec["updated_at"],
    }  # fmt: skip
    for key in ("text", "visibility_tag", "location", "expires_at", "deleted_at", "edited_at",
                "poll_id", "parent_id"):  # fmt: skip
        if rec.get(key) is not None:
            out[key] = rec[key]
    return out


ids = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | ids,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ids, inner, max_size=3),
    max_leaves=8,
)  # fmt: skip
times = st.integers(0, 2**62)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    optional = st.none() | ids
    return {
        "rid": draw(st.integers(1, 10**6)),
        "id": draw(ids),
        "type": draw(ids),
        "user_id": draw(st.sampled_from(["alice", "bob", "ghost"])),
        "visibility": draw(st.sampled_from(["public", "private", "tag"])),
        "visibility_tag": draw(optional),
        "parent_id": None,
        "expires_at": draw(st.none() | times),
        "deleted_at": draw(st.none() | times),
        "created_at": draw(times),
        "updated_at": draw(times),
        "share_count": draw(st.integers(0, 10**6)),
        "popularity": draw(st.integers(0, 10**6)),
        "text": draw(st.none() | st.text(max_size=20)),
        "feeds": draw(st.lists(ids.map(lambda s: f"user:{s}"), max_size=3)),
        "attachments": draw(st.lists(st.fixed_dictionaries(
            {"type": ids, "custom": st.dictionaries(ids, json_values, max_size=2)},
            optional={"image_url": ids, "title": st.text(max_size=5)}), max_size=2)),
        "custom": draw(st.dictionaries(ids, json_values, max_size=4)),
        "restrict_replies": draw(st.sampled_from(["everyone", "people_i_follow", "nobody"])),
        "location": draw(st.none() | st.fixed_dictionaries(
            {"lat": st.floats(-90, 90), "lng": st.floats(-180, 180)})),
        "mentioned_user_ids": draw(st.lists(st.sampled_from(["alice", "bob", "ghost"]),
                                            max_size=3)),
        "poll_id": draw(optional),
        "search_data": draw(st.dictionaries(ids, json_values, max_size=2)),
        "filter_tags": draw(st.lists(ids, max_size=3)),
        "interest_tags": draw(st.lists(ids, max_size=2)),
        "edited_at": draw(st.none() | times),
    }  # fmt: skip


USERS: dict[str, dict[str, Any]] = {
    "alice": {"id": "alice", "name": "Alice", "teams": ["red"], "custom": {"k": [1, None]},
              "created_at": 5, "updated_at": 7},
    "bob": {"id": "bob", "image": "https://i/b.png", "role": "admin", "created_at": 1,
            "updated_at": 2},
}  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(records(), st.none() | records())
def test_spliced_activity_equals_the_protocol_object(
    rec: dict[str, Any], parent: dict[str, Any] | None
) -> None:
    parents = {}
    if parent is not None:
        rec["parent_id"] = parent["id"]
        parents[parent["id"]] = record_row(parent)
    answer = Answer(USERS, parents, NOW)
    got = orjson.loads(orjson.dumps({"activities": [answer.activity(record_row(rec))]}))
    want = expected(rec, USERS)
    if parent is not None:
        want["parent"] = expected(parent, USERS)
    assert got == {"activities": [want]}


@settings(max_examples=200, deadline=None)
@given(records())
def test_a_stored_row_reads_back_as_its_record(rec: dict[str, Any]) -> None:
    assert row_to_record(record_row(rec)) == rec


def test_each_user_is_rendered_once_per_answer() -> None:
    answer = Answer(USERS, {}, NOW)
    assert answer.user("alice") is answer.user("alice")
    ghost = orjson.loads(answer.user("ghost"))  # no stored user: the defaults, created now
    assert ghost == {**USER_DEFAULTS, "id": "ghost", "created_at": NOW, "updated_at": NOW}
