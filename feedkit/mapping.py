"""Source columns -> the fields of one kind of row: templates, literals, list columns, objects.

A mapping fills one kind (:mod:`feedkit.resources`): ``[activity]``, ``[user]``, ``[follow]``,
``[comment]``, ``[reaction]``, ``[bookmark]`` or ``[feed_group]``, each by the REST request's
field names. It is written in Python or TOML (``Mapping.from_toml("posts.toml")``)::

    [activity]
    id = "{post_id}"                      # "{column}"; text around it makes a template
    type = "post"                         # a literal
    feeds = ["user:{author}", "topic:{topic}"]
    filter_tags = { column = "tags", split = "," }
    location = { lat = "lat", lng = "lng" }
    custom = ["likes", "lang"]            # columns copied into custom, keeping their types
    search_data = { title = "{title}" }   # or key = template; dotted keys nest
    [[activity.attachments]]
    type = "image"
    image_url = "{image}"                 # left out where its url is empty or null

    [columns]                             # optional: the type of a CSV column
    likes = "int"

Any kind reads the same grammar; an object field may also take a whole column of objects
(JSON text, or structs) with ``custom = "{meta}"``::

    [comment]
    id = "{comment_id}"
    object_id = "{post_id}"
    parent_id = "{reply_to}"                # empty for a top-level comment
    user_id = "{author}"
    comment = "{body}"

A value that is exactly ``"{col}"`` keeps the column's type. An empty or null referenced
value leaves the field unset. Every mapping says how ids are made: from columns
(``id = "{post_id}"``: a rerun recognises each row, whatever changed in it), or, for a source
with no id at all, ``id = { derive = true }``: each id is a digest of the row's content, so a
rerun of the same rows upserts the same activities, but a row edited between runs becomes a new
activity beside the old one. ``{{`` and ``}}`` are literal braces. Every problem in a mapping is
a :class:`MappingError` naming the field.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from os import PathLike
from typing import Any

from feedkit import keypath
from feedkit.errors import UsageError
from feedkit.resources import HISTORY_FIELDS, KINDS, RESOURCES, Resource
from feedkit.schema import ATTACHMENT_FIELDS, Kind

__all__ = ["Mapping", "MappingError"]

COLUMN_TYPES = ("string", "int", "float", "bool", "timestamp", "json")
URL_FIELDS = ("asset_url", "image_url", "thumb_url")
EXTRA_FIELDS = HISTORY_FIELDS  # fields any kind may map besides its own (import files keep them)
JSON_COLUMNS_ATTR = "feedkit.json_columns"  # DataFrame.attrs key naming JSON text columns
_REF = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


class MappingError(UsageError):
    """A mapping that cannot work: an unknown field, a bad template, a missing column."""

    def __init__(self, message: str, *, field: str = "", columns: Iterable[str] = ()) -> None:
        self.field = field
        self.columns = list(columns)
        super().__init__(f"{field}: {message}" if field else message)


@dataclass(frozen=True)
class Template:
    """Literal text and column references; ``"{col}"`` alone keeps the column's type."""

    parts: tuple[str | tuple[str], ...]  # str: literal text; (name,): a column

    @classmethod
    def parse(cls, text: str, where: str) -> Template:
        parts: list[str | tuple[str]] = []
        pos = 0
        literal = ""
        for m in _REF.finditer(text):
            literal += text[pos : m.start()]
            pos = m.end()
            token = m.group(0)
            if token in ("{{", "}}"):
                literal += token[0]
            elif token in ("{", "}"):
                raise MappingError(
                    f"unbalanced {token!r} in {text!r}; write {token * 2} for a literal brace",
                    field=where,
                )
            else:
                name = m.group(1).strip()
                if not name:
                    raise MappingError(f"empty column reference in {text!r}", field=where)
                if literal:
                    parts.append(literal)
                    literal = ""
                parts.append((name,))
        literal += text[pos:]
        if literal:
            parts.append(literal)
        return cls(tuple(parts))

    @classmethod
    def column(cls, name: str) -> Template:
        return cls(((name,),))

    @property
    def columns(self) -> list[str]:
        return [p[0] for p in self.parts if isinstance(p, tuple)]

    @property
    def whole(self) -> str | None:
        """The column name when the template is exactly one reference, else None."""
        if len(self.parts) == 1 and isinstance(self.parts[0], tuple):
            return self.parts[0][0]
        return None

    @property
    def literal(self) -> str | None:
        """The text when the template references no column, else None."""
        return "".join(p for p in self.parts if isinstance(p, str)) if not self.columns else None


@dataclass(frozen=True)
class SplitColumn:
    """A list field from one column: a list column, or a string split on ``split``."""

    column: str
    split: str | None = None


@dataclass(frozen=True)
class Location:
    lat: str
    lng: str


@dataclass(frozen=True)
class WholeColumn:
    """An object or list field taken whole from one column (JSON text, structs or lists)."""

    column: str


@dataclass(frozen=True)
class ObjectSpec:
    """A JSON object: dotted keys -> templates (``"{col}"`` keeps the column's type)."""

    members: tuple[tuple[str, Template], ...]


Spec = Template | tuple[Template, ...] | SplitColumn | Location | ObjectSpec | WholeColumn


@dataclass(frozen=True)
class Mapping:
    """How each field of one kind is computed from a source row. See the module docstring."""

    fields: dict[str, Spec]
    attachments: tuple[ObjectSpec, ...] = ()
    column_types: dict[str, str] = field(default_factory=dict)
    attachments_column: str | None = None  # a column holding whole attachment lists
    keep_empty: bool = False  # keep "" as a value instead of leaving the field unset
    derive_ids: bool = False  # id = { derive = true }: ids are digests of the rows' content
    kind: str = "activity"  # the kind of row filled (a key of feedkit.resources.RESOURCES)

    @property
    def resource(self) -> Resource:
        return RESOURCES[self.kind]

    @classmethod
    def from_toml(cls, path: str | PathLike[str]) -> Mapping:
        with open(path, "rb") as f:
            try:
                data = tomllib.load(f)
            except tomllib.TOMLDecodeError as exc:
                raise MappingError(f"{path} is not valid TOML: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Mapping:
        """From the TOML's shape: ``{"activity": {...}, "columns": {...}}`` (or any kind's
        section in place of ``activity``)."""
        sections = ", ".join(f"[{k}]" for k in KINDS)
        unknown = set(data) - {*KINDS, "columns", "options"}
        if unknown:
            raise MappingError(
                f"unknown section(s) {sorted(unknown)}; use one of {sections}, and [columns], "
                "[options]"
            )
        kinds = [k for k in KINDS if k in data]
        if len(kinds) != 1:
            raise MappingError(
                f"a mapping fills one kind: it needs one of {sections}"
                + (f", not {len(kinds)} ({', '.join(kinds)})" if kinds else "")
            )
        options = data.get("options") or {}
        keep = options.get("keep_empty", False) if isinstance(options, dict) else None
        if not isinstance(keep, bool) or set(options) - {"keep_empty"}:
            raise MappingError("[options] takes only keep_empty = true|false", field="options")
        kind = kinds[0]
        table = data[kind]
        if not isinstance(table, dict):
            raise MappingError(f"[{kind}] must be a table of field = value", field=kind)
        mapping = cls.build(table, data.get("columns") or {}, kind=kind)
        return replace(mapping, keep_empty=keep)

    @classmethod
    def build(
        cls,
        activity: dict[str, Any],
        columns: dict[str, str] | None = None,
        *,
        kind: str = "activity",
    ) -> Mapping:
        """``Mapping.build({"id": "{post_id}", "type": "post", ...})``; ``kind`` names what the
        fields fill (``"user"``, ``"follow"``, ...: see :mod:`feedkit.resources`)."""
        if kind not in RESOURCES:
            raise MappingError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
        resource = RESOURCES[kind]
        fields: dict[str, Spec] = {}
        attachments: tuple[ObjectSpec, ...] = ()
        attachments_column = None
        derive = False
        for name, value in activity.items():
            if name == "id" and isinstance(value, dict) and resource.derivable:
                if value != {"derive": True}:
                    raise MappingError(
                        'write id = "{column}", or id = { derive = true } to derive ids from '
                        "each row's content",
                        field=name,
                    )
                derive = True
            elif (
                name == "attachments"
                and "attachments" in resource.fields
                and isinstance(value, dict)
            ):
                if set(value) != {"column"} or not isinstance(value["column"], str):
                    raise MappingError(
                        'write attachments = { column = "name" } for a column of attachment lists',
                        field=name,
                    )
                attachments_column = value["column"]
            elif name == "attachments" and "attachments" in resource.fields:
                attachments = _attachments(value, kind)
            elif name in resource.mappable:
                fields[name] = _spec(name, value, resource)
            else:
                known = ", ".join(resource.mappable)
                raise MappingError(f"is not a {kind} field; known fields: {known}", field=name)
        types = dict(columns or {})
        for col, typ in types.items():
            if typ not in COLUMN_TYPES:
                raise MappingError(
                    f"type {typ!r} is not one of {', '.join(COLUMN_TYPES)}", field=f"columns.{col}"
                )
        _check_identified(resource, fields, derive)
        return cls(fields, attachments, types, attachments_column, derive_ids=derive, kind=kind)

    @property
    def columns(self) -> list[str]:
        """Every source column the mapping reads, in order of first use."""
        out: dict[str, None] = {}
        for spec in [*self.fields.values(), *self.attachments]:
            for col in spec_columns(spec):
                out.setdefault(col, None)
        if self.attachments_column:
            out.setdefault(self.attachments_column, None)
        return list(out)

    @classmethod
    def identity(cls, source: Any, kind: str = "activity") -> Mapping:
        """The mapping that reads back a table of ``kind`` written by feedkit's export.

        ``source`` is an exported DataFrame, a pyarrow Table or Schema, a Parquet path, or
        column names. Columns named for a field fill it; ``custom.*`` (and an activity's
        ``search_data.*``) columns fold back into nested objects; columns of JSON text
        (marked by the export) are written back as JSON.
        """
        if kind not in RESOURCES:
            raise MappingError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
        resource = RESOURCES[kind]
        names, json_columns = _describe(source)
        table: dict[str, Any] = {}
        for name in names:
            root = name.split(".")[0]
            f = resource.fields.get(name)
            field_kind = f.kind if f is not None else Kind.TIME if name in EXTRA_FIELDS else None
            if field_kind in (Kind.STRING_LIST, Kind.ATTACHMENTS):
                table[name] = {"column": name}
            elif field_kind in (Kind.STRING, Kind.CHOICE, Kind.TIME, Kind.BOOL):
                table[name] = "{" + name + "}"
            elif field_kind in (Kind.OBJECT, Kind.STRING_MAP, Kind.LIST):
                table[name] = "{" + name + "}"  # a whole column of objects (or lists)
            elif (
                name != root
                and root in resource.fields
                and resource.field_kind(root)
                in (
                    Kind.OBJECT,
                    Kind.STRING_MAP,
                )
            ):
                table.setdefault(root, {})[name[len(root) + 1 :]] = "{" + name + "}"
        if "location.lat" in names and "location.lng" in names and "location" in resource.fields:
            table["location"] = {"lat": "location.lat", "lng": "location.lng"}
        built = cls.build(table, {c: "json" for c in json_columns if c in names}, kind=kind)
        return replace(built, keep_empty=True)  # an exported "" is a value, not a gap

    def to_toml(self) -> str:
        """The mapping as TOML text that :meth:`from_toml` reads back."""
        lines = [f"[{self.kind}]", *(["id = { derive = true }"] if self.derive_ids else [])]
        for name, spec in self.fields.items():
            lines.append(f"{_toml_key(name)} = {_toml_spec(spec)}")
        if self.attachments_column:
            lines.append(f"attachments = {{ column = {_toml_str(self.attachments_column)} }}")
        for attachment in self.attachments:
            lines += ["", f"[[{self.kind}.attachments]]"]
            custom = [(k[7:], t) for k, t in attachment.members if k.startswith("custom.")]
            lines += [
                f"{k} = {_toml_template(t)}"
                for k, t in attachment.members
                if not k.startswith("custom.")
            ]
            if custom:
                lines.append(
                    "custom = { "
                    + ", ".join(f"{_toml_key(k)} = {_toml_template(t)}" for k, t in custom)
                    + " }"
                )
        if self.keep_empty:
            lines += ["", "[options]", "keep_empty = true"]
        if self.column_types:
            lines += ["", "[columns]"]
            lines += [f"{_toml_key(c)} = {_toml_str(t)}" for c, t in self.column_types.items()]
        return "\n".join(lines) + "\n"


def _describe(source: Any) -> tuple[list[str], list[str]]:
    """Column names of an exported table, and those holding JSON text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from feedkit.arrowjson import is_json_field

    if isinstance(source, (str, PathLike)):
        source = pq.read_schema(source)
    if isinstance(source, pa.Table):
        source = source.schema
    if isinstance(source, pa.Schema):
        return source.names, [f.name for f in source if is_json_field(f)]
    if hasattr(source, "columns") and hasattr(source, "attrs"):  # a pandas DataFrame
        return [str(c) for c in source.columns], list(source.attrs.get(JSON_COLUMNS_ATTR, []))
    return [str(c) for c in source], []


def _toml_str(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_str(key)


def _toml_template(t: Template) -> str:
    text = "".join(
        "{" + p[0] + "}" if isinstance(p, tuple) else p.replace("{", "{{").replace("}", "}}")
        for p in t.parts
    )
    return _toml_str(text)


def _toml_spec(spec: Spec) -> str:
    if isinstance(spec, Template):
        return _toml_template(spec)
    if isinstance(spec, tuple):
        return "[" + ", ".join(_toml_template(t) for t in spec) + "]"
    if isinstance(spec, SplitColumn):
        split = f", split = {_toml_str(spec.split)}" if spec.split else ""
        return f"{{ column = {_toml_str(spec.column)}{split} }}"
    if isinstance(spec, Location):
        return f"{{ lat = {_toml_str(spec.lat)}, lng = {_toml_str(spec.lng)} }}"
    if isinstance(spec, WholeColumn):
        return _toml_str("{" + spec.column + "}")
    return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_template(t)}" for k, t in spec.members) + " }"


def spec_columns(spec: Spec) -> list[str]:
    """The source columns one field's spec reads."""
    if isinstance(spec, Template):
        return spec.columns
    if isinstance(spec, tuple):
        return [c for t in spec for c in t.columns]
    if isinstance(spec, SplitColumn):
        return [spec.column]
    if isinstance(spec, Location):
        return [spec.lat, spec.lng]
    if isinstance(spec, WholeColumn):
        return [spec.column]
    return [c for _, t in spec.members for c in t.columns]


def _template(value: Any, where: str) -> Template:
    if isinstance(value, str):
        return Template.parse(value, where)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MappingError(f"expected a template string, got {type(value).__name__}", field=where)
    return Template((str(value),))


def _check_identified(resource: Resource, fields: dict[str, Spec], derive: bool) -> None:
    """A mapping names what identifies each row, so that a rerun recognises it."""
    if resource.derivable:
        if "id" not in fields and not derive:
            noun = resource.kind.replace("_", " ")
            raise MappingError(
                'is not mapped. Map the column that identifies each row (id = "{post_id}") '
                "so a rerun recognises it; or, for a source with no id, write "
                "id = { derive = true } (ids from each row's content: a row edited between "
                f"runs then becomes a new {noun})",
                field="id",
            )
        return
    needed = [n for n in dict.fromkeys([*resource.required, *resource.key])
              if n not in resource.one_of and n not in fields]  # fmt: skip
    optional_key = [n for n in resource.key if n not in resource.required]
    needed = [n for n in needed if n not in optional_key]
    if resource.one_of and not any(n in fields for n in resource.one_of):
        needed.append(" or ".join(resource.one_of))
    if needed:
        raise MappingError(
            f"is not mapped: every {resource.kind} needs {', '.join(needed)} (a "
            f"{resource.kind} is named by {', '.join(resource.key)})",
            field=needed[0],
        )


def _spec(name: str, value: Any, resource: Resource) -> Spec:
    kind = resource.field_kind(name)
    if kind in (Kind.STRING, Kind.CHOICE, Kind.TIME, Kind.BOOL):
        return _template(value, name)
    if kind in (Kind.OBJECT, Kind.STRING_MAP, Kind.LIST) and isinstance(value, str):
        template = _template(value, name)
        if template.whole is None:
            raise MappingError(
                f'a whole {kind.value} is taken from one column: write "{{column}}"', field=name
            )
        return WholeColumn(template.whole)
    if kind is Kind.STRING_LIST:
        if isinstance(value, list):
            return tuple(_template(v, f"{name}[{i}]") for i, v in enumerate(value))
        if isinstance(value, dict):
            if set(value) - {"column", "split"} or not isinstance(value.get("column"), str):
                raise MappingError(
                    'write { column = "name", split = "," } (split optional)', field=name
                )
            split = value.get("split")
            if split is not None and (not isinstance(split, str) or not split):
                raise MappingError("split must be a non-empty string", field=name)
            return SplitColumn(value["column"], split)
        template = _template(value, name)
        if template.whole is None:
            raise MappingError(
                'a list field takes a list of templates, "{column}" of a list '
                "column, or { column = ..., split = ... }",
                field=name,
            )
        return SplitColumn(template.whole)
    if kind is Kind.LOCATION:
        if (
            not isinstance(value, dict)
            or set(value) != {"lat", "lng"}
            or not all(isinstance(v, str) for v in value.values())
        ):
            raise MappingError('write { lat = "lat_column", lng = "lng_column" }', field=name)
        return Location(_bare(value["lat"]), _bare(value["lng"]))
    if kind in (Kind.OBJECT, Kind.STRING_MAP):
        if isinstance(value, list):
            if not all(isinstance(c, str) for c in value):
                raise MappingError("a list here names columns to copy", field=name)
            return ObjectSpec(tuple((_bare(c), Template.column(_bare(c))) for c in value))
        if isinstance(value, dict):
            _check_paths(name, list(value))
            return ObjectSpec(tuple((k, _template(v, f"{name}.{k}")) for k, v in value.items()))
        raise MappingError("write a list of columns or a table of key = template", field=name)
    raise MappingError(f"cannot be mapped from columns (a {kind.value} field)", field=name)


def _check_paths(name: str, keys: list[str]) -> None:
    """Dotted keys nest (see :mod:`feedkit.keypath`; ``"a.b"`` quoted is one key): "a" and
    "a.b" cannot both be set (a is a value or an object), nor one key be named twice."""
    paths: dict[tuple[str, ...], str] = {}
    for key in keys:
        try:
            parts = tuple(keypath.split(key))
        except keypath.KeyPathError as exc:
            raise MappingError(str(exc), field=f"{name}.{key}") from None
        if parts in paths:
            raise MappingError(f"names the key of {paths[parts]!r} again", field=f"{name}.{key}")
        paths[parts] = key
    for parts, key in paths.items():
        for i in range(1, len(parts)):
            if parts[:i] in paths:
                raise MappingError(
                    f"{paths[parts[:i]]!r} is set as a value and as an object (by {key!r})",
                    field=f"{name}.{key}",
                )


def _bare(name: str) -> str:
    """A column name, written bare or as "{name}"."""
    if name.startswith("{") and name.endswith("}") and name.count("{") == 1:
        return name[1:-1].strip()
    return name


def _attachments(value: Any, kind: str) -> tuple[ObjectSpec, ...]:
    if not isinstance(value, list):
        raise MappingError(
            f"write one [[{kind}.attachments]] table per attachment", field="attachments"
        )
    known = {f.name for f in ATTACHMENT_FIELDS}
    out = []
    for i, table in enumerate(value):
        where = f"attachments[{i}]"
        if not isinstance(table, dict):
            raise MappingError("must be a table", field=where)
        unknown = set(table) - known
        if unknown:
            raise MappingError(
                f"unknown attachment field(s) {sorted(unknown)}; known: {', '.join(sorted(known))}",
                field=where,
            )
        if not set(table) & set(URL_FIELDS):
            raise MappingError(f"needs one of {', '.join(URL_FIELDS)}", field=where)
        members = []
        for key, v in table.items():
            if key == "custom":
                if not isinstance(v, dict):
                    raise MappingError(
                        "custom must be a table of key = template", field=f"{where}.custom"
                    )
                members += [
                    (f"custom.{k}", _template(t, f"{where}.custom.{k}")) for k, t in v.items()
                ]
            else:
                members.append((key, _template(v, f"{where}.{key}")))
        out.append(ObjectSpec(tuple(members)))
    return tuple(out)
