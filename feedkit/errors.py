"""The exception tree: every error feedkit raises, with its context.

::

    FeedkitError
    ├── ValidationError     refused before sending; .errors: FieldError(field, code, message)
    ├── APIError            the server answered >= 400: .status .code .message .exception_fields
    │   ├── AuthError       401 / 403: missing, forged or expired token, or acting for another user
    │   ├── NotFoundError   404: no such activity (or feed, ...)
    │   ├── RateLimitError  429: .retry_after seconds
    │   └── ServerError     5xx
    ├── TransportError      no answer: connection refused or reset, timeout, truncated body
    ├── StoreError          the embedded server's SQLite file cannot be opened as it is
    └── UsageError          cannot run as asked: no such file or store, a missing credential,
                            an argument of the wrong form (the CLI exits 2 for it)

Messages say what was wrong and where; no error ever carries the API secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from feedkit.schema import FieldError

__all__ = [
    "APIError",
    "AuthError",
    "FeedkitError",
    "NotFoundError",
    "RateLimitError",
    "ServerError",
    "StoreError",
    "TransportError",
    "UsageError",
    "ValidationError",
]


class FeedkitError(Exception):
    """The root of every feedkit error."""


class ValidationError(FeedkitError, ValueError):
    """One or more fields were refused before anything was sent."""

    def __init__(
        self, errors: Iterable[FieldError], *, where: str = "", what: str = "activity"
    ) -> None:
        self.errors = list(errors)
        self.where = where
        lines = "; ".join(str(e) for e in self.errors[:10])
        more = f" (and {len(self.errors) - 10} more)" if len(self.errors) > 10 else ""
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}invalid {what}: {lines}{more}")

    @property
    def fields(self) -> dict[str, str]:
        """Field path -> message, the shape of the protocol's ``exception_fields``."""
        return {e.field: e.message for e in self.errors}


class APIError(FeedkitError):
    """The server answered with an error body (status >= 400)."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: int = 0,
        exception_fields: Mapping[str, str] | None = None,
        more_info: str = "",
        method: str = "",
        path: str = "",
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.exception_fields = dict(exception_fields or {})
        self.more_info = more_info
        self.method = method
        self.path = path
        where = f" ({method} {path})" if method else ""
        fields = ""
        if self.exception_fields:
            fields = ": " + "; ".join(f"{k}: {v}" for k, v in self.exception_fields.items())
        super().__init__(f"{status} code {code}{where}: {message}{fields}")


class AuthError(APIError):
    """401 or 403: check the API key and secret, or the user the token acts for."""


class NotFoundError(APIError):
    """404: the activity (or feed) does not exist, or is deleted or not visible to you."""


class RateLimitError(APIError):
    """429: the rate limit was exceeded; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class ServerError(APIError):
    """5xx: the server failed; safe requests are retried before this is raised."""


class TransportError(FeedkitError):
    """No usable answer: connection refused or reset, timeout, or a truncated body."""


class StoreError(FeedkitError):
    """The embedded server's SQLite file cannot be opened: written by a newer feedkit, or an
    older layout that could not be migrated (the file is then left as it was)."""


class UsageError(FeedkitError, ValueError):
    """The call cannot run as asked: a file or store that does not exist, a credential that is
    missing, an argument of the wrong form. Nothing was read or written."""


def error_for_status(status: int) -> type[APIError]:
    """The most specific :class:`APIError` class for an HTTP status."""
    if status in (401, 403):
        return AuthError
    if status == 404:
        return NotFoundError
    if status == 429:
        return RateLimitError
    if status >= 500:
        return ServerError
    return APIError
