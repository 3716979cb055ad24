"""Rows of every kind for the export tests: users, activities, a follow, threads of replies,
reactions and a bookmark."""

from __future__ import annotations

import feedkit


def seed(client: feedkit.Client) -> None:
    """Two users, an activity, a follow, a thread of replies 3 deep, reactions, a bookmark."""
    client.upsert_users([
        {"id": "ann", "name": "Ann", "teams": ["red"], "teams_role": {"red": "admin"},
         "privacy_settings": {"read_receipts": {"enabled": True}},
         "custom": {"city": "Oslo", "n": 1, "mixed": [1, "a"]}},
        {"id": "bob", "invisible": True},
    ])  # fmt: skip
    client.add_activity(id="a1", type="post", feeds=["user:ann"], user_id="ann", text="hi")
    client.add_activity(id="a2", type="post", feeds=["user:ann"], user_id="ann", text="yo")
    client.follow("timeline:bob", "user:ann", push_preference="all", custom={"since": 2020})
    client.add_comment("top", id="c1", object_id="a1", user_id="bob", mentioned_user_ids=["ann"],
                       attachments=[{"type": "image", "image_url": "https://x/y.png"}])  # fmt: skip
    client.add_comment("r1", id="c2", parent_id="c1", user_id="ann", custom={"k": [1, 2]})
    client.add_comment("r2", id="c3", parent_id="c2", user_id="bob")
    client.add_comment("r3", id="c4", parent_id="c3", user_id="ann")
    client.add_comment("top2", id="c5", object_id="a1", user_id="ann")
    client.add_comment("sib", id="c6", parent_id="c1", user_id="bob")
    client.add_comment("other", id="c7", object_id="a2", user_id="bob")
    client.add_activity_reaction("a1", "like", user_id="bob", custom={"w": 2})
    client.add_activity_reaction("a1", "love", user_id="ann")
    client.add_comment_reaction("c2", "upvote", user_id="bob")
    client.add_bookmark("a1", user_id="bob", custom={"note": "read later"})
