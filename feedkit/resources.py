"""Every kind of row feedkit moves, declared once: its fields (from :mod:`feedkit.schema`),
what names one row, what it must carry, what it refers to, and the operation that stores it.

The mappings, the converter, the bulk sender, the reference checks of a migration plan and
the import files all read these declarations::

    >>> RESOURCES["follow"].key
    ('source', 'target')
    >>> [r.kind for r in in_dependency_order(RESOURCES.values())][:3]
    ['feed_group', 'user', 'activity']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from feedkit.schema import FIELDS, MAX_ID, Field, FieldError, Kind
from feedkit.schema.bookmark import BOOKMARK_FIELDS
from feedkit.schema.comment import COMMENT_FIELDS
from feedkit.schema.feed_group import FEED_GROUP_FIELDS, validate_feed_group
from feedkit.schema.follow import FOLLOW_FIELDS
from feedkit.schema.reaction import REACTION_FIELDS
from feedkit.schema.user import USER_FIELDS

__all__ = ["HISTORY_FIELDS", "KINDS", "RESOURCES", "Resource", "in_dependency_order"]

# Fields every kind may map besides its own: bulk import files keep history (the API sets both
# times itself, so a request leaves them out).
HISTORY_FIELDS = ("created_at", "updated_at")


@dataclass(frozen=True)
class Resource:
    """One kind of row: see the module docstring."""

    kind: str
    plural: str
    fields: Mapping[str, Field]  # what a mapping may fill, by the REST request's names
    order: tuple[str, ...]  # members in the JSON written; the first is on every valid row
    key: tuple[str, ...]  # the fields naming a row: the source's last row of a key wins
    required: tuple[str, ...]  # fields every row must carry
    operation: str  # the operation storing rows (the first one, for per-row kinds)
    items: str | None = None  # the batch body's member holding rows; None: one request a row
    keyed: bool = False  # the batch body is an object of id -> row (UpdateUsers)
    one_of: tuple[str, ...] = ()  # a row carries one of these (exactly one when ``only_one``)
    only_one: bool = False
    derivable: bool = False  # ``id = { derive = true }`` may derive ids from each row
    references: Mapping[str, str] = field(default_factory=dict)  # field -> kind it names
    validate: Callable[[Any], list[FieldError]] | None = None  # a whole row's own checks
    rank: int = 0  # where a migration plan runs this kind: lower first
    # The vendor's bulk import file (tests/reference/import-schemas): its names for the
    # request's fields, the members its lines always carry, and what it needs beyond the API.
    import_names: Mapping[str, str] = field(default_factory=dict)
    import_defaults: Mapping[str, str] = field(default_factory=dict)
    import_required: tuple[str, ...] = ()
    # Fields the file needs that a row leaves for the migration to find from another of its
    # fields (a reaction on a comment names the comment's activity too: the comment's, found
    # by feedkit.bulk, never the row's own, so a row naming both is refused as by the API).
    import_derived: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Resource({self.kind!r})"

    @property
    def mappable(self) -> tuple[str, ...]:
        return (*self.fields, *HISTORY_FIELDS)

    @property
    def parent(self) -> str | None:
        """The field naming a row of this same kind (a reply's parent), if any."""
        return next((f for f, kind in self.references.items() if kind == self.kind), None)

    def field_kind(self, name: str) -> Kind:
        return self.fields[name].kind if name in self.fields else Kind.TIME


def _id(doc: str) -> Field:
    return Field(doc.split()[1], Kind.STRING, doc, max_length=MAX_ID)


_REACTION_FIELDS = {
    f.name: f
    for f in (
        REACTION_FIELDS["type"],
        _id("The activity_id reacted to (or a comment_id)."),
        _id("The comment_id reacted to (or an activity_id)."),
        REACTION_FIELDS["user_id"],
        REACTION_FIELDS["custom"],
    )
}
_BOOKMARK_FIELDS = {
    f.name: f
    for f in (
        _id("The activity_id bookmarked."),
        BOOKMARK_FIELDS["user_id"],
        BOOKMARK_FIELDS["folder_id"],
        BOOKMARK_FIELDS["custom"],
    )
}
# The order an activity's JSON is written in (the id and the type lead: always there).
_ACTIVITY_ORDER = ("id", "type", "user_id", "feeds", "text", "visibility", "visibility_tag",
                   "restrict_replies", "parent_id", "poll_id", "expires_at", "created_at",
                   "updated_at", "location", "mentioned_user_ids", "filter_tags",
                   "interest_tags", "attachments", "custom", "search_data")  # fmt: skip


def _order(fields: Iterable[str]) -> tuple[str, ...]:
    return (*fields, *HISTORY_FIELDS)


RESOURCES: dict[str, Resource] = {
    r.kind: r
    for r in (
        Resource("feed_group", "feed groups", FEED_GROUP_FIELDS, _order(FEED_GROUP_FIELDS),
                 key=("id",), required=("id",), operation="CreateFeedGroup",
                 validate=validate_feed_group, rank=0, import_names={"id": "group_id"}),
        Resource("user", "users", USER_FIELDS, _order(USER_FIELDS), key=("id",),
                 required=("id",), operation="UpdateUsers", items="users", keyed=True, rank=1),
        Resource("activity", "activities", FIELDS, _ACTIVITY_ORDER, key=("id",),
                 required=("type", "feeds"), operation="UpsertActivities", items="activities",
                 derivable=True, rank=2, import_names={"feeds": "fids"},
                 import_required=("user_id",)),
        Resource("follow", "follows", FOLLOW_FIELDS, _order(FOLLOW_FIELDS),
                 key=("source", "target"), required=("source", "target"),
                 operation="FollowBatch", items="follows", rank=3,
                 import_names={"source": "source_fid", "target": "target_fid"}),
        Resource("comment", "comments", COMMENT_FIELDS, _order(COMMENT_FIELDS), key=("id",),
                 required=("user_id",), operation="AddCommentsBatch", items="comments",
                 one_of=("object_id", "parent_id"), derivable=True,
                 references={"object_id": "activity", "parent_id": "comment"}, rank=4,
                 import_names={"comment": "text"}, import_defaults={"object_type": "activity"},
                 import_required=("object_id", "comment")),
        Resource("reaction", "reactions", _REACTION_FIELDS, _order(_REACTION_FIELDS),
                 key=("activity_id", "comment_id", "type", "user_id"),
                 required=("type", "user_id"), operation="AddActivityReaction",
                 one_of=("activity_id", "comment_id"), only_one=True,
                 references={"activity_id": "activity", "comment_id": "comment"}, rank=5,
                 import_required=("activity_id",), import_derived={"activity_id": "comment_id"}),
        Resource("bookmark", "bookmarks", _BOOKMARK_FIELDS, _order(_BOOKMARK_FIELDS),
                 key=("activity_id", "user_id", "folder_id"),
                 required=("activity_id", "user_id"), operation="AddBookmark",
                 references={"activity_id": "activity"}, rank=6,
                 import_names={"activity_id": "object_id"},
                 import_defaults={"object_type": "activity"}),
    )
}  # fmt: skip
KINDS = tuple(RESOURCES)


def in_dependency_order(resources: Iterable[Resource]) -> list[Resource]:
    """Kinds in the order a migration stores them: what is referred to first."""
    return sorted(resources, key=lambda r: r.rank)
