"""Per-kind senders: what the destination holds, found by key for a resume's spot check."""

from __future__ import annotations

import feedkit
from feedkit import senders
from feedkit.convert import KEY_SEPARATOR
from feedkit.resources import RESOURCES


def test_follows_present_are_found_by_source_and_target_past_one_page() -> None:
    with feedkit.connect(":memory:") as client:
        pairs = [(f"timeline:u{i}", f"user:v{j}") for i in range(12) for j in range(12)]
        for start in range(0, len(pairs), 100):
            client.follow_batch([{"source": s, "target": t} for s, t in pairs[start : start + 100]])
        keys = [KEY_SEPARATOR.join(p) for p in pairs[::7]]
        missing = KEY_SEPARATOR.join(("timeline:u1", "user:nobody"))
        assert senders.present(client, RESOURCES["follow"], [*keys, missing]) == set(keys)
