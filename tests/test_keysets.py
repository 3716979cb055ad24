"""Key sets: exact membership for any keys added, in memory or past the bound in a file."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedkit import keysets
from feedkit.keysets import KeySet

keys = st.lists(st.text(min_size=1, max_size=12), max_size=60)


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 4 keys, 16 keys read at a time: a few dozen keys take many pages and spans."""
    monkeypatch.setattr(keysets, "PAGE_KEYS", 4)
    monkeypatch.setattr(keysets, "READ_KEYS", 16)


@given(keys, keys, keys, st.sampled_from([1, 3, 10, keysets.MEMORY_KEYS]))
@settings(max_examples=200)
def test_membership_after_freezing(
    first: list[str], second: list[str], probe: list[str], bound: int
) -> None:
    known = KeySet(memory_keys=bound)
    known.add(first)
    assert not known.contains(first).any()  # not visible until frozen
    known.freeze()
    later = KeySet(memory_keys=bound)
    later.add(second[: len(second) // 2])
    later.freeze()  # frozen or not, update takes every key
    later.add(second[len(second) // 2 :])
    known.update(later)
    wanted = [*first, *second, *probe]
    assert known.contains(wanted).tolist() == [k in {*first, *second} for k in wanted]
    assert len(known) == len({*first, *second})
    assert len(later) == 0 and not later.contains(second).any()


@pytest.mark.usefixtures("small_pages")
@given(st.lists(st.tuples(st.sampled_from(["add", "freeze"]), keys), max_size=12), keys)
@settings(max_examples=200)
def test_a_spilled_set_answers_as_a_python_set(steps: list[tuple[str, list[str]]],
                                               probe: list[str]) -> None:  # fmt: skip
    spilled = KeySet(memory_keys=5)
    frozen: set[str] = set()
    added: set[str] = set()
    for what, batch in steps:
        spilled.add(batch)
        added |= set(batch)
        if what == "freeze":
            spilled.freeze()
            frozen |= added
        wanted = [*batch, *probe, *sorted(frozen)]
        assert spilled.contains(wanted).tolist() == [k in frozen for k in wanted]
        assert len(spilled) == len(frozen)
    assert spilled.spilled == (len(frozen) > 5)


@pytest.mark.usefixtures("small_pages")
def test_lookups_read_only_the_pages_their_keys_may_be_on(monkeypatch: pytest.MonkeyPatch) -> None:
    spilled = KeySet(memory_keys=10)
    spilled.add(f"k{i}" for i in range(1_000))
    spilled.freeze()
    reads: list[int] = []
    real = keysets._SortedFile._read
    monkeypatch.setattr(keysets._SortedFile, "_read",
                        lambda self, a, b: reads.append(b - a) or real(self, a, b))  # fmt: skip
    assert spilled.contains(["k7", "nope"]).tolist() == [True, False]
    # Each key's page, or the pages between two close ones read through: not the 1,000 keys.
    assert sum(reads) <= (keysets._GAP_PAGES + 1) * keysets.PAGE_KEYS


def _peak_bytes(count: int) -> int:
    """The peak of traced memory (numpy's arrays are traced) while ``count`` keys are added
    10,000 at a time past a bound of 10,000, frozen, merged again and looked up."""
    tracemalloc.start()
    try:
        spilled = KeySet(memory_keys=10_000)
        for start in range(0, count, 10_000):
            spilled.add(map(str, range(start, start + 10_000)))
        spilled.freeze()
        spilled.update(KeySet())  # a merge of the file with nothing: chunk by chunk
        assert spilled.spilled and len(spilled) == count
        found = spilled.contains([str(i) for i in range(0, 2 * count, 997)])
        assert np.array_equal(found, np.arange(0, 2 * count, 997) < count)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_past_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Four times the keys, about the same peak: a few chunks' worth and a key a page, far
    below the 8 MB a million keys take (chunks of 8,192 keys here, for the peak to be reached
    by the smaller set)."""
    monkeypatch.setattr(keysets, "READ_KEYS", 8_192)
    small, big = _peak_bytes(250_000), _peak_bytes(1_000_000)
    assert big < 1.2 * small
    assert big < 8_000_000 / 8
