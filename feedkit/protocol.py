"""Every operation of the wire protocol, declared once: operationId, method, path, resource.

Both sides read this table. The embedded server routes a request by it (``feedkit.server.app``
binds a handler to each operationId it implements), and the client builds each URL from it
(``OPS["GetActivity"].path(id="a/1")``). Paths use the vendor's OpenAPI spec's parameter names;
a test checks every entry against the spec. To find where an operation is declared, validated,
stored and rendered, grep its operationId.

    >>> OPS["GetActivity"].path(id="act/1")
    '/api/v2/feeds/activities/act%2F1'
    >>> OPS["Unfollow"].match("DELETE", ["api", "v2", "feeds", "follows", "user:a", "user:b"])
    {'source': 'user:a', 'target': 'user:b'}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

__all__ = ["IMPORT_UPLOADS", "OPERATIONS", "OPS", "Operation", "segment"]

FEEDS = "/api/v2/feeds"
USERS = "/api/v2/users"
FEED = f"{FEEDS}/feed_groups/{{feed_group_id}}/feeds/{{feed_id}}"
# Where the embedded server takes import file uploads (CreateImportURL's upload_url): feedkit's
# own, not an operation of the spec (the hosted service uploads to a signed S3 URL).
IMPORT_UPLOADS = "/api/v2/import_uploads/"


def segment(value: str) -> str:
    """One path segment, percent-encoded with nothing left safe; "." and ".." too, which a
    URL would otherwise drop or climb (RFC 3986 dot segments): an id may be either."""
    if value in (".", ".."):
        return value.replace(".", "%2E")
    return quote(value, safe="")


@dataclass(frozen=True)
class Operation:
    """One operation: ``read`` ones change nothing (the server runs them on its event loop)."""

    id: str  # the operationId of the vendor's spec
    method: str
    pattern: str  # the path, "{name}" segments are parameters
    resource: str
    read: bool = False

    def path(self, **params: str) -> str:
        """The request path with each parameter percent-encoded as one segment."""
        parts = self.pattern.strip("/").split("/")
        out = [segment(params[p[1:-1]]) if p.startswith("{") else p for p in parts]
        return "/" + "/".join(out)

    def match(self, method: str, segments: list[str]) -> dict[str, str] | None:
        """The parameters of a request's (decoded) path segments, or None."""
        parts = self.pattern.strip("/").split("/")
        if method != self.method or len(parts) != len(segments):
            return None
        params: dict[str, str] = {}
        for part, seg in zip(parts, segments, strict=True):
            if part.startswith("{"):
                if not seg:
                    return None
                params[part[1:-1]] = seg
            elif part != seg:
                return None
        return params


OPERATIONS: tuple[Operation, ...] = (
    Operation("AddActivity", "POST", f"{FEEDS}/activities", "activity"),
    Operation("UpsertActivities", "POST", f"{FEEDS}/activities/batch", "activity"),
    Operation(
        "UpdateActivitiesPartialBatch", "PATCH", f"{FEEDS}/activities/batch/partial", "activity"
    ),
    Operation("DeleteActivities", "POST", f"{FEEDS}/activities/delete", "activity"),
    Operation("QueryActivities", "POST", f"{FEEDS}/activities/query", "activity", read=True),
    Operation("GetActivity", "GET", f"{FEEDS}/activities/{{id}}", "activity", read=True),
    Operation("UpdateActivity", "PUT", f"{FEEDS}/activities/{{id}}", "activity"),
    Operation("UpdateActivityPartial", "PATCH", f"{FEEDS}/activities/{{id}}", "activity"),
    Operation("DeleteActivity", "DELETE", f"{FEEDS}/activities/{{id}}", "activity"),
    Operation("RestoreActivity", "POST", f"{FEEDS}/activities/{{id}}/restore", "activity"),
    Operation(
        "GetOrCreateFeed",
        "POST",
        f"{FEEDS}/feed_groups/{{feed_group_id}}/feeds/{{feed_id}}",
        "feed",
    ),
    Operation(
        "DeleteFeed", "DELETE", f"{FEEDS}/feed_groups/{{feed_group_id}}/feeds/{{feed_id}}", "feed"
    ),
    Operation("QueryFeeds", "POST", f"{FEEDS}/feeds/query", "feed", read=True),
    Operation("Follow", "POST", f"{FEEDS}/follows", "follow"),
    Operation("FollowBatch", "POST", f"{FEEDS}/follows/batch", "follow"),
    Operation("GetOrCreateFollows", "POST", f"{FEEDS}/follows/batch/upsert", "follow"),
    Operation("UpdateFollow", "PATCH", f"{FEEDS}/follows", "follow"),
    Operation("QueryFollows", "POST", f"{FEEDS}/follows/query", "follow", read=True),
    Operation("Unfollow", "DELETE", f"{FEEDS}/follows/{{source}}/{{target}}", "follow"),
    Operation("UpdateUsers", "POST", f"{USERS}", "user"),
    Operation("UpdateUsersPartial", "PATCH", f"{USERS}", "user"),
    Operation("QueryUsers", "GET", f"{USERS}", "user", read=True),
    Operation("DeactivateUser", "POST", f"{USERS}/{{user_id}}/deactivate", "user"),
    Operation("ReactivateUser", "POST", f"{USERS}/{{user_id}}/reactivate", "user"),
    Operation("DeactivateUsers", "POST", f"{USERS}/deactivate", "user"),
    Operation("ReactivateUsers", "POST", f"{USERS}/reactivate", "user"),
    Operation("DeleteUsers", "POST", f"{USERS}/delete", "user"),
    Operation("RestoreUsers", "POST", f"{USERS}/restore", "user"),
    Operation(
        "AddActivityReaction", "POST", f"{FEEDS}/activities/{{activity_id}}/reactions", "reaction"
    ),
    Operation(
        "DeleteActivityReaction",
        "DELETE",
        f"{FEEDS}/activities/{{activity_id}}/reactions/{{type}}",
        "reaction",
    ),
    Operation(
        "QueryActivityReactions",
        "POST",
        f"{FEEDS}/activities/{{activity_id}}/reactions/query",
        "reaction",
        read=True,
    ),
    Operation(
        "BatchQueryActivityReactions",
        "POST",
        f"{FEEDS}/activities/reactions/query",
        "reaction",
        read=True,
    ),
    Operation("AddComment", "POST", f"{FEEDS}/comments", "comment"),
    Operation("AddCommentsBatch", "POST", f"{FEEDS}/comments/batch", "comment"),
    Operation("GetComment", "GET", f"{FEEDS}/comments/{{id}}", "comment", read=True),
    Operation("GetComments", "GET", f"{FEEDS}/comments", "comment", read=True),
    Operation("GetCommentReplies", "GET", f"{FEEDS}/comments/{{id}}/replies", "comment", read=True),
    Operation("QueryComments", "POST", f"{FEEDS}/comments/query", "comment", read=True),
    Operation("UpdateComment", "PATCH", f"{FEEDS}/comments/{{id}}", "comment"),
    Operation("UpdateCommentPartial", "POST", f"{FEEDS}/comments/{{id}}/partial", "comment"),
    Operation("DeleteComment", "DELETE", f"{FEEDS}/comments/{{id}}", "comment"),
    Operation("RestoreComment", "POST", f"{FEEDS}/comments/{{id}}/restore", "comment"),
    Operation("AddBookmark", "POST", f"{FEEDS}/activities/{{activity_id}}/bookmarks", "bookmark"),
    Operation(
        "UpdateBookmark", "PATCH", f"{FEEDS}/activities/{{activity_id}}/bookmarks", "bookmark"
    ),
    Operation(
        "DeleteBookmark", "DELETE", f"{FEEDS}/activities/{{activity_id}}/bookmarks", "bookmark"
    ),
    Operation("QueryBookmarks", "POST", f"{FEEDS}/bookmarks/query", "bookmark", read=True),
    Operation(
        "QueryBookmarkFolders", "POST", f"{FEEDS}/bookmark_folders/query", "bookmark", read=True
    ),
    Operation(
        "UpdateBookmarkFolder", "PATCH", f"{FEEDS}/bookmark_folders/{{folder_id}}", "bookmark"
    ),
    Operation(
        "DeleteBookmarkFolder", "DELETE", f"{FEEDS}/bookmark_folders/{{folder_id}}", "bookmark"
    ),
    Operation("PinActivity", "POST", f"{FEED}/activities/{{activity_id}}/pin", "pin"),
    Operation("UnpinActivity", "DELETE", f"{FEED}/activities/{{activity_id}}/pin", "pin"),
    Operation("QueryPinnedActivities", "POST", f"{FEED}/pinned_activities/query", "pin", read=True),
    Operation("ListFeedGroups", "GET", f"{FEEDS}/feed_groups", "feed_group", read=True),
    Operation("CreateFeedGroup", "POST", f"{FEEDS}/feed_groups", "feed_group"),
    Operation("GetFeedGroup", "GET", f"{FEEDS}/feed_groups/{{id}}", "feed_group", read=True),
    Operation("GetOrCreateFeedGroup", "POST", f"{FEEDS}/feed_groups/{{id}}", "feed_group"),
    Operation("UpdateFeedGroup", "PUT", f"{FEEDS}/feed_groups/{{id}}", "feed_group"),
    Operation("DeleteFeedGroup", "DELETE", f"{FEEDS}/feed_groups/{{id}}", "feed_group"),
    Operation(
        "RestoreFeedGroup", "POST", f"{FEEDS}/feed_groups/{{feed_group_id}}/restore", "feed_group"
    ),
    Operation("ListFeedViews", "GET", f"{FEEDS}/feed_views", "feed_view", read=True),
    Operation("CreateFeedView", "POST", f"{FEEDS}/feed_views", "feed_view"),
    Operation("GetFeedView", "GET", f"{FEEDS}/feed_views/{{id}}", "feed_view", read=True),
    Operation("GetOrCreateFeedView", "POST", f"{FEEDS}/feed_views/{{id}}", "feed_view"),
    Operation("UpdateFeedView", "PUT", f"{FEEDS}/feed_views/{{id}}", "feed_view"),
    Operation("DeleteFeedView", "DELETE", f"{FEEDS}/feed_views/{{id}}", "feed_view"),
    Operation("AcceptFollow", "POST", f"{FEEDS}/follows/accept", "follow"),
    Operation("RejectFollow", "POST", f"{FEEDS}/follows/reject", "follow"),
    Operation("AddCommentReaction", "POST", f"{FEEDS}/comments/{{id}}/reactions", "reaction"),
    Operation(
        "DeleteCommentReaction", "DELETE", f"{FEEDS}/comments/{{id}}/reactions/{{type}}", "reaction"
    ),
    Operation(
        "QueryCommentReactions",
        "POST",
        f"{FEEDS}/comments/{{id}}/reactions/query",
        "reaction",
        read=True,
    ),
    Operation(
        "BatchQueryCommentReactions",
        "POST",
        f"{FEEDS}/comments/reactions/query",
        "reaction",
        read=True,
    ),
    Operation("GetTask", "GET", "/api/v2/tasks/{id}", "task", read=True),
    Operation("CreateImportURL", "POST", "/api/v2/import_urls", "import"),
    Operation("CreateImport", "POST", "/api/v2/imports", "import"),
    Operation("GetImport", "GET", "/api/v2/imports/{id}", "import", read=True),
    Operation("ListImports", "GET", "/api/v2/imports", "import", read=True),
)
OPS: dict[str, Operation] = {op.id: op for op in OPERATIONS}


def markdown_table(operations: tuple[Operation, ...] = OPERATIONS) -> str:
    """The operations by resource, as the README shows them (a test keeps it in step)."""
    lines = ["| resource | operations |", "|---|---|"]
    for resource in dict.fromkeys(op.resource for op in operations):
        ids = ", ".join(op.id for op in operations if op.resource == resource)
        lines.append(f"| {resource} | {ids} |")
    return "\n".join(lines)


def _spec_operations() -> tuple[Operation, ...]:
    """Every operation of the vendor's spec (``spec_operations.tsv``): feedkit's own entries
    above, and the others with the resource of their path's first segment."""
    text = (Path(__file__).with_name("spec_operations.tsv")).read_text(encoding="utf-8")
    out = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            op_id, method, pattern = line.split("\t")
            resource = pattern.removeprefix(FEEDS).removeprefix("/api/v2").split("/")[1]
            out.append(OPS.get(op_id) or Operation(op_id, method, pattern, resource))
    return tuple(out)


# The whole spec: an operation the embedded server does not implement answers 501 naming it.
SPEC_OPERATIONS: tuple[Operation, ...] = _spec_operations()
