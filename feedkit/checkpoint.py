"""The checkpoint journal of an import: which requests one destination acknowledged, by content.

An append-only text file bound to one destination (a store's id, or a server's URL and API
key). Its first line is the header; every other line is one record. Each line carries a
checksum of its own, so a damaged line is recognised and ignored::

    feedkit-checkpoint 2 {"destination": "...", "source": "...", "mapping": "..."} 5c1e0a7d
    ["send",0,99,"9f86d081884c7d65...","post-1"] 0b4a11f2
    ["ack",0,99,"9f86d081884c7d65...","post-1"] 77e2c0d9

A request carries the valid source rows ``first``..``last`` (a *slot*); its digest is that of
the exact request body. "send" is written before the request goes out, "ack" once the server
acknowledged every activity in it. A rerun re-reads and re-converts the source and skips a slot
only when its latest record is an "ack" whose digest equals the body it would send now. So an
edited row, another mapping, a request that may have been applied but was never acknowledged
(a crash between "send" and "ack"), or a damaged "ack" all mean the slot is sent again: upserts
by id make that harmless, and nothing is skipped that the destination was not seen to hold.
No number in the journal is trusted unless its line's checksum holds.

An import that stores rows level by level (replies after their parents) sends a level's
slots in a pass of their own: their records carry the level as a sixth member (none for level
0), and a slot is known by its level and rows.

A journal written for another destination is refused (:class:`CheckpointError`): its
acknowledgements say nothing about this one. A header that fails its checksum leaves nothing
to trust: the journal starts over (everything is sent again) and says so.
"""

from __future__ import annotations

import hashlib
import os
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from feedkit.errors import FeedkitError

__all__ = ["CheckpointError", "Journal", "body_digest"]

MAGIC = "feedkit-checkpoint"
VERSION = 2
SEND, ACK = "send", "ack"


class CheckpointError(FeedkitError):
    """The checkpoint was written for another destination, or is not a checkpoint."""


def body_digest(body: bytes) -> str:
    """The digest the journal keeps of a request body."""
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def _sealed(text: str) -> bytes:
    """``text`` with its checksum, as one line."""
    return f"{text} {zlib.crc32(text.encode()):08x}\n".encode()


def _unsealed(line: str) -> str | None:
    """The text of a line whose checksum holds, else None."""
    text, _, crc = line.rpartition(" ")
    if len(crc) != 8 or not text:
        return None
    try:
        return text if int(crc, 16) == zlib.crc32(text.encode()) else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Record:
    kind: str  # SEND or ACK
    digest: str
    first_id: str | None  # the first activity's id: what a spot check looks for


class Journal:
    """Read a checkpoint (if there is one) and append to it.

    ``destination`` binds the journal; ``info`` (source, mapping) is written in a new header
    for people and never checked: the digests decide what is sent again.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        destination: str,
        info: dict[str, str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.destination = destination
        self.damaged = 0  # lines ignored because their checksum failed
        self.restarted = False  # the header was unreadable: everything is sent again
        self._state: dict[tuple[int, int, int], Record] = {}
        self._lock = threading.Lock()
        header = {"destination": destination, **(info or {})}
        raw = self.path.read_bytes() if self.path.exists() else b""
        fresh = not raw or not self._load(raw)
        if fresh:
            self._state.clear()
            tmp = self.path.with_name(f".{self.path.name}.new")
            tmp.write_bytes(_sealed(f"{MAGIC} {VERSION} " + orjson.dumps(header).decode()))
            tmp.replace(self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        if not fresh and not raw.endswith(b"\n"):
            os.write(self._fd, b"\n")  # a torn last line stays alone, and is ignored

    def _load(self, raw: bytes) -> bool:
        """Read the journal; False when it must start over (its header is unreadable)."""
        lines = raw.decode("utf-8", errors="replace").split("\n")
        if not lines[0].startswith(MAGIC + " "):
            raise CheckpointError(
                f"{self.path} is not a feedkit checkpoint; pass another --checkpoint path"
            )
        text = _unsealed(lines[0])
        version, _, header = (text or "").removeprefix(MAGIC + " ").partition(" ")
        if text is None or version != str(VERSION):
            if text is None and lines[0].startswith(f"{MAGIC} {VERSION} "):
                self.restarted = True  # damaged: nothing in it can be trusted
                self.damaged = sum(1 for x in lines if x)
                return False
            raise CheckpointError(
                f"{self.path} was written by another version of feedkit's checkpoint "
                f"({lines[0][:40]!r}); delete it to start over"
            )
        try:
            found = orjson.loads(header).get("destination")
        except (orjson.JSONDecodeError, AttributeError):
            found = None
        if found != self.destination:
            raise CheckpointError(
                f"{self.path} was written for another destination ({found}), not "
                f"{self.destination}; its rows were never acknowledged here. Delete it to "
                "start over, or pass another --checkpoint"
            )
        for line in lines[1:]:
            if line:
                self._read_record(line)
        return True

    def _read_record(self, line: str) -> None:
        text = _unsealed(line)
        try:
            kind, first, last, digest, first_id, *level = orjson.loads(text or "null")
        except (orjson.JSONDecodeError, ValueError, TypeError):
            self.damaged += 1
            return
        level = level or [0]
        if (
            kind in (SEND, ACK)
            and isinstance(first, int)
            and isinstance(last, int)
            and len(level) == 1
            and isinstance(level[0], int)
        ):
            self._state[(level[0], first, last)] = Record(kind, str(digest), first_id)
        else:
            self.damaged += 1

    def acknowledged(self, first: int, last: int, digest: str, level: int = 0) -> bool:
        """Whether the slot ``first``..``last`` (of pass ``level``) was acknowledged with
        exactly this body."""
        record = self._state.get((level, first, last))
        return record is not None and record.kind == ACK and record.digest == digest

    def acknowledged_ids(self) -> list[str]:
        """The first activity id of each slot the journal holds as acknowledged."""
        return [r.first_id for r in self._state.values() if r.kind == ACK and r.first_id]

    def forget(self) -> None:
        """Trust nothing read so far (the destination did not hold what it says)."""
        self._state.clear()

    def sending(
        self, first: int, last: int, digest: str, first_id: str | None, level: int = 0
    ) -> None:
        self._write([SEND, first, last, digest, first_id], level)

    def acknowledge(
        self, first: int, last: int, digest: str, first_id: str | None, level: int = 0
    ) -> None:
        self._write([ACK, first, last, digest, first_id], level)

    def _write(self, record: list[Any], level: int) -> None:
        line = _sealed(orjson.dumps([*record, level] if level else record).decode())
        with self._lock:
            os.write(self._fd, line)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
