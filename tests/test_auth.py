"""Who may do what on the embedded server (feedkit.server.auth), and the secret never leaking.

Raw httpx requests against a live ``feedkit serve``: missing, forged, expired and misdirected
credentials answer 401 with the protocol's six-key error body; a user token acting for someone
else answers 403 and changes nothing; a user token acting for itself works. The official SDK
parses those bodies into its own exception. The API secret appears in no repr, error, log line
or process output.
"""

from __future__ import annotations

import logging
import socket
import time
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import jwt
import pytest
from _serve import (
    ACTIVITIES,
    Server,
    assert_error_body,
    auth_headers,
    get_activity,
    new_secret,
    post_activity,
    running,
    server_token,
    table_counts,
    user_token,
)
from click.testing import CliRunner

import feedkit
from feedkit.cli import main as cli_main

if TYPE_CHECKING:
    from conftest import LiveServer

AUTH_ERROR, NOT_ALLOWED, TOKEN_EXPIRED, TOKEN_SIGNATURE = 5, 17, 40, 43


def raw(live: Server, token: str | None, api_key: str | None = "default") -> httpx.Client:
    """A raw client; ``token=None`` sends no Authorization, ``api_key=None`` no api_key."""
    headers = auth_headers(token) if token is not None else {"stream-auth-type": "jwt"}
    params = (
        {} if api_key is None else {"api_key": live.api_key if api_key == "default" else api_key}
    )
    return httpx.Client(base_url=live.base_url, headers=headers, params=params, timeout=15.0)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module's refusals: each test checks that the store is unchanged
    and works on activities of its own, so they cannot see one another."""
    db_path = tmp_path_factory.mktemp("auth") / "auth.db"
    with running(db_path, api_secret=new_secret()) as srv:
        yield srv


@pytest.fixture(scope="module")
def admin(server: Server) -> Iterator[httpx.Client]:
    with raw(server, server_token(server.api_secret)) as client:
        yield client


@pytest.fixture
def run() -> str:
    """A prefix that makes this test's ids its own."""
    return uuid.uuid4().hex[:12]


@pytest.fixture
def alice_activity(admin: httpx.Client, run: str) -> dict[str, Any]:
    return post_activity(
        admin,
        {
            "id": f"{run}-alice",
            "type": "post",
            "feeds": ["user:alice"],
            "user_id": "alice",
            "text": "alice's",
            "custom": {"k": 1},
        },
    )


# --------------------------------------------------------------------------------------------
# 401: missing, forged, expired or misdirected credentials
# --------------------------------------------------------------------------------------------


def _expired(secret: str) -> str:
    now = int(time.time())
    return jwt.encode(
        {"user_id": "bob", "iat": now - 7200, "exp": now - 3600}, secret, algorithm="HS256"
    )


BAD_CREDENTIALS: dict[str, tuple[Any, Any, int]] = {
    # name: (token from the secret, api_key, expected vendor code)
    "no-authorization": (lambda s: None, "default", AUTH_ERROR),
    "other-secret": (lambda s: server_token(new_secret()), "default", TOKEN_SIGNATURE),
    "other-secret-user": (lambda s: user_token(new_secret(), "bob"), "default", TOKEN_SIGNATURE),
    "wrong-api-key": (server_token, "not-the-key", AUTH_ERROR),
    "missing-api-key": (server_token, None, AUTH_ERROR),
    "empty-api-key": (server_token, "", AUTH_ERROR),
    "expired-user-token": (_expired, "default", TOKEN_EXPIRED),
    "garbage-token": (lambda s: "not.a.jwt", "default", AUTH_ERROR),
    "alg-none": (lambda s: jwt.encode({}, None, algorithm="none"), "default", AUTH_ERROR),
    # Only a token with no user_id claim at all acts server-side: an empty or null claim, or
    # one that is not a string, must not pass for one (it could act for anybody).
    "empty-user-id": (
        lambda s: jwt.encode({"user_id": ""}, s, algorithm="HS256"),
        "default",
        AUTH_ERROR,
    ),
    "null-user-id": (
        lambda s: jwt.encode({"user_id": None}, s, algorithm="HS256"),
        "default",
        AUTH_ERROR,
    ),
    "numeric-user-id": (
        lambda s: jwt.encode({"user_id": 7}, s, algorithm="HS256"),
        "default",
        AUTH_ERROR,
    ),
}


@pytest.mark.parametrize("name", list(BAD_CREDENTIALS))
def test_bad_credentials_answer_401_and_write_nothing(
    server: Server,
    alice_activity: dict[str, Any],
    admin: httpx.Client,
    run: str,
    name: str,
) -> None:
    make_token, api_key, code = BAD_CREDENTIALS[name]
    before = table_counts(server.db_path)
    with raw(server, make_token(server.api_secret), api_key) as client:
        reading = client.get(f"{ACTIVITIES}/{alice_activity['id']}")
        writing = client.post(
            ACTIVITIES,
            json={"type": "post", "feeds": ["user:bob"], "user_id": "bob", "id": f"{run}-never"},
        )
        patching = client.patch(
            f"{ACTIVITIES}/{alice_activity['id']}", json={"set": {"text": "hacked"}}
        )
        deleting = client.delete(f"{ACTIVITIES}/{alice_activity['id']}")
    for response in (reading, writing, patching, deleting):
        assert_error_body(response, 401, code=code)
        assert "activity" not in response.json()
    assert table_counts(server.db_path) == before
    assert get_activity(admin, alice_activity["id"]) == alice_activity
    assert admin.get(f"{ACTIVITIES}/{run}-never").status_code == 404


def test_anonymous_auth_type_is_refused(server: Server) -> None:
    with httpx.Client(base_url=server.base_url, timeout=15.0) as client:
        response = client.post(
            f"{ACTIVITIES}/query",
            params={"api_key": server.api_key},
            headers={"stream-auth-type": "anonymous"},
            json={},
        )
    assert_error_body(response, 401, code=AUTH_ERROR)


def test_a_valid_server_token_is_accepted(server: Server) -> None:
    with raw(server, server_token(server.api_secret)) as client:
        response = client.post(f"{ACTIVITIES}/query", json={})
    assert response.status_code == 201, response.text


# --------------------------------------------------------------------------------------------
# 403: a user token acting for someone else
# --------------------------------------------------------------------------------------------

FOREIGN: dict[str, tuple[str, str, Any, dict[str, str]]] = {
    # name: (method, path, json body, query); {aid} is alice's activity id
    "add-as-alice": (
        "POST",
        ACTIVITIES,
        {"type": "post", "feeds": ["user:alice"], "user_id": "alice", "id": "{run}-by-bob"},
        {},
    ),
    "add-as-alice-via-user": (
        "POST",
        ACTIVITIES,
        {"type": "post", "feeds": ["user:alice"], "user": {"id": "alice"}, "id": "{run}-by-bob"},
        {},
    ),
    "overwrite-alices-by-id": (
        "POST",
        ACTIVITIES,
        {"type": "post", "feeds": ["user:bob"], "id": "{aid}", "text": "hacked"},
        {},
    ),
    "batch-with-alices-id": (
        "POST",
        f"{ACTIVITIES}/batch",
        {
            "activities": [
                *(
                    {"type": "post", "feeds": ["user:bob"], "id": "{run}-by-bob-" + str(i)}
                    for i in range(5)
                ),
                {"type": "post", "feeds": ["user:bob"], "id": "{aid}", "text": "hacked"},
            ]
        },
        {},
    ),
    "read-as-alice": ("GET", f"{ACTIVITIES}/{{aid}}", None, {"user_id": "alice"}),
    "query-as-alice": ("POST", f"{ACTIVITIES}/query", {"user_id": "alice"}, {}),
    "feed-as-alice": (
        "POST",
        "/api/v2/feeds/feed_groups/user/feeds/alice",
        {"user_id": "alice"},
        {},
    ),
    "patch-alices": ("PATCH", f"{ACTIVITIES}/{{aid}}", {"set": {"text": "hacked"}}, {}),
    "patch-as-alice": (
        "PATCH",
        f"{ACTIVITIES}/{{aid}}",
        {"set": {"text": "hacked"}, "user_id": "alice"},
        {},
    ),
    "patch-batch-alices": (
        "PATCH",
        f"{ACTIVITIES}/batch/partial",
        {"changes": [{"activity_id": "{aid}", "set": {"text": "hacked"}}]},
        {},
    ),
    "put-alices": (
        "PUT",
        f"{ACTIVITIES}/{{aid}}",
        {"type": "post", "feeds": ["user:alice"], "text": "hacked"},
        {},
    ),
    "delete-alices": ("DELETE", f"{ACTIVITIES}/{{aid}}", None, {}),
    "hard-delete-alices": ("DELETE", f"{ACTIVITIES}/{{aid}}", None, {"hard_delete": "true"}),
    "delete-as-alice": ("DELETE", f"{ACTIVITIES}/{{aid}}", None, {"user_id": "alice"}),
    "delete-batch-alices": ("POST", f"{ACTIVITIES}/delete", {"ids": ["{aid}"]}, {}),
}


BOB_TOKENS = {
    # exactly the claims a user token needs, and the usual ones with iat and exp
    "bare": lambda secret: jwt.encode({"user_id": "bob"}, secret, algorithm="HS256"),
    "expiring": lambda secret: user_token(secret, "bob"),
}


def _fill(value: Any, aid: str, run: str) -> Any:
    """``value`` with the placeholders {aid} (alice's activity) and {run} filled in."""
    if isinstance(value, str):
        return value.replace("{aid}", aid).replace("{run}", run)
    if isinstance(value, list):
        return [_fill(v, aid, run) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, aid, run) for k, v in value.items()}
    return value


@pytest.mark.parametrize("token", list(BOB_TOKENS))
@pytest.mark.parametrize("name", list(FOREIGN))
def test_a_user_token_cannot_act_for_someone_else(
    server: Server,
    alice_activity: dict[str, Any],
    admin: httpx.Client,
    run: str,
    name: str,
    token: str,
) -> None:
    method, path, body, query = FOREIGN[name]
    aid = alice_activity["id"]
    before = table_counts(server.db_path)
    with raw(server, BOB_TOKENS[token](server.api_secret)) as bob:
        response = bob.request(
            method, _fill(path, aid, run), json=_fill(body, aid, run), params=query
        )
    assert_error_body(response, 403, code=NOT_ALLOWED)
    assert get_activity(admin, aid) == alice_activity
    assert table_counts(server.db_path) == before
    for other in ("by-bob", "by-bob-0", "by-bob-4"):
        assert admin.get(f"{ACTIVITIES}/{run}-{other}").status_code == 404


@pytest.mark.parametrize("token", list(BOB_TOKENS))
def test_a_user_token_acts_for_itself(
    server: Server, admin: httpx.Client, run: str, token: str
) -> None:
    b1, b2 = f"{run}-b1", f"{run}-b2"
    with raw(server, BOB_TOKENS[token](server.api_secret)) as bob:
        implicit = bob.post(ACTIVITIES, json={"type": "post", "feeds": ["user:bob"], "id": b1})
        assert implicit.status_code == 201, implicit.text
        assert implicit.json()["activity"]["user"]["id"] == "bob"
        explicit = bob.post(
            ACTIVITIES,
            json={"type": "post", "feeds": ["user:bob"], "id": b2, "user_id": "bob"},
        )
        assert explicit.status_code == 201, explicit.text
        assert explicit.json()["activity"]["user"]["id"] == "bob"

        got = bob.get(f"{ACTIVITIES}/{b1}", params={"user_id": "bob"})
        assert got.status_code == 200, got.text
        patched = bob.patch(f"{ACTIVITIES}/{b1}", json={"set": {"text": "edited"}})
        assert patched.status_code == 200, patched.text
        assert patched.json()["activity"]["text"] == "edited"
        query = bob.post(
            f"{ACTIVITIES}/query", json={"filter": {"user_id": "bob", "id": {"$in": [b1, b2]}}}
        )
        assert query.status_code == 201, query.text
        assert {a["id"] for a in query.json()["activities"]} == {b1, b2}
        deleted = bob.delete(f"{ACTIVITIES}/{b2}")
        assert deleted.status_code == 200, deleted.text
    assert get_activity(admin, b1)["text"] == "edited"
    assert admin.get(f"{ACTIVITIES}/{b2}").status_code == 404


# --------------------------------------------------------------------------------------------
# the official SDK parses the error bodies
# --------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:The HMAC key is .* below the minimum recommended length")
def test_sdk_with_a_wrong_secret_raises_its_api_exception(live_server: LiveServer) -> None:
    from getstream import Stream
    from getstream.exceptions import StreamApiException

    client = Stream(
        api_key=live_server.api_key,
        api_secret="wrong-secret",
        base_url=live_server.base_url,
        timeout=15.0,
    )
    with pytest.raises(StreamApiException) as exc:
        client.feeds.get_activity("x")
    assert exc.value.status_code == 401
    assert exc.value.api_error is not None, exc.value.raw_response_body
    assert exc.value.code == TOKEN_SIGNATURE


def test_sdk_user_token_for_another_user_raises_403(live_server: LiveServer) -> None:
    from getstream import Stream
    from getstream.exceptions import StreamApiException

    token = user_token(live_server.api_secret, "bob")
    client = Stream(
        api_key=live_server.api_key,
        base_url=live_server.base_url,
        timeout=15.0,
        token=token,
    )
    with pytest.raises(StreamApiException) as exc:
        client.feeds.add_activity(type="post", feeds=["user:alice"], user_id="alice")
    assert exc.value.status_code == 403
    assert exc.value.api_error is not None, exc.value.raw_response_body


# --------------------------------------------------------------------------------------------
# the feedkit client maps the answers to its error tree
# --------------------------------------------------------------------------------------------


def test_feedkit_client_raises_auth_error(live_server: LiveServer) -> None:
    with (
        feedkit.connect(
            base_url=live_server.base_url, api_key=live_server.api_key, api_secret=new_secret()
        ) as client,
        pytest.raises(feedkit.AuthError) as exc,
    ):
        client.get_activity("x")
    assert (exc.value.status, exc.value.code) == (401, TOKEN_SIGNATURE)

    with (
        feedkit.connect(
            base_url=live_server.base_url,
            api_key=live_server.api_key,
            token=user_token(live_server.api_secret, "bob"),
        ) as bob,
        pytest.raises(feedkit.AuthError) as exc,
    ):
        bob.add_activity(type="post", feeds=["user:alice"], user_id="alice")
    assert (exc.value.status, exc.value.code) == (403, NOT_ALLOWED)


# --------------------------------------------------------------------------------------------
# secret hygiene
# --------------------------------------------------------------------------------------------


def _texts_of(exc: BaseException) -> list[str]:
    return [
        str(exc),
        repr(exc),
        repr(exc.args),
        repr(vars(exc)),
        "".join(traceback.format_exception(exc)),
    ]


def _errors_from(server: Server, other_secret: str) -> tuple[list[str], list[BaseException]]:
    """Reprs of clients, and one error of each kind, made with the server's own secret."""
    secret, texts, errors = server.api_secret, [], []
    fast = feedkit.Retry(attempts=2, backoff=0.0, max_backoff=0.0)

    def connect(**credentials: Any) -> feedkit.Client:
        options = {"base_url": server.base_url, "api_key": server.api_key, "retry": fast}
        return feedkit.connect(**{**options, **credentials})

    def expect(kind: type[BaseException], call: Any) -> None:
        with pytest.raises(kind) as exc:
            call()
        errors.append(exc.value)

    with connect(api_secret=secret) as client:
        texts += [repr(client), str(client), repr(vars(client)), repr(client.retry)]
        client.add_activity(type="post", feeds=["user:alice"], user_id="alice", id="h1")
        expect(
            feedkit.ValidationError,
            lambda: client.add_activity(type="post", feeds=["nocolon"], txt=1),
        )
        expect(feedkit.NotFoundError, lambda: client.get_activity("missing"))
        expect(
            feedkit.APIError,
            lambda: client.request(
                "PATCH", "/api/v2/feeds/activities/h1", json={"set": {"type": "x"}}
            ),
        )
        token = client.user_token("bob")
    with connect(api_key="wrong-key", api_secret=secret) as wrong_key:
        expect(feedkit.AuthError, lambda: wrong_key.get_activity("h1"))
    with connect(api_secret=other_secret) as wrong_secret:
        texts.append(repr(wrong_secret))
        expect(feedkit.AuthError, lambda: wrong_secret.get_activity("h1"))
    with connect(token=token) as bob:
        texts.append(repr(bob))
        expect(
            feedkit.AuthError,
            lambda: bob.add_activity(type="post", feeds=["user:alice"], user_id="alice"),
        )
    # a refused connection: the port is bound but nobody listens on it
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        with connect(base_url=url, api_secret=secret) as gone:
            expect(feedkit.TransportError, lambda: gone.get_activity("h1"))
    return texts, errors


def test_the_secret_appears_nowhere(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    other_secret = new_secret()
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="feedkit")
    with running(tmp_path / "hygiene.db", api_secret=new_secret()) as server:
        texts, errors = _errors_from(server, other_secret)
    assert [type(e) for e in errors] == [
        feedkit.ValidationError,
        feedkit.NotFoundError,
        feedkit.APIError,
        feedkit.AuthError,
        feedkit.AuthError,
        feedkit.AuthError,
        feedkit.TransportError,
    ]
    for exc in errors:
        texts += _texts_of(exc)
    output = server.output()
    assert "feedkit serving" in output  # the process output was really captured
    texts.append(output)
    feedkit_records = [r for r in caplog.records if r.name.startswith("feedkit")]
    assert feedkit_records, "expected the retry of the refused connection to be logged"
    texts.append(caplog.text)
    texts += [r.getMessage() for r in caplog.records]
    texts += [repr(r.args) for r in caplog.records]
    for text in texts:
        assert server.api_secret not in text
        assert other_secret not in text


def test_serve_help_does_not_show_the_secret_from_the_environment() -> None:
    secret = new_secret()
    result = CliRunner().invoke(
        cli_main, ["serve", "--help"], env={"STREAM_API_SECRET": secret, "STREAM_API_KEY": "k"}
    )
    assert result.exit_code == 0, result.output
    assert "--api-secret" in result.output
    assert secret not in result.output
