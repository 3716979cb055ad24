"""Output files written whole or not at all.

An export or an import file is written under a temporary name beside its destination and
renamed onto it only once complete (``os.replace`` is atomic on one file system): a crash, an
interrupt or a bad row half-way leaves the previous file, or none, never a truncated one that
reads as a smaller, valid export.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

__all__ = ["replacing"]


@contextmanager
def replacing(*paths: str | os.PathLike[str]) -> Iterator[list[Path]]:
    """Temporary paths, one per destination, in the destination's directory: each created
    empty at once (with the usual permissions), so that a destination that cannot be written
    fails before any work is done; on a clean exit each is renamed onto its destination, on an
    exception all are removed.

    >>> import pathlib, tempfile
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with replacing(out) as (tmp,):
    ...     _ = tmp.write_text("all of it")
    >>> out.read_text(), sorted(p.name for p in out.parent.iterdir())
    ('all of it', ['out.txt'])
    """
    temps = [Path(p).parent / f".{Path(p).name}.{secrets.token_hex(4)}.part" for p in paths]
    with ExitStack() as undo:
        for tmp, path in zip(temps, paths, strict=True):
            try:
                tmp.touch(exist_ok=False)
            except OSError as exc:  # named by the file asked for, not by its part
                raise type(exc)(exc.errno, exc.strerror, os.fspath(path)) from None
            undo.callback(tmp.unlink, missing_ok=True)
        yield temps
        for tmp, path in zip(temps, paths, strict=True):
            os.replace(tmp, path)
