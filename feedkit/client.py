"""One method per protocol call, over httpx: auth, validation, retries and rate limits.

The same :class:`Client` talks to the hosted service, to ``feedkit serve``, or to the embedded
default in this process (``feedkit.connect()``); only the httpx transport differs::

    >>> import feedkit
    >>> client = feedkit.connect(":memory:")
    >>> client.add_activity(type="post", feeds=["user:alice"], user_id="alice", text="hi").text
    'hi'
    >>> client.close()

Method names and arguments follow the official SDK's feeds client. Requests are validated
against :mod:`feedkit.schema` before they are sent. Safe requests (reads, and writes that
carry ids) are retried with exponential backoff and jitter on transport errors, 429 (after
``Retry-After``) and 5xx.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

import httpx
import jwt
import orjson

from feedkit.errors import (
    NotFoundError,
    RateLimitError,
    TransportError,
    UsageError,
    ValidationError,
    error_for_status,
)
from feedkit.protocol import OPS
from feedkit.results import Activity, Page, activities
from feedkit.schema import (
    DEFAULT_PAGE,
    MAX_BATCH,
    MAX_PAGE,
    FieldError,
    format_time,
    parse_time,
    validate_activity,
    validate_limit,
    validate_partial,
)
from feedkit.schema.bookmark import validate_bookmark, validate_folder
from feedkit.schema.comment import validate_comment, validate_comment_partial
from feedkit.schema.feed_group import validate_feed_group, validate_feed_view
from feedkit.schema.reaction import validate_reaction
from feedkit.schema.user import validate_user, validate_user_partial

log = logging.getLogger("feedkit.client")

__all__ = ["Client", "RateBudget", "Retry", "connect", "wire"]

T = TypeVar("T")
DEFAULT_DB = "feedkit.db"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Retry:
    """How safe requests are retried: ``attempts`` in all, backoff doubling from ``backoff``
    seconds up to ``max_backoff``, with full jitter; a 429's Retry-After is honoured."""

    attempts: int = 5
    backoff: float = 0.25
    max_backoff: float = 10.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return retry_after + random.uniform(0, self.backoff)
        return random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))


class RateBudget:
    """One rate budget for every thread of a client: a 429's Retry-After, or an exhausted
    ``x-ratelimit-remaining`` until ``x-ratelimit-reset``, pauses them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, time.time() + seconds)

    def wait(self) -> None:
        """Sleep until the budget allows a request (one bounded sleep)."""
        with self._lock:
            delay = self._until - time.time()
        if delay > 0:
            time.sleep(delay)

    def observe(self, response: httpx.Response) -> None:
        remaining = response.headers.get("x-ratelimit-remaining")
        reset = response.headers.get("x-ratelimit-reset")
        if remaining == "0" and reset and reset.isdigit() and response.status_code != 429:
            self.pause(min(60.0, max(0.0, int(reset) - time.time())))


class _Secret:
    """Holds a credential; its repr and str never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


def wire(value: Any) -> Any:
    """JSON-ready copy: nulls stripped from objects (as the SDK does), times as RFC 3339."""
    if isinstance(value, Mapping):
        return {str(k): wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [wire(v) for v in value]
    if isinstance(value, datetime):
        return format_time(parse_time(value))
    if isinstance(value, date):
        return value.isoformat()
    return value


def _default(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy and pandas scalars
    if callable(item):
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class _SharedTransport(httpx.BaseTransport):
    """Another client's transport, borrowed: closing the borrower leaves it open."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(request)


def _check(errors: list[FieldError], where: str = "", what: str = "activity") -> None:
    if errors:
        raise ValidationError(errors, where=where, what=what)


def _feed_parts(feed: str) -> tuple[str, str]:
    group, sep, feed_id = feed.partition(":")
    if not sep or not group or not feed_id:
        raise UsageError(f"{feed!r} is not a feed id of the form 'group:id' (e.g. user:alice)")
    return group, feed_id


class Client:
    """A client of one Activity Feeds v3 app. Thread-safe; use as a context manager."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        api_secret: str | None = None,
        *,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        retry: Retry | None = None,
        validate: bool = True,
    ) -> None:
        if not api_key:
            raise UsageError(f"no API key for {base_url}: pass api_key or set STREAM_API_KEY")
        if api_secret is None and token is None:
            raise UsageError(
                f"no API secret for {base_url}: pass api_secret (server-side) or token (a user "
                "token), or set STREAM_API_SECRET"
            )
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self._secret = _Secret(api_secret) if api_secret is not None else None
        self._token = _Secret(
            token if token is not None else jwt.encode({}, api_secret or "", algorithm="HS256")
        )
        self.retry = retry or Retry()
        self.budget = RateBudget()
        self.validate = validate
        self._transport = transport
        self._timeout = timeout
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            headers={"stream-auth-type": "jwt", "X-Stream-Client": "feedkit-python"},
        )
        self._lock = threading.Lock()
        self._urls: dict[tuple[str, tuple[tuple[str, Any], ...]], httpx.URL] = {}
        # Why requests were sent again, e.g. {"503": 4, "ReadTimeout": 1}: a figure for reports.
        self.retries: Counter[str] = Counter()
        self._owned: list[Any] = []
        self.db_path: str | None = None  # the SQLite file of the embedded default
        self.store_id: str | None = None  # the embedded store's identity

    @property
    def destination(self) -> str:
        """Where this client's writes land, as a checkpoint is bound to it: the embedded
        store's id, or the server's URL and a digest of the API key (never the secret)."""
        if self.store_id is not None:
            return f"feedkit store {self.store_id}"
        key = hashlib.sha256(self.api_key.encode()).hexdigest()[:12]
        return f"{self.base_url} (api key sha256 {key})"

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r}, api_key={self.api_key!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()
        for thing in self._owned:
            thing.close()
        self._owned.clear()

    def user_token(self, user_id: str, expires_in: float | None = 3600) -> str:
        """A token acting for ``user_id`` only, signed with this client's secret."""
        if self._secret is None:
            raise ValueError("a user token needs the API secret")
        claims: dict[str, Any] = {"user_id": user_id, "iat": int(time.time())}
        if expires_in is not None:
            claims["exp"] = int(time.time() + expires_in)
        return jwt.encode(claims, self._secret.reveal(), algorithm="HS256")

    def as_user(self, user_id: str) -> Client:
        """A client acting for ``user_id`` only (a user token), on the same server: reads
        see what that user may see, and writes for anyone else are refused (403)."""
        shared = _SharedTransport(self._transport) if self._transport is not None else None
        return Client(
            self.base_url,
            self.api_key,
            token=self.user_token(user_id),
            transport=shared,
            timeout=self._timeout,
            retry=self.retry,
            validate=self.validate,
        )

    # -- the wire ---------------------------------------------------------------------------

    def call(
        self, operation: str, path: Mapping[str, str] | None = None, /, **options: Any
    ) -> dict[str, Any]:
        """:meth:`request` of one operation of :mod:`feedkit.protocol` by its operationId,
        its path parameters filled in: ``call("GetActivity", {"id": "a1"})``; ``options``
        are :meth:`request`'s (``json``, ``params`` of the query, ``retry``, ...)."""
        op = OPS[operation]
        return self.request(op.method, op.path(**(path or {})), **options)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        retry: bool = True,
        decode: bool = True,
    ) -> dict[str, Any]:
        """Send one protocol request and return the decoded JSON answer (``{}`` for a
        success when ``decode`` is false: the bulk importer does not read its answers).

        ``json`` is encoded (nulls stripped); ``content`` is sent as it is (JSON bytes made
        elsewhere, as the bulk importer does). ``retry`` says the request is safe to repeat;
        unsafe ones are sent once. Every request first waits out the client's rate budget.
        """
        response, body = self._exchange(method, path, json, content, params, retry)
        if not decode and response.status_code < 400:
            return {}
        return self._decode(method, path, response, body)

    def request_read(
        self,
        read: Callable[[bytes], T],
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        retry: bool = True,
    ) -> T:
        """:meth:`request`, with a successful answer's bytes read by ``read`` instead of
        decoded into dicts (a bulk reader decodes only what it keeps). Error answers raise
        as they do for :meth:`request`; ``read`` raising ``ValueError`` (the bytes are not
        the JSON it reads) raises :class:`TransportError`."""
        response, body = self._exchange(method, path, json, None, params, retry)
        if response.status_code >= 400:
            self._decode(method, path, response, body)  # raises the APIError
        try:
            return read(body)
        except ValueError as exc:
            raise TransportError(
                f"{method} {path}: the answer could not be read ({exc}; status "
                f"{response.status_code}, {len(body)} bytes); it may have been cut short"
            ) from None

    def _exchange(
        self,
        method: str,
        path: str,
        json: Any,
        content: bytes | None,
        params: Mapping[str, Any] | None,
        retry: bool,
    ) -> tuple[httpx.Response, bytes]:
        """The answer to one request and its body, after the retries it is owed."""
        query: dict[str, Any] = {"api_key": self.api_key}
        for key, value in (params or {}).items():
            if value is not None:
                query[key] = ("true" if value else "false") if isinstance(value, bool) else value
        if json is not None:
            content = orjson.dumps(wire(json), default=_default)
        headers = {"Authorization": self._token.reveal(), "x-client-request-id": str(uuid.uuid4())}
        if content is not None:
            headers["Content-Type"] = "application/json"
        url = self._url(path, query)
        attempts = self.retry.attempts if retry else 1
        for attempt in range(attempts):
            self.budget.wait()
            try:
                response = self._http.request(method, url, content=content, headers=headers)
                body = response.content
            except httpx.HTTPError as exc:
                if attempt + 1 < attempts:
                    wait = self.retry.delay(attempt)
                    log.warning("%s %s failed (%s); retry %d in %.2fs", method, path,
                                type(exc).__name__, attempt + 1, wait)  # fmt: skip
                    self._retried(type(exc).__name__)
                    time.sleep(wait)
                    continue
                raise TransportError(f"{method} {path}: {type(exc).__name__}: {exc}") from None
            self.budget.observe(response)
            if response.status_code in RETRY_STATUSES and attempt + 1 < attempts:
                wait = self.retry.delay(attempt, _retry_after(response))
                log.warning("%s %s answered %d; retry %d in %.2fs", method, path,
                            response.status_code, attempt + 1, wait)  # fmt: skip
                self._retried(str(response.status_code))
                if response.status_code == 429:
                    self.budget.pause(wait)  # every thread of this client waits it out
                else:
                    time.sleep(wait)
                continue
            return response, body
        raise AssertionError("unreachable")  # pragma: no cover

    def _url(self, path: str, query: dict[str, Any]) -> httpx.URL:
        """The absolute URL of a request, parsed once per path and query: httpx would parse
        and merge a relative URL and its parameters again on every request (a third of its
        own time per request)."""
        key = (path, tuple(query.items()))
        try:
            url = self._urls.get(key)
        except TypeError:  # a list value (the parameter repeated) cannot be a key
            return httpx.URL(self.base_url + path, params=query)
        if url is None:
            if len(self._urls) >= 256:  # paths that name ids are many; most are used once
                self._urls.clear()
            url = self._urls[key] = httpx.URL(self.base_url + path, params=query)
        return url

    def _retried(self, cause: str) -> None:
        with self._lock:
            self.retries[cause] += 1

    def _decode(
        self, method: str, path: str, response: httpx.Response, body: bytes
    ) -> dict[str, Any]:
        try:
            data = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            if response.status_code < 400:
                raise TransportError(
                    f"{method} {path}: the answer is not valid JSON "
                    f"(status {response.status_code}, {len(body)} bytes); "
                    "it may have been cut short"
                ) from None
            data = {}
        if response.status_code < 400:
            if not isinstance(data, dict):
                raise TransportError(f"{method} {path}: expected a JSON object")
            return data
        cls = error_for_status(response.status_code)
        kw: dict[str, Any] = {
            "status": response.status_code,
            "code": int(data.get("code") or 0) if isinstance(data, dict) else 0,
            "exception_fields": data.get("exception_fields") if isinstance(data, dict) else None,
            "more_info": str(data.get("more_info") or "") if isinstance(data, dict) else "",
            "method": method,
            "path": path,
        }
        message = (
            data.get("message") if isinstance(data, dict) else None
        ) or f"HTTP {response.status_code}"
        if cls is RateLimitError:
            raise RateLimitError(message, retry_after=_retry_after(response), **kw)
        raise cls(message, **kw)

    # -- activities -------------------------------------------------------------------------

    def add_activity(self, activity: Mapping[str, Any] | None = None, /, **fields: Any) -> Activity:
        """Add (upsert by id) one activity: ``add_activity(type=..., feeds=[...], ...)``."""
        body = {**(activity or {}), **fields}
        if self.validate:
            _check(validate_activity(body))
        data = self.call("AddActivity", json=body, retry=bool(body.get("id")))
        return Activity(data["activity"])

    def upsert_activities(
        self, activities_: Iterable[Mapping[str, Any]], *, batch_size: int = MAX_BATCH
    ) -> list[Activity]:
        """Upsert any number of activities, in requests of at most 100, in order.

        Everything is validated before the first request; on a bad item nothing is sent.
        """
        items = [dict(a) for a in activities_]
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be 1..{MAX_BATCH}")
        if self.validate:
            errors = []
            for i, item in enumerate(items):
                errors += [
                    FieldError(f"activities[{i}].{e.field}", e.code, e.message, e.value)
                    for e in validate_activity(item)
                ]
            _check(errors)
        out: list[Activity] = []
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            data = self.call(
                "UpsertActivities",
                json={"activities": chunk},
                retry=all(a.get("id") for a in chunk),
            )
            out += activities(data["activities"])
        return out

    def get_activity(self, activity_id: str, *, user_id: str | None = None) -> Activity:
        data = self.call("GetActivity", {"id": activity_id}, params={"user_id": user_id})
        return Activity(data["activity"])

    def update_activity(
        self, activity_id: str, activity: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> Activity:
        """Full update: fields left out are cleared (feeds, type and user are kept)."""
        body = {**(activity or {}), **fields}
        if self.validate:
            _check(validate_activity(body, require=()))
        data = self.call("UpdateActivity", {"id": activity_id}, json=body)
        return Activity(data["activity"])

    def update_activity_partial(
        self,
        activity_id: str,
        *,
        set: Mapping[str, Any] | None = None,
        unset: Sequence[str] | None = None,
        user_id: str | None = None,
    ) -> Activity:
        """Set and unset fields; dotted ``custom.x`` paths reach into custom."""
        if self.validate:
            _check(validate_partial(set, unset))
        body = {
            "set": dict(set) if set else None,
            "unset": list(unset) if unset else None,
            "user_id": user_id,
        }
        data = self.call("UpdateActivityPartial", {"id": activity_id}, json=body)
        return Activity(data["activity"])

    def update_activities_partial_batch(
        self, changes: Iterable[Mapping[str, Any]]
    ) -> list[Activity]:
        items = [dict(c) for c in changes]
        if self.validate:
            errors = []
            for i, change in enumerate(items):
                errors += [
                    FieldError(f"changes[{i}].{e.field}", e.code, e.message, e.value)
                    for e in validate_partial(change.get("set"), change.get("unset"))
                ]
            _check(errors)
        out: list[Activity] = []
        for start in range(0, len(items), MAX_BATCH):
            data = self.call(
                "UpdateActivitiesPartialBatch", json={"changes": items[start : start + MAX_BATCH]}
            )
            out += activities(data.get("activities") or [])
        return out

    def delete_activity(
        self, activity_id: str, *, hard_delete: bool = False, user_id: str | None = None
    ) -> None:
        self.call(
            "DeleteActivity",
            {"id": activity_id},
            params={"hard_delete": hard_delete or None, "user_id": user_id},
        )

    def delete_activities(
        self, ids: Iterable[str], *, hard_delete: bool = False, user_id: str | None = None
    ) -> list[str]:
        all_ids = list(ids)
        deleted: list[str] = []
        for start in range(0, len(all_ids), MAX_BATCH):
            data = self.call(
                "DeleteActivities",
                json={
                    "ids": all_ids[start : start + MAX_BATCH],
                    "hard_delete": hard_delete or None,
                    "user_id": user_id,
                },
            )
            deleted += data.get("deleted_ids") or []
        return deleted

    def restore_activity(self, activity_id: str, *, user_id: str | None = None) -> Activity:
        data = self.call(
            "RestoreActivity", {"id": activity_id}, json={"user_id": user_id}, retry=False
        )
        return Activity(data["activity"])

    def query_activities(
        self,
        filter: Mapping[str, Any] | None = None,
        *,
        sort: Sequence[Mapping[str, Any]] | None = None,
        limit: int = DEFAULT_PAGE,
        next: str | None = None,
        prev: str | None = None,
        **options: Any,
    ) -> Page:
        """One page of a query; see :meth:`iter_activities` for every page."""
        data = self.query_answer(filter, sort=sort, limit=limit, next=next, prev=prev, **options)
        return Page.from_answer(data)

    def query_answer(
        self,
        filter: Mapping[str, Any] | None = None,
        *,
        sort: Sequence[Mapping[str, Any]] | None = None,
        limit: int = DEFAULT_PAGE,
        next: str | None = None,
        prev: str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """:meth:`query_activities`' answer as decoded JSON, activities as plain dicts (what
        bulk readers such as the exporter want: no wrapping per activity)."""
        body = self._query_body(filter, sort, limit, next, prev, options)
        return self.call("QueryActivities", json=body)

    def query_read(
        self,
        read: Callable[[bytes], T],
        filter: Mapping[str, Any] | None = None,
        *,
        sort: Sequence[Mapping[str, Any]] | None = None,
        limit: int = DEFAULT_PAGE,
        next: str | None = None,
        prev: str | None = None,
        **options: Any,
    ) -> T:
        """:meth:`query_answer`, its bytes read by ``read`` (see :meth:`request_read`)."""
        body = self._query_body(filter, sort, limit, next, prev, options)
        op = OPS["QueryActivities"]
        return self.request_read(read, op.method, op.path(), json=body)

    def _query_body(
        self,
        filter: Mapping[str, Any] | None,
        sort: Sequence[Mapping[str, Any]] | None,
        limit: int,
        next: str | None,
        prev: str | None,
        options: Mapping[str, Any],
    ) -> dict[str, Any]:
        if self.validate:
            _check(validate_limit(limit))
        sorted_by = list(sort) if sort else None
        return {"filter": filter, "sort": sorted_by, "limit": limit, "next": next, "prev": prev,
                **options}  # fmt: skip

    def iter_activities(
        self,
        filter: Mapping[str, Any] | None = None,
        *,
        sort: Sequence[Mapping[str, Any]] | None = None,
        page_size: int = MAX_PAGE,
        **options: Any,
    ) -> Iterator[Activity]:
        """Every activity of a query, following ``next`` cursors page by page."""
        cursor: str | None = None
        while True:
            page = self.query_activities(filter, sort=sort, limit=page_size, next=cursor, **options)
            yield from page
            if not page.next:
                return
            cursor = page.next

    # -- feeds ------------------------------------------------------------------------------

    def get_or_create_feed(
        self,
        feed_group: str,
        feed_id: str,
        *,
        user_id: str | None = None,
        limit: int = DEFAULT_PAGE,
        next: str | None = None,
        prev: str | None = None,
        **options: Any,
    ) -> Page:
        """Read a feed page (creating the feed if needed): its activities and the feed."""
        data = self._feed_page(feed_group, feed_id, user_id=user_id, limit=limit, next=next,
                               prev=prev, **options)  # fmt: skip
        return Page.from_answer(data)

    def feed_answer(self, feed: str, **options: Any) -> dict[str, Any]:
        """A feed page's answer ('group:id') as decoded JSON, activities as plain dicts (the
        options of :meth:`get_or_create_feed`)."""
        group, feed_id = _feed_parts(feed)
        return self._feed_page(group, feed_id, **options)

    def feed_read(self, read: Callable[[bytes], T], feed: str, **options: Any) -> T:
        """:meth:`feed_answer`, its bytes read by ``read`` (see :meth:`request_read`)."""
        path, body = self._feed_request(*_feed_parts(feed), **options)
        return self.request_read(read, OPS["GetOrCreateFeed"].method, path, json=body)

    def _feed_page(self, feed_group: str, feed_id: str, **options: Any) -> dict[str, Any]:
        path, body = self._feed_request(feed_group, feed_id, **options)
        return self.request(OPS["GetOrCreateFeed"].method, path, json=body)

    def _feed_request(
        self,
        feed_group: str,
        feed_id: str,
        *,
        user_id: str | None = None,
        limit: int = DEFAULT_PAGE,
        next: str | None = None,
        prev: str | None = None,
        **options: Any,
    ) -> tuple[str, dict[str, Any]]:
        if self.validate:
            _check(validate_limit(limit))
        body = {"user_id": user_id, "limit": limit, "next": next, "prev": prev, **options}
        return OPS["GetOrCreateFeed"].path(feed_group_id=feed_group, feed_id=feed_id), body

    def read_feed(self, feed: str, **options: Any) -> Page:
        """``read_feed("user:alice")``: :meth:`get_or_create_feed` with a 'group:id'."""
        return Page.from_answer(self.feed_answer(feed, **options))

    def iter_feed(
        self, feed: str, *, page_size: int = MAX_PAGE, **options: Any
    ) -> Iterator[Activity]:
        cursor: str | None = None
        while True:
            page = self.read_feed(feed, limit=page_size, next=cursor, **options)
            yield from page
            if not page.next:
                return
            cursor = page.next

    def query_feeds(
        self,
        filter: Mapping[str, Any] | None = None,
        *,
        sort: list[dict[str, Any]] | None = None,
        limit: int = DEFAULT_PAGE,
        next: str | None = None,
        prev: str | None = None,
    ) -> dict[str, Any]:
        """QueryFeeds: feeds matching ``filter`` (feed, id, group_id, created_by_id,
        visibility), read without creating any; the answer's ``feeds`` and cursors."""
        if self.validate:
            _check(validate_limit(limit))
        body = {"filter": filter or {}, "sort": sort, "limit": limit, "next": next, "prev": prev}
        return self.call("QueryFeeds", json=body)

    def feed_exists(self, feed: str) -> bool:
        """Whether the feed ('group:id') exists; asking never creates it."""
        _feed_parts(feed)
        return bool(self.query_feeds({"feed": feed}, limit=1)["feeds"])

    def require_feed(self, feed: str) -> None:
        """Raise :class:`NotFoundError` unless the feed exists: a read of a feed that does not
        exist says so, instead of creating it empty."""
        if not self.feed_exists(feed):
            raise NotFoundError(
                f"feed {feed!r} does not exist (nothing was read, and nothing created)",
                status=404,
            )

    def delete_feed(self, feed: str, *, hard_delete: bool = False) -> None:
        group, _, feed_id = feed.partition(":")
        self.call(
            "DeleteFeed",
            {"feed_group_id": group, "feed_id": feed_id},
            params={"hard_delete": hard_delete or None},
        )

    def follow(self, source: str, target: str, **fields: Any) -> dict[str, Any]:
        """Make ``source`` (e.g. timeline:alice) read the activities of ``target``;
        ``fields`` are the follow's own (``push_preference``, ``custom``)."""
        data = self.call("Follow", json={"source": source, "target": target, **fields})
        return dict(data["follow"])

    def follow_batch(
        self, follows: Iterable[Mapping[str, Any]], *, keep_existing: bool = False
    ) -> list[dict[str, Any]]:
        """Create (or update) many follows, ``[{"source": ..., "target": ...}, ...]``, in
        requests of at most 100; ``keep_existing`` leaves a follow that exists as it is."""
        items = [dict(f) for f in follows]
        operation = "GetOrCreateFollows" if keep_existing else "FollowBatch"
        out: list[dict[str, Any]] = []
        for start in range(0, len(items), MAX_BATCH):
            data = self.call(operation, json={"follows": items[start : start + MAX_BATCH]})
            out += data["follows"]
        return out

    def update_follow(self, source: str, target: str, **fields: Any) -> dict[str, Any]:
        """Change a follow's own fields (``push_preference``, ``custom``, ``follower_role``)."""
        data = self.call("UpdateFollow", json={"source": source, "target": target, **fields})
        return dict(data["follow"])

    def query_follows(
        self,
        filter: Mapping[str, Any] | None = None,
        *,
        sort: Sequence[Mapping[str, Any]] | None = None,
        limit: int = DEFAULT_PAGE,
        next: str | None = None,
    ) -> dict[str, Any]:
        """One page of follows (``{"source_feed": "timeline:alice"}``); its ``next``."""
        if self.validate:
            _check(validate_limit(limit), what="query")
        body = {"filter": dict(filter or {}), "sort": list(sort or []) or None, "limit": limit,
                "next": next}  # fmt: skip
        return self.call("QueryFollows", json=body)

    def unfollow(self, source: str, target: str) -> None:
        self.call("Unfollow", {"source": source, "target": target})

    # -- users ------------------------------------------------------------------------------

    def upsert_users(
        self, users: Iterable[Mapping[str, Any]] | Mapping[str, Any]
    ) -> dict[str, dict[str, Any]]:
        """Create or replace users: a list of ``{"id": ..., "name": ...}`` objects."""
        items = (
            [users]
            if isinstance(users, Mapping) and "id" in users
            else list(users.values() if isinstance(users, Mapping) else users)
        )
        if self.validate:
            errors = [FieldError(f"users[{i}].{e.field}", e.code, e.message, e.value)
                      for i, u in enumerate(items) for e in validate_user(u)]  # fmt: skip
            _check(errors, what="user")
        body = {"users": {str(u["id"]): dict(u) for u in items}}
        return dict(self.call("UpdateUsers", json=body)["users"])

    def update_users_partial(
        self, changes: Iterable[Mapping[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        """Set and unset fields of users: ``[{"id": "ann", "set": {...}, "unset": [...]}]``;
        dotted ``custom.x`` paths reach into custom."""
        items = [dict(c) for c in changes]
        if self.validate:
            _check([FieldError(f"users[{i}].{e.field}", e.code, e.message, e.value)
                    for i, c in enumerate(items)
                    for e in validate_user_partial(c.get("set"), c.get("unset"))],
                   what="user")  # fmt: skip
        return dict(self.call("UpdateUsersPartial", json={"users": items})["users"])

    def query_users(
        self,
        filter: Mapping[str, Any] | None = None,
        *,
        sort: Sequence[Mapping[str, Any]] | None = None,
        limit: int = DEFAULT_PAGE,
        offset: int = 0,
        include_deactivated_users: bool = False,
    ) -> list[dict[str, Any]]:
        """One page of users matching ``filter`` (``{"role": "admin"}``, ``{"teams":
        {"$contains": "red"}}``, ``{"custom.city": "Oslo"}``...), ``offset`` users in."""
        if self.validate:
            _check(validate_limit(limit), what="query")
        payload = {"filter_conditions": dict(filter or {}), "sort": list(sort or []),
                   "limit": limit, "offset": offset,
                   "include_deactivated_users": include_deactivated_users}  # fmt: skip
        answer = self.call("QueryUsers", params={"payload": orjson.dumps(payload).decode()})
        return list(answer["users"])

    def deactivate_user(self, user_id: str) -> dict[str, Any]:
        return dict(self.call("DeactivateUser", {"user_id": user_id}, json={})["user"])

    def reactivate_user(self, user_id: str) -> dict[str, Any]:
        return dict(self.call("ReactivateUser", {"user_id": user_id}, json={})["user"])

    def deactivate_users(self, user_ids: Iterable[str]) -> str:
        """Deactivate users; the id of the task doing it (see :meth:`get_task`)."""
        return str(self.call("DeactivateUsers", json={"user_ids": list(user_ids)})["task_id"])

    def reactivate_users(self, user_ids: Iterable[str]) -> str:
        return str(self.call("ReactivateUsers", json={"user_ids": list(user_ids)})["task_id"])

    def delete_users(self, user_ids: Iterable[str], *, mode: str = "soft") -> str:
        """Delete users (``mode`` soft, pruning or hard); the id of the task doing it."""
        body = {"user_ids": list(user_ids), "user": mode}
        return str(self.call("DeleteUsers", json=body)["task_id"])

    def restore_users(self, user_ids: Iterable[str]) -> None:
        """Undo a soft delete."""
        self.call("RestoreUsers", json={"user_ids": list(user_ids)})

    def get_task(self, task_id: str) -> dict[str, Any]:
        return dict(self.call("GetTask", {"id": task_id}))

    # -- the import pipeline ----------------------------------------------------------------

    def create_import_url(self, filename: str | None = None) -> dict[str, Any]:
        """Where to upload an import file: ``{"path", "upload_url", ...}``."""
        return dict(self.call("CreateImportURL", json={"filename": filename}))

    def upload_import_file(
        self, upload_url: str, file: str | os.PathLike[str], *, chunk_bytes: int = 1 << 20
    ) -> None:
        """PUT ``file`` to an upload URL, streamed in chunks; sent again after a transport
        error or a retryable status. (An upload URL is good for one file: sent again after
        its answer was lost, the same bytes get the same answer; other bytes are refused.)"""
        size = os.path.getsize(file)

        def chunks() -> Iterator[bytes]:
            with open(file, "rb") as f:
                while chunk := f.read(chunk_bytes):
                    yield chunk

        headers = {"Content-Length": str(size), "Content-Type": "application/x-ndjson"}
        path = httpx.URL(upload_url).path
        for attempt in range(self.retry.attempts):
            last = attempt + 1 == self.retry.attempts
            try:
                response = self._http.put(upload_url, content=chunks(), headers=headers)
            except httpx.HTTPError as exc:
                if last:
                    raise TransportError(f"PUT {path}: {type(exc).__name__}: {exc}") from None
                self._retried(type(exc).__name__)
                time.sleep(self.retry.delay(attempt))
                continue
            if response.status_code in RETRY_STATUSES and not last:
                self._retried(str(response.status_code))
                time.sleep(self.retry.delay(attempt, _retry_after(response)))
                continue
            self._decode("PUT", path, response, response.content)  # raises an error answer
            return

    def create_import(
        self, path: str, *, mode: str = "upsert", merge_custom: bool | None = None
    ) -> dict[str, Any]:
        """Start importing an uploaded file; the ImportTask (poll it with get_import)."""
        body = {"path": path, "mode": mode, "merge_custom": merge_custom}
        return dict(self.call("CreateImport", json=body, retry=False)["import_task"])

    def get_import(self, import_id: str) -> dict[str, Any]:
        return dict(self.call("GetImport", {"id": import_id})["import_task"])

    def list_imports(self) -> list[dict[str, Any]]:
        return list(self.call("ListImports")["import_tasks"])

    # -- reactions --------------------------------------------------------------------------

    def add_activity_reaction(
        self,
        activity_id: str,
        type: str,
        *,
        user_id: str | None = None,
        custom: Mapping[str, Any] | None = None,
        enforce_unique: bool | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """React to an activity (``type`` like, love, ...); ``enforce_unique`` replaces the
        user's reactions of other types. The answer: ``reaction`` and ``activity`` (with its
        counts after the change)."""
        body = self._reaction_body(type, user_id, custom, enforce_unique, fields)
        answer = self.call("AddActivityReaction", {"activity_id": activity_id}, json=body)
        return {**answer, "activity": Activity(answer["activity"])}

    def delete_activity_reaction(
        self, activity_id: str, type: str, *, user_id: str | None = None
    ) -> dict[str, Any]:
        """Remove the user's reaction of ``type``; the answer holds the ``reaction`` that was
        and the ``activity`` as it is after."""
        path = {"activity_id": activity_id, "type": type}
        answer = self.call("DeleteActivityReaction", path, params={"user_id": user_id})
        return {**answer, "activity": Activity(answer["activity"])}

    def query_activity_reactions(
        self,
        activity_id: str,
        filter: Mapping[str, Any] | None = None,
        *,
        sort: Sequence[Mapping[str, Any]] | None = None,
        limit: int = DEFAULT_PAGE,
        next: str | None = None,
        prev: str | None = None,
    ) -> dict[str, Any]:
        """One page of an activity's reactions, newest first unless sorted (``filter`` on
        reaction_type, user_id, created_at): ``reactions`` and the ``next`` / ``prev``."""
        body = self._page_body(filter, sort, limit, next, prev)
        return self.call("QueryActivityReactions", {"activity_id": activity_id}, json=body)

    def iter_activity_reactions(
        self,
        activity_id: str,
        filter: Mapping[str, Any] | None = None,
        *,
        sort: Sequence[Mapping[str, Any]] | None = None,
        page_size: int = MAX_PAGE,
    ) -> Iterator[dict[str, Any]]:
        """Every reaction of an activity, following ``next`` cursors page by page."""
        cursor: str | None = None
        while True:
            page = self.query_activity_reactions(
                activity_id, filter, sort=sort, limit=page_size, next=cursor
            )
            yield from page["reactions"]
            cursor = page.get("next")
            if not cursor:
                return

    def batch_query_activity_reactions(
        self,
        activity_ids: Iterable[str],
        filter: Mapping[str, Any] | None = None,
        *,
        user_id: str | None = None,
        sort: Sequence[Mapping[str, Any]] | None = None,
        limit: int = DEFAULT_PAGE,
        next: str | None = None,
        prev: str | None = None,
    ) -> dict[str, Any]:
        """One page of one user's reactions on up to 100 activities (``filter`` on
        reaction_type, created_at): ``reactions`` and the ``next`` / ``prev``."""
        body = self._page_body(filter, sort, limit, next, prev)
        body.update(activity_ids=list(activity_ids), user_id=user_id)
        return self.call("BatchQueryActivityReactions", json=body)

    def _reaction_body(
        self,
        type: str,
        user_id: str | None,
        custom: Mapping[str, Any] | None,
        enforce_unique: bool | None,
        fields: Mapping[str, Any],
    ) -> dict[str, Any]:
        """The body that adds a reaction (to an activity or a comment), checked."""
        body = {"type": type, "user_id": user_id, "custom": custom,
                "enforce_unique": enforce_unique, **fields}  # fmt: skip
        if self.validate:
            _check(validate_reaction({k: v for k, v in body.items() if v is not None}),
                   what="reaction")  # fmt: skip
        return body

    def _page_body(
        self,
        filter: Mapping[str, Any] | None,
        sort: Sequence[Mapping[str, Any]] | None,
        limit: int,
        next: str | None,
        prev: str | None,
        **extra: Any,
    ) -> dict[str, Any]:
        """The body of one page of a list query (reactions, bookmarks, folders, pins)."""
        if self.validate:
            _check(validate_limit(limit), what="query")
        return {"filter": dict(filter) if filter else None, "sort": list(sort or []) or None,
                "limit": limit, "next": next, "prev": prev, **extra}  # fmt: skip

    # -- comment reactions ------------------------------------------------------------------

    def add_comment_reaction(
        self,
        comment_id: str,
        type: str,
        *,
        user_id: str | None = None,
        custom: Mapping[str, Any] | None = None,
        enforce_unique: bool | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """React to a comment (``type`` upvote and downvote also score it); the answer:
        ``reaction`` and ``comment`` (with its counts and scores after the change)."""
        body = self._reaction_body(type, user_id, custom, enforce_unique, fields)
        return dict(self.call("AddCommentReaction", {"id": comment_id}, json=body))

    def delete_comment_reaction(
        self, comment_id: str, type: str, *, user_id: str | None = None
    ) -> dict[str, Any]:
        """Remove the user's reaction of ``type``; the answer holds the ``reaction`` that was
        and the ``comment`` as it is after."""
        path = {"id": comment_id, "type": type}
        return dict(self.call("DeleteCommentReaction", path, params={"user_id": user_id}))

    def query_comment_reactions(
        self,
        comment_id: str,
        filter: Mapping[str, Any] | None = None,
        *,
        sort: Sequence[Mapping[str, Any]] | None = None,
        limit: int = DEFAULT_PAGE,
        next: str | None = None,
        prev: str | None = None,
    ) -> dict[str, Any]:
        """One page of a comment's reactions, newest first unless sorted (``filter`` on
        reaction_type, user_id, created_at): ``reactions`` and the ``next`` / ``prev``."""
        body = self._page_body(filter, sort, limit, next, prev)
        return dict(self.call("QueryCommentReactions", {"id": comment_id}, json=body))

    def batch_query_comment_reactions(
        self,
        comment_ids: Iterable[str],
        filter: Mapping[str, Any] | None = None,
        *,
        user_id: str | None = None,
        sort: Sequence[Mapping[str, Any]] | None = None,
        limit: int = DEFAULT_PAGE,
        next: str | None = None,
        prev: str | None = None,
    ) -> dict[str, Any]:
        """One page of one user's reactions on up to 100 comments (``filter`` on
        reaction_type, created_at): ``reactions`` and the ``next`` / ``prev``."""
        body = self._page_body(filter, sort, limit, next, prev)
        body.update(comment_ids=list(comment_ids), user_id=user_id)
        return dict(self.call("BatchQueryCommentReactions", json=body))

    # -- comments ---------------------------------------------------------------------------

    def add_comment(self, comment: str | None = None, **fields: Any) -> dict[str, Any]:
        """Comment on an activity (``object_id``) or reply to a comment (``parent_id``), as
        ``user_id``; ``fields`` also take attachments, mentioned_user_ids, custom and id."""
        body = {"comment": comment, **fields}
        if self.validate:
            _check(validate_comment(body, strict=True), what="comment")
        return dict(self.call("AddComment", json=body)["comment"])

    def add_comments_batch(self, comments: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Add many comments in requests of at most 100 (each request all or nothing); a
        reply may answer a comment earlier in its request."""
        items = [dict(c) for c in comments]
        if self.validate:
            _check([FieldError(f"comments[{i}].{e.field}", e.code, e.message, e.value)
                    for i, c in enumerate(items) for e in validate_comment(c, strict=True)],
                   what="comment")  # fmt: skip
        out: list[dict[str, Any]] = []
        for start in range(0, len(items), MAX_BATCH):
            data = self.call(
                "AddCommentsBatch", json={"comments": items[start : start + MAX_BATCH]}
            )
            out += data["comments"]
        return out

    def get_comment(self, comment_id: str, *, user_id: str | None = None) -> dict[str, Any]:
        return dict(self.call("GetComment", {"id": comment_id}, params={"user_id": user_id})[
            "comment"])  # fmt: skip

    def get_comments(
        self, object_id: str, object_type: str = "activity", **options: Any
    ) -> dict[str, Any]:
        """One page of an activity's top-level comments, threaded: ``comments`` (each with
        ``replies`` and ``meta``), ``sort``, ``next``, ``prev``. ``options``: depth, sort
        (first, last, top, best, controversial), replies_limit, limit, next, prev, user_id."""
        if self.validate and "limit" in options:
            _check(validate_limit(options["limit"]), what="query")
        params = {"object_id": object_id, "object_type": object_type, **options}
        return self.call("GetComments", params=params)

    def get_comment_replies(self, comment_id: str, **options: Any) -> dict[str, Any]:
        """One page of a comment's replies, threaded as :meth:`get_comments` answers them."""
        if self.validate and "limit" in options:
            _check(validate_limit(options["limit"]), what="query")
        return self.call("GetCommentReplies", {"id": comment_id}, params=options)

    def query_comments(
        self,
        filter: Mapping[str, Any],
        *,
        sort: str | None = None,
        limit: int = DEFAULT_PAGE,
        next: str | None = None,
        prev: str | None = None,
        user_id: str | None = None,
    ) -> dict[str, Any]:
        """One page of comments matching ``filter`` (``{"object_id": "a1"}``, ``{"user_id":
        {"$in": [...]}}``, ``{"comment_text": {"$q": "word"}}``...): ``comments``, ``next``."""
        if self.validate:
            _check(validate_limit(limit), what="query")
        body = {"filter": dict(filter), "sort": sort, "limit": limit, "next": next, "prev": prev,
                "user_id": user_id}  # fmt: skip
        return self.call("QueryComments", json=body)

    def update_comment(self, comment_id: str, **fields: Any) -> dict[str, Any]:
        """Replace the fields given (comment, attachments, custom, mentioned_user_ids)."""
        if self.validate:
            _check(validate_comment(fields, new=False, strict=True), what="comment")
        return dict(self.call("UpdateComment", {"id": comment_id}, json=fields)["comment"])

    def update_comment_partial(
        self,
        comment_id: str,
        *,
        set: Mapping[str, Any] | None = None,
        unset: Sequence[str] | None = None,
        user_id: str | None = None,
    ) -> dict[str, Any]:
        """Set and unset fields of a comment (text, attachments, custom, mentioned_user_ids;
        dotted ``custom.x`` paths reach into custom)."""
        if self.validate:
            _check(validate_comment_partial(set, list(unset) if unset is not None else None),
                   what="comment")  # fmt: skip
        body = {"set": dict(set) if set is not None else None, "user_id": user_id,
                "unset": list(unset) if unset is not None else None}  # fmt: skip
        return dict(self.call("UpdateCommentPartial", {"id": comment_id}, json=body)["comment"])

    def delete_comment(self, comment_id: str, *, hard_delete: bool = False) -> dict[str, Any]:
        """Delete a comment (soft unless ``hard_delete``); the answer's ``comment`` and the
        ``activity`` it was on."""
        params = {"hard_delete": hard_delete}
        return self.call("DeleteComment", {"id": comment_id}, params=params)

    def restore_comment(self, comment_id: str, *, user_id: str | None = None) -> dict[str, Any]:
        """Undo a soft delete; the answer's ``comment`` and its ``activity``."""
        return self.call("RestoreComment", {"id": comment_id}, json={"user_id": user_id})

    # -- bookmarks and pins -----------------------------------------------------------------

    def add_bookmark(
        self,
        activity_id: str,
        *,
        user_id: str | None = None,
        folder_id: str | None = None,
        new_folder: Mapping[str, Any] | None = None,
        custom: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Bookmark an activity for a user, in an existing folder (``folder_id``), a new one
        (``new_folder={"name": ..., "custom": ...}``) or none; the bookmark."""
        body = {"user_id": user_id, "folder_id": folder_id, "new_folder": new_folder,
                "custom": custom}  # fmt: skip
        if self.validate:
            _check(validate_bookmark(wire(body)), what="bookmark")
        return dict(self.call("AddBookmark", {"activity_id": activity_id}, json=body)["bookmark"])

    def update_bookmark(
        self,
        activity_id: str,
        *,
        user_id: str | None = None,
        folder_id: str | None = None,
        new_folder_id: str | None = None,
        new_folder: Mapping[str, Any] | None = None,
        custom: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Change the user's bookmark of an activity in ``folder_id`` (none: the one in no
        folder): its ``custom``, or move it (``new_folder_id``, "" for none, or ``new_folder``)."""
        body = {"user_id": user_id, "folder_id": folder_id, "new_folder_id": new_folder_id,
                "new_folder": new_folder, "custom": custom}  # fmt: skip
        if self.validate:
            _check(validate_bookmark(wire(body), update=True), what="bookmark")
        answer = self.call("UpdateBookmark", {"activity_id": activity_id}, json=body)
        return dict(answer["bookmark"])

    def delete_bookmark(
        self, activity_id: str, *, folder_id: str | None = None, user_id: str | None = None
    ) -> dict[str, Any]:
        """Delete the user's bookmark of an activity in ``folder_id`` (none: the one in no
        folder); the bookmark that was."""
        params = {"folder_id": folder_id, "user_id": user_id}
        answer = self.call("DeleteBookmark", {"activity_id": activity_id}, params=params)
        return dict(answer["bookmark"])

    def query_bookmarks(
        self,
        filter: Mapping[str, Any] | None = None,
        *,
        user_id: str | None = None,
        sort: Sequence[Mapping[str, Any]] | None = None,
        limit: int = DEFAULT_PAGE,
        next: str | None = None,
        prev: str | None = None,
    ) -> dict[str, Any]:
        """One page of bookmarks (``{"folder_id": ...}``, ``{"activity_id": {"$in": [...]}}``),
        a named user's only; its ``next`` and ``prev``."""
        return self._page_query("QueryBookmarks", {}, filter, sort, limit, next, prev,
                                user_id=user_id)  # fmt: skip

    def query_bookmark_folders(
        self,
        filter: Mapping[str, Any] | None = None,
        *,
        sort: Sequence[Mapping[str, Any]] | None = None,
        limit: int = DEFAULT_PAGE,
        next: str | None = None,
        prev: str | None = None,
    ) -> dict[str, Any]:
        """One page of bookmark folders (``{"user_id": ...}``, ``{"folder_name": {"$contains":
        ...}}``); its ``next`` and ``prev``."""
        return self._page_query("QueryBookmarkFolders", {}, filter, sort, limit, next, prev)

    def update_bookmark_folder(
        self,
        folder_id: str,
        *,
        name: str | None = None,
        custom: Mapping[str, Any] | None = None,
        user_id: str | None = None,
    ) -> dict[str, Any]:
        """Rename a folder or change its ``custom``; the folder."""
        body = {"name": name, "custom": custom, "user_id": user_id}
        if self.validate:
            _check(validate_folder(wire(body), "", new=False), what="bookmark folder")
        answer = self.call("UpdateBookmarkFolder", {"folder_id": folder_id}, json=body)
        return dict(answer["bookmark_folder"])

    def delete_bookmark_folder(self, folder_id: str) -> None:
        """Delete a folder; its bookmarks stay, in no folder."""
        self.call("DeleteBookmarkFolder", {"folder_id": folder_id})

    def pin_activity(
        self, feed_group: str, feed_id: str, activity_id: str, *, user_id: str | None = None
    ) -> dict[str, Any]:
        """Pin one of a feed's activities to it; the answer (``activity``, ``feed``,
        ``user_id``, ``created_at``)."""
        path = {"feed_group_id": feed_group, "feed_id": feed_id, "activity_id": activity_id}
        return self.call("PinActivity", path, json={"user_id": user_id})

    def unpin_activity(
        self, feed_group: str, feed_id: str, activity_id: str, *, user_id: str | None = None
    ) -> dict[str, Any]:
        path = {"feed_group_id": feed_group, "feed_id": feed_id, "activity_id": activity_id}
        return self.call("UnpinActivity", path, params={"user_id": user_id})

    def query_pinned_activities(
        self,
        feed_group: str,
        feed_id: str,
        *,
        filter: Mapping[str, Any] | None = None,
        sort: Sequence[Mapping[str, Any]] | None = None,
        limit: int = DEFAULT_PAGE,
        next: str | None = None,
        prev: str | None = None,
    ) -> dict[str, Any]:
        """One page of a feed's pins (``pinned_activities``), newest first unless sorted."""
        path = {"feed_group_id": feed_group, "feed_id": feed_id}
        return self._page_query("QueryPinnedActivities", path, filter, sort, limit, next, prev)

    def _page_query(
        self,
        operation: str,
        path: Mapping[str, str],
        filter: Mapping[str, Any] | None,
        sort: Sequence[Mapping[str, Any]] | None,
        limit: int,
        next: str | None,
        prev: str | None,
        **extra: Any,
    ) -> dict[str, Any]:
        """The answer of one page of a query of bookmarks, folders or pins."""
        body = self._page_body(filter, sort, limit, next, prev, **extra)
        return self.call(operation, path, json=body)

    # -- feed groups, feed views and follow requests ------------------------------------------

    def list_feed_groups(self, *, include_soft_deleted: bool = False) -> dict[str, Any]:
        """Every feed group by id (the built-in ones, user, timeline, ..., and the app's)."""
        params = {"include_soft_deleted": "true"} if include_soft_deleted else None
        return dict(self.call("ListFeedGroups", params=params)["groups"])

    def create_feed_group(self, id: str, **settings: Any) -> dict[str, Any]:
        """Create a feed group; ``settings`` as :data:`~feedkit.schema.feed_group.FEED_GROUP_FIELDS`
        (``default_visibility``, ``activity_selectors``, ``ranking``, ...)."""
        body = {"id": id, **settings}
        _check(validate_feed_group(body), what="feed group")
        return dict(self.call("CreateFeedGroup", json=body)["feed_group"])

    def get_feed_group(self, id: str, *, include_soft_deleted: bool = False) -> dict[str, Any]:
        params = {"include_soft_deleted": "true"} if include_soft_deleted else None
        return dict(self.call("GetFeedGroup", {"id": id}, params=params)["feed_group"])

    def get_or_create_feed_group(self, id: str, **settings: Any) -> tuple[dict[str, Any], bool]:
        """The group (created with ``settings`` if it did not exist) and whether it was."""
        _check(validate_feed_group(settings, require_id=False), what="feed group")
        data = self.call("GetOrCreateFeedGroup", {"id": id}, json=settings)
        return dict(data["feed_group"]), bool(data["was_created"])

    def update_feed_group(self, id: str, **settings: Any) -> dict[str, Any]:
        """Replace every setting of a group (one left out is cleared)."""
        _check(validate_feed_group(settings, require_id=False), what="feed group")
        return dict(self.call("UpdateFeedGroup", {"id": id}, json=settings)["feed_group"])

    def delete_feed_group(self, id: str, *, hard_delete: bool = False) -> None:
        """Soft-delete a group (undone by :meth:`restore_feed_group`), or remove it."""
        self.call("DeleteFeedGroup", {"id": id}, params={"hard_delete": str(hard_delete).lower()})

    def restore_feed_group(self, id: str) -> dict[str, Any]:
        return dict(self.call("RestoreFeedGroup", {"feed_group_id": id}, json={})["feed_group"])

    def list_feed_views(self) -> dict[str, Any]:
        return dict(self.call("ListFeedViews")["views"])

    def create_feed_view(self, id: str, **settings: Any) -> dict[str, Any]:
        """Create a feed view (``activity_selectors``, ``ranking``, ``aggregation``)."""
        body = {"id": id, **settings}
        _check(validate_feed_view(body), what="feed view")
        return dict(self.call("CreateFeedView", json=body)["feed_view"])

    def get_feed_view(self, id: str) -> dict[str, Any]:
        return dict(self.call("GetFeedView", {"id": id})["feed_view"])

    def get_or_create_feed_view(self, id: str, **settings: Any) -> tuple[dict[str, Any], bool]:
        _check(validate_feed_view(settings, require_id=False), what="feed view")
        data = self.call("GetOrCreateFeedView", {"id": id}, json=settings)
        return dict(data["feed_view"]), bool(data["was_created"])

    def update_feed_view(self, id: str, **settings: Any) -> dict[str, Any]:
        _check(validate_feed_view(settings, require_id=False), what="feed view")
        return dict(self.call("UpdateFeedView", {"id": id}, json=settings)["feed_view"])

    def delete_feed_view(self, id: str) -> None:
        self.call("DeleteFeedView", {"id": id})

    def accept_follow(
        self, source: str, target: str, *, follower_role: str | None = None
    ) -> dict[str, Any]:
        """Accept a pending follow of ``target`` (a feed whose visibility is followers)."""
        body = {"source": source, "target": target, "follower_role": follower_role}
        return dict(self.call("AcceptFollow", json=body)["follow"])

    def reject_follow(self, source: str, target: str) -> dict[str, Any]:
        return dict(self.call("RejectFollow", json={"source": source, "target": target})["follow"])


def store_exists(path: str) -> bool:
    """Whether an embedded store path names something that exists (a memory store always)."""
    return path in ("", ":memory:") or path.startswith("file:") or os.path.exists(path)


def connect(
    db: str | os.PathLike[str] | None = None,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    api_secret: str | None = None,
    token: str | None = None,
    create: bool = True,
    **options: Any,
) -> Client:
    """A client of the embedded default, or of a remote server.

    - ``connect()`` opens the embedded server on ``feedkit.db`` (or ``$FEEDKIT_DB``) in this
      process: no port, nothing to start. ``connect(":memory:")`` is a throwaway store.
    - ``connect(base_url=..., api_key=..., api_secret=...)`` talks to the hosted service or
      ``feedkit serve``; each argument defaults to ``STREAM_BASE_URL``, ``STREAM_API_KEY``,
      ``STREAM_API_SECRET``. With no ``db`` and ``STREAM_BASE_URL`` set, ``connect()`` is remote.

    ``create=False`` opens an embedded store only if its file exists (:class:`UsageError`
    otherwise): what only reads should not leave an empty store behind a typo.
    """
    base_url = base_url or (None if db is not None else os.environ.get("STREAM_BASE_URL"))
    if base_url:
        return Client(
            base_url,
            api_key or os.environ.get("STREAM_API_KEY", ""),
            api_secret
            if api_secret is not None or token is not None
            else os.environ.get("STREAM_API_SECRET"),
            token=token,
            **options,
        )
    from feedkit.server.app import create_app
    from feedkit.transport import InProcessTransport

    path = os.fspath(db) if db is not None else os.environ.get("FEEDKIT_DB", DEFAULT_DB)
    if not create and not store_exists(path):
        raise UsageError(f"{path}: no such store (reading never creates one)")
    key, secret = "embedded", secrets.token_urlsafe(32)
    app = create_app(path, api_key=key, api_secret=secret)
    transport = InProcessTransport(app)
    client = Client("http://feedkit.embedded", key, secret, transport=transport, **options)
    client._owned += [transport, app.state.imports, app.state.store]
    client.db_path = path
    client.store_id = app.state.store.store_id
    return client
