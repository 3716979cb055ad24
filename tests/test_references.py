"""Reference checks' key sets: 64-bit hashes, exact membership for any keys added."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from feedkit.references import KeySet, ObjectMap

keys = st.lists(st.text(min_size=1, max_size=12), max_size=60)


@given(keys, keys, keys)
def test_membership_after_freezing(first: list[str], second: list[str], probe: list[str]) -> None:
    known = KeySet()
    known.add(first)
    assert not known.contains(first).any()  # not visible until frozen
    known.freeze()
    later = KeySet()
    later.add(second)
    known.update(later)
    wanted = [*first, *second, *probe]
    assert known.contains(wanted).tolist() == [k in {*first, *second} for k in wanted]
    assert len(known) == len({*first, *second})


def test_an_object_map_answers_the_keys_it_holds_the_last_value_winning() -> None:
    objects = ObjectMap()
    objects.add([("c1", "p1"), ("c2", "p2")])
    objects.add([("c1", "p9")])
    keys = [f"c{i}" for i in range(2_000)]  # more than one query's worth
    assert objects.get(keys) == {"c1": "p9", "c2": "p2"}
    assert objects.get([]) == {}
