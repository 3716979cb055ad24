"""The CSV parser's blocks: each ends where a record ends, and only a long record makes one
larger than the block (the rows themselves are checked in test_sources.py)."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from feedkit.csvsource import _Records


def _record_ends(data: bytes, delimiter: bytes) -> set[int]:
    """Where records end, one byte at a time, as the CSV parser's lexer splits them: a quote
    opens a quoted cell only at a cell's start, two quotes in one are a quote."""
    ends: set[int] = set()
    state, i = "start", 0
    while i < len(data):
        c = data[i : i + 1]
        i += 1
        if state == "quoted":
            if c == b'"':
                if data[i : i + 1] == b'"':
                    i += 1
                else:
                    state = "cell"
        elif state == "start" and c == b'"':
            state = "quoted"
        elif c in (b"\r", b"\n"):
            if c == b"\r" and data[i : i + 1] == b"\n":
                i += 1
            ends.add(i)
            state = "start"
        else:
            state = "start" if c == delimiter else "cell"
    return ends


def _blocks(data: bytes, tab: bool, block: int) -> list[bytes]:
    records = _Records(io.BytesIO(data), tab, block)
    out = []
    while chunk := records.read(1 << 30):
        out.append(chunk)
    return out


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([b"a", b"b", b",", b"\t", b'"', b"\n", b"\r"]), max_size=80),
    st.booleans(),
    st.integers(1, 12),
)
def test_blocks_end_where_records_end(parts: list[bytes], tab: bool, block: int) -> None:
    data = b"".join(parts)
    blocks = _blocks(data, tab, block)
    assert b"".join(blocks) == data
    ends = _record_ends(data, b"\t" if tab else b",")
    offset = 0
    for chunk in blocks[:-1]:
        offset += len(chunk)
        assert offset in ends, (data, blocks)


def test_a_long_record_gets_a_block_of_its_own_then_blocks_are_small_again() -> None:
    small = b"".join(b"r%d,v\n" % i for i in range(20))
    data = small + b'r,"' + b"x\n," * 100 + b'"\n' + small
    sizes = [len(b) for b in _blocks(data, False, 32)]
    assert max(sizes) >= 300 and sum(sizes) == len(data)
    long_at = sizes.index(max(sizes))
    assert all(s <= 32 for i, s in enumerate(sizes) if i != long_at)
