"""Reply depths: every reply one level below its parent, whatever order rows come in."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from feedkit.threads import NO_DEPTH, Threads


def reference_depths(parents: dict[str, str | None]) -> dict[str, int]:
    """Depth by walking each chain; a chain that revisits a comment has none."""
    out = {}
    for key in parents:
        seen, at, depth = {key}, parents[key], 0
        while at is not None and at in parents:
            if at in seen:
                depth = NO_DEPTH
                break
            seen.add(at)
            at, depth = parents[at], depth + 1
        out[key] = depth
    return out


@given(st.data())
def test_depths_match_walking_every_chain(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 40))
    keys = [f"c{i}" for i in range(n)]
    order = data.draw(st.permutations(keys))
    choices = st.one_of(st.none(), st.sampled_from([*keys, "elsewhere"]))
    parents = {k: data.draw(choices) for k in keys}
    threads = Threads()
    half = n // 2  # gathered in two batches, rows numbered in source order
    for part in (order[:half], order[half:]):
        rows = np.array([order.index(k) for k in part], dtype=np.int64)
        threads.add(list(part), [parents[k] for k in part], rows)
    depths = threads.depths(n)
    want = reference_depths(parents)
    assert {k: int(depths[order.index(k)]) for k in keys} == want


def test_rows_not_gathered_are_level_zero() -> None:
    threads = Threads()
    threads.add(["b"], ["a"], np.array([2]))
    assert threads.depths(4).tolist() == [0, 0, 0, 0]  # "a" is not in the source
