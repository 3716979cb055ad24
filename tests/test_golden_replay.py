"""Replay the SDK's own recorded requests (golden lines 1-19) against the live server.

Each parametrized case starts a fresh server, replays every earlier golden line in file order
(plus a few extra requests that create prerequisites the recording took for granted), then
replays its own line byte for byte: same method, same already-percent-encoded path, same query
(``api_key`` swapped for the live server's), ``raw_body`` as the body and a freshly signed
server-side JWT. The response must be one the SDK accepts: it is parsed with the SDK's own
``ResponseParserMixin._parse_response`` into the model named by ``sdk_result["data_type"]``.

The recorded ``response_body`` values came from a recording stub and are not an oracle (e.g.
line 8 echoes the still-encoded id ``act%2Fwith%3Aodd%20chars``, line 7 returns ``text: null``);
the expectations below come from PROTOCOL.md, the OpenAPI spec and the request itself.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import getstream.models as gm
import httpx
import jwt
import pytest
from getstream.base import ResponseParserMixin
from getstream.exceptions import StreamApiException

if TYPE_CHECKING:
    from conftest import LiveServer

GOLDEN_PATH = Path(__file__).resolve().parent / "reference" / "sdk-golden-requests.jsonl"

GOLDEN: list[dict[str, Any]] = [
    json.loads(line) for line in GOLDEN_PATH.read_text(encoding="utf-8").splitlines() if line
][:19]
LABELS = [g["label"] for g in GOLDEN]

# PROTOCOL.md: keys an activity / a user object in a response always carries.
ACTIVITY_KEYS = [
    "id",
    "type",
    "feeds",
    "text",
    "user",
    "visibility",
    "restrict_replies",
    "attachments",
    "custom",
    "search_data",
    "filter_tags",
    "interest_tags",
    "mentioned_users",
    "comments",
    "latest_reactions",
    "own_bookmarks",
    "own_reactions",
    "reaction_groups",
    "collections",
    "bookmark_count",
    "comment_count",
    "reaction_count",
    "share_count",
    "popularity",
    "score",
    "hidden",
    "preview",
    "created_at",
    "updated_at",
]
USER_KEYS = [
    "id",
    "role",
    "language",
    "banned",
    "online",
    "invisible",
    "shadow_banned",
    "blocked_user_ids",
    "teams",
    "custom",
    "created_at",
    "updated_at",
]
ERROR_KEYS = ("code", "message", "StatusCode", "duration", "more_info", "details")

# Chat-only members of FullUserResponse that a feeds server has no data for; everything else the
# SDK models mark required must be present.
CHAT_ONLY_FIELDS = {
    ("FullUserResponse", k)
    for k in [
        "total_unread_count",
        "unread_channels",
        "unread_count",
        "unread_threads",
        "channel_mutes",
        "devices",
        "mutes",
    ]
}

NS_2000 = 946_684_800 * 10**9
NS_2100 = 4_102_444_800 * 10**9
NS_2030 = 1_893_456_000 * 10**9
NS_2031 = 1_924_992_000 * 10**9

# Lines whose recorded request carries a pagination cursor the recording stub made up
# ("cursor-next-abc", "cursor-next-xyz"). Our server never issued them, so it may legitimately
# answer 400. The line is sent once as recorded (accepted or a well-formed 400 are both fine)
# and then replayed without the made-up cursor for the real checks.
BOGUS_CURSOR_LINES = {"query_activities", "get_or_create_feed_paginated"}


# --------------------------------------------------------------------------------------------
# sending
# --------------------------------------------------------------------------------------------


class Replayer:
    def __init__(self, server: LiveServer, http: httpx.Client) -> None:
        self.server = server
        self.http = http

    def headers(self, recorded: dict[str, str] | None = None) -> dict[str, str]:
        skip = {"host", "content-length", "authorization", "connection", "x-client-request-id"}
        out = {k: v for k, v in (recorded or {}).items() if k.lower() not in skip}
        out.setdefault("stream-auth-type", "jwt")
        out.setdefault("X-Stream-Client", "stream-python-client-7.0.0")
        # a fresh server-side token, made the way the SDK makes it: HS256 over {}
        out["Authorization"] = jwt.encode({}, self.server.api_secret, algorithm="HS256")
        out["x-client-request-id"] = str(uuid.uuid4())
        return out

    def query(self, raw_query: str) -> str:
        parts = []
        for pair in raw_query.split("&") if raw_query else []:
            name = pair.split("=", 1)[0]
            parts.append(f"api_key={self.server.api_key}" if name == "api_key" else pair)
        if not any(p.startswith("api_key=") for p in parts):
            parts.insert(0, f"api_key={self.server.api_key}")
        return "&".join(parts)

    def send_line(self, line: dict[str, Any], raw_body: str | None = None) -> httpx.Response:
        body = line["raw_body"] if raw_body is None else raw_body
        url = f"{self.server.base_url}{line['path']}?{self.query(line['raw_query'])}"
        return self.http.request(
            line["method"],
            url,
            content=body.encode("utf-8") if body else None,
            headers=self.headers(line["headers"]),
        )

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        headers = self.headers()
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(body, separators=(",", ":")).encode()
        url = f"{self.server.base_url}{path}?api_key={self.server.api_key}"
        resp = self.http.request(method, url, content=content, headers=headers)
        assert resp.status_code < 399, f"prerequisite {method} {path} failed: {resp.text}"
        return resp


def without_cursor(line: dict[str, Any]) -> str:
    body = {k: v for k, v in json.loads(line["raw_body"]).items() if k not in ("next", "prev")}
    return json.dumps(body, separators=(",", ":"))


def add(r: Replayer, **activity: Any) -> None:
    r.api("POST", "/api/v2/feeds/activities", {"type": "post", "user_id": "alice", **activity})


def make_follow_feeds(r: Replayer) -> None:
    r.api("POST", "/api/v2/feeds/feed_groups/timeline/feeds/alice", {"user_id": "alice"})
    r.api("POST", "/api/v2/feeds/feed_groups/user/feeds/bob", {"user_id": "bob"})


# Extra requests run just before the golden line of that label, so it meets a meaningful state.
PREREQUISITES: dict[str, Callable[[Replayer], None]] = {
    # the feed read should have an activity in it to check
    "get_or_create_feed": lambda r: add(r, id="pre-hello", feeds=["user:alice"], text="hello"),
    # line 5 names parent_id="parent-1"
    "add_activity_all_fields": lambda r: add(r, id="parent-1", feeds=["user:alice"], text="p"),
    # line 8 reads this id
    "get_activity_with_params": lambda r: add(
        r, id="act/with:odd chars", feeds=["user:alice"], text="odd"
    ),
    # line 16 deletes batch-1 (line 6) and batch-2, which no earlier line creates
    "delete_activities_batch": lambda r: add(r, id="batch-2", feeds=["user:alice"], text="b2"),
    # line 17 follows between these feeds; make their existence explicit
    "follow": make_follow_feeds,
}


def assert_error_envelope(resp: httpx.Response) -> None:
    data = resp.json()
    missing = [k for k in ERROR_KEYS if k not in data]
    assert not missing, f"error response lacks {missing}: {resp.text}"
    assert data["StatusCode"] == resp.status_code
    with pytest.raises(StreamApiException) as exc:
        ResponseParserMixin()._parse_response(resp, gm.DeleteActivityResponse)
    assert exc.value.status_code == resp.status_code
    assert exc.value.api_error is not None


def replay_to(r: Replayer, index: int) -> httpx.Response:
    """Replay golden lines 0..index-1 as setup, then line ``index``; return its response."""
    for i, line in enumerate(GOLDEN[: index + 1]):
        prerequisite = PREREQUISITES.get(line["label"])
        if prerequisite is not None:
            prerequisite(r)
        if line["label"] in BOGUS_CURSOR_LINES:
            if i == index:
                as_recorded = r.send_line(line)
                if as_recorded.status_code >= 399:
                    assert as_recorded.status_code == 400, as_recorded.text
                    assert_error_envelope(as_recorded)
            resp = r.send_line(line, raw_body=without_cursor(line))
        else:
            resp = r.send_line(line)
        if i < index:
            assert resp.status_code < 399, (
                f"setup replay of earlier line {line['label']!r} failed: "
                f"{resp.status_code} {resp.text[:500]}"
            )
    return resp


@pytest.fixture
def replayer(live_server: LiveServer) -> Iterator[Replayer]:
    with httpx.Client(timeout=15.0) as http:
        yield Replayer(live_server, http)


# --------------------------------------------------------------------------------------------
# model-directed checks
# --------------------------------------------------------------------------------------------


_HINTS: dict[type, dict[str, Any]] = {}


def hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls, globalns=vars(gm))
    return _HINTS[cls]


def json_name(f: dataclasses.Field[Any]) -> str:
    meta = f.metadata.get("dataclasses_json", {})
    name = meta.get("field_name", f.name)
    return str(name)


def strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


@dataclasses.dataclass
class Findings:
    required: list[str] = dataclasses.field(default_factory=list)
    protocol: list[str] = dataclasses.field(default_factory=list)
    timestamps: list[str] = dataclasses.field(default_factory=list)
    activities: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def check_object(cls: type, data: Any, path: str, out: Findings) -> None:
    if not isinstance(data, dict):
        out.required.append(f"{path}: expected a JSON object for {cls.__name__}, got {data!r}")
        return
    if cls is gm.ActivityResponse:
        out.activities.append(data)
        missing = [k for k in ACTIVITY_KEYS if k not in data]
        if missing:
            out.protocol.append(f"{path}: activity lacks {missing}")
    if cls in (gm.UserResponse, gm.FullUserResponse):
        missing = [k for k in USER_KEYS if k not in data]
        if missing:
            out.protocol.append(f"{path}: user lacks {missing}")
    for f in dataclasses.fields(cls):
        key = json_name(f)
        present = data.get(key) is not None
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and not present and (cls.__name__, key) not in CHAT_ONLY_FIELDS:
            out.required.append(f"{path}.{key} (required by {cls.__name__}) is missing or null")
        if present:
            check_value(hints(cls)[f.name], data[key], f"{path}.{key}", out)


def check_value(tp: Any, value: Any, path: str, out: Findings) -> None:
    tp = strip_optional(tp)
    origin = typing.get_origin(tp)
    if tp is datetime:
        if isinstance(value, bool) or not isinstance(value, int):
            out.timestamps.append(f"{path}={value!r} is not an integer of nanoseconds")
        elif not NS_2000 < value < NS_2100:
            out.timestamps.append(f"{path}={value!r} is not nanoseconds of a 2000-2100 instant")
    elif isinstance(tp, type) and dataclasses.is_dataclass(tp):
        check_object(tp, value, path, out)
    elif origin is list and isinstance(value, list):
        (item_tp,) = typing.get_args(tp)
        for i, item in enumerate(value):
            if item is not None:
                check_value(item_tp, item, f"{path}[{i}]", out)
    elif origin is dict and isinstance(value, dict):
        _, value_tp = typing.get_args(tp)
        for k, item in value.items():
            if item is not None:
                check_value(value_tp, item, f"{path}.{k}", out)


def iter_datetimes(obj: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(obj, datetime):
        yield path, obj
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from iter_datetimes(getattr(obj, f.name), f"{path}.{f.name}")
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            yield from iter_datetimes(item, f"{path}[{i}]")
    elif isinstance(obj, dict):
        for k, item in obj.items():
            yield from iter_datetimes(item, f"{path}.{k}")


# --------------------------------------------------------------------------------------------
# per-line expectations (from the request and PROTOCOL.md, not the recorded stub response)
# --------------------------------------------------------------------------------------------


def _ids(acts: list[dict[str, Any]]) -> list[str]:
    return [a["id"] for a in acts]


def _newest_first(acts: list[dict[str, Any]]) -> bool:
    times = [a["created_at"] for a in acts]
    return times == sorted(times, reverse=True)


def _echoes_request(act: dict[str, Any], sent: dict[str, Any]) -> None:
    assert act["type"] == sent["type"]
    assert act["feeds"] == sent["feeds"]
    assert act["text"] == sent.get("text")
    assert act["user"]["id"] == sent["user_id"]
    assert act["custom"] == sent.get("custom", {})
    assert act["attachments"] == sent.get("attachments", [])
    if "id" in sent:
        assert act["id"] == sent["id"]
    else:
        uuid.UUID(act["id"])


def expect(label: str, body: dict[str, Any], sent: dict[str, Any] | None, r: Replayer) -> None:
    sent = sent or {}
    if label == "upsert_users":
        assert body["users"]["alice"]["name"] == "Alice"
        assert body["users"]["bob"]["name"] == "Bob"
        assert body["users"]["bob"]["custom"] == {"tier": "gold"}
    elif label in ("get_or_create_feed", "get_or_create_feed_paginated"):
        assert body["feed"]["feed"] == "user:alice"
        assert body["feed"]["group_id"] == "user"
        assert body["feed"]["id"] == "alice"
        assert "pre-hello" in _ids(body["activities"])
        assert all("user:alice" in a["feeds"] for a in body["activities"])
        assert _newest_first(body["activities"])
        assert len(body["activities"]) <= sent.get("limit", 100)
    elif label in ("add_activity_post", "add_activity_video_attachment"):
        _echoes_request(body["activity"], sent)
    elif label == "add_activity_all_fields":
        act = body["activity"]
        _echoes_request(act, sent)
        for key in ("visibility", "visibility_tag", "restrict_replies", "filter_tags"):
            assert act[key] == sent[key], key
        for key in ("interest_tags", "search_data", "location"):
            assert act[key] == sent[key], key
        assert act["expires_at"] == NS_2030
        assert _ids(act["mentioned_users"]) == ["bob"]
    elif label == "upsert_activities":
        acts = body["activities"]
        assert len(acts) == 2
        _echoes_request(acts[0], sent["activities"][0])
        _echoes_request(acts[1], sent["activities"][1])
    elif label == "get_activity":
        assert body["activity"]["id"] == "act-explicit-1"
        assert body["activity"]["text"] == "@bob see #tag"
        assert body["activity"]["feeds"] == ["user:alice", "timeline:alice"]
    elif label == "get_activity_with_params":
        assert body["activity"]["id"] == "act/with:odd chars"
        assert body["activity"]["text"] == "odd"
    elif label == "update_activity_full":
        act = body["activity"]
        assert act["text"] == "edited text"
        assert act["custom"] == {"color": "red"}
        assert act["expires_at"] == NS_2031
        assert act["filter_tags"] == []
        assert act["interest_tags"] == []
        assert act["mentioned_users"] == []
        assert act["search_data"] == {}
        assert act.get("location") is None
        assert act.get("visibility_tag") is None
    elif label == "update_activity_partial_set":
        assert body["activity"]["text"] == "partially edited"
        assert body["activity"]["custom"] == {"color": "green", "size": 3, "mood": "happy"}
        assert body["activity"]["expires_at"] == NS_2031
    elif label == "update_activity_partial_unset":
        assert body["activity"]["text"] == "partially edited"
        assert body["activity"]["custom"] == {"size": 3, "mood": "happy"}
    elif label == "query_activities":
        acts = body["activities"]
        assert all(a["type"] == "post" and a["user"]["id"] == "alice" for a in acts)
        assert _newest_first(acts)
        # alice's posts at this point: line 3's (generated id) and these five
        expected = {"pre-hello", "parent-1", "act-explicit-1", "act/with:odd chars", "batch-1"}
        assert expected <= set(_ids(acts)), _ids(acts)
        assert len(acts) == 6, _ids(acts)
    elif label in ("delete_activity_soft", "delete_activity_hard"):
        gone = r.http.get(
            f"{r.server.base_url}/api/v2/feeds/activities/act-explicit-1"
            f"?api_key={r.server.api_key}",
            headers=r.headers(),
        )
        assert gone.status_code == 404, gone.text
        assert_error_envelope(gone)
    elif label == "delete_activities_batch":
        assert sorted(body["deleted_ids"]) == ["batch-1", "batch-2"]
    elif label == "follow":
        follow = body["follow"]
        assert follow["source_feed"]["feed"] == "timeline:alice"
        assert follow["target_feed"]["feed"] == "user:bob"


# --------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------


def parse_like_the_sdk(resp: httpx.Response, data_type: str) -> Any:
    model = getattr(gm, data_type)
    return ResponseParserMixin()._parse_response(resp, model).data


@pytest.mark.parametrize("index", range(len(GOLDEN)), ids=LABELS)
def test_replay_is_accepted_by_sdk(replayer: Replayer, index: int) -> None:
    line = GOLDEN[index]
    resp = replay_to(replayer, index)
    assert resp.status_code < 399, f"{resp.status_code}: {resp.text[:1000]}"

    body = resp.json()
    assert isinstance(body, dict)
    assert isinstance(body.get("duration"), str), f"no duration string: {resp.text[:300]}"
    assert body["duration"]

    data = parse_like_the_sdk(resp, line["sdk_result"]["data_type"])
    for path, value in iter_datetimes(data, line["sdk_result"]["data_type"]):
        assert value.tzinfo is not None, f"{path} is naive: {value!r}"
        assert value.year > 2000, f"{path} parsed as {value!r} (seconds sent as nanoseconds?)"

    found = Findings()
    check_object(getattr(gm, line["sdk_result"]["data_type"]), body, "$", found)
    assert not found.timestamps, "\n".join(found.timestamps)
    assert not found.protocol, "\n".join(found.protocol)
    for act in found.activities:
        assert isinstance(act["user"], dict), "activity.user must be an object"
        assert "user_id" not in act or act["user"]["id"] == act["user_id"]

    sent = json.loads(line["raw_body"]) if line["raw_body"] else None
    expect(line["label"], body, sent, replayer)


@pytest.mark.parametrize("index", range(len(GOLDEN)), ids=LABELS)
def test_replay_has_every_field_the_sdk_model_requires(replayer: Replayer, index: int) -> None:
    """With ``infer_missing=True`` the SDK silently turns a missing required field into None;
    user code then crashes on e.g. ``resp.data.follow.source_feed``. The spec marks them
    required, so the server must send them."""
    line = GOLDEN[index]
    resp = replay_to(replayer, index)
    assert resp.status_code < 399, f"{resp.status_code}: {resp.text[:1000]}"
    found = Findings()
    check_object(getattr(gm, line["sdk_result"]["data_type"]), resp.json(), "$", found)
    assert not found.required, "\n".join(found.required)
