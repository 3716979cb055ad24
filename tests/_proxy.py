"""A fault-injecting HTTP/1.1 proxy on 127.0.0.1, for the reliability tests.

``FaultProxy(upstream_url, rates={"503": 0.05, ...}, seed=1)`` listens on a port of its own
(port 0), reads each request whole (head, then a Content-Length or chunked body), and either
answers it itself with a fault or forwards it to the upstream server, reads the whole answer,
and then decides again. Kinds of fault (:data:`KINDS`):

- ``429``: not forwarded; a rate-limit error with ``Retry-After`` of 0 or 1 s.
- ``500``, ``503``: not forwarded; the protocol's error body.
- ``502``: forwarded (the write is applied), the answer replaced by a 502.
- ``reset_before``: the connection reset (RST) after the request was read, before forwarding.
- ``reset_after``: forwarded, answered, then the connection reset: applied, answer lost.
- ``slow``: forwarded, then the answer held ``slow_s`` (longer than the client's timeout)
  and the connection dropped.
- ``truncated``: forwarded; the answer's head with its full Content-Length, half its body, then
  the connection closed.

Connections are kept alive between requests (httpx reuses them); every socket has a timeout,
every thread is joined with a bound on :meth:`FaultProxy.stop`, and faults are drawn from one
seeded ``random.Random``. With no rates it is a counting tap: how many requests, and how many
activities (items of an ``activities`` list body), reached the server.
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson

KINDS = ("429", "500", "502", "503", "reset_before", "reset_after", "slow", "truncated")
NOT_FORWARDED = frozenset({"429", "500", "503", "reset_before"})
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"transfer-encoding",
        b"content-length",
        b"te",
        b"proxy-connection",
        b"upgrade",
        b"trailer",
    }
)
MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024
JOIN_TIMEOUT_S = 5.0
REASONS = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
ERROR_CODES = {429: 9, 500: -1, 502: -1, 503: -1}


class _Closed(Exception):
    """The peer closed the connection between requests (or we are stopping)."""


class _Message:
    """One HTTP/1.1 request or response, read whole."""

    def __init__(self, start: bytes, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.start = start
        self.headers = headers
        self.body = body

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def encode(self, extra: list[tuple[bytes, bytes]], body: bytes | None = None) -> bytes:
        """Head and body, hop-by-hop headers replaced by ``extra`` and a Content-Length."""
        body = self.body if body is None else body
        lines = [self.start]
        lines += [k + b": " + v for k, v in self.headers if k.lower() not in HOP_BY_HOP]
        lines += [k + b": " + v for k, v in extra]
        return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _read_head(reader: Any) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    size = 0
    start = b""
    headers: list[tuple[bytes, bytes]] = []
    while True:
        line = reader.readline(MAX_HEAD + 1)
        if not line:
            raise _Closed
        size += len(line)
        if size > MAX_HEAD:
            raise ValueError("head too large")
        line = line.rstrip(b"\r\n")
        if not line:
            if start:
                return start, headers
            continue  # blank lines before a request are allowed
        if not start:
            start = line
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise ValueError(f"bad header line {line[:80]!r}")
        headers.append((name.strip(), value.strip()))


def _read_exact(reader: Any, n: int) -> bytes:
    if n > MAX_BODY:
        raise ValueError("body too large")
    data = reader.read(n)
    if len(data) != n:
        raise ConnectionError(f"body cut short: {len(data)} of {n} bytes")
    return bytes(data)


def _read_chunked(reader: Any) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        line = reader.readline(1024)
        if not line:
            raise ConnectionError("chunked body cut short")
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while reader.readline(MAX_HEAD).rstrip(b"\r\n"):  # trailers, until a blank line
                pass
            return b"".join(parts)
        total += size
        parts.append(_read_exact(reader, size))
        _read_exact(reader, 2)  # the CRLF after each chunk
        if total > MAX_BODY:
            raise ValueError("body too large")


def _read_message(reader: Any, *, response_to: bytes | None = None) -> _Message:
    """A whole request, or (with ``response_to``, the request's method) a whole response."""
    start, headers = _read_head(reader)
    message = _Message(start, headers, b"")
    encoding = (message.header(b"transfer-encoding") or b"").lower()
    length = message.header(b"content-length")
    if response_to is not None:
        status = int(start.split()[1])
        if response_to == b"HEAD" or status in (204, 304) or 100 <= status < 200:
            return message
    if b"chunked" in encoding:
        message.body = _read_chunked(reader)
    elif length is not None:
        message.body = _read_exact(reader, int(length))
    elif response_to is not None:
        message.body = reader.read(MAX_BODY)  # close-delimited
    return message


def _error(status: int, message: str, extra: list[tuple[bytes, bytes]]) -> bytes:
    body = orjson.dumps(
        {
            "code": ERROR_CODES[status],
            "message": message,
            "StatusCode": status,
            "duration": "0.00ms",
            "more_info": "",
            "details": [],
        }
    )
    head = [
        f"HTTP/1.1 {status} {REASONS[status]}".encode(),
        b"Content-Type: application/json",
        b"Content-Length: " + str(len(body)).encode(),
        *(k + b": " + v for k, v in extra),
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def _reset(sock: socket.socket) -> None:
    """Close with a TCP RST (SO_LINGER 0) rather than a FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class FaultProxy:
    """A proxy in front of ``upstream`` (``http://127.0.0.1:PORT``) injecting faults at
    ``rates`` (kind -> probability per request, summing to at most 1). Thread-safe counters:
    ``injected`` (by kind), ``received`` and ``forwarded`` requests, ``rows_forwarded``
    (activities in forwarded bodies), ``delivered`` (answers relayed intact),
    ``upstream_errors`` (the server could not be reached or hung up) and ``connections``
    (accepted)."""

    def __init__(
        self,
        upstream: str,
        rates: Mapping[str, float] | None = None,
        *,
        seed: int = 0,
        slow_s: float = 3.0,
        retry_after: tuple[int, ...] = (0, 1),
        idle_timeout: float = 30.0,
        upstream_timeout: float = 60.0,
    ) -> None:
        rates = dict(rates or {})
        unknown = set(rates) - set(KINDS)
        if unknown or sum(rates.values()) > 1 or min(rates.values(), default=0) < 0:
            raise ValueError(f"rates must be probabilities of {KINDS}, summing to <= 1: {rates}")
        self.rates = rates
        self.slow_s = slow_s
        self.retry_after = retry_after
        self.idle_timeout = idle_timeout
        self.upstream_timeout = upstream_timeout
        self.set_upstream(upstream)
        self.injected: Counter[str] = Counter()
        self.received = self.forwarded = self.rows_forwarded = 0
        self.delivered = self.upstream_errors = self.connections = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._acceptor = threading.Thread(target=self._accept, name="fault-proxy", daemon=True)
        self._acceptor.start()

    def __repr__(self) -> str:
        return f"FaultProxy({self.url} -> {self.upstream}, rates={self.rates})"

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_upstream(self, upstream: str) -> None:
        """Point at another server (a restarted one on a new port)."""
        parts = urlsplit(upstream)
        if parts.hostname != "127.0.0.1" or parts.port is None:
            raise ValueError(f"upstream must be http://127.0.0.1:PORT, not {upstream!r}")
        self.upstream = upstream
        self._address = (parts.hostname, parts.port)

    def counts(self) -> dict[str, Any]:
        with self._lock:
            return {
                "received": self.received,
                "forwarded": self.forwarded,
                "rows_forwarded": self.rows_forwarded,
                "delivered": self.delivered,
                "upstream_errors": self.upstream_errors,
                "connections": self.connections,
                "injected": dict(self.injected),
            }

    def stop(self) -> None:
        """Stop accepting, close every connection, and join every thread (bounded)."""
        self._stopping.set()
        self._acceptor.join(JOIN_TIMEOUT_S)
        self._listener.close()
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(JOIN_TIMEOUT_S)
        alive = [t.name for t in threads if t.is_alive()]
        if alive or self._acceptor.is_alive():
            raise RuntimeError(f"fault proxy threads still running after stop: {alive}")

    # -- internals ---------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(self.idle_timeout)
            thread = threading.Thread(
                target=self._serve, args=(sock,), daemon=True, name=f"fault-proxy-{sock.fileno()}"
            )
            with self._lock:
                self.connections += 1
                self._sockets.add(sock)
                self._threads.add(thread)
            thread.start()

    def _draw(self) -> str | None:
        with self._lock:
            self.received += 1
            roll = self._rng.random()
            for kind in KINDS:
                roll -= self.rates.get(kind, 0.0)
                if roll < 0:
                    self.injected[kind] += 1
                    return kind
            return None

    def _serve(self, sock: socket.socket) -> None:
        reader = sock.makefile("rb")
        try:
            while not self._stopping.is_set():
                try:
                    request = _read_message(reader)
                except (_Closed, OSError, ValueError):
                    return
                try:
                    if not self._answer(sock, request):
                        return
                except OSError:  # the client went away while we answered
                    return
        finally:
            reader.close()
            sock.close()
            with self._lock:
                self._sockets.discard(sock)
                self._threads.discard(threading.current_thread())

    def _answer(self, sock: socket.socket, request: _Message) -> bool:
        """Answer one request; False when the connection is done."""
        keep_alive = (request.header(b"connection") or b"").lower() != b"close"
        conn = [(b"Connection", b"keep-alive" if keep_alive else b"close")]
        kind = self._draw()
        if kind == "reset_before":
            _reset(sock)
            return False
        if kind in ("429", "500", "503"):
            extra = list(conn)
            if kind == "429":
                with self._lock:
                    seconds = self._rng.choice(self.retry_after)
                extra.append((b"Retry-After", str(seconds).encode()))
            sock.sendall(_error(int(kind), f"injected {kind}", extra))
            return keep_alive
        response = self._forward(request)
        if response is None:  # the server is down or hung up: so does the proxy
            _reset(sock)
            return False
        if kind == "502":
            sock.sendall(_error(502, "injected 502: the server's answer was lost", conn))
            return keep_alive
        if kind == "reset_after" or (kind == "truncated" and not response.body):
            _reset(sock)
            return False
        if kind == "slow":
            self._stopping.wait(self.slow_s)
            _reset(sock)
            return False
        length = [(b"Content-Length", str(len(response.body)).encode())]
        if kind == "truncated":
            cut = response.body[: len(response.body) // 2]
            sock.sendall(response.encode([*length, (b"Connection", b"close")], cut))
            return False
        with self._lock:  # counted first, so that whoever got the answer sees the count
            self.delivered += 1
        try:
            sock.sendall(response.encode([*length, *conn]))
        except OSError:
            with self._lock:
                self.delivered -= 1
            raise
        return keep_alive

    def _forward(self, request: _Message) -> _Message | None:
        rows = 0
        if request.body.startswith(b'{"activities":'):
            try:
                rows = len(orjson.loads(request.body)["activities"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                rows = 0
        try:
            with socket.create_connection(self._address, timeout=self.upstream_timeout) as up:
                with self._lock:
                    self._sockets.add(up)
                try:
                    length = str(len(request.body)).encode()
                    up.sendall(
                        request.encode([(b"Content-Length", length), (b"Connection", b"close")])
                    )
                    with self._lock:
                        self.forwarded += 1
                        self.rows_forwarded += rows
                    method = request.start.split(b" ", 1)[0]
                    with up.makefile("rb") as upstream:
                        return _read_message(upstream, response_to=method)
                finally:
                    with self._lock:
                        self._sockets.discard(up)
        except (OSError, ValueError, _Closed):
            with self._lock:
                self.upstream_errors += 1
            return None
