"""The ASGI application: a handler for each operation of :mod:`feedkit.protocol` it implements,
over :class:`AppService`.

Routing reads the raw (still percent-encoded) path and decodes each segment, because the SDK
percent-encodes ids with nothing safe: ``act/with:odd chars`` arrives as
``act%2Fwith%3Aodd%20chars`` and must stay one segment.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any
from urllib.parse import unquote

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from feedkit.protocol import OPERATIONS, SPEC_OPERATIONS, Operation
from feedkit.schema import MAX_ACTIVITY_DEPTH, MAX_NESTING, MAX_REQUEST_BYTES, json_depth
from feedkit.server.auth import Authenticator, Principal
from feedkit.server.imports import MAX_UPLOAD_BYTES, UPLOADS, ImportsService
from feedkit.server.problems import INTERNAL, NOT_IMPLEMENTED, Problem
from feedkit.server.ratelimit import RateLimiter
from feedkit.server.service import AppService
from feedkit.server.store import Store

log = logging.getLogger("feedkit.server")

DEFAULT_MAX_BODY = MAX_REQUEST_BYTES

Params = dict[str, str]
Handler = Callable[[AppService, Principal, Params, Any, Mapping[str, str]], dict[str, Any]]


def _flag(query: Mapping[str, str], name: str) -> bool:
    return query.get(name, "false").lower() in ("1", "true", "yes")


# What the server does for each operation of the protocol table it implements.
HANDLERS: dict[str, Handler] = {
    "AddActivity": lambda s, p, a, b, q: s.activities.add_activity(p, b),
    "UpsertActivities": lambda s, p, a, b, q: s.activities.upsert_activities(p, b),
    "UpdateActivitiesPartialBatch": lambda s, p, a, b, q: (
        s.activities.update_activities_partial_batch(p, b)
    ),
    "DeleteActivities": lambda s, p, a, b, q: s.activities.delete_activities(
        p, _ids(b), bool((b or {}).get("hard_delete")), (b or {}).get("user_id")
    ),
    "QueryActivities": lambda s, p, a, b, q: s.activities.query_activities(p, b),
    "GetActivity": lambda s, p, a, b, q: s.activities.get_activity(p, a["id"], q.get("user_id")),
    "UpdateActivity": lambda s, p, a, b, q: s.activities.update_activity(p, a["id"], b),
    "UpdateActivityPartial": lambda s, p, a, b, q: s.activities.update_activity_partial(
        p, a["id"], b
    ),
    "DeleteActivity": lambda s, p, a, b, q: (
        s.activities.delete_activities(p, [a["id"]], _flag(q, "hard_delete"), q.get("user_id"))
        and {}
    ),
    "RestoreActivity": lambda s, p, a, b, q: s.activities.restore_activity(p, a["id"], b),
    "GetOrCreateFeed": lambda s, p, a, b, q: s.feeds.get_or_create_feed(
        p, a["feed_group_id"], a["feed_id"], b
    ),
    "DeleteFeed": lambda s, p, a, b, q: s.feeds.delete_feed(p, a["feed_group_id"], a["feed_id"]),
    "QueryFeeds": lambda s, p, a, b, q: s.feeds.query_feeds(p, b),
    "Follow": lambda s, p, a, b, q: s.follows.follow(p, b),
    "FollowBatch": lambda s, p, a, b, q: s.follows.follow_batch(p, b),
    "GetOrCreateFollows": lambda s, p, a, b, q: s.follows.follow_batch(p, b, keep=True),
    "UpdateFollow": lambda s, p, a, b, q: s.follows.update_follow(p, b),
    "QueryFollows": lambda s, p, a, b, q: s.follows.query_follows(p, b),
    "Unfollow": lambda s, p, a, b, q: s.follows.unfollow(p, a["source"], a["target"]),
    "UpdateUsers": lambda s, p, a, b, q: s.users.update(p, b),
    "UpdateUsersPartial": lambda s, p, a, b, q: s.users.update_partial(p, b),
    "QueryUsers": lambda s, p, a, b, q: s.users.query(p, q),
    "DeactivateUser": lambda s, p, a, b, q: s.users.deactivate(p, a["user_id"], b),
    "ReactivateUser": lambda s, p, a, b, q: s.users.reactivate(p, a["user_id"], b),
    "DeactivateUsers": lambda s, p, a, b, q: s.users.deactivate_many(p, b),
    "ReactivateUsers": lambda s, p, a, b, q: s.users.reactivate_many(p, b),
    "DeleteUsers": lambda s, p, a, b, q: s.users.delete_many(p, b),
    "RestoreUsers": lambda s, p, a, b, q: s.users.restore_many(p, b),
    "AddActivityReaction": lambda s, p, a, b, q: s.reactions.add_activity_reaction(
        p, a["activity_id"], b
    ),
    "DeleteActivityReaction": lambda s, p, a, b, q: s.reactions.delete_activity_reaction(
        p, a["activity_id"], a["type"], q.get("user_id")
    ),
    "QueryActivityReactions": lambda s, p, a, b, q: s.reactions.query_activity_reactions(
        p, a["activity_id"], b
    ),
    "BatchQueryActivityReactions": lambda s, p, a, b, q: s.reactions.batch_query_activity_reactions(
        p, b
    ),
    "AddComment": lambda s, p, a, b, q: s.comments.add_comment(p, b),
    "AddCommentsBatch": lambda s, p, a, b, q: s.comments.add_comments_batch(p, b),
    "GetComment": lambda s, p, a, b, q: s.comments.get_comment(p, a["id"], q),
    "GetComments": lambda s, p, a, b, q: s.comments.get_comments(p, q),
    "GetCommentReplies": lambda s, p, a, b, q: s.comments.get_comment_replies(p, a["id"], q),
    "QueryComments": lambda s, p, a, b, q: s.comments.query_comments(p, b),
    "UpdateComment": lambda s, p, a, b, q: s.comments.update_comment(p, a["id"], b),
    "UpdateCommentPartial": lambda s, p, a, b, q: s.comments.update_comment_partial(p, a["id"], b),
    "DeleteComment": lambda s, p, a, b, q: s.comments.delete_comment(
        p, a["id"], _flag(q, "hard_delete")
    ),
    "RestoreComment": lambda s, p, a, b, q: s.comments.restore_comment(p, a["id"], b),
    "AddBookmark": lambda s, p, a, b, q: s.bookmarks.add_bookmark(p, a["activity_id"], b),
    "UpdateBookmark": lambda s, p, a, b, q: s.bookmarks.update_bookmark(p, a["activity_id"], b),
    "DeleteBookmark": lambda s, p, a, b, q: s.bookmarks.delete_bookmark(
        p, a["activity_id"], q.get("folder_id"), q.get("user_id")
    ),
    "QueryBookmarks": lambda s, p, a, b, q: s.bookmarks.query_bookmarks(p, b),
    "QueryBookmarkFolders": lambda s, p, a, b, q: s.bookmarks.query_bookmark_folders(p, b),
    "UpdateBookmarkFolder": lambda s, p, a, b, q: s.bookmarks.update_bookmark_folder(
        p, a["folder_id"], b
    ),
    "DeleteBookmarkFolder": lambda s, p, a, b, q: s.bookmarks.delete_bookmark_folder(
        p, a["folder_id"]
    ),
    "PinActivity": lambda s, p, a, b, q: s.pins.pin_activity(
        p, a["feed_group_id"], a["feed_id"], a["activity_id"], b
    ),
    "UnpinActivity": lambda s, p, a, b, q: s.pins.unpin_activity(
        p, a["feed_group_id"], a["feed_id"], a["activity_id"], q.get("user_id")
    ),
    "QueryPinnedActivities": lambda s, p, a, b, q: s.pins.query_pinned_activities(
        p, a["feed_group_id"], a["feed_id"], b
    ),
    "ListFeedGroups": lambda s, p, a, b, q: s.feed_groups.list_feed_groups(
        p, _flag(q, "include_soft_deleted")
    ),
    "CreateFeedGroup": lambda s, p, a, b, q: s.feed_groups.create_feed_group(p, b),
    "GetFeedGroup": lambda s, p, a, b, q: s.feed_groups.get_feed_group(
        p, a["id"], _flag(q, "include_soft_deleted")
    ),
    "GetOrCreateFeedGroup": lambda s, p, a, b, q: s.feed_groups.get_or_create_feed_group(
        p, a["id"], b
    ),
    "UpdateFeedGroup": lambda s, p, a, b, q: s.feed_groups.update_feed_group(p, a["id"], b),
    "DeleteFeedGroup": lambda s, p, a, b, q: s.feed_groups.delete_feed_group(
        p, a["id"], _flag(q, "hard_delete")
    ),
    "RestoreFeedGroup": lambda s, p, a, b, q: s.feed_groups.restore_feed_group(
        p, a["feed_group_id"]
    ),
    "ListFeedViews": lambda s, p, a, b, q: s.feed_views.list_feed_views(p),
    "CreateFeedView": lambda s, p, a, b, q: s.feed_views.create_feed_view(p, b),
    "GetFeedView": lambda s, p, a, b, q: s.feed_views.get_feed_view(p, a["id"]),
    "GetOrCreateFeedView": lambda s, p, a, b, q: s.feed_views.get_or_create_feed_view(
        p, a["id"], b
    ),
    "UpdateFeedView": lambda s, p, a, b, q: s.feed_views.update_feed_view(p, a["id"], b),
    "DeleteFeedView": lambda s, p, a, b, q: s.feed_views.delete_feed_view(p, a["id"]),
    "AcceptFollow": lambda s, p, a, b, q: s.follows.answer_request(p, b, accept=True),
    "RejectFollow": lambda s, p, a, b, q: s.follows.answer_request(p, b, accept=False),
    "AddCommentReaction": lambda s, p, a, b, q: s.comment_reactions.add_comment_reaction(
        p, a["id"], b
    ),
    "DeleteCommentReaction": lambda s, p, a, b, q: s.comment_reactions.delete_comment_reaction(
        p, a["id"], a["type"], q.get("user_id")
    ),
    "QueryCommentReactions": lambda s, p, a, b, q: s.comment_reactions.query_comment_reactions(
        p, a["id"], b
    ),
    "BatchQueryCommentReactions": lambda s, p, a, b, q: (
        s.comment_reactions.batch_query_comment_reactions(p, b)
    ),
    "GetTask": lambda s, p, a, b, q: s.users.get_task(p, a["id"]),
    "CreateImportURL": lambda s, p, a, b, q: s.imports.create_import_url(p, b),
    "CreateImport": lambda s, p, a, b, q: s.imports.create_import(p, b),
    "GetImport": lambda s, p, a, b, q: s.imports.get_import(p, a["id"]),
    "ListImports": lambda s, p, a, b, q: s.imports.list_imports(p),
}
ROUTES: tuple[Operation, ...] = tuple(op for op in OPERATIONS if op.id in HANDLERS)


def _shapes() -> dict[tuple[str, int], list[Operation]]:
    """Every operation of the spec by method and number of path segments, the most literal
    first: ``/imports/v2`` is ListImportV2Tasks before it is GetImport of an id "v2"."""
    shapes: dict[tuple[str, int], list[Operation]] = {}
    for op in dict.fromkeys((*ROUTES, *SPEC_OPERATIONS)):
        parts = op.pattern.strip("/").split("/")
        shapes.setdefault((op.method, len(parts)), []).append(op)
    for ops in shapes.values():
        ops.sort(key=lambda op: -sum(not p.startswith("{") for p in op.pattern.split("/")))
    return shapes


SHAPES = _shapes()


def _ids(body: Any) -> list[Any]:
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
        raise Problem.invalid({"ids": "is required: a list of 1 to 100 activity ids"})
    return ids


def _too_deep(body: Any) -> dict[str, str]:
    """The body's members (an item of a batch where it is one) nested past ``MAX_NESTING``:
    a batch names its guilty items, so the client resends the others."""
    if not isinstance(body, (dict, list)) or json_depth(body, MAX_NESTING) <= MAX_NESTING:
        return {}
    message = f"is nested more than {MAX_NESTING} levels deep"
    found = {
        f"{key}[{i}]": message
        for key, items in (body.items() if isinstance(body, dict) else ())
        if isinstance(items, list)
        for i, item in enumerate(items)
        if json_depth(item, MAX_ACTIVITY_DEPTH) > MAX_ACTIVITY_DEPTH
    }
    return found or {"body": message}


def _duration(start: float) -> str:
    return f"{(time.perf_counter() - start) * 1000:.2f}ms"


def _json(body: dict[str, Any], status: int, headers: Mapping[str, str]) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, headers=dict(headers), media_type="application/json"
    )


class FeedsApp:
    """Holds the service, the authenticator and the limits; dispatches requests."""

    def __init__(
        self, service: AppService, auth: Authenticator, limiter: RateLimiter, max_body: int
    ) -> None:
        self.service = service
        self.auth = auth
        self.limiter = limiter
        self.max_body = max_body

    def _find(self, request: Request) -> tuple[Operation, Params]:
        raw = request.scope.get("raw_path") or request.scope["path"].encode()
        raw_path = raw.decode("latin-1").split("?", 1)[0]
        try:
            segments = [unquote(s, errors="strict") for s in raw_path.strip("/").split("/")]
        except UnicodeDecodeError:
            raise Problem.invalid({"path": "is not UTF-8 once percent-decoded"}) from None
        for op in SHAPES.get((request.method, len(segments)), ()):
            params = op.match(request.method, segments)
            if params is None:
                continue
            if op.id in HANDLERS:
                return op, params
            raise Problem(
                501,
                NOT_IMPLEMENTED,
                f"{op.id} ({request.method} {op.pattern}) is not implemented by feedkit's "
                "embedded server",
            )
        allowed = any(op.match(op.method, segments) is not None
                      for ops in SHAPES.values() for op in ops)  # fmt: skip
        if allowed:
            raise Problem(405, 4, f"{request.method} is not allowed on {raw_path}")
        raise Problem(404, 16, f"no such endpoint: {request.method} {raw_path}")

    async def _body(self, request: Request) -> Any:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body:
            raise Problem(
                413,
                4,
                f"request body of {declared} bytes exceeds the limit of {self.max_body} bytes",
            )
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                raise Problem(413, 4, f"request body exceeds the limit of {self.max_body} bytes")
            chunks.append(chunk)
        raw = b"".join(chunks)
        if not raw.strip():
            return None
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise Problem.invalid({"body": f"is not valid JSON (UTF-8): {exc}"}) from None
        too_deep = _too_deep(body)
        if too_deep:  # deeper objects could be stored but never answered (orjson: 255 levels)
            raise Problem.invalid(too_deep)
        return body

    async def handle(self, request: Request) -> Response:
        start = time.perf_counter()
        headers: dict[str, str] = {}
        try:
            op, params = self._find(request)
            query = dict(request.query_params)
            principal = self.auth.verify(
                query.get("api_key"),
                request.headers.get("stream-auth-type"),
                request.headers.get("authorization"),
            )
            headers = self.limiter.check(op.id)
            body = await self._body(request)
            # Writes wait on the store's one writer, so they run in worker threads and never
            # stall the event loop. A read costs about a millisecond a page and does not wait
            # on the writer (in a file store; a memory store's one connection waits at most
            # one write): on the loop it saves the thread hop and, under concurrent requests,
            # the GIL contention between the loop and the workers, which cost as much again.
            args = (self.service, principal, params, body, query)
            handler = HANDLERS[op.id]
            if op.read:
                result = handler(*args)
            else:
                result = await run_in_threadpool(handler, *args)
            result = dict(result or {})
            if str(result.get("upload_url", "")).startswith("/"):  # on this server itself
                result["upload_url"] = str(request.base_url).rstrip("/") + result["upload_url"]
            result["duration"] = _duration(start)
            status = 201 if request.method in ("POST", "PUT") else 200
            return _json(result, status, headers)
        except Problem as problem:
            return _json(
                problem.body(_duration(start)), problem.status, {**headers, **problem.headers}
            )
        except Exception:
            log.exception("internal error on %s %s", request.method, request.url.path)
            internal = Problem(500, INTERNAL, "internal server error")
            return _json(internal.body(_duration(start)), 500, headers)

    async def upload(self, request: Request) -> Response:
        """A PUT to an upload URL (:mod:`feedkit.server.imports`): signed, not a JWT."""
        start = time.perf_counter()
        try:
            result = await self.service.imports.receive(request)
            return _json({**result, "duration": _duration(start)}, 200, {})
        except Problem as problem:
            return _json(problem.body(_duration(start)), problem.status, problem.headers)
        except Exception:
            log.exception("internal error on an upload to %s", request.url.path)
            internal = Problem(500, INTERNAL, "internal server error")
            return _json(internal.body(_duration(start)), 500, {})


def create_app(
    db: str | Store = ":memory:",
    *,
    api_key: str,
    api_secret: str,
    rate_limits: Mapping[str, int] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    strict_groups: bool = False,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
) -> Starlette:
    """The protocol server as an ASGI app, on a SQLite file (or ``:memory:``) or a Store.
    ``strict_groups`` refuses feeds of groups that do not exist, as the hosted service does
    (by default such a feed creates its group)."""
    store = db if isinstance(db, Store) else Store(db)
    store.strict_groups = strict_groups
    service = AppService(store)
    auth = Authenticator(api_key, api_secret)
    service.imports = ImportsService(service, auth, max_upload_bytes)
    feeds = FeedsApp(service, auth, RateLimiter(rate_limits), max_body_bytes)
    service.imports.resume()  # the imports a killed server left half done go on

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # The worker threads' machinery (anyio's backend: some 20 modules) loaded now, not
        # by the first write, which paid 15-20 ms for it.
        await run_in_threadpool(lambda: None)
        yield
        service.imports.close()
        store.close()

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        # Every request, whatever its method and path, reaches the protocol's own routing
        # (``FeedsApp._find``): a Starlette route pattern does not match a percent-encoded
        # newline, which an id may hold, and would answer a text 404 the SDK cannot parse.
        if scope["type"] == "http":
            request = Request(scope, receive)
            if scope["path"].startswith(UPLOADS):
                response = await feeds.upload(request)
            else:
                response = await feeds.handle(request)
            await response(scope, receive, send)

    app = Starlette(lifespan=lifespan)
    app.router.default = dispatch
    app.state.feeds = feeds
    app.state.store = store
    app.state.imports = service.imports
    return app
