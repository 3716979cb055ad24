"""The public namespace is honest: __all__ is sorted and names exactly what is exported."""

from __future__ import annotations

import feedkit


def test_all_is_sorted_and_complete() -> None:
    assert feedkit.__all__ == sorted(feedkit.__all__, key=lambda n: (not n.isupper(), n))
    public = {name for name in dir(feedkit) if not name.startswith("_")}
    modules = {
        "activity_table", "arrowjson", "bulk", "checkpoint", "cli", "client", "convert",
        "dedupe", "demo", "errors", "export", "files", "importfile", "keypath", "mapping", "paging",
        "protocol", "results", "schema", "serve", "server", "sources", "transport", "widgets",
        "csvsource", "filesources", "jsonlsource", "locations",
    }  # fmt: skip
    assert public - modules - {"annotations"} == set(feedkit.__all__)
    for name in feedkit.__all__:
        assert getattr(feedkit, name) is not None
