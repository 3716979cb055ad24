"""A short tour of the protocol on any client: the README's first command runs it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from feedkit.client import Client


def run_demo(client: Client) -> Iterator[str]:
    """Write, patch, query and read back a few activities; yield what happened, line by line."""
    client.upsert_users([{"id": "alice", "name": "Alice"}, {"id": "bob", "name": "Bob"}])
    posts = client.upsert_activities(
        [
            {
                "id": f"demo-{i}",
                "type": "post",
                "feeds": [f"user:{who}"],
                "user_id": who,
                "text": text,
                "filter_tags": tags,
                "custom": {"likes": i * 10},
            }
            for i, (who, text, tags) in enumerate(
                [
                    ("alice", "Hello from the embedded server", ["green"]),
                    ("bob", "Feeds, offline, on SQLite", ["blue"]),
                    ("alice", "A post that expires in a day", ["green"]),
                ]
            )
        ]
    )
    yield f"upserted {len(posts)} activities: {', '.join(a['id'] for a in posts)}"
    client.update_activity_partial(
        "demo-2", set={"expires_at": datetime.now(UTC) + timedelta(days=1), "custom.lang": "en"}
    )
    patched = client.get_activity("demo-2")
    yield f"patched demo-2: custom={patched['custom']} expires_at={patched.expires_at:%Y-%m-%d}"
    page = client.query_activities(
        {"filter_tags": {"$contains": "green"}}, sort=[{"field": "created_at", "direction": -1}]
    )
    yield f"query filter_tags contains green: {[a['id'] for a in page]}"
    feed = client.read_feed("user:alice")
    yield (
        f"feed user:alice: {len(feed)} activities, "
        f"{feed.feed['activity_count'] if feed.feed else 0} stored"
    )
    for a in feed:
        yield f"  {a['id']:8} {a.user_id:6} {a.created_at:%H:%M:%S} {a.get('text', '')}"
