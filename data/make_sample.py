"""Generate the bulk-migration sample data: ``data/posts.csv`` and ``data/posts.parquet``.

3,000 social posts as a data engineer would export them from a legacy app database, with a
handful of deliberately bad rows (:data:`BAD_ROWS`) that a validator should refuse. The two files
hold the same 3,000 records in the same order; the CSV is the "text" export (everything a string,
lists joined with a separator) and the Parquet file the typed one. ``data/posts.toml`` maps the
columns to activity fields and ``data/README.md`` describes it all.

Deterministic: one ``random.Random(2026)``, no network, no clock. Regenerate with::

    .venv/bin/python data/make_sample.py
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, TypedDict

import pyarrow as pa
import pyarrow.parquet as pq

HERE: Final = Path(__file__).resolve().parent
SEED: Final = 2026
N_POSTS: Final = 3000
N_AUTHORS: Final = 300

COLUMNS: Final = (
    "post_id",
    "author",
    "topic",
    "body",
    "title",
    "created",
    "expires",
    "vis",
    "vis_tag",
    "reply_to",
    "tags",
    "topics",
    "mentions",
    "lat",
    "lng",
    "likes",
    "lang",
    "image",
)

# --------------------------------------------------------------------------------------------
# The deliberately bad rows
# --------------------------------------------------------------------------------------------


class BadRow(TypedDict):
    """One deliberately bad record and what a validator should say about it."""

    row: int  # 0-based position of the record in both files (the pandas index)
    files: tuple[str, ...]  # where the problem is present: ("csv", "parquet") or ("csv",)
    csv_only: bool  # True when the Parquet copy of this record is clean
    column: str  # the source column at fault ("" for a whole-row problem)
    field: str  # the activity field path a validator reports ("" for a whole-row problem)
    reason: str  # a feedkit.schema.Reason value, or "malformed_row" / "encoding"
    problem: str  # what is wrong, for people


BOTH: Final = ("csv", "parquet")
CSV: Final = ("csv",)

# A legacy export that used the full permalink slug as the key: 300 characters (> 255).
_SLUG: Final = (
    "how-we-moved-our-whole-community-forum-from-a-self-hosted-php-board-to-a-modern-feed-"
    "without-losing-a-single-thread-part-"
)
LONG_ID: Final = ("p001777-" + _SLUG * 4)[:300]
LATIN1_BODY: Final = "Dégustation de crème brûlée au café du coin, très réussie à Bordeaux"

BAD_ROWS: Final[dict[str, BadRow]] = {
    "p000058": BadRow(
        row=57,
        files=BOTH,
        csv_only=False,
        column="topic",
        field="feeds[1]",
        reason="feed_format",
        problem="topic 'data eng' has a space, so the feed id 'topic:data eng' is invalid",
    ),
    "p000212": BadRow(
        row=211,
        files=BOTH,
        csv_only=False,
        column="lat",
        field="location.lat",
        reason="range",
        problem="lat 123.4 is outside [-90, 90]",
    ),
    "p000389": BadRow(
        row=388,
        files=BOTH,
        csv_only=False,
        column="lng",
        field="location.lng",
        reason="range",
        problem="lng -200 is outside [-180, 180]",
    ),
    "p000541": BadRow(
        row=540,
        files=BOTH,
        csv_only=False,
        column="vis",
        field="visibility",
        reason="choice",
        problem="vis 'friends' is not one of public, private, tag",
    ),
    "p000734": BadRow(
        row=733,
        files=BOTH,
        csv_only=False,
        column="vis_tag",
        field="visibility_tag",
        reason="dependency",
        problem="vis 'tag' with an empty vis_tag",
    ),
    "p000906": BadRow(
        row=905,
        files=CSV,
        csv_only=True,
        column="expires",
        field="expires_at",
        reason="time_format",
        problem="expires 'next tuesday' is not an ISO 8601 time (Parquet: null, the typed "
        "column cannot hold it)",
    ),
    "p001123": BadRow(
        row=1122,
        files=CSV,
        csv_only=True,
        column="expires",
        field="expires_at",
        reason="timezone",
        problem="expires '2027-03-01T10:00:00' has no timezone (Parquet: null, the typed "
        "column cannot hold it)",
    ),
    "p001348": BadRow(
        row=1347,
        files=BOTH,
        csv_only=False,
        column="tags",
        field="filter_tags",
        reason="too_many",
        problem="60 tags (a hashtag-spam post); at most 50 filter tags",
    ),
    "p001531": BadRow(
        row=1530,
        files=BOTH,
        csv_only=False,
        column="mentions",
        field="mentioned_user_ids",
        reason="too_many",
        problem="30 mentions (a giveaway post); at most 25",
    ),
    LONG_ID: BadRow(
        row=1776,
        files=BOTH,
        csv_only=False,
        column="post_id",
        field="id",
        reason="too_long",
        problem="post_id is a 300-character permalink slug; at most 255",
    ),
    "": BadRow(
        row=1999,
        files=BOTH,
        csv_only=False,
        column="post_id",
        field="id",
        reason="required",
        problem="empty post_id (CSV: empty cell; Parquet: null); the converter must not treat "
        "an empty id as absent, or the row gets a random id and re-runs duplicate it",
    ),
    "p002219": BadRow(
        row=2218,
        files=BOTH,
        csv_only=False,
        column="vis_tag",
        field="visibility_tag",
        reason="too_long",
        problem="vis_tag 'premium-subscribers-early-access-2025' is 37 characters; at most 32",
    ),
    "p002461": BadRow(
        row=2460,
        files=BOTH,
        csv_only=False,
        column="lng",
        field="location.lng",
        reason="required",
        problem="lat is set but lng is empty (a half-geocoded row)",
    ),
    "p002651": BadRow(
        row=2650,
        files=CSV,
        csv_only=True,
        column="",
        field="",
        reason="malformed_row",
        problem="ragged CSV line: 17 fields instead of 18, the trailing image field is missing "
        "(pandas.read_csv silently pads it with NaN)",
    ),
    "p002872": BadRow(
        row=2871,
        files=CSV,
        csv_only=True,
        column="body",
        field="text",
        reason="encoding",
        problem="body written as Latin-1 bytes (b'\\xe9', b'\\xe8', b'\\xfb', b'\\xe0'), invalid "
        "UTF-8",
    ),
}

# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    slug: str
    weight: float
    group: str
    things: tuple[str, ...]
    doings: tuple[str, ...]
    tips: tuple[str, ...]
    emoji: tuple[str, ...]
    image_rate: float = 0.15


TOPICS: Final = (
    Topic(
        "python",
        1.6,
        "tech",
        (
            "type hints",
            "asyncio",
            "structural pattern matching",
            "dataclasses",
            "pytest fixtures",
            "the new REPL in 3.13",
            "uv",
            "ruff",
            "f-strings",
            "the walrus operator",
        ),
        (
            "porting our Django app to 5.1",
            "rewriting a CLI with Click",
            "profiling a slow pandas job",
            "reviewing a PR with 40 changed files",
            "teaching a Python 101 workshop",
        ),
        (
            "`functools.cache` on pure functions is free speed",
            "use pathlib instead of os.path, your future self will thank you",
            "`python -X importtime` shows what slows your startup",
            "pin your deps, but test against the latest too",
        ),
        ("🐍", "✨", "🚀"),
        0.08,
    ),
    Topic(
        "data-eng",
        1.3,
        "tech",
        (
            "dbt",
            "Airflow",
            "Parquet",
            "DuckDB",
            "incremental models",
            "schema drift",
            "CDC pipelines",
            "Iceberg tables",
            "backfills",
            "data contracts",
        ),
        (
            "migrating 4 TB from Postgres to Parquet",
            "debugging a DAG that only fails on Sundays",
            "untangling a 900-line SQL view",
            "setting up data quality checks",
            "moving our batch jobs to DuckDB",
        ),
        (
            "partition by date, but don't over-partition",
            "always write idempotent loads",
            "store timestamps in UTC and convert at the edge",
            "a CSV is not a schema",
        ),
        ("📊", "🛠️", "🧱"),
        0.08,
    ),
    Topic(
        "ml",
        1.2,
        "tech",
        (
            "embeddings",
            "fine-tuning",
            "gradient boosting",
            "eval sets",
            "RAG pipelines",
            "LoRA adapters",
            "tokenizers",
            "feature stores",
        ),
        (
            "training a small classifier on 10k labels",
            "writing an eval harness",
            "cleaning a noisy dataset",
            "reading the attention paper again",
        ),
        (
            "look at your data before tuning anything",
            "a good baseline beats a fancy model",
            "hold out a test set and never touch it",
        ),
        ("🤖", "📈", "🧠"),
        0.1,
    ),
    Topic(
        "rust",
        0.8,
        "tech",
        (
            "the borrow checker",
            "async traits",
            "cargo workspaces",
            "serde",
            "lifetimes",
            "clippy",
            "tokio",
        ),
        (
            "rewriting a hot loop in Rust",
            "fighting lifetimes for an hour",
            "publishing my first crate",
            "porting a parser to nom",
        ),
        (
            "`cargo clippy -- -W clippy::pedantic` is humbling",
            "clone first, optimize later",
            "let the compiler guide the refactor",
        ),
        ("🦀", "⚙️"),
        0.06,
    ),
    Topic(
        "webdev",
        0.9,
        "tech",
        (
            "CSS grid",
            "htmx",
            "server components",
            "Tailwind",
            "web components",
            "view transitions",
            "the :has() selector",
        ),
        (
            "shipping a redesign",
            "chasing a hydration bug",
            "auditing our bundle size",
            "making the site work without JS",
        ),
        (
            "test on a slow 3G profile once a week",
            "semantic HTML gets you half the accessibility for free",
            "set explicit width and height on images",
        ),
        ("🌐", "💻", "🎨"),
        0.15,
    ),
    Topic(
        "cycling",
        1.1,
        "outdoors",
        (
            "tubeless tires",
            "gravel bikes",
            "clipless pedals",
            "a 34-tooth cassette",
            "bike commuting",
            "saddle height",
        ),
        (
            "a 120 km gravel loop",
            "my first century ride",
            "climbing the Col du Galibier",
            "commuting through the winter",
            "a bikepacking weekend",
        ),
        (
            "check your tire pressure before every ride",
            "eat before you're hungry on long rides",
            "lights on, even in daytime",
        ),
        ("🚴", "🚲", "⛰️"),
        0.3,
    ),
    Topic(
        "running",
        0.9,
        "outdoors",
        (
            "zone 2 training",
            "carbon plates",
            "trail shoes",
            "interval sessions",
            "parkrun",
            "tempo runs",
        ),
        (
            "a half marathon PR",
            "my first ultra",
            "a 10k in the pouring rain",
            "a long run along the river",
        ),
        (
            "easy days should feel easy",
            "add no more than 10% mileage a week",
            "new shoes are for short runs first",
        ),
        ("🏃", "👟", "🏅"),
        0.2,
    ),
    Topic(
        "climbing",
        0.6,
        "outdoors",
        (
            "hangboarding",
            "crimps",
            "slab climbing",
            "liquid chalk",
            "rope drag",
            "the new bouldering gym",
        ),
        (
            "sending my first 7a",
            "a multi-pitch day in Kalymnos",
            "a session on the board",
            "an alpine start at 3 a.m.",
        ),
        (
            "warm up your fingers, always",
            "rest days make you stronger",
            "learn to fall before you learn to send",
        ),
        ("🧗", "🪨"),
        0.3,
    ),
    Topic(
        "cooking",
        1.1,
        "food",
        (
            "sourdough",
            "cast iron",
            "miso butter",
            "homemade pasta",
            "crème brûlée",
            "a good chef's knife",
            "fermented hot sauce",
        ),
        (
            "a 48-hour ramen broth",
            "baking my first croissants",
            "meal prepping for the week",
            "a five-course dinner for friends",
        ),
        (
            "salt your pasta water like the sea",
            "let meat rest before slicing",
            "toast your spices first",
        ),
        ("🍳", "🥖", "🍜"),
        0.35,
    ),
    Topic(
        "coffee",
        0.7,
        "food",
        (
            "pour-over",
            "a hand grinder",
            "light roasts",
            "espresso dialing",
            "cold brew",
            "an Ethiopian natural",
        ),
        (
            "dialing in a new bag of beans",
            "a visit to a tiny roastery",
            "tasting six single origins side by side",
        ),
        (
            "weigh your coffee and your water",
            "grind just before brewing",
            "water quality matters more than you think",
        ),
        ("☕",),
        0.25,
    ),
    Topic(
        "photography",
        0.8,
        "culture",
        (
            "a 35mm prime",
            "film photography",
            "golden hour",
            "RAW editing",
            "street photography",
            "long exposures",
        ),
        (
            "a sunrise shoot",
            "developing my first roll of film",
            "a photo walk downtown",
            "editing 400 shots from the trip",
        ),
        (
            "shoot more, delete more",
            "move your feet instead of zooming",
            "expose for the highlights",
        ),
        ("📷", "🌅"),
        0.6,
    ),
    Topic(
        "travel",
        1.0,
        "outdoors",
        (
            "night trains",
            "carry-on only",
            "slow travel",
            "travel insurance",
            "offline maps",
            "rail passes",
        ),
        (
            "two weeks in Japan by train",
            "a long weekend in Lisbon",
            "crossing Europe by night train",
            "a road trip through Iceland",
        ),
        (
            "always pack a spare charger",
            "book the first train of the day",
            "learn 'thank you' in the local language",
        ),
        ("✈️", "🧳", "🗺️", "🚆"),
        0.4,
    ),
    Topic(
        "gardening",
        0.6,
        "food",
        (
            "tomatoes",
            "companion planting",
            "compost",
            "raised beds",
            "no-dig gardening",
            "seed saving",
        ),
        (
            "planting garlic for next year",
            "building a raised bed",
            "harvesting the first zucchini",
            "a week-long war against slugs",
        ),
        ("water deeply, not daily", "mulch everything", "start your seeds indoors in March"),
        ("🌱", "🍅", "🌻"),
        0.35,
    ),
    Topic(
        "books",
        0.7,
        "culture",
        (
            "audiobooks",
            "sci-fi",
            "a reading challenge",
            "library holds",
            "short story collections",
            "Le Guin's essays",
        ),
        (
            "finishing a 900-page novel",
            "a book club meeting",
            "re-reading Dune",
            "clearing my to-read pile",
        ),
        (
            "it's fine to abandon a book",
            "read the first page before buying",
            "keep a reading log",
        ),
        ("📚", "📖"),
        0.1,
    ),
    Topic(
        "music",
        0.8,
        "culture",
        (
            "vinyl",
            "modular synths",
            "a new pair of headphones",
            "jazz standards",
            "practice routines",
            "home recording",
        ),
        (
            "learning a Chopin nocturne",
            "recording a demo in my bedroom",
            "a live show last night",
            "an hour of scales",
        ),
        (
            "record yourself practicing",
            "slow practice is fast progress",
            "tune before every session",
        ),
        ("🎵", "🎸", "🎹"),
        0.15,
    ),
)
TOPIC_BY_SLUG: Final = {t.slug: t for t in TOPICS}

TAG_VOCAB: Final = (
    "howto",
    "news",
    "question",
    "announcement",
    "tutorial",
    "review",
    "opinion",
    "showcase",
    "event",
    "meetup",
    "release",
    "tip",
    "discussion",
    "photo",
    "recipe",
    "route",
    "gear",
    "beginner",
    "advanced",
    "video",
    "longread",
    "help-wanted",
    "off-topic",
    "weekly",
    "til",
)


@dataclass(frozen=True)
class City:
    name_en: str
    name_local: str
    lat: float
    lng: float
    lang: str


CITIES: Final = (
    City("London", "London", 51.5072, -0.1276, "en"),
    City("New York", "New York", 40.7128, -74.0060, "en"),
    City("San Francisco", "San Francisco", 37.7749, -122.4194, "en"),
    City("Seattle", "Seattle", 47.6062, -122.3321, "en"),
    City("Toronto", "Toronto", 43.6532, -79.3832, "en"),
    City("Sydney", "Sydney", -33.8688, 151.2093, "en"),
    City("Melbourne", "Melbourne", -37.8136, 144.9631, "en"),
    City("Dublin", "Dublin", 53.3498, -6.2603, "en"),
    City("Austin", "Austin", 30.2672, -97.7431, "en"),
    City("Edinburgh", "Edinburgh", 55.9533, -3.1883, "en"),
    City("Cape Town", "Cape Town", -33.9249, 18.4241, "en"),
    City("Reykjavík", "Reykjavík", 64.1466, -21.9426, "en"),
    City("São Paulo", "São Paulo", -23.5558, -46.6396, "en"),
    City("Paris", "Paris", 48.8566, 2.3522, "fr"),
    City("Lyon", "Lyon", 45.7640, 4.8357, "fr"),
    City("Montréal", "Montréal", 45.5019, -73.5674, "fr"),
    City("Bordeaux", "Bordeaux", 44.8378, -0.5792, "fr"),
    City("Berlin", "Berlin", 52.5200, 13.4050, "de"),
    City("Munich", "München", 48.1351, 11.5820, "de"),
    City("Zürich", "Zürich", 47.3769, 8.5417, "de"),
    City("Vienna", "Wien", 48.2082, 16.3738, "de"),
    City("Madrid", "Madrid", 40.4168, -3.7038, "es"),
    City("Barcelona", "Barcelona", 41.3874, 2.1686, "es"),
    City("Mexico City", "Ciudad de México", 19.4326, -99.1332, "es"),
    City("Buenos Aires", "Buenos Aires", -34.6037, -58.3816, "es"),
    City("Tokyo", "東京", 35.6762, 139.6503, "ja"),
    City("Kyoto", "京都", 35.0116, 135.7681, "ja"),
    City("Osaka", "大阪", 34.6937, 135.5023, "ja"),
)
LANGS: Final = ("en", "fr", "de", "es", "ja")
LANG_WEIGHTS: Final = (0.78, 0.07, 0.06, 0.06, 0.03)

ADJECTIVES: Final = (
    "underrated",
    "overrated",
    "surprisingly fun",
    "harder than it looks",
    "a game changer",
    "fine, actually",
    "worth it",
    "a rabbit hole",
)
QUOTES: Final = (
    "Simplicity is prerequisite for reliability",
    "Premature optimization is the root of all evil",
    "The best time to plant a tree was 20 years ago",
    "Slow is smooth, smooth is fast",
    "Make it work, make it right, make it fast",
)
CONSTRAINTS: Final = (
    "something cheap and boring",
    "under $100",
    "something that works offline",
    "beginner-friendly",
    "nothing with a subscription",
)
WEEKDAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")

# (template, filter tag it suggests, weight). Slots: thing, thing2, doing, tip, Tip, emoji,
# place, n, adj, quote, constraint, weekday, topic, slug.
EN_TEMPLATES: Final = (
    ("Just wrapped up {doing}. Exhausted but happy {emoji}", "showcase", 3.0),
    (
        "Anyone else think {thing} is {adj}? Been at it for {n} weeks and I'm still not sure.",
        "opinion",
        3.0,
    ),
    ("Quick tip: {tip}.", "tip", 3.0),
    (
        "Hot take: {thing} beats {thing2} every single time. Change my mind {emoji}",
        "opinion",
        2.0,
    ),
    ("TIL about {thing}. Why did nobody tell me earlier?", "til", 2.0),
    (
        "Looking for recommendations on {thing}, ideally {constraint}. Thanks in advance!",
        "question",
        2.0,
    ),
    (
        "Can someone explain {thing} like I'm five? "
        'The docs say "it just works", but it doesn\'t.',
        "question",
        1.5,
    ),
    ('"{quote}" - still true today, especially for {thing}.', None, 1.0),
    ("My partner says I talk about {thing} too much. They're not wrong {emoji}", "off-topic", 1.0),
    (
        "Reminder: the {topic} meetup is on {weekday} in {place}. "
        "Bring questions, we'll bring coffee ☕",
        "meetup",
        1.0,
    ),
    ("Unpopular opinion: {tip}.", "opinion", 1.0),
    (
        "Three things I learned from {doing}: patience, {thing}, and that it's OK to ask for help.",
        "longread",
        1.5,
    ),
    ("Wrote up my notes on {thing}: https://blog.example.org/{slug}", "howto", 1.5),
    ("Greetings from {place} {emoji} Perfect weather for {thing}.", "photo", 1.5),
    ("If you're new to {thing}, don't overthink it. {Tip}.", "beginner", 1.5),
    (
        "Finally tried {thing}. Verdict: {adj}. Would recommend to anyone into {topic}.",
        "review",
        2.0,
    ),
    ("Weekly update:\n- {doing}\n- more {thing}\n- reading about {thing2}", "weekly", 0.6),
    (
        "Long post, sorry. I spent {n} weeks on {doing} and here is what I'd tell my past self: "
        "{tip}. Also, {thing} is {adj} and {thing2} is not. Full write-up, with photos and "
        "numbers, on the blog: https://blog.example.org/{slug}",
        "longread",
        0.8,
    ),
    ("Notes from {doing}:\n1. {Tip}\n2. {thing} is {adj}\n\nMore soon!", "howto", 0.5),
)
REPLY_TEMPLATES: Final = (
    ("Totally agree, {thing} is {adj}.", None, 2.0),
    ("Same here! {Tip}.", "tip", 2.0),
    ("Great point. Have you tried {thing}?", "question", 2.0),
    ("Thanks for sharing, bookmarking this 🙏", None, 1.5),
    ("Not sure I agree, but {thing} did work for me.", "discussion", 1.5),
    ("This is exactly what I needed today, thank you!", None, 1.0),
    ("Wait, which {thing} do you mean? There are like three of them now 😅", "question", 1.0),
)
LOCAL_TEMPLATES: Final[dict[str, tuple[tuple[str, str | None, float], ...]]] = {
    "fr": (
        ("Super journée à {place} ! {doing}, à refaire très vite {emoji}", "showcase", 1.0),
        (
            "Quelqu'un a déjà essayé {thing} ? Je cherche des retours honnêtes, merci d'avance.",
            "question",
            1.0,
        ),
        ("Petit conseil du jour : ne négligez jamais {thing}. Ça change tout.", "tip", 1.0),
        ("Café, croissant et {thing} : le dimanche parfait ☕", None, 1.0),
        ("« {thing} », c'est vraiment {adj_fr}. Vous en pensez quoi ?", "opinion", 1.0),
    ),
    "de": (
        (
            "Heute endlich {thing} ausprobiert – ehrlich gesagt besser als erwartet! {emoji}",
            "review",
            1.0,
        ),
        ("Kennt jemand gute Alternativen zu {thing}? Bin für jeden Tipp dankbar.", "question", 1.0),
        ("Schöne Runde durch {place} gedreht, trotz Regen. Grüße an alle!", "photo", 1.0),
        ("Überraschend: {thing} ist gar nicht so schwer, wie alle sagen.", "til", 1.0),
        ("„{thing}“ – für mich {adj_de}. Wie seht ihr das?", "opinion", 1.0),
    ),
    "es": (
        ("¡Qué día! Por fin probé {thing} y me encantó {emoji}", "review", 1.0),
        (
            "¿Alguien recomienda algo mejor que {thing}? Estoy abierto a sugerencias.",
            "question",
            1.0,
        ),
        ("Desde {place}: café, sol y {thing}. Así sí.", "photo", 1.0),
        ("Consejo rápido: {thing} ahorra muchísimo tiempo, de verdad.", "tip", 1.0),
        ("Después de {n} semanas con {thing}, mi opinión: {adj_es}.", "opinion", 1.0),
    ),
    "ja": (
        ("今日は{thing}を試してみました。思ったより簡単でした！{emoji}", "review", 1.0),
        ("{place}で素敵な一日。また来たいです 🌸", "photo", 1.0),
        ("{thing}について質問があります。誰か詳しい人いますか？", "question", 1.0),
        ("週末は{thing}の勉強。少しずつ進んでいます。", None, 1.0),
        ("「{thing}」は本当に便利ですね。おすすめです。", "tip", 1.0),
    ),
}
LOCAL_ADJ: Final = {
    "adj_fr": ("génial", "surcoté", "sous-estimé", "plus dur qu'il n'y paraît"),
    "adj_de": ("genial", "überbewertet", "unterschätzt", "schwieriger als gedacht"),
    "adj_es": ("genial", "sobrevalorado", "infravalorado", "más difícil de lo que parece"),
}
FILLERS: Final = {
    "en": ("What do you all think?", "More soon."),
    "fr": ("Vos avis ?", "À suivre."),
    "de": ("Was meint ihr?", "Mehr bald."),
    "es": ("¿Qué opináis?", "Pronto más."),
    "ja": ("皆さんはどう思いますか？", "また報告します。"),
}
TITLES: Final = {
    "en": (
        "Thoughts on {thing}",
        "Quick question",
        "Weekly update",
        "Tip of the day",
        "Trip report: {place}",
        "TIL",
        "Review: {thing}",
        "{Thing}, again",
    ),
    "fr": ("Question rapide", "Retour d'expérience", "Conseil du jour", "Balade à {place}"),
    "de": ("Kurze Frage", "Erfahrungsbericht", "Tipp des Tages", "Grüße aus {place}"),
    "es": ("Pregunta rápida", "Mi experiencia", "Consejo del día", "Desde {place}"),
    "ja": ("質問です", "今日の一枚", "週末のまとめ", "{place}にて"),
}
VIS_TAGS: Final = ("premium", "beta", "staff", "supporters")
SPAM_TAGS: Final = (
    "giveaway",
    "free",
    "win",
    "contest",
    "follow4follow",
    "like4like",
    "viral",
    "trending",
    "fyp",
    "explore",
    "instagood",
    "sale",
    "discount",
    "promo",
    "deal",
    "limited",
    "bestof",
    "top10",
    "mustsee",
    "hot",
)

START: Final = datetime(2024, 1, 2, tzinfo=UTC)
END: Final = datetime(2026, 3, 31, tzinfo=UTC)

# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass
class Post:
    """One exported record, typed; None (or []) means empty."""

    post_id: str | None
    author: str
    topic: str
    body: str
    title: str | None
    created: datetime
    expires: datetime | None = None
    vis: str = "public"
    vis_tag: str | None = None
    reply_to: str | None = None
    tags: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)
    lat: float | None = None
    lng: float | None = None
    likes: int = 0
    lang: str = "en"
    image: str | None = None


def _pick(
    rng: random.Random, options: Sequence[tuple[str, str | None, float]]
) -> tuple[str, str | None]:
    text, tag, _ = rng.choices(options, weights=[w for _, _, w in options])[0]
    return text, tag


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _fill(rng: random.Random, template: str, topic: Topic, place: str, lang: str) -> str:
    thing, thing2 = rng.sample(topic.things, 2)
    tip = rng.choice(topic.tips)
    slots = {
        "thing": thing,
        "Thing": _cap(thing),
        "thing2": thing2,
        "doing": rng.choice(topic.doings),
        "tip": tip,
        "Tip": _cap(tip),
        "emoji": rng.choice(topic.emoji),
        "place": place,
        "n": str(rng.randint(2, 30)),
        "adj": rng.choice(ADJECTIVES),
        "quote": rng.choice(QUOTES),
        "constraint": rng.choice(CONSTRAINTS),
        "weekday": rng.choice(WEEKDAYS),
        "topic": topic.slug.replace("-", " "),
        "slug": f"{thing.lower().replace(' ', '-').strip('`.:()')}-{rng.randint(2, 99)}",
    }
    for key, words in LOCAL_ADJ.items():
        slots[key] = rng.choice(words)
    if lang != "en" and "{doing}" in template:
        slots["doing"] = _cap(slots["doing"])  # starts a clause in the local templates
    return template.format(**slots)


def _fit(rng: random.Random, text: str, lang: str) -> str:
    """Keep a body within 20..280 characters."""
    if len(text) > 280:
        cut = text.rfind(" ", 0, 279)
        text = text[: cut if cut > 20 else 279].rstrip(" ,.:;-") + "…"
    while len(text) < 20:
        text = f"{text} {rng.choice(FILLERS[lang])}"
    return text


def _timestamps(rng: random.Random) -> list[datetime]:
    """Creation times over 2024-2026, denser as the app grows, roughly sorted by post_id."""
    span = (END - START).total_seconds()
    seconds = sorted(span * rng.random() ** 0.6 for _ in range(N_POSTS))
    times = [START + timedelta(seconds=int(s)) for s in seconds]
    for i in range(N_POSTS):  # a few late-arriving rows: clock skew, backfills
        if rng.random() < 0.03:
            times[i] += timedelta(seconds=rng.randint(-7200, 7200))
    return times


def generate() -> list[Post]:
    """The 3,000 records, bad rows included (the CSV-only damage is applied when writing)."""
    rng = random.Random(SEED)
    numbers = rng.sample(range(1, 10000), N_AUTHORS)
    authors = [f"u{n:04d}" for n in numbers]
    author_weights = [1.0 / (rank + 3) for rank in range(N_AUTHORS)]  # Zipf-Mandelbrot
    author_lang = {a: rng.choices(LANGS, weights=LANG_WEIGHTS)[0] for a in authors}
    author_city: dict[str, City] = {}
    for a in authors:
        local = [c for c in CITIES if c.lang == author_lang[a]]
        author_city[a] = rng.choice(local if rng.random() < 0.9 else CITIES)
    author_topics = {
        a: rng.choices(TOPICS, weights=[t.weight for t in TOPICS], k=3) for a in authors
    }
    # Every author posts at least once; the rest follow a Zipf-like law.
    post_authors = authors + rng.choices(authors, weights=author_weights, k=N_POSTS - N_AUTHORS)
    rng.shuffle(post_authors)
    times = _timestamps(rng)
    bad_id_rows = {b["row"] for b in BAD_ROWS.values() if b["column"] == "post_id"}

    posts: list[Post] = []
    for i in range(N_POSTS):
        post_id = f"p{i + 1:06d}"
        author = post_authors[i]
        lang = author_lang[author] if rng.random() < 0.92 else "en"
        topic = rng.choice(author_topics[author]) if rng.random() < 0.8 else rng.choice(TOPICS)
        city = author_city[author] if rng.random() < 0.8 else rng.choice(CITIES)
        place = city.name_local if lang == city.lang else city.name_en
        created = times[i]

        reply_to: str | None = None
        parent: Post | None = None
        if i > 20 and rng.random() < 0.15:
            for _ in range(10):
                j = max(0, i - 1 - int(rng.expovariate(1 / 40)))
                if j not in bad_id_rows and posts[j].created < created:
                    parent = posts[j]
                    reply_to = parent.post_id
                    topic = TOPIC_BY_SLUG[parent.topic]
                    break

        if parent is not None and lang == "en":
            template, hint = _pick(rng, REPLY_TEMPLATES)
        elif lang == "en":
            template, hint = _pick(rng, EN_TEMPLATES)
        else:
            template, hint = _pick(rng, LOCAL_TEMPLATES[lang])
        body = _fill(rng, template, topic, place, lang)
        if parent is None and "\n" not in body and rng.random() < 0.25:  # a second thought
            more, _ = _pick(rng, EN_TEMPLATES if lang == "en" else LOCAL_TEMPLATES[lang])
            if "\n" not in more:
                body = f"{body} {_fill(rng, more, topic, place, lang)}"

        mentions: list[str] = []
        if parent is not None and parent.author != author and rng.random() < 0.6:
            mentions.append(parent.author)
        for _ in range(rng.choices((0, 1, 2, 3), weights=(74, 16, 7, 3))[0]):
            who = rng.choices(authors, weights=author_weights)[0]
            if who != author and who not in mentions and len(mentions) < 3:
                mentions.append(who)
        if parent is not None and mentions and mentions[0] == parent.author:
            body = f"@{parent.author} {body}"
        elif mentions and rng.random() < 0.5:
            body = f"{body} cc {' '.join('@' + m for m in mentions)}"
        if rng.random() < 0.08:
            body = f"{body} #{topic.slug.replace('-', '')}"
        body = _fit(rng, body, lang)

        title: str | None = None
        if parent is None and rng.random() < 0.55:
            title = _fill(rng, rng.choice(TITLES[lang]), topic, place, lang)

        tags: list[str] = []
        n_tags = rng.choices((0, 1, 2, 3, 4), weights=(35, 30, 20, 10, 5))[0]
        if hint is not None and n_tags and rng.random() < 0.7:
            tags.append(hint)
        while len(tags) < n_tags:
            tag = rng.choice(TAG_VOCAB)
            if tag not in tags:
                tags.append(tag)

        interests: list[str] = []
        n_interests = rng.choices((0, 1, 2, 3), weights=(25, 45, 20, 10))[0]
        if n_interests:
            interests.append(topic.slug)
            related = [t.slug for t in TOPICS if t.group == topic.group and t is not topic]
            interests += rng.sample(related, min(n_interests - 1, len(related)))

        lat = lng = None
        if rng.random() < 0.3:
            lat = round(city.lat + rng.uniform(-0.04, 0.04), 5)
            lng = round(city.lng + rng.uniform(-0.06, 0.06), 5)

        roll = rng.random()
        vis, vis_tag = "public", None
        if roll < 0.08:
            vis = "private"
        elif roll < 0.12:
            vis, vis_tag = "tag", rng.choice(VIS_TAGS)

        expires = None
        if rng.random() < 0.10:
            start = datetime(2027, 1, 1, tzinfo=UTC)
            expires = start + timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))

        likes = int((rng.paretovariate(1.1) - 1.0) * (3 if parent else 8))
        image = None
        if rng.random() < topic.image_rate * (0.4 if parent else 1.0):
            image = f"https://cdn.example.com/img/{post_id}.jpg"

        posts.append(
            Post(
                post_id=post_id,
                author=author,
                topic=topic.slug,
                body=body,
                title=title,
                created=created,
                expires=expires,
                vis=vis,
                vis_tag=vis_tag,
                reply_to=reply_to,
                tags=tags,
                topics=interests,
                mentions=mentions,
                lat=lat,
                lng=lng,
                likes=min(likes, 500_000),
                lang=lang,
                image=image,
            )
        )

    _spoil(posts, authors)
    return posts


def _spoil(posts: list[Post], authors: list[str]) -> None:
    """Apply the value-level damage listed in BAD_ROWS (CSV-only damage comes at write time)."""

    def at(key: str) -> Post:
        return posts[BAD_ROWS[key]["row"]]

    assert len({b["row"] for b in BAD_ROWS.values()}) == len(BAD_ROWS)
    at("p000058").topic = "data eng"
    at("p000212").lat, at("p000212").lng = 123.4, 2.35
    at("p000389").lat, at("p000389").lng = 45.5, -200.0
    at("p000541").vis, at("p000541").vis_tag = "friends", None
    at("p000734").vis, at("p000734").vis_tag = "tag", None
    at("p000906").expires = None  # CSV: "next tuesday"
    at("p001123").expires = None  # CSV: "2027-03-01T10:00:00"
    spam = at("p001348")
    spam.tags = list(SPAM_TAGS) + list(TAG_VOCAB) + [f"deal{n}" for n in range(1, 16)]
    spam.body = "Huge sale this week only!!! 50% off everything, link in bio 🔥🔥🔥"
    giveaway = at("p001531")
    giveaway.mentions = [a for a in authors if a != giveaway.author][10:40]
    giveaway.body = "🎉 GIVEAWAY 🎉 Tag your friends below, winner announced Friday! Good luck 🍀"
    for key in (LONG_ID, ""):
        post = at(key)
        post.post_id = key or None
        post.image = None
    at("p002219").vis, at("p002219").vis_tag = "tag", "premium-subscribers-early-access-2025"
    half = at("p002461")
    half.lat, half.lng = 41.38741, None
    ragged = at("p002651")
    ragged.image = f"https://cdn.example.com/img/{ragged.post_id}.jpg"  # lost in the CSV
    latin = at("p002872")
    latin.body, latin.lang, latin.mentions = LATIN1_BODY, "fr", []
    ids = {p.post_id for p in posts}
    assert all(p.reply_to is None or p.reply_to in ids for p in posts)  # no dangling replies
    assert len(spam.tags) == 60 and len(set(spam.tags)) == 60
    assert len(giveaway.mentions) == 30
    assert len(LONG_ID) == 300


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------

CSV_VALUES: Final[dict[str, dict[str, str]]] = {
    "p000906": {"expires": "next tuesday"},
    "p001123": {"expires": "2027-03-01T10:00:00"},
}


def _iso(t: datetime | None) -> str:
    return "" if t is None else t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.5f}".rstrip("0").rstrip(".")


def csv_cells(post: Post) -> list[str]:
    """One record as the text export writes it."""
    return [
        post.post_id or "",
        post.author,
        post.topic,
        post.body,
        post.title or "",
        _iso(post.created),
        _iso(post.expires),
        post.vis,
        post.vis_tag or "",
        post.reply_to or "",
        ",".join(post.tags),
        "|".join(post.topics),
        " ".join(post.mentions),
        _num(post.lat),
        _num(post.lng),
        str(post.likes),
        post.lang,
        post.image or "",
    ]


def write_csv(posts: list[Post], path: Path) -> None:
    """UTF-8, minimal quoting, '\\n' line ends; plus the ragged line and the Latin-1 row."""
    key_by_row = {b["row"]: key for key, b in BAD_ROWS.items()}
    out = io.BytesIO()
    for i, cells in enumerate([list(COLUMNS), *(csv_cells(p) for p in posts)]):
        key = key_by_row.get(i - 1)
        if key in CSV_VALUES:
            for column, value in CSV_VALUES[key].items():
                cells[COLUMNS.index(column)] = value
        if key == "p002651":
            cells = cells[:-1]
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(cells)
        line = buf.getvalue().encode("utf-8")
        if key == "p002872":
            good = LATIN1_BODY.encode("utf-8")
            assert line.count(good) == 1
            line = line.replace(good, LATIN1_BODY.encode("latin-1"))
        out.write(line)
    path.write_bytes(out.getvalue())


PARQUET_SCHEMA: Final = pa.schema(
    [
        ("post_id", pa.string()),
        ("author", pa.string()),
        ("topic", pa.string()),
        ("body", pa.string()),
        ("title", pa.string()),
        ("created", pa.timestamp("us", tz="UTC")),
        ("expires", pa.timestamp("us", tz="UTC")),
        ("vis", pa.string()),
        ("vis_tag", pa.string()),
        ("reply_to", pa.string()),
        ("tags", pa.list_(pa.string())),
        ("topics", pa.list_(pa.string())),
        ("mentions", pa.list_(pa.string())),
        ("lat", pa.float64()),
        ("lng", pa.float64()),
        ("likes", pa.int64()),
        ("lang", pa.string()),
        ("image", pa.string()),
    ]
)


def write_parquet(posts: list[Post], path: Path) -> None:
    """The typed export: timestamps, floats, ints and lists; null for every empty scalar."""
    columns: dict[str, list[object]] = {}
    for name in COLUMNS:
        values = [getattr(p, name) for p in posts]
        if PARQUET_SCHEMA.field(name).type == pa.string():
            values = [v or None for v in values]
        columns[name] = values
    table = pa.table(columns, schema=PARQUET_SCHEMA)
    pq.write_table(table, path, compression="zstd")


def main() -> None:
    posts = generate()
    write_csv(posts, HERE / "posts.csv")
    write_parquet(posts, HERE / "posts.parquet")
    for name in ("posts.csv", "posts.parquet"):
        size = (HERE / name).stat().st_size
        print(f"wrote data/{name}: {len(posts)} records, {size / 1024:.0f} KiB")
    print(f"{len(BAD_ROWS)} bad rows ({sum(b['csv_only'] for b in BAD_ROWS.values())} CSV-only)")


if __name__ == "__main__":
    main()
