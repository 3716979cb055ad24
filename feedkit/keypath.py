"""Dotted key paths that can name any JSON key: ``custom.a.b``, and ``custom."a.b"`` for a key
that holds a dot.

Exported tables flatten ``custom`` and ``search_data`` into columns named by such paths, and a
mapping's object keys are such paths (dotted keys nest), so export -> import is exact for every
key. A key is written bare unless it could be misread: when it is empty, holds ``.``, ``{`` or
``}`` (column references in templates), starts with ``"`` or has white space at either end, it
is written as a JSON string (the way jq quotes a key), with braces as ``\\u007b``/``\\u007d``:

    >>> join("custom", "a.b"), join("custom", ""), join("custom", "plain")
    ('custom."a.b"', 'custom.""', 'custom.plain')
    >>> split('custom."a.b".c')
    ['custom', 'a.b', 'c']
    >>> split(join(join("custom", "{x}"), " y "))
    ['custom', '{x}', ' y ']
"""

from __future__ import annotations

import json
import re

__all__ = ["KeyPathError", "join", "quote", "split"]

_NEEDS_QUOTES = re.compile(r'\A(?:|["\s].*|.*\s)\Z|[.{}]', re.S)
_DECODER = json.JSONDecoder()


class KeyPathError(ValueError):
    """A path that cannot be read: an empty segment, an unterminated quoted key."""


def quote(key: str) -> str:
    """``key`` as one segment of a path: bare, or a JSON string when it could be misread."""
    if not _NEEDS_QUOTES.search(key):
        return key
    return json.dumps(key, ensure_ascii=False).replace("{", "\\u007b").replace("}", "\\u007d")


def join(prefix: str, key: str) -> str:
    """The path of ``key`` inside the object at ``prefix``."""
    return f"{prefix}.{quote(key)}"


def split(path: str) -> list[str]:
    """The keys a path names, in order; :class:`KeyPathError` when it is malformed."""
    keys: list[str] = []
    pos, end = 0, len(path)
    while True:
        if path.startswith('"', pos):
            try:
                key, pos = _DECODER.raw_decode(path, pos)
            except json.JSONDecodeError:
                raise KeyPathError(f"unterminated quoted key in {path!r}") from None
        else:
            stop = path.find(".", pos)
            stop = end if stop < 0 else stop
            key = path[pos:stop]
            if not key:
                raise KeyPathError(f'{path!r} has an empty segment (quote an empty key: "")')
            pos = stop
        keys.append(key)
        if pos == end:
            return keys
        if path[pos] != ".":
            raise KeyPathError(f"a quoted key must end its segment in {path!r}")
        pos += 1
        if pos == end:
            raise KeyPathError(f"{path!r} ends with '.'")
