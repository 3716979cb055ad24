"""Fixed-window rate limits per operation, as the hosted service applies them per minute.

Off unless configured (``limits={"AddActivity": 1000}`` or ``{"*": 300}``). Limited operations
answer with ``x-ratelimit-limit``, ``x-ratelimit-remaining`` and ``x-ratelimit-reset`` (unix
seconds); an exceeded window answers 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping

from feedkit.server.problems import RATE_LIMITED, Problem


class RateLimiter:
    def __init__(self, limits: Mapping[str, int] | None = None, window: float = 60.0) -> None:
        self.limits = dict(limits or {})
        self.window = window
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def check(self, operation: str) -> dict[str, str]:
        """Count one request; the headers to send, or raise a 429 :class:`Problem`."""
        limit = self.limits.get(operation, self.limits.get("*"))
        if limit is None:
            return {}
        now = time.time()
        with self._lock:
            start, used = self._windows.get(operation, (now, 0))
            if now - start >= self.window:
                start, used = now, 0
            reset = start + self.window
            headers = {"x-ratelimit-limit": str(limit), "x-ratelimit-reset": str(math.ceil(reset))}
            if used >= limit:
                retry = max(1, math.ceil(reset - now))
                headers.update({"x-ratelimit-remaining": "0", "Retry-After": str(retry)})
                raise Problem(
                    429,
                    RATE_LIMITED,
                    f"rate limit of {limit} requests per {self.window:g}s exceeded "
                    f"for {operation}; retry after {retry}s",
                    headers=headers,
                )
            self._windows[operation] = (start, used + 1)
            headers["x-ratelimit-remaining"] = str(limit - used - 1)
            return headers
