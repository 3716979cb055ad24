"""The client on a mock transport: the wire format, retries, errors and secrets."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import jwt
import pytest

import feedkit
from feedkit import Retry
from feedkit.errors import (
    APIError,
    AuthError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
    ValidationError,
)

SECRET = "client-test-secret-0123456789-abcdefghijklmnop"
ACTIVITY = {
    "id": "a1", "type": "post", "feeds": ["user:alice"], "user": {"id": "alice"},
    "created_at": 1_700_000_000_123_456_789, "updated_at": 1_700_000_000_123_456_789,
}  # fmt: skip


def error(status: int, code: int = 4, **extra: object) -> dict[str, object]:
    body = {"code": code, "message": f"status {status}", "StatusCode": status,
            "duration": "0.1ms", "more_info": "", "details": []}  # fmt: skip
    body.update(extra)
    return body


class Recorder:
    """A mock server: answers from a script and records every request."""

    def __init__(self, *answers: httpx.Response | Exception | Callable[..., object]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)  # type: ignore[return-value]
        return answer


def make(recorder: Recorder, attempts: int = 4) -> feedkit.Client:
    return feedkit.Client(
        "http://feeds.test", "key", SECRET, transport=httpx.MockTransport(recorder),
        retry=Retry(attempts=attempts, backoff=0.0),
    )  # fmt: skip


def ok(body: dict[str, object], status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={**body, "duration": "0.1ms"})


def test_request_shape_matches_the_sdk() -> None:
    rec = Recorder(ok({"activity": ACTIVITY}, 201))
    client = make(rec)
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    client.add_activity(type="post", feeds=["user:alice"], user_id="alice", text=None,
                        expires_at=expires, custom={"k": None, "n": 1})  # fmt: skip
    (req,) = rec.requests
    assert req.method == "POST" and req.url.path == "/api/v2/feeds/activities"
    assert str(req.url.query, "ascii").startswith("api_key=key")
    assert req.headers["stream-auth-type"] == "jwt"
    assert not req.headers["authorization"].startswith("Bearer")
    assert jwt.decode(req.headers["authorization"], SECRET, algorithms=["HS256"]) == {}
    body = json.loads(req.content)
    assert body == {"type": "post", "feeds": ["user:alice"], "user_id": "alice",
                    "expires_at": "2030-01-01T00:00:00Z", "custom": {"n": 1}}  # fmt: skip


def test_ids_are_percent_encoded_as_one_segment() -> None:
    rec = Recorder(ok({"activity": ACTIVITY}))
    make(rec).get_activity("act/with:odd chars", user_id="alice")
    raw = rec.requests[0].url.raw_path.decode()
    assert raw.startswith("/api/v2/feeds/activities/act%2Fwith%3Aodd%20chars?")
    assert "user_id=alice" in raw


def test_feed_group_and_id_are_each_one_segment() -> None:
    rec = Recorder(ok({"activities": []}))
    client = make(rec)
    client.get_or_create_feed("odd:group", "id:with/colon")
    client.read_feed("user:id:with:colons")
    paths = [r.url.raw_path.decode().split("?")[0] for r in rec.requests]
    assert paths == [
        "/api/v2/feeds/feed_groups/odd%3Agroup/feeds/id%3Awith%2Fcolon",
        "/api/v2/feeds/feed_groups/user/feeds/id%3Awith%3Acolons",
    ]


def test_result_reads_well() -> None:
    rec = Recorder(ok({"activity": {**ACTIVITY, "expires_at": 1_893_456_000_000_000_000}}))
    a = make(rec).get_activity("a1")
    assert a["created_at"] == 1_700_000_000_123_456_789  # raw value kept exactly
    assert a.created_at == datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC)
    assert a.expires_at.year == 2030 and a.user_id == "alice"
    assert "<table" in a._repr_html_()
    with pytest.raises(AttributeError):
        _ = a.nonexistent


def test_validation_refuses_before_sending() -> None:
    rec = Recorder(ok({}))
    client = make(rec)
    with pytest.raises(ValidationError) as err:
        client.add_activity(type="post", feeds=[], txt="typo")
    assert {e.field for e in err.value.errors} == {"feeds", "txt"}
    with pytest.raises(ValidationError) as err:
        client.upsert_activities([{"type": "post", "feeds": ["user:a"]}] * 3 + [{"type": "x"}])
    assert err.value.fields == {"activities[3].feeds": "is required"}
    with pytest.raises(ValidationError):
        client.update_activity_partial("a1", set={"type": "video"})
    with pytest.raises(ValidationError):
        client.add_activity(type="post", feeds=["user:a"], expires_at=datetime(2030, 1, 1))
    assert rec.requests == []


def test_upsert_splits_into_requests_of_100() -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["activities"]
        return ok({"activities": [{**ACTIVITY, "id": i["id"]} for i in items]}, 201)

    rec = Recorder(echo)
    out = make(rec).upsert_activities(
        {"id": f"a{i}", "type": "post", "feeds": ["user:a"], "user_id": "a"} for i in range(250)
    )
    sizes = [len(json.loads(r.content)["activities"]) for r in rec.requests]
    assert sizes == [100, 100, 50]
    assert [a["id"] for a in out] == [f"a{i}" for i in range(250)]


def test_safe_requests_retry_on_5xx_and_transport_errors() -> None:
    rec = Recorder(
        httpx.Response(503, json=error(503, -1)),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        ok({"activity": ACTIVITY}),
    )
    assert make(rec).get_activity("a1")["id"] == "a1"
    assert len(rec.requests) == 4


def test_retries_are_counted_by_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("feedkit.client.time.sleep", lambda s: None)
    limited = httpx.Response(429, headers={"Retry-After": "0"}, json=error(429, 9))
    rec = Recorder(
        limited, httpx.Response(503, json=error(503, -1)), httpx.ReadTimeout("slow"),
        httpx.Response(503, json=error(503, -1)), ok({"activity": ACTIVITY}),
    )  # fmt: skip
    with make(rec, attempts=5) as client:
        assert client.retries == {}
        client.get_activity("a1")
    assert client.retries == {"429": 1, "503": 2, "ReadTimeout": 1}
    other = make(Recorder(httpx.Response(500, text="boom")), attempts=2)
    with other, pytest.raises(ServerError):  # the last attempt's failure is not retried
        other.get_activity("a1")
    assert other.retries == {"500": 1}


def test_429_honours_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("feedkit.client.time.sleep", slept.append)
    limited = httpx.Response(429, headers={"Retry-After": "7"}, json=error(429, 9))
    rec = Recorder(limited, ok({"activity": ACTIVITY}))
    make(rec).get_activity("a1")
    assert slept == [pytest.approx(7.0, abs=0.05)]


def test_retries_exhausted_raise_the_right_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("feedkit.client.time.sleep", lambda s: None)
    limited = httpx.Response(429, headers={"Retry-After": "3"}, json=error(429, 9))
    with pytest.raises(RateLimitError) as err:
        make(Recorder(limited), attempts=2).get_activity("a1")
    assert err.value.retry_after == 3.0 and err.value.status == 429
    with pytest.raises(ServerError):
        make(Recorder(httpx.Response(502, text="bad gateway")), attempts=2).get_activity("a1")
    with pytest.raises(TransportError):
        make(Recorder(httpx.ConnectError("refused")), attempts=2).get_activity("a1")


def test_unsafe_writes_are_sent_once() -> None:
    rec = Recorder(httpx.Response(503, json=error(503, -1)))
    with pytest.raises(ServerError):
        make(rec).add_activity(type="post", feeds=["user:a"], user_id="a")  # no id
    assert len(rec.requests) == 1
    rec = Recorder(httpx.Response(503, json=error(503, -1)), ok({"activity": ACTIVITY}))
    make(rec).add_activity(id="a1", type="post", feeds=["user:a"], user_id="a")
    assert len(rec.requests) == 2


def test_4xx_errors_are_not_retried_and_carry_fields() -> None:
    rec = Recorder(httpx.Response(400, json=error(400, exception_fields={"feeds": "bad"})))
    with pytest.raises(APIError) as err:
        make(rec).add_activity(id="x", type="post", feeds=["user:a"], user_id="a")
    assert err.value.exception_fields == {"feeds": "bad"} and len(rec.requests) == 1
    assert "feeds: bad" in str(err.value)
    with pytest.raises(NotFoundError):
        make(Recorder(httpx.Response(404, json=error(404, 16)))).get_activity("x")
    with pytest.raises(AuthError):
        make(Recorder(httpx.Response(401, json=error(401, 5)))).get_activity("x")


def test_truncated_body_is_a_transport_error() -> None:
    rec = Recorder(httpx.Response(200, content=b'{"activity": {"id": "a'))
    with pytest.raises(TransportError, match="cut short"):
        make(rec, attempts=1).get_activity("a1")


def test_a_reader_reads_answers_and_errors_raise_as_for_decoded_ones() -> None:
    """query_read / feed_read hand a success's bytes to the reader; error answers raise the
    same APIError subclasses, 5xx are retried, and bytes the reader refuses are a
    TransportError that says so."""
    from feedkit.activity_table import read_answer

    page = {"activities": [ACTIVITY], "next": "n2", "duration": "0.1ms"}
    rec = Recorder(httpx.Response(503, json=error(503)), httpx.Response(200, json=page))
    read, cursor = make(rec).query_read(read_answer, {"user_id": "alice"}, limit=10)
    assert (read.rows, cursor, len(rec.requests)) == (1, "n2", 2)
    assert json.loads(rec.requests[-1].content)["filter"] == {"user_id": "alice"}
    raw = make(Recorder(httpx.Response(200, json=page))).feed_read(bytes, "user:alice")
    assert json.loads(raw) == page
    with pytest.raises(NotFoundError):
        make(Recorder(httpx.Response(404, json=error(404, 16)))).feed_read(bytes, "user:x")
    cut = Recorder(httpx.Response(200, content=b'{"activities": [{"id": "a'))
    with pytest.raises(TransportError, match=r"could not be read .*cut short"):
        make(cut, attempts=1).query_read(read_answer)


def test_secret_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    rec = Recorder(httpx.ConnectError("refused"))
    client = make(rec, attempts=2)
    with pytest.raises(TransportError) as err:
        client.get_activity("a1")
    texts = [repr(client), str(client), str(err.value), repr(err.value), caplog.text,
             repr(client._secret), repr(client.__dict__)]  # fmt: skip
    assert not [t for t in texts if SECRET in t]


def test_user_token_and_as_user() -> None:
    rec = Recorder(ok({"activity": ACTIVITY}))
    client = make(rec)
    claims = jwt.decode(client.user_token("bob"), SECRET, algorithms=["HS256"])
    assert claims["user_id"] == "bob" and claims["exp"] > claims["iat"]
    bob = client.as_user("bob")
    bob.get_activity("a1")
    bob.close()
    client.get_activity("a1")  # the borrowed transport stays open
    token = rec.requests[0].headers["authorization"]
    assert jwt.decode(token, SECRET, algorithms=["HS256"])["user_id"] == "bob"


def test_connect_remote_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAM_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("STREAM_API_KEY", "envkey")
    monkeypatch.setenv("STREAM_API_SECRET", SECRET)
    with feedkit.connect() as client:
        assert client.base_url == "http://127.0.0.1:9" and client.api_key == "envkey"
        assert client.db_path is None
    with feedkit.connect(":memory:") as local:  # a db always means the embedded server
        assert local.db_path == ":memory:"


def test_connect_embedded_file_persists(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAM_BASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    with feedkit.connect() as client:
        client.add_activity(id="kept", type="post", feeds=["user:a"], user_id="a")
        assert client.db_path == "feedkit.db"
    with feedkit.connect(tmp_path / "feedkit.db") as again:
        assert again.get_activity("kept")["id"] == "kept"


def test_times_with_offsets_become_utc() -> None:
    rec = Recorder(ok({"activity": ACTIVITY}, 201))
    paris = timezone(timedelta(hours=1))
    make(rec).add_activity(
        type="p", feeds=["user:a"], expires_at=datetime(2030, 1, 1, 1, tzinfo=paris)
    )
    assert json.loads(rec.requests[0].content)["expires_at"] == "2030-01-01T00:00:00Z"


def test_parsed_urls_are_kept_for_few_paths_only() -> None:
    """Each request's URL is parsed once per path and query, and no more than 256 are kept
    (paths that name activity ids are many)."""
    with feedkit.connect(":memory:") as client:
        for i in range(300):
            with pytest.raises(feedkit.NotFoundError):
                client.get_activity(f"missing/{i}")
        assert len(client._urls) <= 256


def test_a_repeated_query_parameter_is_sent_without_a_kept_url() -> None:
    rec = Recorder(ok({}))
    make(rec).request("GET", "/api/v2/x", params={"ids": ["a", "b"]})
    make(rec).request("GET", "/api/v2/x", params={"ids": ["a", "b"]})
    assert [r.url.params.get_list("ids") for r in rec.requests] == [["a", "b"], ["a", "b"]]


def test_feed_exists_asks_without_creating() -> None:
    from feedkit.errors import NotFoundError, UsageError

    with feedkit.connect(":memory:") as client:
        client.add_activity(type="post", feeds=["user:ann"], user_id="ann", text="hi")
        assert client.feed_exists("user:ann")
        assert not client.feed_exists("user:nobody")
        assert not client.feed_exists("user:nobody")  # asking twice did not create it
        with pytest.raises(NotFoundError, match="'user:nobody' does not exist"):
            feedkit.feed_to_dataframe(client, "user:nobody")
        assert not client.feed_exists("user:nobody")
        with pytest.raises(UsageError, match="group:id"):
            client.feed_exists("nobody")
        found = client.query_feeds({"group_id": {"$in": ["user"]}})
        assert [f["feed"] for f in found["feeds"]] == ["user:ann"]


def test_connect_without_create_refuses_a_missing_store(tmp_path: Path) -> None:
    from feedkit.errors import UsageError

    with pytest.raises(UsageError, match="no such store"):
        feedkit.connect(tmp_path / "typo.db", create=False)
    assert not (tmp_path / "typo.db").exists()
