"""The checkpoint journal: bound to its destination, trusted only where each line's checksum
holds, and only for the exact request body it acknowledged."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from feedkit.checkpoint import CheckpointError, Journal, body_digest

DEST = "feedkit store 1234"


def written(path: Path, records: list[tuple[str, int, int, bytes]]) -> Journal:
    """A journal at ``path`` with these (kind, first, last, body) records, then reopened."""
    journal = Journal(path, DEST, {"source": "s.csv"})
    for kind, first, last, body in records:
        write = journal.sending if kind == "send" else journal.acknowledge
        write(first, last, body_digest(body), f"id-{first}")
    journal.close()
    return Journal(path, DEST)


def test_only_an_ack_of_the_same_body_counts(tmp_path: Path) -> None:
    journal = written(
        tmp_path / "ck", [("send", 0, 9, b"a"), ("ack", 0, 9, b"a"), ("send", 10, 19, b"b")]
    )
    assert journal.acknowledged(0, 9, body_digest(b"a"))
    assert not journal.acknowledged(0, 9, body_digest(b"a, edited"))  # the rows changed
    assert not journal.acknowledged(0, 8, body_digest(b"a"))  # another slot
    assert not journal.acknowledged(10, 19, body_digest(b"b"))  # sent, never acknowledged
    assert journal.acknowledged_ids() == ["id-0"]
    journal.close()


def test_a_level_is_a_slot_of_its_own(tmp_path: Path) -> None:
    """Replies sent a level after their parents may span the same rows: neither record
    hides the other, and a journal of level-0 records reads as before."""
    path = tmp_path / "ck"
    journal = Journal(path, DEST)
    journal.acknowledge(0, 9, body_digest(b"parents"), "c1")
    journal.sending(0, 9, body_digest(b"replies"), "c2", level=1)
    journal.acknowledge(0, 9, body_digest(b"replies"), "c2", level=1)
    journal.sending(0, 9, body_digest(b"deeper"), "c3", level=2)
    journal.close()
    again = Journal(path, DEST)
    assert again.acknowledged(0, 9, body_digest(b"parents"))
    assert again.acknowledged(0, 9, body_digest(b"replies"), level=1)
    assert not again.acknowledged(0, 9, body_digest(b"replies"))
    assert not again.acknowledged(0, 9, body_digest(b"deeper"), level=2)
    assert path.read_text().splitlines()[1].startswith('["ack",0,9,')


def test_a_send_after_an_ack_means_the_slot_may_hold_something_else(tmp_path: Path) -> None:
    # Acknowledged as "a", then sent as "b" and killed before the answer: the store may hold
    # either, so neither body may be skipped.
    journal = written(tmp_path / "ck", [("ack", 0, 9, b"a"), ("send", 0, 9, b"b")])
    assert not journal.acknowledged(0, 9, body_digest(b"a"))
    assert not journal.acknowledged(0, 9, body_digest(b"b"))
    journal.close()


def test_a_line_whose_number_changed_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "ck"
    written(path, [("ack", 0, 99, b"a"), ("ack", 100, 199, b"b")]).close()
    lines = path.read_text().split("\n")
    lines[1] = lines[1].replace(",99,", ",999,", 1)  # a span that would cover more rows
    path.write_text("\n".join(lines))
    journal = Journal(path, DEST)
    assert journal.damaged == 1
    assert not journal.acknowledged(0, 99, body_digest(b"a"))
    assert not journal.acknowledged(0, 999, body_digest(b"a"))
    assert journal.acknowledged(100, 199, body_digest(b"b"))
    journal.close()


def test_a_torn_last_line_is_ignored_and_the_next_record_stands_alone(tmp_path: Path) -> None:
    path = tmp_path / "ck"
    written(path, [("ack", 0, 9, b"a"), ("ack", 10, 19, b"b")]).close()
    path.write_bytes(path.read_bytes()[:-7])  # killed in the middle of a write
    journal = Journal(path, DEST)
    assert journal.acknowledged(0, 9, body_digest(b"a"))
    assert not journal.acknowledged(10, 19, body_digest(b"b"))
    journal.acknowledge(20, 29, body_digest(b"c"), "id-20")
    journal.close()
    again = Journal(path, DEST)
    assert again.acknowledged(20, 29, body_digest(b"c")) and again.damaged == 1
    again.close()


@pytest.mark.parametrize("seed", range(20))
def test_random_damage_never_makes_a_slot_look_acknowledged(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    path = tmp_path / "ck"
    bodies = {(10 * i, 10 * i + 9): f"body {i}".encode() for i in range(30)}
    records = [("send", a, b, body) for (a, b), body in bodies.items()]
    records += [("ack", a, b, body) for (a, b), body in bodies.items() if rng.random() < 0.7]
    written(path, records).close()
    honest = Journal(path, DEST)
    truly = {span for span, body in bodies.items() if honest.acknowledged(*span, body_digest(body))}
    honest.close()
    raw = bytearray(path.read_bytes())
    header = raw.index(b"\n") + 1
    for _ in range(rng.randint(1, 5)):
        how = rng.choice(["flip", "truncate", "garbage", "delete"])
        if how == "flip" and len(raw) > header:
            raw[rng.randrange(header, len(raw))] ^= 1 << rng.randrange(8)
        elif how == "truncate":
            del raw[rng.randrange(header, len(raw) + 1) :]
        elif how == "garbage":
            raw += bytes(rng.randrange(256) for _ in range(rng.randint(1, 80)))
        elif how == "delete" and raw.count(b"\n") > 2:
            lines = bytes(raw).split(b"\n")
            del lines[rng.randrange(1, len(lines) - 1)]
            raw = bytearray(b"\n".join(lines))
    path.write_bytes(bytes(raw))
    damaged = Journal(path, DEST)
    # Damage only ever loses acknowledgements (those rows are sent again); it never makes up
    # one, nor one for another body.
    for span, body in bodies.items():
        if damaged.acknowledged(*span, body_digest(body)):
            assert span in truly
        assert not damaged.acknowledged(*span, body_digest(body + b"!"))
    damaged.close()


def test_another_destination_is_refused(tmp_path: Path) -> None:
    written(tmp_path / "ck", [("ack", 0, 9, b"a")]).close()
    with pytest.raises(CheckpointError, match="another destination"):
        Journal(tmp_path / "ck", "feedkit store 5678")


def test_a_damaged_header_starts_over_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "ck"
    written(path, [("ack", 0, 9, b"a")]).close()
    raw = bytearray(path.read_bytes())
    raw[30] ^= 0x20  # inside the header's JSON
    path.write_bytes(bytes(raw))
    journal = Journal(path, DEST)
    assert journal.restarted and not journal.acknowledged(0, 9, body_digest(b"a"))
    journal.close()
    assert Journal(path, DEST).acknowledged_ids() == []  # a fresh, readable journal


@pytest.mark.parametrize(
    "text",
    [b"post_id,text\n1,hello\n", b"feedkit-checkpoint 1 {}\n0 99\n", b"\x89PNG\r\n"],
)
def test_a_file_that_is_not_this_kind_of_checkpoint_is_refused_and_kept(
    tmp_path: Path, text: bytes
) -> None:
    path = tmp_path / "ck"
    path.write_bytes(text)
    with pytest.raises(CheckpointError):
        Journal(path, DEST)
    assert path.read_bytes() == text  # never overwritten
