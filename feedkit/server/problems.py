"""Protocol errors raised inside the server and the JSON body every one of them answers with.

The SDK needs all six keys (``code``, ``message``, ``StatusCode``, ``duration``, ``more_info``,
``details``) or it fails with a bare ``KeyError``; ``exception_fields`` names bad fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from feedkit.schema import FieldError

# The vendor's error codes.
INPUT_ERROR = 4
AUTH_ERROR = 5
RATE_LIMITED = 9
NOT_FOUND = 16
NOT_ALLOWED = 17
TOKEN_EXPIRED = 40
TOKEN_SIGNATURE = 43
INTERNAL = -1
# Not the vendor's: an operation of the spec that feedkit's embedded server does not implement
# (answered with HTTP 501, never a bare 404). The vendor has no code for it; this one says so.
NOT_IMPLEMENTED = 501

MORE_INFO = "https://getstream.io/activity-feeds/docs/api/errors/"


class Problem(Exception):
    """An error answer: HTTP status, vendor code, message and optional field messages."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        fields: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = dict(fields or {})
        self.headers = dict(headers or {})

    @classmethod
    def invalid(cls, fields: Mapping[str, str], message: str | None = None) -> Problem:
        text = message or "invalid request: " + "; ".join(f"{k}: {v}" for k, v in fields.items())
        return cls(400, INPUT_ERROR, text, fields)

    @classmethod
    def from_field_errors(cls, errors: Iterable[FieldError], prefix: str = "") -> Problem:
        fields: dict[str, str] = {}
        for e in errors:
            fields.setdefault(prefix + e.field, e.message)
        return cls.invalid(fields)

    @classmethod
    def not_found(cls, what: str) -> Problem:
        return cls(404, NOT_FOUND, f"{what} does not exist")

    def body(self, duration: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "StatusCode": self.status,
            "duration": duration,
            "more_info": MORE_INFO,
            "details": [],
        }
        if self.fields:
            out["exception_fields"] = self.fields
        if self.status < 500 and self.status != 429:
            out["unrecoverable"] = True
        return out
