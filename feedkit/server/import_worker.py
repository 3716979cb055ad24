"""The worker process that reads an import file's batches ahead of the import thread:
``python -m feedkit.server.import_worker`` (:mod:`feedkit.server.import_batches` starts it).

Asked on its stdin for ``(name, args)`` pickled, it answers ``CALLS[name](*args)`` pickled on
its stdout (a batch read with its activities made ready to write, or the analysis of a
stretch of the file), until its stdin closes. Anything else printed goes to stderr, never
into the answers.
"""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Callable
from typing import Any

from feedkit.server.import_batches import analyze, read_batch

CALLS: dict[str, Callable[..., Any]] = {"read_batch": read_batch, "analyze": analyze}


def serve() -> None:
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print cannot reach the answers
    asked = sys.stdin.buffer
    while True:
        try:
            name, args = pickle.load(asked)
        except EOFError:
            return
        answer = CALLS[name](*args)
        try:
            pickle.dump(answer, answers, protocol=pickle.HIGHEST_PROTOCOL)
            answers.flush()
        except BrokenPipeError:  # the import stopped
            return


if __name__ == "__main__":
    serve()
