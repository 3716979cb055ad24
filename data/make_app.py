"""Generate a small legacy social app as its team would export it: ``data/app/*.csv``.

Six tables in the old app's own column names (not feedkit's): ``users.csv``, ``posts.csv``,
``follows.csv``, ``comments.csv`` (threads up to 4 deep, a few replies listed before the
comment they answer), ``likes.csv`` (on posts and on comments) and ``saved.csv``, with a few
deliberately bad rows in each (:data:`BAD_ROWS`: where, and what feedkit says about them).
``data/app/*.toml`` maps each table, ``data/app/plan.toml`` lists them, ``data/app/README.md``
describes it all.

Deterministic (one ``random.Random(SEED)``, stdlib only, no clock). Every row is written as it
is made, and only the current post's thread is held, so ``--scale N`` (N times the rows, the
same bad rows at the same places) makes an app for benchmarks in flat memory::

    .venv/bin/python data/make_app.py                      # the tutorial app, into data/app
    .venv/bin/python data/make_app.py --scale 1000 --out /tmp/bigapp
    .venv/bin/python data/make_app.py --size 10000,100000,200000,100000,300000 --out /tmp/app

``--size`` sets about how many users, posts, follows, comments and reactions (the means of
:class:`Shape`); the tutorial app's shape is the default, and data/app stays byte-identical.
"""

from __future__ import annotations

import argparse
import csv
import random
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, TextIO

HERE: Final = Path(__file__).resolve().parent
SEED: Final = 1605  # issue 16, item 5
N_USERS: Final = 200  # per unit of --scale (Shape's defaults)
N_POSTS: Final = 1000
START: Final = datetime(2019, 1, 1, tzinfo=UTC)
SPAN: Final = timedelta(days=5 * 365)

COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "users.csv": ("user_id", "username", "display_name", "avatar", "joined", "bio", "is_admin",
                  "lang", "teams", "prefs"),
    "posts.csv": ("post_id", "author_id", "body", "posted_at", "image", "tags", "wall"),
    "follows.csv": ("follower_id", "followee_id", "followed_at", "notify"),
    "comments.csv": ("comment_id", "post_id", "reply_to", "author_id", "body", "commented_at"),
    "likes.csv": ("like_id", "user_id", "post_id", "comment_id", "kind", "liked_at"),
    "saved.csv": ("user_id", "post_id", "folder", "saved_at"),
}  # fmt: skip
Row = dict[str, str]

# --------------------------------------------------------------------------------------------
# The deliberately bad rows
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadRow:
    """One deliberately bad row and what feedkit says about it."""

    file: str
    row: int  # 0-based record index after the header: the ``row`` of feedkit's error table
    defect: str  # how the generator makes it: a name in _defects()
    column: str  # the source column at fault
    field: str  # the field feedkit names
    reason: str  # the feedkit.Reason value
    problem: str  # what is wrong, for people
    # The row is valid on its own and refused only when the plan checks what it refers to:
    # validating the table alone passes it, and a plain import fails it at the server.
    reference: bool = False

    @property
    def at(self) -> int:
        """Where the generator acts: a duplicate is the row *before* the copy it puts in."""
        return self.row + 1 if self.reason == "duplicate_id" else self.row


# Rows are placed by position: a *spoiled* row is the generated row at that position, changed
# (what it was is not in the app: nothing refers to it); an *inserted* row is an extra row put
# in before it (a duplicate: a copy of the row before). Positions hold at every --scale.
BAD_ROWS: Final = (
    BadRow("users.csv", 37, "blank_user_id", "user_id", "id", "required",
           "user_id is empty (an account the old app half-deleted)"),
    BadRow("users.csv", 88, "long_name", "display_name", "name", "too_long",
           "a 1,200-character display name (a spam account); at most 1,000"),
    BadRow("users.csv", 143, "cut_json", "prefs", "custom.prefs", "format",
           "prefs holds JSON cut off at 64 characters by an old VARCHAR(64) column"),
    BadRow("posts.csv", 120, "no_author", "author_id", "feeds", "required",
           "author_id is empty, so the post's only feed, `user:{author_id}`, cannot be made "
           "(`user_id` is then simply unset)"),
    BadRow("posts.csv", 305, "wall_without_group", "wall", "feeds[1]", "feed_format",
           "wall is `57`, a feed id without its group (`user:57`)"),
    BadRow("posts.csv", 512, "us_date", "posted_at", "created_at", "time_format",
           "posted_at is `03/11/2021 14:22`, a US date, not ISO 8601"),
    BadRow("posts.csv", 733, "again", "post_id", "id", "duplicate_id",
           "the same post is exported again as row 734: the last row wins"),
    BadRow("follows.csv", 210, "blank_followee", "followee_id", "target", "required",
           "followee_id is empty (the followed account was deleted)"),
    BadRow("follows.csv", 655, "daily_digest", "notify", "push_preference", "choice",
           "notify is `daily`, a digest setting the new API does not have (`all` or `none`)"),
    BadRow("follows.csv", 1024, "again", "follower_id,followee_id", "source,target", "duplicate_id",
           "the same follow is exported again as row 1025: the last row wins"),
    BadRow("comments.csv", 150, "reply_to_deleted", "reply_to", "parent_id", "unknown_reference",
           "replies to comment 152, which was deleted (not in comments.csv)", reference=True),
    BadRow("comments.csv", 420, "comment_on_deleted_post", "post_id", "object_id",
           "unknown_reference",
           "a comment on post 418, which was deleted (not in posts.csv)", reference=True),
    BadRow("comments.csv", 777, "comment_by_nobody", "author_id", "user_id", "required",
           "author_id is empty (the author's account was erased)"),
    BadRow("likes.csv", 99, "on_deleted_post", "post_id", "activity_id", "unknown_reference",
           "a like of post 418, which was deleted (not in posts.csv)", reference=True),
    BadRow("likes.csv", 640, "like_of_comment_and_post", "post_id,comment_id", "comment_id",
           "dependency",
           "a like of a comment that also names the comment's post: a reaction is on one object"),
    BadRow("likes.csv", 1313, "like_without_kind", "kind", "type", "required",
           "kind is empty (a like from before the app had reaction kinds)"),
    BadRow("likes.csv", 1900, "double_click", "post_id,comment_id,kind,user_id",
           "activity_id,comment_id,type,user_id", "duplicate_id",
           "a double click: the same like again as row 1901; the last row wins"),
    BadRow("saved.csv", 44, "on_deleted_post", "post_id", "activity_id", "unknown_reference",
           "a bookmark of post 418, which was deleted (not in posts.csv)", reference=True),
    BadRow("saved.csv", 170, "bookmark_without_user", "user_id", "user_id", "required",
           "user_id is empty"),
    BadRow("saved.csv", 230, "again", "post_id,user_id", "activity_id,user_id", "duplicate_id",
           "the same bookmark is exported again as row 231: the last row wins"),
)  # fmt: skip

DELETED_POST: Final = 417  # the post deleted from the old app: some rows still refer to it

# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------

FIRST: Final = ("Ada", "Ben", "Chloé", "Dmitri", "Elif", "Femi", "Greta", "Hiro", "Inès",
                "Jonas", "Kavya", "Lars", "Mei", "Nadia", "Omar", "Priya", "Quinn", "Rosa",
                "Sami", "Tomás", "Uma", "Viktor", "Wen", "Yara", "Zoë")  # fmt: skip
LAST: Final = ("Okafor", "Lindqvist", "Moreau", "Tanaka", "Kowalski", "García", "Nguyen",
               "Schmidt", "Haddad", "O'Brien", "Rossi", "Petrov", "Silva", "Jensen", "Kim",
               "Dubois", "Novak", "Ahmed", "Fischer", "Costa")  # fmt: skip
LANGS: Final = (("en", 70), ("de", 10), ("fr", 10), ("es", 10))
TEAMS: Final = ("moderators", "beta-testers", "staff", "ambassadors")
THEMES: Final = ("light", "dark", "system")
DIGESTS: Final = ("daily", "weekly", "never")
BIOS: Final = ("Coffee first.", "Runner, reader, occasional baker.",
               'Data engineer. Opinions are my own, "probably".', "Dad of two, fan of trains.",
               "Photos of clouds, mostly.", "Climbing, coding, cooking.",
               "Here for the recipes.\nAnd the cat pictures.", "She/her. Berlin.")  # fmt: skip
TOPICS: Final = ("sourdough", "the new bike lane", "our garden", "a rainy Sunday", "Rust",
                 "the book club", "a trail run", "night trains", "pour-over coffee",
                 "the city marathon", "film cameras", "board games", "tomatoes")  # fmt: skip
POSTS: Final = ("Finally tried {t} today. Worth it!", "Does anyone have tips for {t}?",
                "Hot take: {t} is overrated.", "Three things I learned from {t}, a thread 🧵",
                "Photo dump from {t} 📷", "Can't stop thinking about {t}.",
                "Week 3 of {t}, still going.\nProgress is slow but real.",
                'Overheard: "{t}, again?" Yes. Again.')  # fmt: skip
COMMENTS: Final = ("Love this!", "Same here.", "Where was this?", "Agreed, 100%.",
                   "Not sure I agree, but nice write-up.", "Thanks for sharing 🙏", "Ha, yes.",
                   "Can you say more about that?", "Saving this for later.", "+1",
                   "This made my day.", "Wait, really?")  # fmt: skip
TAGS: Final = ("food", "travel", "diy", "fitness", "photo", "books", "tech", "garden", "pets",
               "music")  # fmt: skip
KINDS: Final = (("like", 70), ("love", 15), ("haha", 6), ("wow", 4), ("sad", 3), ("angry", 2))
FOLDERS: Final = ("Read later", "Recipes", "Trips", "Work")


@dataclass(frozen=True)
class Shape:
    """How big the app is (users and posts per unit of ``--scale``) and how busy: the other
    tables' rows are drawn with these means (per user, per post, per comment). The defaults
    make the tutorial app; :meth:`sized` makes one of about the given rows."""

    users: int = N_USERS
    posts: int = N_POSTS
    follows_per_user: float = 7.5
    comments_per_post: float = 1.3
    likes_per_post: float = 2.1
    likes_per_comment: float = 0.45
    saves_per_post: float = 0.4

    @classmethod
    def sized(cls, users: int, posts: int, follows: int, comments: int, reactions: int) -> Shape:
        """An app of ``users`` and ``posts`` with about ``follows``, ``comments`` and
        ``reactions`` rows (likes on posts and on comments, as many on a comment as now)."""
        base = cls()
        on_posts = reactions - base.likes_per_comment * comments
        if min(users, posts) < 1 or min(follows, comments, on_posts) < 0:
            raise ValueError("users and posts must be >= 1, and reactions enough for the "
                             f"comments' likes ({base.likes_per_comment:g} a comment)")  # fmt: skip
        return cls(users, posts, follows / users, comments / posts, on_posts / posts,
                   base.likes_per_comment, base.saves_per_post)  # fmt: skip


def _weighted(rng: random.Random, pairs: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _count(rng: random.Random, mean: float) -> int:
    """A small non-negative count with the given mean, heavy-tailed (a few busy threads)."""
    return round(rng.expovariate(1 / mean)) if mean > 0 else 0


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------
# Writing, with the bad rows put in place
# --------------------------------------------------------------------------------------------

Defect = Callable[[Row, Row], Row]  # (the row at this position, the one before) -> bad row


@dataclass
class Table:
    """One CSV file written row by row; at each bad row's position it spoils the row it is
    given or inserts one before it."""

    out: TextIO
    columns: tuple[str, ...]
    spoil: dict[int, Defect] = field(default_factory=dict)
    insert: dict[int, Defect] = field(default_factory=dict)
    row: int = 0  # the next row's position
    last: Row = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.writer = csv.writer(self.out, lineterminator="\n")
        self.writer.writerow(self.columns)

    def write(self, row: Row) -> bool:
        """Write ``row``; False if it was spoiled (nothing may refer to it then)."""
        while self.row in self.insert:
            self._emit(self.insert[self.row](dict(row), self.last))
        if self.row in self.spoil:
            self._emit(self.spoil[self.row](dict(row), self.last))
            return False
        self._emit(row)
        return True

    def _emit(self, row: Row) -> None:
        self.writer.writerow([row[c] for c in self.columns])
        self.last = row
        self.row += 1


@dataclass
class Ids:
    """Counters of the ids the old database handed out (numbers, as its primary keys)."""

    comment: int = 0
    like: int = 0
    last_comment: tuple[str, str] = ("", "")  # the last comment written: its id and post

    def next_comment(self) -> str:
        self.comment += 1
        return str(self.comment)

    def next_like(self) -> str:
        self.like += 1
        return str(self.like)


def _defects(ids: Ids) -> dict[str, tuple[dict[int, Defect], dict[int, Defect]]]:
    """For each file, the spoiled and the inserted rows of :data:`BAD_ROWS`, by position."""
    deleted_post = str(DELETED_POST + 1)

    def again(row: Row, last: Row) -> Row:
        return dict(last)

    def blank(column: str) -> Defect:
        return lambda row, last: {**row, column: ""}

    def set_to(column: str, value: str) -> Defect:
        return lambda row, last: {**row, column: value}

    def on_deleted_post(row: Row, last: Row) -> Row:
        return {**row, "post_id": deleted_post, "comment_id": "", "like_id": ids.next_like()}

    def comment_on_deleted_post(row: Row, last: Row) -> Row:
        return {**row, "comment_id": ids.next_comment(), "post_id": deleted_post,
                "reply_to": "", "body": "Where did the post go?"}  # fmt: skip

    def reply_to_deleted(row: Row, last: Row) -> Row:
        deleted = ids.next_comment()  # the comment made, then deleted, before this reply
        return {**row, "comment_id": ids.next_comment(), "reply_to": deleted,
                "body": "Why was the comment above removed?"}  # fmt: skip

    def comment_by_nobody(row: Row, last: Row) -> Row:
        return {**row, "comment_id": ids.next_comment(), "reply_to": "", "author_id": ""}

    def like_of_comment_and_post(row: Row, last: Row) -> Row:
        comment, post = ids.last_comment
        return {**row, "like_id": ids.next_like(), "post_id": post, "comment_id": comment}

    def like_without_kind(row: Row, last: Row) -> Row:
        return {**row, "like_id": ids.next_like(), "kind": ""}

    def double_click(row: Row, last: Row) -> Row:
        return {**last, "like_id": ids.next_like()}

    long_name = ("Best deals " + "💰 " * 3) * 80
    full_json = (
        '{"theme": "dark", "digest": "weekly", "notify": {"mentions": true, "follows": false}}'
    )
    cut_json = full_json[:64]  # what a VARCHAR(64) kept of it
    spoils = True
    makers: dict[str, tuple[bool, Defect]] = {  # name -> (spoils the row at its place?, how)
        "blank_user_id": (spoils, blank("user_id")),
        "long_name": (spoils, set_to("display_name", long_name)),
        "cut_json": (spoils, set_to("prefs", cut_json)),
        "no_author": (spoils, lambda row, last: {**row, "author_id": "", "wall": ""}),
        "wall_without_group": (spoils, set_to("wall", "57")),
        "us_date": (spoils, set_to("posted_at", "03/11/2021 14:22")),
        "blank_followee": (spoils, blank("followee_id")),
        "daily_digest": (spoils, set_to("notify", "daily")),
        "again": (not spoils, again),
        "reply_to_deleted": (not spoils, reply_to_deleted),
        "comment_on_deleted_post": (not spoils, comment_on_deleted_post),
        "comment_by_nobody": (not spoils, comment_by_nobody),
        "on_deleted_post": (not spoils, on_deleted_post),
        "like_of_comment_and_post": (not spoils, like_of_comment_and_post),
        "like_without_kind": (not spoils, like_without_kind),
        "double_click": (not spoils, double_click),
        "bookmark_without_user": (not spoils, blank("user_id")),
    }
    out: dict[str, tuple[dict[int, Defect], dict[int, Defect]]] = {n: ({}, {}) for n in COLUMNS}
    for bad in BAD_ROWS:
        spoiled, make = makers[bad.defect]
        out[bad.file][0 if spoiled else 1][bad.at] = make
    return out


# --------------------------------------------------------------------------------------------
# The app
# --------------------------------------------------------------------------------------------


@dataclass
class App:
    """What the generator keeps while it writes: the counts, and who must not be referred to."""

    rng: random.Random
    n_users: int
    n_posts: int
    shape: Shape
    gone_users: set[int] = field(default_factory=set)  # rows spoiled: referring to them fails

    def user(self, index: int) -> str:
        return str(index + 1)

    def post(self, index: int) -> str:
        return str(index + 1)

    def someone(self, skew: float = 1.0) -> int:
        """A user index: low indices (the early adopters) are the busiest when ``skew`` > 1."""
        while True:
            index = int(self.n_users * self.rng.random() ** skew)
            if index not in self.gone_users:
                return index

    def some(self, k: int, besides: int = -1) -> list[int]:
        """``k`` distinct users, none of them ``besides``."""
        chosen: dict[int, None] = {}
        while len(chosen) < min(k, self.n_users - len(self.gone_users) - 1):
            index = self.someone(1.6)
            if index != besides:
                chosen[index] = None
        return list(chosen)

    def when(self, index: int, of: int) -> datetime:
        """The time of the ``index``-th of ``of`` events spread over the app's life."""
        return START + SPAN * ((index + self.rng.random()) / of)


def write_users(app: App, users: Table, follows: Table) -> None:
    rng = app.rng
    for i in range(app.n_users):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        uid = app.user(i)
        n_teams = rng.choices((0, 1, 2), weights=(80, 15, 5))[0]
        prefs = ""
        if rng.random() < 0.6:
            theme, digest = rng.choice(THEMES), rng.choice(DIGESTS)
            prefs = f'{{"theme": "{theme}", "digest": "{digest}"}}'
        row = {
            "user_id": uid,
            "username": f"{first.lower()}.{last.lower().replace(chr(39), '')}{i % 97}",
            "display_name": f"{first} {last}",
            "avatar": f"https://cdn.oldapp.example/avatars/{uid}.jpg" if rng.random() < 0.7 else "",
            "joined": _iso(app.when(i, app.n_users)),
            "bio": rng.choice(BIOS) if rng.random() < 0.5 else "",
            "is_admin": "1" if rng.random() < 0.03 else "0",
            "lang": _weighted(rng, LANGS),
            "teams": ";".join(rng.sample(TEAMS, n_teams)),
            "prefs": prefs,
        }
        if not users.write(row):
            app.gone_users.add(i)
    for i in range(app.n_users):
        if i in app.gone_users:
            continue
        joined = app.when(i, app.n_users)
        for j in app.some(_count(app.rng, app.shape.follows_per_user), besides=i):
            row = {
                "follower_id": app.user(i),
                "followee_id": app.user(j),
                "followed_at": _iso(joined + timedelta(hours=rng.randrange(1, 24 * 400))),
                "notify": rng.choice(("all", "none", "none")),
            }
            follows.write(row)


@dataclass
class Comment:
    id: str
    parent: Comment | None
    depth: int
    row: Row


def thread(app: App, ids: Ids, post: str, at: datetime) -> list[Comment]:
    """The comments of one post, about a third of them replies (some 3+ deep); now and
    then a reply is listed before the comment it answers, as the old export did."""
    rng = app.rng
    made: list[Comment] = []
    for k in range(_count(rng, app.shape.comments_per_post)):
        parent = None
        if made and rng.random() < 0.7:
            deepest = max(made, key=lambda c: c.depth)
            parent = deepest if rng.random() < 0.6 else rng.choice(made)
        cid = ids.next_comment()
        row = {
            "comment_id": cid,
            "post_id": post,
            "reply_to": parent.id if parent else "",
            "author_id": app.user(app.someone(1.4)),
            "body": rng.choice(COMMENTS),
            "commented_at": _iso(at + timedelta(minutes=10 * (k + 1) + rng.randrange(600))),
        }
        made.append(Comment(cid, parent, parent.depth + 1 if parent else 0, row))
    for c in list(made):
        if c.parent is not None and rng.random() < 0.1:  # listed before its parent
            made.remove(c)
            made.insert(made.index(c.parent), c)
    return made


def write_posts(app: App, ids: Ids, posts: Table, comments: Table, likes: Table,
                saved: Table) -> None:  # fmt: skip
    rng = app.rng
    for i in range(app.n_posts):
        pid = app.post(i)
        author = app.someone(2.0)
        at = app.when(i, app.n_posts)
        wall = ""
        if rng.random() < 0.05:
            wall = f"user:{app.user(app.some(1, besides=author)[0])}"
        row = {
            "post_id": pid,
            "author_id": app.user(author),
            "body": rng.choice(POSTS).format(t=rng.choice(TOPICS)),
            "posted_at": _iso(at),
            "image": f"https://cdn.oldapp.example/img/{pid}.jpg" if rng.random() < 0.2 else "",
            "tags": ",".join(rng.sample(TAGS, rng.choices((0, 1, 2, 3), (50, 30, 15, 5))[0])),
            "wall": wall,
        }
        if i == DELETED_POST or not posts.write(row):
            continue  # deleted, or refused: nothing else refers to it
        made = thread(app, ids, pid, at)
        for c in made:
            comments.write(c.row)
            ids.last_comment = (c.id, pid)
        shape = app.shape
        targets = [("post_id", pid, shape.likes_per_post)]
        targets += [("comment_id", c.id, shape.likes_per_comment) for c in made]
        for column, target, mean in targets:
            for who in app.some(_count(rng, mean)):
                likes.write({
                    "like_id": ids.next_like(), "user_id": app.user(who),
                    "post_id": target if column == "post_id" else "",
                    "comment_id": target if column == "comment_id" else "",
                    "kind": _weighted(rng, KINDS),
                    "liked_at": _iso(at + timedelta(minutes=rng.randrange(1, 60 * 24 * 7))),
                })  # fmt: skip
        for who in app.some(_count(rng, app.shape.saves_per_post)):
            saved.write({
                "user_id": app.user(who), "post_id": pid,
                "folder": rng.choice(FOLDERS) if rng.random() < 0.4 else "",
                "saved_at": _iso(at + timedelta(hours=rng.randrange(1, 24 * 30))),
            })  # fmt: skip


def generate(out: Path, scale: int = 1, shape: Shape | None = None) -> dict[str, int]:
    """Write the six tables into ``out``, ``scale`` times the users and posts of ``shape``
    (default: the tutorial app's); the rows of each."""
    out.mkdir(parents=True, exist_ok=True)
    shape = shape or Shape()
    app = App(random.Random(SEED), shape.users * scale, shape.posts * scale, shape)
    ids = Ids()
    defects = _defects(ids)
    with ExitStack() as stack:
        tables = {
            name: Table(
                stack.enter_context(open(out / name, "w", newline="", encoding="utf-8")),
                columns, *defects[name],
            )
            for name, columns in COLUMNS.items()
        }  # fmt: skip
        write_users(app, tables["users.csv"], tables["follows.csv"])
        write_posts(app, ids, *(tables[n] for n in ("posts.csv", "comments.csv", "likes.csv",
                                                     "saved.csv")))  # fmt: skip
    rows = {name: t.row for name, t in tables.items()}
    for bad in BAD_ROWS:
        assert bad.row < rows[bad.file], f"{bad.file} has no row {bad.row}: too few rows"
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1, help="rows times N (default 1)")
    parser.add_argument("--out", type=Path, default=HERE / "app", help="the folder written")
    parser.add_argument(
        "--size",
        metavar="USERS,POSTS,FOLLOWS,COMMENTS,REACTIONS",
        help="about these rows (times --scale), e.g. 10000,100000,200000,100000,300000",
    )
    args = parser.parse_args()
    if args.scale < 1:
        parser.error("--scale must be 1 or more")
    if (args.scale != 1 or args.size) and args.out == HERE / "app":
        parser.error("data/app holds the tutorial app (scale 1): give --out for another one")
    shape = None
    if args.size:
        try:
            shape = Shape.sized(*(int(n) for n in args.size.split(",", 4)))
        except (TypeError, ValueError) as exc:
            parser.error(f"--size takes five whole numbers: {exc}")
    for name, n in generate(args.out, args.scale, shape).items():
        size = (args.out / name).stat().st_size
        print(f"wrote {args.out / name}: {n:,} rows, {size / 1024:,.0f} KiB")


if __name__ == "__main__":
    main()
