"""The worker process that reads an import file's batches ahead of the import thread:
``python -m feedkit.server.import_worker`` (:mod:`feedkit.server.import_batches` starts it).

It answers each batch asked for on its stdin, ``(path, offset, line, checked, count)`` pickled,
with the :func:`read_batch` of it, activities made ready to write, pickled on its stdout,
until its stdin closes. Anything else printed goes to stderr, never into the answers.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

from feedkit.server.import_batches import read_batch


def serve() -> None:
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print cannot reach the answers
    asked = sys.stdin.buffer
    while True:
        try:
            path, offset, line, checked, count = pickle.load(asked)
        except EOFError:
            return
        batch = read_batch(Path(path), offset, line, checked, count, ready=True)
        try:
            pickle.dump(tuple(batch), answers, protocol=pickle.HIGHEST_PROTOCOL)
            answers.flush()
        except BrokenPipeError:  # the import stopped
            return


if __name__ == "__main__":
    serve()
