"""Every activity limit, end to end: the client refuses before sending, the server refuses raw
requests with the protocol's 400 body, and the store is unchanged afterwards.

The client side runs over ``httpx.MockTransport`` with a handler that records every request, so
"nothing was sent" is a count of zero. The server side is one ``feedkit serve`` process for the
module (refusals do not change it; each test compares the store before and after).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from _serve import (
    ACTIVITIES,
    Server,
    assert_error_body,
    get_activity,
    new_secret,
    post_activity,
    running,
    table_counts,
)

import feedkit
from feedkit.schema import FIELDS, MAX_ACTIVITY_DEPTH, MAX_NESTING, PARTIAL_SET_FIELDS, Reason

DROP = object()  # a patch value that removes the key
LONG = "x" * 256


@dataclass(frozen=True)
class Case:
    """One violation: patch a valid activity, expect ``reason`` at ``path``.

    ``wire`` is False when the value cannot travel as JSON (NaN, a naive datetime) or when only
    the strict client refuses it (unknown fields: the server is lenient, as the hosted one is).
    """

    id: str
    patch: dict[str, Any]
    path: str
    reason: Reason
    wire: bool = True

    def activity(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "post",
            "feeds": ["user:alice"],
            "user_id": "alice",
            "text": "limit test",
        }
        for key, value in self.patch.items():
            if value is DROP:
                out.pop(key)
            else:
                out[key] = value
        return out

    @property
    def root(self) -> str:
        return self.path.split(".")[0].split("[")[0]


CASES = [
    Case("id-too-long", {"id": LONG}, "id", Reason.TOO_LONG),
    Case("id-empty", {"id": ""}, "id", Reason.EMPTY),
    Case("type-too-long", {"type": LONG}, "type", Reason.TOO_LONG),
    Case("type-empty", {"type": ""}, "type", Reason.EMPTY),
    Case("type-missing", {"type": DROP}, "type", Reason.REQUIRED),
    Case("type-not-string", {"type": 5}, "type", Reason.TYPE),
    Case("user_id-too-long", {"user_id": LONG}, "user_id", Reason.TOO_LONG),
    Case("user_id-empty", {"user_id": ""}, "user_id", Reason.EMPTY),
    Case("parent_id-too-long", {"parent_id": LONG}, "parent_id", Reason.TOO_LONG),
    Case("parent_id-empty", {"parent_id": ""}, "parent_id", Reason.EMPTY),
    Case("poll_id-too-long", {"poll_id": LONG}, "poll_id", Reason.TOO_LONG),
    Case("text-not-string", {"text": 5}, "text", Reason.TYPE),
    Case("feeds-missing", {"feeds": DROP}, "feeds", Reason.REQUIRED),
    Case("feeds-empty", {"feeds": []}, "feeds", Reason.TOO_FEW),
    Case("feeds-26", {"feeds": [f"user:u{i}" for i in range(26)]}, "feeds", Reason.TOO_MANY),
    Case("feeds-no-colon", {"feeds": ["user:ok", "nocolon"]}, "feeds[1]", Reason.FEED_FORMAT),
    Case("feeds-space", {"feeds": ["user:al ice"]}, "feeds[0]", Reason.FEED_FORMAT),
    Case("feeds-no-group", {"feeds": [":alice"]}, "feeds[0]", Reason.FEED_FORMAT),
    Case("feeds-string", {"feeds": "user:alice"}, "feeds", Reason.TYPE),
    Case("feeds-item-int", {"feeds": [7]}, "feeds[0]", Reason.TYPE),
    Case("filter_tags-51", {"filter_tags": ["t"] * 51}, "filter_tags", Reason.TOO_MANY),
    Case("filter_tags-string", {"filter_tags": "news"}, "filter_tags", Reason.TYPE),
    Case("interest_tags-string", {"interest_tags": "news"}, "interest_tags", Reason.TYPE),
    Case(
        "mentions-26",
        {"mentioned_user_ids": [f"u{i}" for i in range(26)]},
        "mentioned_user_ids",
        Reason.TOO_MANY,
    ),
    Case(
        "mention-too-long",
        {"mentioned_user_ids": ["bob", LONG]},
        "mentioned_user_ids[1]",
        Reason.TOO_LONG,
    ),
    Case("visibility-choice", {"visibility": "secret"}, "visibility", Reason.CHOICE),
    Case(
        "visibility_tag-33",
        {"visibility": "tag", "visibility_tag": "t" * 33},
        "visibility_tag",
        Reason.TOO_LONG,
    ),
    Case("visibility_tag-missing", {"visibility": "tag"}, "visibility_tag", Reason.DEPENDENCY),
    Case(
        "visibility_tag-empty",
        {"visibility": "tag", "visibility_tag": ""},
        "visibility_tag",
        Reason.DEPENDENCY,
    ),
    Case("restrict_replies-choice", {"restrict_replies": "all"}, "restrict_replies", Reason.CHOICE),
    Case("lat-over", {"location": {"lat": 90.0001, "lng": 0}}, "location.lat", Reason.RANGE),
    Case("lat-under", {"location": {"lat": -91, "lng": 0}}, "location.lat", Reason.RANGE),
    Case("lng-over", {"location": {"lat": 0, "lng": 180.0001}}, "location.lng", Reason.RANGE),
    Case("lng-under", {"location": {"lat": 0, "lng": -181}}, "location.lng", Reason.RANGE),
    Case("lat-missing", {"location": {"lng": 0}}, "location.lat", Reason.REQUIRED),
    Case("lng-missing", {"location": {"lat": 0}}, "location.lng", Reason.REQUIRED),
    Case("lat-bool", {"location": {"lat": True, "lng": 0}}, "location.lat", Reason.TYPE),
    Case("lng-string", {"location": {"lat": 0, "lng": "4.9"}}, "location.lng", Reason.TYPE),
    Case(
        "lat-nan",
        {"location": {"lat": math.nan, "lng": 0}},
        "location.lat",
        Reason.TYPE,
        wire=False,
    ),
    Case(
        "lng-inf",
        {"location": {"lat": 0, "lng": math.inf}},
        "location.lng",
        Reason.TYPE,
        wire=False,
    ),
    Case("location-string", {"location": "52,4"}, "location", Reason.TYPE),
    Case(
        "expires-naive-datetime",
        {"expires_at": datetime(2030, 1, 1)},
        "expires_at",
        Reason.TIMEZONE,
        wire=False,
    ),
    Case("expires-no-offset", {"expires_at": "2030-01-01T00:00:00"}, "expires_at", Reason.TIMEZONE),
    Case("expires-garbage", {"expires_at": "garbage"}, "expires_at", Reason.TIME_FORMAT),
    Case(
        "expires-bad-date", {"expires_at": "2030-13-45T00:00:00Z"}, "expires_at", Reason.TIME_FORMAT
    ),
    Case("expires-bool", {"expires_at": True}, "expires_at", Reason.TYPE),
    Case("attachments-string", {"attachments": "x"}, "attachments", Reason.TYPE),
    Case("attachment-not-object", {"attachments": ["x"]}, "attachments[0]", Reason.TYPE),
    Case(
        "attachment-url-int",
        {"attachments": [{"image_url": 5}]},
        "attachments[0].image_url",
        Reason.TYPE,
    ),
    Case(
        "attachment-custom-list",
        {"attachments": [{"custom": []}]},
        "attachments[0].custom",
        Reason.TYPE,
    ),
    Case("custom-list", {"custom": ["a"]}, "custom", Reason.TYPE),
    Case("custom-string", {"custom": "x"}, "custom", Reason.TYPE),
    Case("search_data-list", {"search_data": [1]}, "search_data", Reason.TYPE),
    Case("unknown-field", {"txt": "typo"}, "txt", Reason.UNKNOWN_FIELD, wire=False),
]
WIRE_CASES = [c for c in CASES if c.wire]
# Violations a partial update's ``set`` can carry: settable fields, one value each.
PARTIAL_CASES = [
    c
    for c in WIRE_CASES
    if c.root in PARTIAL_SET_FIELDS
    and c.reason not in (Reason.REQUIRED, Reason.DEPENDENCY)
    and len(c.patch) == 1
]


def ids(cases: list[Case]) -> list[str]:
    return [c.id for c in cases]


def has_error(exc: feedkit.ValidationError, path: str, reason: Reason) -> bool:
    return any(e.field == path and e.code is reason for e in exc.errors)


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------


@dataclass
class Recorder:
    """A MockTransport client whose handler records every request it is sent."""

    client: feedkit.Client
    calls: list[httpx.Request]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(500, json={"message": "the test expected no request"})

    client = feedkit.Client(
        base_url="http://x",
        api_key="k",
        api_secret="s" * 32,
        transport=httpx.MockTransport(handler),
        retry=feedkit.Retry(attempts=1),
    )
    try:
        yield Recorder(client, calls)
    finally:
        client.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db_path = tmp_path_factory.mktemp("limits") / "limits.db"
    with running(db_path, api_secret=new_secret()) as srv:
        yield srv


@pytest.fixture(scope="module")
def http(server: Server) -> Iterator[httpx.Client]:
    """Raw requests with the server token; stateless, so one per module (a new httpx client
    costs tens of milliseconds of TLS set-up)."""
    with server.http() as client:
        yield client


@pytest.fixture
def fk(server: Server) -> Iterator[feedkit.Client]:
    with server.client(retry=feedkit.Retry(attempts=1)) as client:
        yield client


@pytest.fixture
def unchanged(server: Server) -> Iterator[None]:
    """The test must leave every table of the store with the row counts it found."""
    before = table_counts(server.db_path)
    yield
    assert table_counts(server.db_path) == before


def seed(http: httpx.Client) -> dict[str, Any]:
    return post_activity(
        http,
        {
            "id": f"seed-{uuid.uuid4()}",
            "type": "post",
            "feeds": ["user:alice"],
            "user_id": "alice",
            "text": "original",
            "custom": {"keep": 1},
        },
    )


def assert_400_naming(response: httpx.Response, path: str) -> dict[str, Any]:
    body: dict[str, Any] = assert_error_body(response, 400, code=4)
    fields = body.get("exception_fields")
    assert isinstance(fields, dict) and path in fields, (path, body)
    assert isinstance(fields[path], str) and fields[path], body
    return body


# --------------------------------------------------------------------------------------------
# (a) the client refuses before sending
# --------------------------------------------------------------------------------------------


def test_every_case_breaks_one_declared_field() -> None:
    assert {c.root for c in CASES} - {"txt"} <= set(FIELDS)
    covered = {c.root for c in CASES}
    limited = {
        name
        for name, f in FIELDS.items()
        if f.max_length or f.max_items or f.min_items or f.choices or f.required
    }
    assert limited <= covered, limited - covered


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_client_add_refuses_before_sending(recorder: Recorder, case: Case) -> None:
    with pytest.raises(feedkit.ValidationError) as exc:
        recorder.client.add_activity(case.activity())
    assert recorder.calls == []
    assert has_error(exc.value, case.path, case.reason), exc.value.errors
    assert case.path in exc.value.fields
    assert case.path in str(exc.value)


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_client_batch_refuses_before_sending(recorder: Recorder, case: Case) -> None:
    good = [{"type": "post", "feeds": ["user:alice"], "id": f"g{i}"} for i in range(3)]
    with pytest.raises(feedkit.ValidationError) as exc:
        recorder.client.upsert_activities([*good, case.activity(), *good])
    assert recorder.calls == []
    assert has_error(exc.value, f"activities[3].{case.path}", case.reason), exc.value.errors


@pytest.mark.parametrize("case", PARTIAL_CASES, ids=ids(PARTIAL_CASES))
def test_client_partial_set_refuses_before_sending(recorder: Recorder, case: Case) -> None:
    ((name, value),) = case.patch.items()
    with pytest.raises(feedkit.ValidationError) as exc:
        recorder.client.update_activity_partial("a1", set={name: value})
    assert recorder.calls == []
    assert has_error(exc.value, f"set.{case.path}", case.reason), exc.value.errors


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_embedded_client_refuses_and_stores_nothing(case: Case) -> None:
    with feedkit.connect(":memory:") as client:
        with pytest.raises(feedkit.ValidationError) as exc:
            client.add_activity(case.activity())
        assert has_error(exc.value, case.path, case.reason), exc.value.errors
        assert len(client.query_activities(limit=100)) == 0


def test_client_batch_of_99_good_and_1_bad_sends_nothing(recorder: Recorder) -> None:
    items = [{"type": "post", "feeds": ["user:alice"], "id": f"b{i}"} for i in range(100)]
    items[57]["feeds"] = ["nocolon"]
    with pytest.raises(feedkit.ValidationError) as exc:
        recorder.client.upsert_activities(items)
    assert recorder.calls == []
    assert [(e.field, e.code) for e in exc.value.errors] == [
        ("activities[57].feeds[0]", Reason.FEED_FORMAT)
    ]


@pytest.mark.parametrize("name", ["type", "id", "user_id", "parent_id"])
def test_client_partial_set_of_a_non_settable_field_sends_nothing(
    recorder: Recorder, name: str
) -> None:
    with pytest.raises(feedkit.ValidationError) as exc:
        recorder.client.update_activity_partial("a1", set={name: "x"})
    assert recorder.calls == []
    assert has_error(exc.value, f"set.{name}", Reason.NOT_SETTABLE)


@pytest.mark.parametrize("name", ["text", "feeds", "visibility"])
def test_client_partial_unset_of_a_non_unsettable_field_sends_nothing(
    recorder: Recorder, name: str
) -> None:
    with pytest.raises(feedkit.ValidationError) as exc:
        recorder.client.update_activity_partial("a1", unset=[name])
    assert recorder.calls == []
    assert has_error(exc.value, f"unset.{name}", Reason.NOT_UNSETTABLE)


@pytest.mark.parametrize("limit", [101, -1])
def test_client_query_limit_out_of_range_sends_nothing(recorder: Recorder, limit: int) -> None:
    with pytest.raises(feedkit.ValidationError) as exc:
        recorder.client.query_activities({}, limit=limit)
    assert recorder.calls == []
    assert "limit" in exc.value.fields


# --------------------------------------------------------------------------------------------
# (b) the server refuses raw requests, and (c) the store is unchanged
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", WIRE_CASES, ids=ids(WIRE_CASES))
@pytest.mark.usefixtures("unchanged")
def test_server_refuses_add(http: httpx.Client, case: Case) -> None:
    assert_400_naming(http.post(ACTIVITIES, json=case.activity()), case.path)


@pytest.mark.parametrize("case", WIRE_CASES, ids=ids(WIRE_CASES))
@pytest.mark.usefixtures("unchanged")
def test_server_refuses_a_batch_with_one_bad_item(http: httpx.Client, case: Case) -> None:
    good = [
        {"type": "post", "feeds": ["user:alice"], "user_id": "alice", "id": f"never-{uuid.uuid4()}"}
        for _ in range(2)
    ]
    response = http.post(f"{ACTIVITIES}/batch", json={"activities": [*good, case.activity()]})
    assert_400_naming(response, f"activities[2].{case.path}")


@pytest.mark.parametrize("case", PARTIAL_CASES, ids=ids(PARTIAL_CASES))
def test_server_refuses_a_bad_partial_set(server: Server, http: httpx.Client, case: Case) -> None:
    before = seed(http)
    counts = table_counts(server.db_path)
    ((name, value),) = case.patch.items()
    response = http.patch(f"{ACTIVITIES}/{before['id']}", json={"set": {name: value}})
    assert_400_naming(response, f"set.{case.path}")
    assert get_activity(http, before["id"]) == before
    assert table_counts(server.db_path) == counts


def test_server_batch_of_99_good_and_1_bad_writes_nothing(
    server: Server, http: httpx.Client
) -> None:
    run = uuid.uuid4().hex
    items = [
        {"type": "post", "feeds": ["user:alice"], "user_id": "alice", "id": f"{run}-{i}"}
        for i in range(100)
    ]
    items[57]["feeds"] = ["nocolon"]
    before = table_counts(server.db_path)
    response = http.post(f"{ACTIVITIES}/batch", json={"activities": items})
    body = assert_400_naming(response, "activities[57].feeds[0]")
    assert list(body["exception_fields"]) == ["activities[57].feeds[0]"]
    assert table_counts(server.db_path) == before
    for i in (0, 56, 58, 99):
        assert http.get(f"{ACTIVITIES}/{run}-{i}").status_code == 404


@pytest.mark.parametrize("size", [0, 101])
@pytest.mark.usefixtures("unchanged")
def test_server_refuses_batch_sizes_outside_1_to_100(http: httpx.Client, size: int) -> None:
    items = [
        {"type": "post", "feeds": ["user:alice"], "user_id": "alice", "id": f"n-{uuid.uuid4()}"}
        for _ in range(size)
    ]
    assert_400_naming(http.post(f"{ACTIVITIES}/batch", json={"activities": items}), "activities")


@pytest.mark.usefixtures("unchanged")
def test_server_refuses_a_partial_batch_of_101(http: httpx.Client) -> None:
    changes = [{"activity_id": f"x{i}", "set": {"text": "t"}} for i in range(101)]
    response = http.patch(f"{ACTIVITIES}/batch/partial", json={"changes": changes})
    assert_400_naming(response, "changes")


@pytest.mark.usefixtures("unchanged")
def test_server_refuses_a_delete_batch_of_101(http: httpx.Client) -> None:
    response = http.post(f"{ACTIVITIES}/delete", json={"ids": [f"x{i}" for i in range(101)]})
    assert_400_naming(response, "ids")


@pytest.mark.parametrize(
    ("set_", "unset", "path"),
    [
        ({"type": "video"}, None, "set.type"),
        ({"id": "other"}, None, "set.id"),
        ({"user_id": "mallory"}, None, "set.user_id"),
        ({"parent_id": "p"}, None, "set.parent_id"),
        ({"text": "ok", "type": "video"}, None, "set.type"),
        (None, ["text"], "unset.text"),
        (None, ["feeds"], "unset.feeds"),
        (None, ["visibility"], "unset.visibility"),
        ({"visibility": "tag"}, None, "visibility_tag"),
        # found by schemathesis: a list or object in unset was a 500
        (None, [["text"]], "unset[0]"),
        (None, ["custom.a", {"x": 1}], "unset[1]"),
    ],
)
def test_server_refuses_a_partial_update_and_keeps_the_activity(
    server: Server,
    http: httpx.Client,
    set_: dict[str, Any] | None,
    unset: list[Any] | None,
    path: str,
) -> None:
    before = seed(http)
    counts = table_counts(server.db_path)
    body = {k: v for k, v in (("set", set_), ("unset", unset)) if v is not None}
    assert_400_naming(http.patch(f"{ACTIVITIES}/{before['id']}", json=body), path)
    assert get_activity(http, before["id"]) == before
    assert table_counts(server.db_path) == counts


def test_server_refuses_a_partial_batch_with_one_bad_change(
    server: Server, http: httpx.Client
) -> None:
    first, second = seed(http), seed(http)
    counts = table_counts(server.db_path)
    changes = [
        {"activity_id": first["id"], "set": {"text": "changed"}},
        {"activity_id": second["id"], "set": {"type": "video"}},
    ]
    response = http.patch(f"{ACTIVITIES}/batch/partial", json={"changes": changes})
    assert_400_naming(response, "changes[1].set.type")
    assert get_activity(http, first["id"]) == first
    assert get_activity(http, second["id"]) == second
    assert table_counts(server.db_path) == counts


QUERY_PATHS = [f"{ACTIVITIES}/query", "/api/v2/feeds/feed_groups/user/feeds/alice"]


@pytest.mark.parametrize("limit", [101, 1000, -1, 2.5, "10", True])
@pytest.mark.parametrize("path", QUERY_PATHS, ids=["query", "feed"])
def test_server_refuses_page_limits_outside_0_to_100(
    http: httpx.Client, path: str, limit: Any
) -> None:
    assert_400_naming(http.post(path, json={"limit": limit}), "limit")


@pytest.mark.parametrize("limit", [0, 1, 100])
def test_server_accepts_page_limits_0_to_100(http: httpx.Client, limit: int) -> None:
    response = http.post(f"{ACTIVITIES}/query", json={"limit": limit})
    assert response.status_code == 201, response.text


# --------------------------------------------------------------------------------------------
# exactly at the limit: accepted by the client and the server, stored as sent
# --------------------------------------------------------------------------------------------

AT_LIMIT: list[tuple[str, dict[str, Any]]] = [
    ("id-255", {"id": "i" * 255}),
    ("type-255", {"type": "t" * 255}),
    ("user_id-255", {"user_id": "u" * 255}),
    ("parent_id-255", {"parent_id": "p" * 255}),
    ("poll_id-255", {"poll_id": "q" * 255}),
    ("feeds-25", {"feeds": [f"user:f{i}" for i in range(25)]}),
    ("filter_tags-50", {"filter_tags": [f"t{i}" for i in range(50)]}),
    ("mentions-25x255", {"mentioned_user_ids": [f"{i:02d}" + "m" * 253 for i in range(25)]}),
    ("visibility_tag-32", {"visibility": "tag", "visibility_tag": "v" * 32}),
    ("location-max", {"location": {"lat": 90.0, "lng": 180.0}}),
    ("location-min", {"location": {"lat": -90.0, "lng": -180.0}}),
]


@pytest.mark.parametrize(("name", "fields"), AT_LIMIT, ids=[n for n, _ in AT_LIMIT])
def test_at_the_limit_is_accepted_and_stored(
    fk: feedkit.Client, name: str, fields: dict[str, Any]
) -> None:
    body = {"type": "post", "feeds": ["user:alice"], "user_id": "alice", **fields}
    body.setdefault("id", f"at-limit-{uuid.uuid4()}")
    added = fk.add_activity(body)
    stored = fk.get_activity(body["id"])
    assert stored == added
    for key, value in fields.items():
        if key == "user_id":
            assert stored.user_id == value
        elif key == "mentioned_user_ids":
            assert stored.mentioned_user_ids == value
        else:
            assert stored[key] == value, key


# --------------------------------------------------------------------------------------------
# JSON nesting and request paths (found by the hostile tests: both were 500s)
# --------------------------------------------------------------------------------------------


def _nested_body(activity_id: str, depth: int) -> bytes:
    """An activity body nested ``depth`` levels deep in all (custom holds the rest)."""
    inner = depth - 1  # the body is one level, the value of custom all the others
    value = '{"k":' * inner + "1" + "}" * inner
    return (
        f'{{"id":"{activity_id}","type":"post","feeds":["user:alice"],"user_id":"alice",'
        f'"custom":{value}}}'
    ).encode()


def test_server_takes_a_body_nested_to_the_limit_and_answers_it(http: httpx.Client) -> None:
    activity_id = f"deep-{uuid.uuid4()}"  # an activity may nest as deep as it could in a batch
    response = http.post(ACTIVITIES, content=_nested_body(activity_id, MAX_ACTIVITY_DEPTH))
    assert response.status_code == 201, response.text
    assert get_activity(http, activity_id)["custom"] == response.json()["activity"]["custom"]
    query = http.post(f"{ACTIVITIES}/query", json={"filter": {"id": activity_id}})
    assert [a["id"] for a in query.json()["activities"]] == [activity_id]


@pytest.mark.parametrize(
    ("depth", "named"),
    [(MAX_ACTIVITY_DEPTH + 1, "custom"), (MAX_NESTING + 1, "body"), (300, "body"),
     (1000, "body"), (5000, "body")],
)  # fmt: skip
@pytest.mark.usefixtures("unchanged")
def test_server_refuses_a_body_nested_past_the_limit(
    http: httpx.Client, depth: int, named: str
) -> None:
    activity_id = f"too-deep-{uuid.uuid4()}"
    assert_400_naming(http.post(ACTIVITIES, content=_nested_body(activity_id, depth)), named)
    assert http.get(f"{ACTIVITIES}/{activity_id}").status_code == 404


@pytest.mark.parametrize("segment", ["%FF", "%C3%28", "ok%ED%A0%80"])
@pytest.mark.usefixtures("unchanged")
def test_server_refuses_a_path_that_is_not_utf8(http: httpx.Client, segment: str) -> None:
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = http.request(method, f"{ACTIVITIES}/{segment}", json={})
        assert_400_naming(response, "path")


def test_ids_with_newlines_and_any_method_get_protocol_answers(http: httpx.Client) -> None:
    # Found by schemathesis: Starlette's route pattern does not match a percent-encoded
    # newline, so such a path got a text "Not Found" (the SDK fails on it with a KeyError),
    # and so did methods outside the route's list.
    odd = f"line\nbreak\r\t-{uuid.uuid4()}"
    added = post_activity(http, {"id": odd, "type": "post", "feeds": ["user:alice"],
                                 "user_id": "alice"})  # fmt: skip
    encoded = f"{ACTIVITIES}/{quote(odd, safe='')}"
    assert get_activity(http, quote(odd, safe="")) == added
    assert_error_body(http.get(f"{ACTIVITIES}/missing%0A"), 404, code=16)
    assert_error_body(http.request("OPTIONS", encoded), 405, code=4)
    assert_error_body(http.request("TRACE", "/no%0Asuch/endpoint"), 404, code=16)
