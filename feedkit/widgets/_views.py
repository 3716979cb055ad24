"""How a stored activity reads in a form: as the request fields it was made of, flattened to
dotted paths, and as a table with the paths a change touched highlighted."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

from feedkit.results import ns_to_datetime, request_fields
from feedkit.widgets._fields import HIGHLIGHT, MUTED_COLOR, colored

Changes = dict[str, tuple[Any, Any]]


def flatten(obj: Mapping[str, Any], prefix: str = "", *, leaves_only: bool = True) -> list[str]:
    """Dotted paths of a nested object: ``{"a": {"b": 1}}`` -> ``["a.b"]`` (and ``"a"``)."""
    paths: list[str] = []
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            if not leaves_only:
                paths.append(path)
            paths += flatten(value, f"{path}.", leaves_only=leaves_only)
        else:
            paths.append(path)
    return paths


def flat_view(view: Mapping[str, Any]) -> dict[str, Any]:
    """Request fields with ``custom`` spread into ``custom.<dotted path>`` entries."""
    out = {key: value for key, value in view.items() if key != "custom"}
    custom = view.get("custom") or {}
    for path in flatten(custom):
        value: Any = custom
        for part in path.split("."):
            value = value[part]
        out[f"custom.{path}"] = value
    return out


def show_json(value: Any, width: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> Changes:
    """Path -> (before, after) for every flat path whose value differs (``None``: absent)."""
    paths = [*after, *(p for p in before if p not in after)]
    return {p: (before.get(p), after.get(p)) for p in paths if before.get(p) != after.get(p)}


def activity_table(activity: Mapping[str, Any], changes: Changes | None = None) -> str:
    """The activity's fields (custom spread into dotted paths), changed rows highlighted."""
    changes = changes or {}
    flat = flat_view(request_fields(activity))
    rows = []
    for key in ("created_at", "updated_at"):
        if isinstance(activity.get(key), int):
            flat_key = ns_to_datetime(activity[key]).isoformat()
            rows.append(f"<tr><th>{key}</th><td>{html.escape(flat_key)}</td></tr>")
    for path in [*flat, *(p for p in changes if p not in flat)]:
        cell = html.escape(show_json(flat.get(path)))
        attrs = ""
        if path in changes:
            before, after = changes[path]
            attrs = f" class='feedkit-changed' style='background:{HIGHLIGHT}'"
            if after is None:
                cell = f"<s>{html.escape(show_json(before))}</s> (removed)"
            elif before is not None:
                cell += " " + colored(f"(was {show_json(before, 60)})", MUTED_COLOR)
            else:
                cell += " " + colored("(new)", MUTED_COLOR)
        rows.append(f"<tr{attrs}><th>{html.escape(path)}</th><td>{cell}</td></tr>")
    style = "<style>.feedkit-table th,.feedkit-table td{text-align:left;padding:2px 8px}</style>"
    return f"{style}<table class='feedkit-table'>{''.join(rows)}</table>"
