"""The SQLite store behind the embedded server: activities, feeds, users and follows.

One connection in WAL mode, serialised by a lock: SQLite has one writer at a time anyway, and
a single connection keeps every batch one transaction (a rejected batch writes nothing).
``synchronous=NORMAL`` in WAL mode keeps every committed write across a killed process; only a
power cut can lose the last transactions.

Activities are stored as indexed columns plus one JSON ``doc`` holding the rest exactly as an
answer shows it (lists and objects defaulted, unset optional members left out), so a read
splices the stored bytes into its answer instead of decoding and re-encoding them (see
:mod:`feedkit.server.render`); mentioned user ids, which an answer shows as user objects, sit in
their own column. The table ``activity_keys`` holds one row per (feed, filter tag, interest tag)
of each activity, keyed by ``(key, created_at, rid)``, so a feed page or a tag filter reads an
index range in order instead of scanning. ``PRAGMA user_version`` numbers the layout; an older
file is migrated in one transaction when it is opened.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson

from feedkit.errors import StoreError
from feedkit.schema import DEFAULT_PAGE
from feedkit.schema.feed_group import DEFAULT_FEED_GROUPS
from feedkit.server.feed_groups import ensure_groups, seed_groups
from feedkit.server.saved import pin_counts

log = logging.getLogger("feedkit.server")

SCHEMA = """
CREATE TABLE IF NOT EXISTS activities (
    rid INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    user_id TEXT NOT NULL,
    visibility TEXT NOT NULL,
    visibility_tag TEXT,
    parent_id TEXT,
    expires_at INTEGER,
    deleted_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    share_count INTEGER NOT NULL DEFAULT 0,
    popularity INTEGER NOT NULL DEFAULT 0,
    mentions TEXT,
    doc BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS activities_created ON activities (created_at);
CREATE INDEX IF NOT EXISTS activities_user ON activities (user_id, created_at);
CREATE INDEX IF NOT EXISTS activities_type ON activities (type, created_at);
CREATE INDEX IF NOT EXISTS activities_popularity ON activities (popularity, created_at);
CREATE INDEX IF NOT EXISTS activities_parent ON activities (parent_id) WHERE parent_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS activity_keys (
    k TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    rid INTEGER NOT NULL,
    PRIMARY KEY (k, created_at, rid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS feeds (
    fid TEXT PRIMARY KEY,
    group_id TEXT NOT NULL,
    id TEXT NOT NULL,
    created_by TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    doc BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    doc BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS follows (
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    push_preference TEXT NOT NULL DEFAULT 'none',
    follower_role TEXT NOT NULL DEFAULT '',
    custom BLOB NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'accepted',
    request_accepted_at INTEGER,
    request_rejected_at INTEGER,
    PRIMARY KEY (source, target)
) WITHOUT ROWID;
-- A feed's followers, counted from this index alone (follows_target held the target only, so
-- each follow's status was read from the table).
CREATE INDEX IF NOT EXISTS follows_target_status ON follows (target, status);
DROP INDEX IF EXISTS follows_target;
CREATE TABLE IF NOT EXISTS reactions (
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    type TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    custom BLOB NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (object_type, object_id, user_id, type)
) WITHOUT ROWID;
-- An object's reactions newest first, counted and read from this index alone: it holds every
-- column, so a feed page's latest reactions cost no lookup per reaction. It replaces
-- reactions_latest, which held the times only.
CREATE INDEX IF NOT EXISTS reactions_newest ON reactions (object_type, object_id, created_at,
    user_id, type, activity_id, custom, updated_at);
DROP INDEX IF EXISTS reactions_latest;
-- Comments (feedkit.server.comment_store): the scores are those the comment's reactions give
-- it (feedkit.server.comment_reactions).
CREATE TABLE IF NOT EXISTS comments (
    rid INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    parent_id TEXT,
    user_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    edited_at INTEGER,
    deleted_at INTEGER,
    score INTEGER NOT NULL DEFAULT 0,
    upvote_count INTEGER NOT NULL DEFAULT 0,
    downvote_count INTEGER NOT NULL DEFAULT 0,
    confidence_score REAL NOT NULL DEFAULT 0,
    controversy_score REAL NOT NULL DEFAULT 0,
    doc BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS comments_object ON comments (object_type, object_id, parent_id,
    created_at);
CREATE INDEX IF NOT EXISTS comments_live ON comments (object_type, object_id)
    WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS comments_parent ON comments (parent_id, created_at)
    WHERE parent_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS comments_user ON comments (user_id, created_at);
CREATE TABLE IF NOT EXISTS bookmark_folders (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    custom BLOB NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS bookmark_folders_user ON bookmark_folders (user_id, name);
CREATE TABLE IF NOT EXISTS bookmarks (
    user_id TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    folder_id TEXT NOT NULL DEFAULT '',
    custom BLOB NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (activity_id, user_id, folder_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS bookmarks_user ON bookmarks (user_id, created_at);
CREATE INDEX IF NOT EXISTS bookmarks_folder ON bookmarks (folder_id) WHERE folder_id != '';
CREATE TABLE IF NOT EXISTS pins (
    fid TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (fid, activity_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pins_activity ON pins (activity_id);
CREATE TABLE IF NOT EXISTS feed_groups (
    id TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER,
    doc BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS feed_views (
    id TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_used_at INTEGER,
    doc BLOB NOT NULL
);
-- Comment reactions: a hard-deleted activity's comments go by feedkit.server.dependents, which
-- also removes their reactions. The trigger an earlier layout made for them goes.
DROP TRIGGER IF EXISTS activity_comments_go_with_it;
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    doc BLOB NOT NULL
);
-- The import pipeline (feedkit.server.imports): upload URLs handed out (single use: ``used_at``
-- set by the upload that completed) and import tasks (their state, history and checkpoint).
CREATE TABLE IF NOT EXISTS import_uploads (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    size INTEGER
);
CREATE TABLE IF NOT EXISTS import_tasks (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    doc BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
PRAGMA user_version = 1;
"""

# Columns of ``activities`` besides rid and doc, in row order.
COLUMNS = (
    "id",
    "type",
    "user_id",
    "visibility",
    "visibility_tag",
    "parent_id",
    "expires_at",
    "deleted_at",
    "created_at",
    "updated_at",
    "share_count",
    "popularity",
)
# Members of the JSON doc, and the answer's value for each when a record has none; the
# optional ones are left out instead (an answer leaves them out too).
DOC_DEFAULTS: dict[str, Any] = {
    "feeds": [],
    "restrict_replies": "everyone",
    "attachments": [],
    "custom": {},
    "search_data": {},
    "filter_tags": [],
    "interest_tags": [],
}
OPTIONAL_DOC_FIELDS = ("text", "location", "poll_id", "edited_at")
DOC_FIELDS = (*DOC_DEFAULTS, *OPTIONAL_DOC_FIELDS)
ROW = ("rid", *COLUMNS, "mentions", "doc")  # a SELECT_ACTIVITY row
SELECT_ACTIVITY = ", ".join(f"a.{c}" for c in ROW)
# Indexes of activities that only reads use (an import's writes look activities up by id): an
# import of many lines builds them after its rows (Store.indexes_deferred) rather than keeping
# them up to date row by row.
DEFERRED_INDEXES = ("activities_created", "activities_user", "activities_type",
                    "activities_popularity")  # fmt: skip


def index_statement(name: str) -> str:
    """The statement of ``SCHEMA`` that makes the index ``name``."""
    head = f"CREATE INDEX IF NOT EXISTS {name} ON "
    return next(s.strip() for s in SCHEMA.split(";") if s.strip().startswith(head))


STORE_VERSION = 1  # the user_version SCHEMA sets; in layout 0 the doc held every field

FEED_KEY, FILTER_TAG_KEY, INTEREST_TAG_KEY = "f:", "t:", "i:"


def activity_keys(record: dict[str, Any]) -> list[str]:
    """The index keys of a record: its feeds and tags, each prefixed by kind."""
    keys = [FEED_KEY + f for f in record.get("feeds") or ()]
    for prefix, field in ((FILTER_TAG_KEY, "filter_tags"), (INTEREST_TAG_KEY, "interest_tags")):
        tags = record.get(field)
        if tags:
            keys += [prefix + t for t in tags]
    return sorted(set(keys))


def encode_doc(record: dict[str, Any]) -> bytes:
    """The JSON doc of a record: its ``DOC_FIELDS`` as an answer shows them."""
    doc = {k: record.get(k) or default for k, default in DOC_DEFAULTS.items()}
    for key in OPTIONAL_DOC_FIELDS:
        value = record.get(key)
        if value is not None:
            doc[key] = value
    return orjson.dumps(doc)


def row_values(record: dict[str, Any]) -> list[Any]:
    """``COLUMNS``, the mentions and the doc of a record, as they are written."""
    mentioned = record.get("mentioned_user_ids")
    mentions = orjson.dumps(mentioned).decode() if mentioned else None
    values = list(map(record.get, COLUMNS))
    values += (mentions, encode_doc(record))
    return values


def record_row(record: dict[str, Any]) -> tuple[Any, ...]:
    """A record as the ``SELECT_ACTIVITY`` row it is stored as (what answers are made of)."""
    return (record.get("rid"), *row_values(record))


def row_to_record(row: Sequence[Any]) -> dict[str, Any]:
    """A stored record (request-side names, ns timestamps) from a ``SELECT_ACTIVITY`` row."""
    record: dict[str, Any] = orjson.loads(row[-1])
    for key in OPTIONAL_DOC_FIELDS:
        record.setdefault(key, None)
    record["rid"] = row[0]
    record.update(zip(COLUMNS, row[1:-2], strict=True))
    record["mentioned_user_ids"] = orjson.loads(row[-2]) if row[-2] else []
    return record


def _migrate_v0(db: sqlite3.Connection, chunk: int = 10_000) -> None:
    """Layout 0 -> 1: each doc held every field, mentioned ids included, nulls as nulls."""
    db.execute("ALTER TABLE activities ADD COLUMN mentions TEXT")
    last = -1
    while True:
        rows = db.execute(
            "SELECT rid, id, doc FROM activities WHERE rid > ? ORDER BY rid LIMIT ?", (last, chunk)
        ).fetchall()
        if not rows:
            return
        updates = []
        for rid, aid, doc in rows:
            try:
                record = orjson.loads(doc)
            except orjson.JSONDecodeError as exc:
                raise StoreError(
                    f"activity {aid!r} (rid {rid}) holds a doc that is not JSON ({exc}); "
                    "the file was left as it was"
                ) from None
            *_, mentions, new_doc = row_values(record)
            updates.append((mentions, new_doc, rid))
        db.executemany("UPDATE activities SET mentions = ?, doc = ? WHERE rid = ?", updates)
        last = rows[-1][0]


# What a feed answers it counts (Store.feeds_counts).
FEED_COUNTS = ("activity_count", "follower_count", "following_count", "pin_count")
# A follow's own fields, with the value a follow that was never given one has.
FOLLOW_FIELDS: dict[str, Any] = {"push_preference": "none", "follower_role": "", "custom": {}}
# The columns of follows an earlier layout's file may lack (SCHEMA declares the table whole).
FOLLOW_COLUMNS = {
    "push_preference": "TEXT NOT NULL DEFAULT 'none'",
    "follower_role": "TEXT NOT NULL DEFAULT ''",
    "custom": "BLOB NOT NULL DEFAULT '{}'",
    # A follow request's state (a follow of an earlier layout was accepted) and its times.
    "status": "TEXT NOT NULL DEFAULT 'accepted'",
    "request_accepted_at": "INTEGER",
    "request_rejected_at": "INTEGER",
}
FOLLOW_STATE = ("status", "request_accepted_at", "request_rejected_at")
# A follow as it is read and written whole: ``custom`` (the 7th) is stored as JSON.
FOLLOW_ROW = ("source", "target", "created_at", "updated_at", *FOLLOW_FIELDS, *FOLLOW_STATE)


def _add_missing_columns(db: sqlite3.Connection, table: str, columns: dict[str, str]) -> None:
    """Columns a file of an earlier layout lacks, added with their defaults."""
    have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    for name, declaration in columns.items():
        if name not in have:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")


def holds_data(db: sqlite3.Connection) -> bool:
    """Whether a store holds anything written to it: a row of any table but the store's own
    (``meta``) and the built-in feed groups every new store is given."""
    tables = [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )]  # fmt: skip
    for table in tables:
        if table == "meta":
            continue
        sql, params = f'SELECT 1 FROM "{table}" LIMIT 1', []
        if table == "feed_groups":
            builtin = list(DEFAULT_FEED_GROUPS)
            marks = ",".join("?" * len(builtin))
            sql = f"SELECT 1 FROM feed_groups WHERE id NOT IN ({marks}) LIMIT 1"
            params = builtin
        if db.execute(sql, params).fetchone():
            return True
    return False


# An item's (created_at, updated_at) kept from elsewhere (an import file), or None for now.
History = tuple[int | None, int | None]


def now_ns() -> int:
    return time.time_ns()


class Store:
    """SQLite persistence; every public method is one transaction."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self.strict_groups = False  # refuse feeds of unknown groups (feedkit serve --strict-groups)
        self._lock = threading.RLock()
        self._depth = 0  # transactions open on the one connection (inner ones are savepoints)
        try:
            self._db = self._connect()
            self._db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:  # no such directory, no permission, not a database
            raise StoreError(f"{path}: cannot be opened as a store: {exc}") from None
        self._upgrade()
        self.store_id: str = self._db.execute(
            "SELECT value FROM meta WHERE key = 'store_id'"
        ).fetchone()[0]
        self._last_ns = 0
        # A file store gives each reading thread its own connection: WAL lets reads run
        # beside the one writer. A memory store exists in one connection only.
        self._shared_reads = path in ("", ":memory:") or "mode=memory" in path
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path,
            check_same_thread=False,
            isolation_level=None,
            uri=self.path.startswith("file:"),
        )
        db.execute("PRAGMA synchronous=NORMAL")
        # Checkpoint every ~40 MB of WAL instead of every 4 MB: 15-20% faster ingest.
        db.execute("PRAGMA wal_autocheckpoint=10000")
        db.execute("PRAGMA busy_timeout=10000")
        db.execute("PRAGMA cache_size=-65536")
        return db

    def _upgrade(self) -> None:
        """Create the tables, or bring a file of an older layout to ``STORE_VERSION``."""
        db = self._db
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > STORE_VERSION:
            raise StoreError(
                f"{self.path} has store layout {version}, newer than this feedkit's "
                f"{STORE_VERSION}: upgrade feedkit to open it"
            )
        old = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'activities'").fetchone()
        db.execute("BEGIN IMMEDIATE")
        try:
            if old and version == 0:
                log.warning("%s: migrating to store layout %d", self.path, STORE_VERSION)
                _migrate_v0(db)
            fresh_groups = not db.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'feed_groups'"
            ).fetchone()
            if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'follows'").fetchone():
                _add_missing_columns(db, "follows", FOLLOW_COLUMNS)  # before SCHEMA's indexes
            for statement in SCHEMA.split(";"):  # executescript would commit midway
                db.execute(statement)
            if fresh_groups:  # the built-in groups, and those an earlier layout's feeds name
                seed_groups(db, now_ns())
            # The store's identity, made once: a checkpoint is bound to it, so a journal of
            # another (or a deleted and recreated) store is never taken for this one's.
            db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('store_id', ?)",
                (uuid.uuid4().hex,),
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for reader in self._readers:
                reader.close()
            self._readers.clear()
            self._db.close()

    def tick(self) -> int:
        """A strictly increasing nanosecond clock, so created_at orders writes."""
        t = max(now_ns(), self._last_ns + 1)
        self._last_ns = t
        return t

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One transaction; opened inside another (by the same thread) it is a savepoint of
        it: an error rolls back the inner part only, and nothing is written before the outer
        one commits (an import applies a batch of lines, one savepoint a line)."""
        with self._lock:
            depth = self._depth
            begin, undo, end = (
                ("BEGIN IMMEDIATE", "ROLLBACK", "COMMIT")
                if depth == 0
                else (f"SAVEPOINT s{depth}", f"ROLLBACK TO s{depth}; RELEASE s{depth}",
                      f"RELEASE s{depth}")
            )  # fmt: skip
            self._db.execute(begin)
            self._depth += 1
            try:
                yield self._db
            except BaseException:
                for statement in undo.split("; "):
                    self._db.execute(statement)
                raise
            finally:
                self._depth -= 1
            self._db.execute(end)

    @contextmanager
    def indexes_deferred(self) -> Iterator[None]:
        """Drop :data:`DEFERRED_INDEXES` for the block, build them again after it (however it
        ends). Reads stay right meanwhile, slower; a process killed inside the block leaves
        them to be built when the store is next opened (``SCHEMA`` makes what is missing)."""
        with self.transaction() as db:
            for name in DEFERRED_INDEXES:
                db.execute(f"DROP INDEX IF EXISTS {name}")
        try:
            yield
        finally:
            with self.transaction() as db:
                for name in DEFERRED_INDEXES:
                    db.execute(index_statement(name))

    def activity_rows(self) -> int:
        """About how many activities the store has (the highest row id: no table scan)."""
        with self.reading() as db:
            return int(db.execute("SELECT max(rid) FROM activities").fetchone()[0] or 0)

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for reads; on a file store it does not wait for writers."""
        if self._shared_reads:
            with self._lock:
                if self._depth:  # inside this thread's own transaction: read what it wrote
                    yield self._db
                    return
                self._db.execute("BEGIN")
                try:
                    yield self._db
                finally:
                    self._db.execute("COMMIT")
            return
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._connect()
            db.execute("PRAGMA query_only=1")
            self._local.db = db
            with self._lock:
                self._readers.append(db)
        db.execute("BEGIN")
        try:
            yield db
        finally:
            db.execute("COMMIT")

    # -- activities -------------------------------------------------------------------------

    def get_rows(self, db: sqlite3.Connection, ids: Iterable[str]) -> dict[str, tuple[Any, ...]]:
        """The stored ``SELECT_ACTIVITY`` rows of these activity ids, by id."""
        ids = list(dict.fromkeys(ids))
        out: dict[str, tuple[Any, ...]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in db.execute(
                f"SELECT {SELECT_ACTIVITY} FROM activities a WHERE a.id IN ({marks})", chunk
            ):
                out[row[1]] = row
        return out

    def get_records(self, db: sqlite3.Connection, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {aid: row_to_record(row) for aid, row in self.get_rows(db, ids).items()}

    def write_records(
        self,
        db: sqlite3.Connection,
        records: Sequence[dict[str, Any]],
        existing: dict[str, dict[str, Any]],
        rows: Sequence[Sequence[Any]] | None = None,
        keys: Sequence[list[str]] | None = None,
    ) -> None:
        """Insert or replace full records, a whole batch in a few statements.

        ``existing`` maps ids to the stored records they replace (their rid, created_at and
        keys are kept); ids must be distinct. Sets ``rid`` on every record. A new record with
        a ``parent_id`` counts as one share of its parent. ``rows``: each record's
        :func:`row_values` made ahead, ``keys`` their :func:`activity_keys` (the records then
        need only their ids, parents and times).
        """
        columns = ", ".join(COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS)
        db.executemany(
            f"INSERT INTO activities ({columns}, mentions, doc) "
            f"VALUES ({', '.join('?' * len(COLUMNS))}, ?, ?) ON CONFLICT (id) DO UPDATE SET "
            f"{updates}, mentions = excluded.mentions, doc = excluded.doc",
            rows if rows is not None else [row_values(r) for r in records],
        )
        fresh = [r for r in records if r["id"] not in existing]
        for rec in records:
            old = existing.get(rec["id"])
            if old is not None:
                rec["rid"] = old["rid"]
        for start in range(0, len(fresh), 500):
            chunk = fresh[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rids = dict(
                db.execute(
                    f"SELECT id, rid FROM activities WHERE id IN ({marks})",
                    [r["id"] for r in chunk],
                ).fetchall()
            )
            for rec in chunk:
                rec["rid"] = rids[rec["id"]]
        stale: list[tuple[str, int, int]] = []
        added: list[tuple[str, int, int]] = []
        for i, rec in enumerate(records):
            old = existing.get(rec["id"])
            old_keys = activity_keys(old) if old is not None else []
            new_keys = keys[i] if keys is not None else activity_keys(rec)
            # created_at orders the keys: it changes only when an import keeps an old time
            if old_keys != new_keys or (old is not None and old["created_at"] != rec["created_at"]):
                if old is not None:
                    stale += [(k, old["created_at"], rec["rid"]) for k in old_keys]
                added += [(k, rec["created_at"], rec["rid"]) for k in new_keys]
        # (in the index's order: each page is visited once, however many keys it takes)
        db.executemany(
            "DELETE FROM activity_keys WHERE k = ? AND created_at = ? AND rid = ?", sorted(stale)
        )
        db.executemany("INSERT INTO activity_keys VALUES (?, ?, ?)", sorted(added))
        db.executemany(
            "UPDATE activities SET share_count = share_count + 1, popularity = popularity + 1 "
            "WHERE id = ?",
            [(r["parent_id"],) for r in fresh if r.get("parent_id")],
        )
        # Shares written before their parent count too, whatever the order of an import.
        shares: dict[str, int] = {}
        for start in range(0, len(fresh), 500):
            ids = [r["id"] for r in fresh[start : start + 500]]
            shares.update(
                db.execute(
                    f"SELECT parent_id, count(*) FROM activities WHERE parent_id IN "
                    f"({','.join('?' * len(ids))}) GROUP BY parent_id",
                    ids,
                ).fetchall()
            )
        db.executemany(
            "UPDATE activities SET share_count = ?, popularity = ? WHERE id = ?",
            [(n, n, aid) for aid, n in shares.items()],
        )
        for r in fresh:
            r["share_count"] = r["popularity"] = shares.get(r["id"], 0)

    def hard_delete(self, db: sqlite3.Connection, records: Iterable[dict[str, Any]]) -> None:
        """Remove activities and what goes with them (their reactions, comments, bookmarks,
        pins: :data:`feedkit.server.dependents.ACTIVITY_DEPENDENTS`)."""
        # Imported here: the dependents are the resource modules, which import the store.
        from feedkit.server.dependents import forget_activities

        gone = []
        for rec in records:
            db.executemany(
                "DELETE FROM activity_keys WHERE k = ? AND created_at = ? AND rid = ?",
                [(k, rec["created_at"], rec["rid"]) for k in activity_keys(rec)],
            )
            db.execute("DELETE FROM activities WHERE rid = ?", (rec["rid"],))
            gone.append(rec["id"])
        forget_activities(db, gone)

    def set_deleted(self, db: sqlite3.Connection, rids: Iterable[int], at: int | None) -> None:
        db.executemany(
            "UPDATE activities SET deleted_at = ?, updated_at = COALESCE(?, "
            "updated_at) WHERE rid = ?",
            [(at, at, rid) for rid in rids],
        )

    def select(
        self, db: sqlite3.Connection, sql: str, params: Sequence[Any]
    ) -> list[dict[str, Any]]:
        return [row_to_record(r) for r in db.execute(sql, params)]

    # -- users ------------------------------------------------------------------------------

    def ensure_users(self, db: sqlite3.Connection, ids: Iterable[str], at: int) -> None:
        self.ensure_users_at(db, [(i, at) for i in sorted(set(ids))])

    def ensure_users_at(self, db: sqlite3.Connection, users: Iterable[tuple[str, int]]) -> None:
        """Create the users that do not exist yet, each at its time (the first given)."""
        db.executemany(
            "INSERT OR IGNORE INTO users (id, created_at, updated_at, doc) VALUES (?, ?, ?, '{}')",
            [(i, at, at) for i, at in users],
        )

    def upsert_users(
        self, db: sqlite3.Connection, users: Sequence[dict[str, Any]], at: int
    ) -> None:
        db.executemany(
            "INSERT INTO users (id, created_at, updated_at, doc) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at, doc = excluded.doc",
            [
                (u["id"], at, at, orjson.dumps({k: v for k, v in u.items() if k != "id"}))
                for u in users
            ],
        )

    def select_users(
        self,
        db: sqlite3.Connection,
        where: str,
        params: Sequence[Any],
        order: str,
        limit: int,
        offset: int,
    ) -> list[dict[str, Any]]:
        """Users matching a compiled filter (``where`` over ``id``, ``created_at``,
        ``updated_at`` and ``doc``), in ``order``; ``limit`` -1 for all of them."""
        rows = db.execute(
            f"SELECT id, created_at, updated_at, doc FROM users WHERE {where} ORDER BY {order} "
            "LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [
            {**orjson.loads(doc), "id": uid, "created_at": created, "updated_at": updated}
            for uid, created, updated, doc in rows
        ]

    def delete_users(self, db: sqlite3.Connection, ids: Iterable[str]) -> None:
        db.executemany("DELETE FROM users WHERE id = ?", [(i,) for i in ids])

    def put_task(self, db: sqlite3.Connection, task_id: str, at: int, doc: dict[str, Any]) -> None:
        db.execute(
            "INSERT INTO tasks (id, created_at, updated_at, doc) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at, doc = excluded.doc",
            (task_id, at, at, orjson.dumps(doc)),
        )

    def get_task(self, db: sqlite3.Connection, task_id: str) -> dict[str, Any] | None:
        row = db.execute(
            "SELECT created_at, updated_at, doc FROM tasks WHERE id = ?", (task_id,)
        ).fetchone()
        if row is None:
            return None
        return {**orjson.loads(row[2]), "task_id": task_id, "created_at": row[0],
                "updated_at": row[1]}  # fmt: skip

    def get_users(self, db: sqlite3.Connection, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = list(set(ids))
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for uid, created, updated, doc in db.execute(
                f"SELECT id, created_at, updated_at, doc FROM users WHERE id IN ({marks})", chunk
            ):
                user = orjson.loads(doc)
                user.update(id=uid, created_at=created, updated_at=updated)
                out[uid] = user
        return out

    # -- feeds and follows ------------------------------------------------------------------

    def ensure_feeds(
        self, db: sqlite3.Connection, fids: Iterable[str], created_by: str | None, at: int
    ) -> None:
        self.ensure_feeds_by(db, [(fid, created_by) for fid in fids], at)

    def ensure_feeds_by(
        self, db: sqlite3.Connection, feeds: Iterable[tuple[str, str | None]], at: int
    ) -> None:
        """Create the feeds that do not exist yet, each with its creator (the first named:
        a batch makes a feed as the first of its writes naming it would)."""
        rows = []
        wanted: dict[str, str | None] = {}
        for fid, created_by in feeds:
            wanted.setdefault(fid, created_by)
        visibility = ensure_groups(
            db, (f.partition(":")[0] for f in wanted), at, strict=self.strict_groups
        )
        for fid, created_by in wanted.items():
            rows.append(self._new_feed_row(fid, created_by, at, visibility[fid.partition(":")[0]]))
        db.executemany(
            "INSERT OR IGNORE INTO feeds (fid, group_id, id, created_by, created_at, "
            "updated_at, doc) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    @staticmethod
    def _new_feed_row(
        fid: str, created_by: str | None, at: int, visibility: str
    ) -> tuple[Any, ...]:
        """The row a new feed is stored with: it starts at its group's default visibility
        (``visible`` is not stored)."""
        group, _, fid_id = fid.partition(":")
        doc = b"{}" if visibility == "visible" else orjson.dumps({"visibility": visibility})
        return (fid, group, fid_id, created_by, at, at, doc)

    def new_feed(
        self, fid: str, created_by: str | None, at: int, visibility: str
    ) -> dict[str, Any]:
        """A feed ``ensure_feeds`` makes at ``at``, as ``get_feed`` will read it."""
        return self._feed(self._new_feed_row(fid, created_by, at, visibility))

    _FEED_SELECT = "SELECT fid, group_id, id, created_by, created_at, updated_at, doc FROM feeds"

    @staticmethod
    def _feed(row: Sequence[Any]) -> dict[str, Any]:
        feed: dict[str, Any] = orjson.loads(row[6])
        feed.update(
            feed=row[0],
            group_id=row[1],
            id=row[2],
            created_by=row[3],
            created_at=row[4],
            updated_at=row[5],
        )
        return feed

    def get_feed(self, db: sqlite3.Connection, fid: str) -> dict[str, Any] | None:
        return self.get_feeds(db, [fid]).get(fid)

    def get_feeds(self, db: sqlite3.Connection, fids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored feeds of these ids, by id."""
        rows = db.execute(
            f"{self._FEED_SELECT} WHERE fid IN (SELECT value FROM json_each(?))",
            (orjson.dumps(list(dict.fromkeys(fids))).decode(),),
        )
        return {row[0]: self._feed(row) for row in rows}

    def query_feeds(
        self,
        db: sqlite3.Connection,
        where: str,
        params: Sequence[Any],
        order: str,
        limit: int,
        offset: int,
    ) -> list[dict[str, Any]]:
        """Feeds matching ``where`` (over the feeds table's columns), in ``order``."""
        rows = db.execute(
            f"{self._FEED_SELECT} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [self._feed(row) for row in rows]

    def update_feed_doc(
        self, db: sqlite3.Connection, fid: str, doc: dict[str, Any], at: int
    ) -> None:
        db.execute(
            "UPDATE feeds SET doc = ?, updated_at = ? WHERE fid = ?", (orjson.dumps(doc), at, fid)
        )

    def feed_counts(self, db: sqlite3.Connection, fid: str) -> dict[str, int]:
        return self.feeds_counts(db, [fid])[fid]

    def feeds_counts(
        self, db: sqlite3.Connection, fids: Sequence[str]
    ) -> dict[str, dict[str, int]]:
        """Each feed's activity, follower, following and pin counts, a statement each for
        all of them."""
        fids = list(dict.fromkeys(fids))
        listed = (orjson.dumps(fids).decode(),)
        keys = orjson.dumps([FEED_KEY + f for f in fids]).decode()
        activities = dict(db.execute(
            "SELECT k, count(*) FROM activity_keys WHERE k IN (SELECT value FROM json_each(?)) "
            "GROUP BY k", (keys,),
        ).fetchall())  # fmt: skip
        accepted = "status = 'accepted'"  # a pending or rejected request is no follow yet
        followers = dict(db.execute(
            f"SELECT target, count(*) FROM follows WHERE target IN (SELECT value FROM "
            f"json_each(?)) AND {accepted} GROUP BY target", listed,
        ).fetchall())  # fmt: skip
        following = dict(db.execute(
            f"SELECT source, count(*) FROM follows WHERE source IN (SELECT value FROM "
            f"json_each(?)) AND {accepted} GROUP BY source", listed,
        ).fetchall())  # fmt: skip
        pins = pin_counts(db, fids)
        return {
            fid: {
                "activity_count": activities.get(FEED_KEY + fid, 0),
                "follower_count": followers.get(fid, 0),
                "following_count": following.get(fid, 0),
                "pin_count": pins.get(fid, 0),
            }
            for fid in fids
        }

    def following(self, db: sqlite3.Connection, fid: str) -> list[str]:
        return [
            r[0]
            for r in db.execute(
                "SELECT target FROM follows WHERE source = ? AND status = 'accepted' "
                "ORDER BY target",
                (fid,),
            )
        ]

    def delete_feed(self, db: sqlite3.Connection, fid: str) -> bool:
        db.execute("DELETE FROM follows WHERE source = ? OR target = ?", (fid, fid))
        return db.execute("DELETE FROM feeds WHERE fid = ?", (fid,)).rowcount > 0

    def follow(
        self,
        db: sqlite3.Connection,
        source: str,
        target: str,
        at: int,
        fields: dict[str, Any] | None = None,
        *,
        keep: bool = False,
    ) -> dict[str, Any]:
        """Create (or, unless ``keep``, update) the follow; the stored follow. ``fields`` are
        its push_preference, follower_role and custom."""
        given = {k: v for k, v in (fields or {}).items() if k in FOLLOW_FIELDS and v is not None}
        values = [given.get(k, FOLLOW_FIELDS[k]) for k in FOLLOW_FIELDS]
        values[-1] = orjson.dumps(values[-1])  # custom
        update = ", ".join(f"{k} = excluded.{k}" for k in ("updated_at", *given))
        columns = ", ".join(["source", "target", "created_at", "updated_at", *FOLLOW_FIELDS])
        db.execute(
            f"INSERT INTO follows ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (source, target) DO " + ("NOTHING" if keep else f"UPDATE SET {update}"),
            (source, target, at, at, *values),
        )
        found = self.get_follow(db, source, target)
        assert found is not None
        return found

    def get_follow(self, db: sqlite3.Connection, source: str, target: str) -> dict[str, Any] | None:
        found = self.query_follows(db, "source = ? AND target = ?", [source, target], 1, 0)
        return found[0] if found else None

    def get_follows(
        self, db: sqlite3.Connection, pairs: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """The stored follows of these (source, target) pairs, by pair."""
        listed = orjson.dumps([list(p) for p in dict.fromkeys(pairs)]).decode()
        rows = db.execute(
            f"SELECT {', '.join(f'f.{c}' for c in FOLLOW_ROW)} FROM json_each(?) j "
            "JOIN follows f ON f.source = j.value ->> 0 AND f.target = j.value ->> 1",
            (listed,),
        )
        out = {}
        for row in rows:
            follow = dict(zip(FOLLOW_ROW, row, strict=True))
            follow["custom"] = orjson.loads(follow["custom"])
            out[follow["source"], follow["target"]] = follow
        return out

    def put_follows(self, db: sqlite3.Connection, follows: Iterable[dict[str, Any]]) -> None:
        """Write follows whole (every column of ``FOLLOW_ROW``), created or replaced."""
        columns = ", ".join(FOLLOW_ROW)
        updates = ", ".join(f"{c} = excluded.{c}" for c in FOLLOW_ROW[2:])
        db.executemany(
            f"INSERT INTO follows ({columns}) VALUES ({', '.join('?' * len(FOLLOW_ROW))}) "
            f"ON CONFLICT (source, target) DO UPDATE SET {updates}",
            [
                [*(f[c] for c in FOLLOW_ROW[:6]), orjson.dumps(f["custom"]),
                 *(f[c] for c in FOLLOW_ROW[7:])]
                for f in follows
            ],
        )  # fmt: skip

    def follows(
        self,
        db: sqlite3.Connection,
        *,
        source: str | None = None,
        target: str | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> list[dict[str, Any]]:
        """The accepted follows from or to a feed, newest first."""
        column, value = ("source", source) if source is not None else ("target", target)
        return self.query_follows(db, f"{column} = ? AND status = 'accepted'", [value], limit, 0)

    def query_follows(
        self,
        db: sqlite3.Connection,
        where: str,
        params: Sequence[Any],
        limit: int,
        offset: int,
        order: str = "created_at DESC, source, target",
    ) -> list[dict[str, Any]]:
        """Follows matching ``where`` (over the follows table's columns), in ``order``."""
        rows = db.execute(
            f"SELECT source, target, created_at, updated_at, {', '.join(FOLLOW_FIELDS)}, "
            f"{', '.join(FOLLOW_STATE)} FROM follows WHERE {where} ORDER BY {order} "
            "LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        out = []
        for row in rows:
            follow = dict(zip(FOLLOW_ROW, row, strict=True))
            follow["custom"] = orjson.loads(follow["custom"])
            out.append(follow)
        return out

    def unfollow(self, db: sqlite3.Connection, source: str, target: str) -> bool:
        return (
            db.execute(
                "DELETE FROM follows WHERE source = ? AND target = ?", (source, target)
            ).rowcount
            > 0
        )
