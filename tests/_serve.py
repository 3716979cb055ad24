"""Start ``feedkit serve`` (via ``feedkit.serve.spawn``) with any options, and talk to it raw.

conftest's ``live_server`` covers the common case (a fresh server per test). The limit, auth and
durability tests need more: server flags (``--rate-limit``, ``--max-body-bytes``), a restart on
the same SQLite file after a SIGKILL, the process's whole stdout and stderr, and one server
shared by a module's parametrized cases. The server binds 127.0.0.1 on a port it picks itself
(``--port 0``) and announces it; every wait here is bounded.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt

import feedkit
from feedkit.serve import ServerProcess, spawn

API_KEY = "test-key"
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
ERROR_KEYS = frozenset({"code", "message", "StatusCode", "duration", "more_info", "details"})
ACTIVITIES = "/api/v2/feeds/activities"


SECRET_PREFIX = "fk-secret-"
# Every secret minted in this session; conftest fails a test whose output holds one.
MINTED: set[str] = set()
# A minted-looking secret anywhere (the prefix and a token), even one minted elsewhere.
SECRET_SHAPE = re.compile(re.escape(SECRET_PREFIX) + r"[A-Za-z0-9_-]{20,}")


def new_secret() -> str:
    """A secret long enough that PyJWT does not warn, and unmistakable in any output."""
    secret = SECRET_PREFIX + secrets.token_urlsafe(40)
    MINTED.add(secret)
    return secret


def leaks(data: str | bytes, extra: tuple[str, ...] = ()) -> list[str]:
    """Where ``data`` holds a secret (minted, shaped like one, or one of ``extra``), as
    redacted descriptions safe to print: the secret itself never appears in them."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    found = []
    for match in SECRET_SHAPE.finditer(text):
        found.append(f"a secret ({SECRET_PREFIX}...) at offset {match.start()}")
    for secret in (*MINTED, *extra):
        at = text.find(secret)
        if at >= 0 and not SECRET_SHAPE.match(text, at):
            found.append(f"a secret ({len(secret)} characters) at offset {at}")
    return found


def server_token(secret: str) -> str:
    """The SDK's server-side token: HS256 over ``{}``."""
    return jwt.encode({}, secret, algorithm="HS256")


def user_token(secret: str, user_id: str, ttl_s: int = 3600) -> str:
    now = int(time.time())
    claims = {"user_id": user_id, "iat": now - 5, "exp": now + ttl_s}
    return jwt.encode(claims, secret, algorithm="HS256")


def auth_headers(token: str) -> dict[str, str]:
    """The protocol's auth headers: a bare JWT (no ``Bearer``) and ``stream-auth-type: jwt``."""
    return {"Authorization": token, "stream-auth-type": "jwt"}


@dataclass
class Server:
    """A running ``feedkit serve`` process and how to reach it."""

    base_url: str
    api_key: str
    api_secret: str = field(repr=False)
    db_path: Path
    process: ServerProcess

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        return self.process.proc

    def http(self, token: str | None = None, api_key: str | None = None) -> httpx.Client:
        """A raw httpx client with the server token (or ``token``) and ``?api_key=``."""
        return httpx.Client(
            base_url=self.base_url,
            headers=auth_headers(token or server_token(self.api_secret)),
            params={"api_key": api_key or self.api_key},
            timeout=15.0,
        )

    def client(self, **options: Any) -> feedkit.Client:
        return feedkit.connect(
            base_url=self.base_url, api_key=self.api_key, api_secret=self.api_secret, **options
        )

    def output(self) -> str:
        """Everything the process wrote so far, stdout and stderr."""
        return self.process.output()


def start(
    db_path: Path,
    *,
    api_secret: str,
    api_key: str = API_KEY,
    args: Sequence[str] = (),
    log_dir: Path | None = None,
) -> Server:
    """Start the server on ``db_path`` and wait (bounded) until it announces its URL."""
    process = spawn(
        db_path, api_key=api_key, api_secret=api_secret, args=args,
        timeout=STARTUP_TIMEOUT_S, log_dir=log_dir or db_path.parent,
    )  # fmt: skip
    return Server(process.url, api_key, api_secret, db_path, process)


@contextmanager
def running(db_path: Path, **options: Any) -> Iterator[Server]:
    """:func:`start` for the length of a ``with`` block; stopped (if still alive) on exit."""
    server = start(db_path, **options)
    try:
        yield server
    finally:
        server.process.stop(STOP_TIMEOUT_S)


def table_counts(db_path: Path) -> dict[str, int]:
    """Rows per table, read through a read-only connection (the server keeps writing)."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def assert_error_body(response: httpx.Response, status: int, code: int | None = None) -> Any:
    """The protocol's error envelope: all six keys, StatusCode equal to the HTTP status."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert isinstance(body, dict), body
    missing = ERROR_KEYS - body.keys()
    assert not missing, f"error body lacks {sorted(missing)}: {body}"
    assert body["StatusCode"] == status, body
    assert isinstance(body["code"], int), body
    assert isinstance(body["message"], str) and body["message"], body
    assert isinstance(body["duration"], str), body
    assert isinstance(body["details"], list), body
    if code is not None:
        assert body["code"] == code, body
    return body


def names_field(exception_fields: Any, name: str) -> bool:
    """Whether some key of ``exception_fields`` is ``name`` or a path inside it."""
    return isinstance(exception_fields, dict) and any(
        k == name or k.startswith((f"{name}.", f"{name}[")) for k in exception_fields
    )


def post_activity(http: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    """Add one activity over raw HTTP; the activity the server answered."""
    response = http.post(ACTIVITIES, json=body)
    assert response.status_code == 201, response.text
    activity: dict[str, Any] = response.json()["activity"]
    return activity


def get_activity(http: httpx.Client, activity_id: str) -> dict[str, Any]:
    """Read one activity over raw HTTP (it must exist)."""
    response = http.get(f"{ACTIVITIES}/{activity_id}")
    assert response.status_code == 200, response.text
    activity: dict[str, Any] = response.json()["activity"]
    return activity
