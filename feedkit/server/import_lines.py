"""Lines of an import file checked against the vendor's JSON Schemas (``import_schemas/``).

The schemas are the vendor's, copied unchanged (from tests/reference/import-schemas; the
package ships its own copy). They use a small part of JSON Schema (``type``, ``required``,
``properties``, ``items``, ``enum``, string and array lengths, ``pattern``, ``anyOf`` of
``required``, ``additionalProperties: false``, ``minProperties``), which :func:`problems`
interprets directly: jsonschema is not a dependency of the package, and checks every line
several times slower (a test compares both on every line type). ``format`` is not checked
here: times are parsed when a line is applied, and a bad one is reported then.

    >>> check_line(b'{"type": "user", "data": {"id": "ann"}}')
    ('user', {'id': 'ann'}, None)
    >>> check_line(b'{"type": "follow", "data": {"source_fid": "user:a"}}')[2]
    'data.target_fid: is required'
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import orjson

__all__ = ["KINDS", "accepts", "check_line", "problems", "schema"]

SCHEMAS = Path(__file__).with_name("import_schemas")

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "object": (dict,),
    "array": (list,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
    "null": (type(None),),
}


@cache
def schema(name: str) -> dict[str, Any]:
    """The schema ``NAME.schema.json`` of the package's copy."""
    found: dict[str, Any] = json.loads((SCHEMAS / f"{name}.schema.json").read_text("utf-8"))
    return found


# The line types of the envelope (``item.schema.json``), in its order.
KINDS: tuple[str, ...] = tuple(schema("item")["properties"]["type"]["enum"])


@cache
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)


def _is(value: Any, kind: str | list[str]) -> bool:
    kinds = [kind] if isinstance(kind, str) else kind
    if isinstance(value, bool):  # a bool is an int to Python, never to JSON Schema
        return "boolean" in kinds
    return any(isinstance(value, _TYPES[k]) for k in kinds)


def problems(value: Any, rules: dict[str, Any], where: str = "") -> list[str]:
    """Every way ``value`` breaks ``rules`` (a schema), as ``"path: reason"``."""
    at = f"{where}: " if where else ""
    if "type" in rules and not _is(value, rules["type"]):
        return [f"{at}must be of type {rules['type']}"]
    if "enum" in rules and value not in rules["enum"]:
        return [f"{at}must be one of {', '.join(map(str, rules['enum']))}"]
    out: list[str] = []
    if isinstance(value, str):
        if len(value) < rules.get("minLength", 0):
            out.append(f"{at}must not be empty")
        if "maxLength" in rules and len(value) > rules["maxLength"]:
            out.append(f"{at}must be at most {rules['maxLength']} characters")
        if "pattern" in rules and not _pattern(rules["pattern"]).search(value):
            out.append(f"{at}must match {rules['pattern']}")
    elif isinstance(value, list):
        if len(value) < rules.get("minItems", 0):
            out.append(f"{at}must hold at least {rules['minItems']} items")
        items = rules.get("items")
        if items:
            for i, item in enumerate(value):
                out += problems(item, items, f"{where}[{i}]")
    elif isinstance(value, dict):
        prefix = f"{where}." if where else ""
        out += [f"{prefix}{name}: is required" for name in rules.get("required", ())
                if name not in value]  # fmt: skip
        if len(value) < rules.get("minProperties", 0):
            out.append(f"{at}must have at least {rules['minProperties']} members")
        alternatives = rules.get("anyOf")
        if alternatives and not any(all(n in value for n in a.get("required", ()))
                                    for a in alternatives):  # fmt: skip
            names = " or ".join(n for a in alternatives for n in a.get("required", ()))
            out.append(f"{at}needs {names}")
        properties = rules.get("properties", {})
        extra = rules.get("additionalProperties", True)
        for name, member in value.items():
            if name in properties:
                out += problems(member, properties[name], prefix + name)
            elif extra is False:
                out.append(f"{prefix}{name}: is not allowed")
            elif isinstance(extra, dict):
                out += problems(member, extra, prefix + name)
    return out


Check = Callable[[Any], bool]


def _type_check(kind: str | list[str]) -> Check:
    """``_is`` for one schema ``type``, with the Python types worked out once."""
    kinds = [kind] if isinstance(kind, str) else list(kind)
    types = tuple(t for k in kinds for t in _TYPES[k])
    if "boolean" in kinds or not {"integer", "number"} & set(kinds):
        return lambda value: isinstance(value, types)
    return lambda value: isinstance(value, types) and value.__class__ is not bool


def accepts(rules: dict[str, Any]) -> Check:
    """A function telling whether a value breaks none of ``rules``: what :func:`problems`
    finds nothing in, decided without building any reason (a line's common case, several
    times faster than interpreting the schema; :func:`problems` says why when it is False)."""
    typed = _type_check(rules["type"]) if "type" in rules else None
    allowed = rules.get("enum")
    low, high = rules.get("minLength", 0), rules.get("maxLength")
    pattern = _pattern(rules["pattern"]) if "pattern" in rules else None
    text = bool(low) or high is not None or pattern is not None
    least, items = rules.get("minItems", 0), rules.get("items")
    item = accepts(items) if items else None
    many = bool(least) or item is not None
    object_rules = ("required", "minProperties", "anyOf", "properties", "additionalProperties")
    whole = _accepts_object(rules) if any(k in rules for k in object_rules) else None
    if typed is not None and allowed is None and not text and not many and whole is None:
        return typed  # the common case: a type and nothing else

    def check(value: Any) -> bool:
        if typed is not None and not typed(value):
            return False
        if allowed is not None and value not in allowed:
            return False
        if isinstance(value, str):
            return not text or (
                len(value) >= low and (high is None or len(value) <= high)
                and (pattern is None or pattern.search(value) is not None))  # fmt: skip
        if isinstance(value, list):
            return not many or (
                len(value) >= least and (item is None or all(map(item, value))))  # fmt: skip
        if isinstance(value, dict):
            return whole is None or whole(value)
        return True

    return check


def _accepts_object(rules: dict[str, Any]) -> Check:
    """The object part of :func:`accepts` (called with a dict only)."""
    required = frozenset(rules.get("required", ()))
    least = rules.get("minProperties", 0)
    alternatives = [frozenset(a.get("required", ())) for a in rules.get("anyOf", ())]
    members = {name: accepts(member) for name, member in rules.get("properties", {}).items()}
    extra = rules.get("additionalProperties", True)
    other: Check | None = (lambda value: False) if extra is False else (
        accepts(extra) if isinstance(extra, dict) else None)  # fmt: skip

    def check(value: dict[str, Any]) -> bool:
        if not required.issubset(value) or len(value) < least:
            return False
        if alternatives and not any(a.issubset(value) for a in alternatives):
            return False
        for name, member in value.items():
            found = members.get(name, other)
            if found is not None and not found(member):
                return False
        return True

    return check


@cache
def _accepted(kind: str) -> Check:
    return accepts(schema(kind))


def check_line(raw: bytes) -> tuple[str, Any, str | None]:
    """``(type, data, None)`` for a line its schema accepts, else ``(type, data, reason)``
    (the type ``""`` when the line has none)."""
    try:
        line = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return "", None, f"not valid JSON: {exc}"
    if not isinstance(line, dict):
        return "", None, "must be an object {type, data}"
    kind, data = line.get("type"), line.get("data")
    if not isinstance(kind, str) or kind not in KINDS:
        return "", data, f"type: must be one of {', '.join(KINDS)}"
    extra = sorted(set(line) - {"type", "data"})
    if extra:
        return kind, data, f"{extra[0]}: is not allowed"
    if "data" not in line:
        return kind, data, "data: is required"
    if _accepted(kind)(data):
        return kind, data, None
    found = problems(data, schema(kind), "data")
    return kind, data, "; ".join(found) if found else None
