"""Run the embedded server on a port with uvicorn, announcing the URL once it accepts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import uvicorn

from feedkit.server.app import DEFAULT_MAX_BODY, create_app


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
) -> None:
    """Serve until SIGINT or SIGTERM; every acknowledged write is already on disk."""
    app = create_app(
        db,
        api_key=api_key,
        api_secret=api_secret,
        rate_limits=rate_limits,
        max_body_bytes=max_body_bytes,
    )
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="on", access_log=False
    )
    server = _Server(config)
    server.announce = announce
    server.run()
