"""Reference checks: what a migration knows exists."""

from __future__ import annotations

from feedkit.references import ObjectMap


def test_an_object_map_answers_the_keys_it_holds_the_last_value_winning() -> None:
    objects = ObjectMap()
    objects.add([("c1", "p1"), ("c2", "p2")])
    objects.add([("c1", "p9")])
    keys = [f"c{i}" for i in range(2_000)]  # more than one query's worth
    assert objects.get(keys) == {"c1": "p9", "c2": "p2"}
    assert objects.get([]) == {}
