"""Shared fixtures: a real ``feedkit serve`` subprocess and clients pointed at it.

Every test that needs a server asks for ``live_server``; it is function scoped, so each test
starts from an empty SQLite file and no test can see another's data. The server binds
127.0.0.1 only and every wait below is bounded.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

import jwt
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# CI clones the repository beside a copy of shared/, as in the developers' checkout.
REFERENCE_DIR = REPO_ROOT.parent / "shared" / "reference"
GOLDEN_PATH = REFERENCE_DIR / "sdk-golden-requests.jsonl"

API_KEY = "test-key"
STARTUP_TIMEOUT_S = 30.0
SHUTDOWN_TIMEOUT_S = 10.0
STARTUP_ATTEMPTS = 3


class LiveServer(NamedTuple):
    base_url: str
    api_key: str
    api_secret: str
    db_path: Path
    proc: subprocess.Popen[str]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_token(secret: str) -> str:
    """A server-side token exactly as the SDK makes it: HS256 over ``{}``."""
    return jwt.encode({}, secret, algorithm="HS256")


def user_token(secret: str, user_id: str, ttl_s: int = 3600) -> str:
    now = int(time.time())
    return jwt.encode(
        {"user_id": user_id, "iat": now - 5, "exp": now + ttl_s}, secret, algorithm="HS256"
    )


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


class _StdoutWatcher:
    """Drains the server's stdout in a thread and signals the first line naming its URL."""

    def __init__(self, stream: IO[str], port: int) -> None:
        self.lines: list[str] = []
        self.url: str | None = None
        self.ready = threading.Event()
        self._pattern = re.compile(rf"http://127\.0\.0\.1:{port}\b")
        self._thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self._thread.start()

    def _run(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                self.lines.append(line.rstrip("\n"))
                if self.url is None and self._pattern.search(line):
                    self.url = self._pattern.search(line).group(0)  # type: ignore[union-attr]
                    self.ready.set()
        finally:
            self.ready.set()  # EOF: wake the waiter so it can report the early exit


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=SHUTDOWN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=SHUTDOWN_TIMEOUT_S)


def _start_server(
    tmp_path: Path, db_path: Path, secret: str
) -> tuple[subprocess.Popen[str], str, IO[str]]:
    last_error = ""
    for attempt in range(STARTUP_ATTEMPTS):
        port = free_port()
        stderr_path = tmp_path / f"server-stderr-{attempt}.log"
        stderr_file = stderr_path.open("w+", encoding="utf-8")
        cmd = [
            sys.executable, "-m", "feedkit", "serve",
            "--db", str(db_path),
            "--host", "127.0.0.1",
            "--port", str(port),
            "--api-key", API_KEY,
            "--api-secret", secret,
        ]  # fmt: skip
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=str(REPO_ROOT),
            env=_clean_env(),
        )
        assert proc.stdout is not None
        watcher = _StdoutWatcher(proc.stdout, port)
        watcher.ready.wait(STARTUP_TIMEOUT_S)
        if watcher.url is not None and proc.poll() is None:
            return proc, watcher.url, stderr_file
        _stop(proc)
        stderr_file.seek(0)
        last_error = (
            f"attempt {attempt + 1}: exit code {proc.returncode}, "
            f"stdout={watcher.lines[-20:]!r}, stderr tail={stderr_file.read()[-3000:]!r}"
        )
        stderr_file.close()
    raise RuntimeError(
        f"feedkit serve did not print http://127.0.0.1:PORT within {STARTUP_TIMEOUT_S}s: "
        + last_error
    )


@pytest.fixture(autouse=True)
def _no_stream_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests must not depend on (or be disturbed by) the developer's STREAM_* variables."""
    for key in list(os.environ):
        if key.startswith("STREAM_"):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    secret = secrets.token_urlsafe(48)
    db_path = tmp_path / "srv.db"
    proc, url, stderr_file = _start_server(tmp_path, db_path, secret)
    try:
        yield LiveServer(
            base_url=url, api_key=API_KEY, api_secret=secret, db_path=db_path, proc=proc
        )
    finally:
        _stop(proc)
        stderr_file.close()


@pytest.fixture
def sdk_client(live_server: LiveServer) -> Iterator[Any]:
    """The official SDK, unmodified, pointed at the live server."""
    from getstream import Stream

    client = Stream(
        api_key=live_server.api_key,
        api_secret=live_server.api_secret,
        base_url=live_server.base_url,
        timeout=15.0,
    )
    try:
        yield client
    finally:
        close = getattr(client, "close", None)
        if callable(close):
            close()


@pytest.fixture
def make_server_token(live_server: LiveServer) -> Callable[[], str]:
    return lambda: server_token(live_server.api_secret)


@pytest.fixture
def make_user_token(live_server: LiveServer) -> Callable[[str], str]:
    return lambda user_id: user_token(live_server.api_secret, user_id)
