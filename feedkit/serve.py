"""Run the embedded server on a port with uvicorn, in this process or as a child process.

``run`` serves until stopped and announces its URL once it accepts requests; ``spawn``
starts ``feedkit serve`` as a child and waits for that announcement, for tests, benchmarks
and notebooks that need a real port.
"""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from feedkit.server.app import DEFAULT_MAX_BODY, create_app
from feedkit.server.problems import INPUT_ERROR, Problem


class _Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (HTTP parsed and written in C), answering bytes that are
    not an HTTP request in the API's error shape: JSON with the vendor's code, which clients
    and the SDK read like every other error, where uvicorn answers in plain text."""

    def send_400_response(self, msg: str) -> None:
        body = orjson.dumps(Problem(400, INPUT_ERROR, msg).body("0.00ms"))
        head = [STATUS_LINE[400]]
        head += [
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        ]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()


class _Server(uvicorn.Server):
    announce: Callable[[str], None] | None = None

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self.announce is not None:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            self.announce(f"http://{host}:{port}")


def run(
    db: str,
    *,
    host: str = "127.0.0.1",
    port: int = 3030,
    api_key: str,
    api_secret: str,
    rate_limits: Mapping[str, int] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    announce: Callable[[str], None] | None = None,
    strict_groups: bool = False,
) -> None:
    """Serve until SIGINT or SIGTERM; every acknowledged write is already on disk.
    ``strict_groups`` refuses feeds of unknown groups, as the hosted service does."""
    app = create_app(
        db,
        api_key=api_key,
        api_secret=api_secret,
        rate_limits=rate_limits,
        max_body_bytes=max_body_bytes,
        strict_groups=strict_groups,
    )
    # Everything loaded so far (the libraries, the app) lives as long as the server: kept
    # out of the collector's full passes, which otherwise walk its ~90k objects again and
    # again while requests come and go.
    gc.freeze()
    # httptools (a dependency) parses and writes HTTP in C; uvicorn's pure-Python h11 cost
    # about a tenth of the server's CPU on a page read.
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="on", access_log=False,
        http=_Protocol,
    )  # fmt: skip
    server = _Server(config)
    server.announce = announce
    server.run()


ANNOUNCE = re.compile(r"feedkit serving (http://\S+)")


class ServerProcess:
    """A ``feedkit serve`` child process: its URL, its output, and a bounded stop."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, db: str, log_path: Path) -> None:
        self.proc = proc
        self.url = url
        self.db = db
        self.log_path = log_path

    def __repr__(self) -> str:
        return f"ServerProcess(url={self.url!r}, db={self.db!r}, pid={self.proc.pid})"

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def output(self) -> str:
        """Everything the server printed so far (stdout and stderr)."""
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (a clean shutdown), then SIGKILL if it lingers past ``timeout``."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)


def spawn(
    db: str | os.PathLike[str],
    *,
    api_key: str,
    api_secret: str,
    host: str = "127.0.0.1",
    port: int = 0,
    args: Sequence[str] = (),
    timeout: float = 30.0,
    log_dir: str | os.PathLike[str] | None = None,
) -> ServerProcess:
    """Start ``feedkit serve`` in a child process and wait (at most ``timeout`` s) until it
    accepts requests. Credentials travel in the child's environment, never on its command
    line; port 0 picks a free port. Use as a context manager to stop it at the end."""
    directory = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="feedkit-"))
    log_path = directory / f"serve-{os.getpid()}-{time.monotonic_ns()}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_")}
    env.update(STREAM_API_KEY=api_key, STREAM_API_SECRET=api_secret, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "feedkit", "serve", "--db", os.fspath(db), "--host", host,
           "--port", str(port), *args]  # fmt: skip
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = ANNOUNCE.search(log_path.read_text(errors="replace"))
        if found:
            return ServerProcess(proc, found.group(1), os.fspath(db), log_path)
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    server = ServerProcess(proc, "", os.fspath(db), log_path)
    server.stop()
    raise RuntimeError(
        f"feedkit serve did not start within {timeout:g}s (exit code {proc.returncode}): "
        f"{server.output()[-3000:]}"
    )
