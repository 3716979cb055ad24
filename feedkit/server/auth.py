"""Who is asking: the api_key query parameter and the JWT, checked against the app's secret.

A server token (HS256, any claims, usually ``{}``) acts for the app and may act for any user.
A user token carries ``user_id`` and acts for that user only: asking to act for someone else
is a 403.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import jwt

from feedkit.server.problems import AUTH_ERROR, NOT_ALLOWED, TOKEN_EXPIRED, TOKEN_SIGNATURE, Problem


@dataclass(frozen=True)
class Principal:
    """The verified caller: the app itself (``user_id`` None) or one user."""

    user_id: str | None

    @property
    def is_server(self) -> bool:
        return self.user_id is None

    def server_only(self, operation: str) -> None:
        """Refuse a user token an operation only the app itself may run."""
        if self.user_id is not None:
            raise Problem(403, NOT_ALLOWED, f"{operation} needs a server-side token, not a user's")

    def acting_as(self, requested: str | None) -> str | None:
        """The user a request acts for; a user token may only act for itself."""
        if self.user_id is None:
            return requested
        if requested is not None and requested != self.user_id:
            raise Problem(
                403, NOT_ALLOWED, f"a token for user {self.user_id!r} cannot act for {requested!r}"
            )
        return self.user_id


APP = Principal(None)  # the app itself, as a server-side token is (an import acts for it)


class Authenticator:
    """Verifies requests for one app (api key + secret). The secret is never shown."""

    def __init__(self, api_key: str, api_secret: str) -> None:
        self.api_key = api_key
        self._secret = api_secret

    def __repr__(self) -> str:
        return f"Authenticator(api_key={self.api_key!r}, api_secret='***')"

    def sign(self, message: str) -> str:
        """An HMAC-SHA256 of ``message`` with the app's secret (an upload URL's signature):
        it proves the server made the message, and never shows the secret."""
        return hmac.new(self._secret.encode(), message.encode(), hashlib.sha256).hexdigest()

    def signed(self, message: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(message).encode(), signature.encode())

    def verify(self, api_key: str | None, auth_type: str | None, token: str | None) -> Principal:
        if not api_key or not hmac.compare_digest(api_key.encode(), self.api_key.encode()):
            raise Problem(401, AUTH_ERROR, "api_key is missing or unknown")
        if (auth_type or "jwt").lower() == "anonymous":
            raise Problem(401, AUTH_ERROR, "anonymous access is not enabled on this server")
        if not token:
            raise Problem(401, AUTH_ERROR, "the Authorization header with a JWT is missing")
        if token.lower().startswith("bearer "):
            token = token[7:]
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                options={"require": [], "verify_aud": False},
                leeway=5,
            )
        except jwt.ExpiredSignatureError:
            raise Problem(401, TOKEN_EXPIRED, "the JWT has expired") from None
        except jwt.InvalidSignatureError:
            raise Problem(
                401, TOKEN_SIGNATURE, "the JWT signature is not valid for this app's secret"
            ) from None
        except jwt.PyJWTError as exc:
            raise Problem(401, AUTH_ERROR, f"the JWT is not valid: {exc}") from None
        if not isinstance(claims, dict) or "user_id" not in claims:
            return Principal(None)  # no user_id claim at all: the app itself, server-side
        user_id = claims["user_id"]
        if not isinstance(user_id, str) or not user_id:
            # An empty or null claim must not pass for a server-side token.
            raise Problem(401, AUTH_ERROR, "the JWT user_id claim must be a non-empty string")
        return Principal(user_id)
