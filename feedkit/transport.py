"""An httpx transport into an ASGI app in the same process: the embedded default's wire.

Requests still travel as HTTP (method, raw path, headers, JSON bytes) through the server's
real routing, auth and error handling; only the socket is skipped. The app runs on an event
loop in a daemon thread, so the transport is synchronous and safe to share between threads.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx

CLIENT = ("127.0.0.1", 123)  # the peer address the app sees


class InProcessTransport(httpx.BaseTransport):
    def __init__(self, app: Any) -> None:
        self._app = app
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="feedkit-embedded"
        )
        self._thread.start()

    async def _send(self, request: httpx.Request) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """One ASGI call of the app: the request whole, the response's parts gathered (what
        httpx.ASGITransport does, without its per-request event and trio checks)."""
        url = request.url
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": request.method, "scheme": url.scheme, "path": url.path,
            "raw_path": url.raw_path.split(b"?")[0], "query_string": url.query,
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "server": (url.host, url.port), "client": CLIENT, "root_path": "",
        }  # fmt: skip
        body, sent = request.content, False
        status, headers, parts = 500, [], []
        done = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await done.wait()
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                if message.get("body") and request.method != "HEAD":
                    parts.append(message["body"])
                if not message.get("more_body", False):
                    done.set()

        await self._app(scope, receive, send)
        return status, headers, b"".join(parts)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        future = asyncio.run_coroutine_threadsafe(self._send(request), self._loop)
        status, headers, body = future.result()
        return httpx.Response(status, headers=headers, content=body, request=request)

    def close(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()  # its selector and self-pipe, not left to the garbage collector
