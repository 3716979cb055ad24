"""The field widgets both forms are made of: one input per schema ``Kind`` and a labelled row.

Every input is a :class:`FieldInput`: its ``value`` traitlet holds the field's request value
(``None`` when the field is left out) and its ``problems`` traitlet what could not even become a
value (JSON that does not parse), as sub-path -> message. Limits are never checked here: the
forms run :func:`feedkit.schema.validate_activity` / ``validate_partial`` on the values, and
route each ``FieldError.field`` path back to its row with :func:`split_path`.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import ipywidgets as w
import traitlets as tr

from feedkit.errors import APIError, FeedkitError, ValidationError
from feedkit.schema import (
    ATTACHMENT_FIELDS,
    FIELDS,
    LOCATION_BOUNDS,
    Field,
    Kind,
    format_time,
    parse_time,
)

LABEL_WIDTH = "170px"
INPUT_WIDTH = "400px"
ERROR_COLOR = "#c62828"
MUTED_COLOR = "#616161"
OK_COLOR = "#2e7d32"
HIGHLIGHT = "#fff3b0"

# Suggestions, not limits: any other type is accepted, as the protocol does.
COMMON_TYPES = ("post", "video", "image", "share", "comment", "like")
ATTACHMENT_TYPES = ("image", "video", "file", "url")
PLACEHOLDERS = {
    "feeds": "group:id, then Enter",
    "mentioned_user_ids": "user id, then Enter",
    "filter_tags": "tag, then Enter",
    "interest_tags": "tag, then Enter",
    "expires_at": "2030-01-01T00:00:00Z or +02:00",
}
_ROOT = re.compile(r"[^.\[]*")


def split_path(path: str) -> tuple[str, str]:
    """``'attachments[1].image_url'`` -> ``('attachments', '[1].image_url')``."""
    root = _ROOT.match(path)
    name = root.group() if root else ""
    return name, path[len(name) :]


def colored(text: str, color: str) -> str:
    return f"<span style='color:{color}'>{html.escape(text)}</span>"


def error_html(messages: Sequence[str]) -> str:
    """Messages in red, one a line; wrapped lines sit closer than the 28px widget line."""
    if not messages:
        return ""
    lines = "<br>".join(colored(m, ERROR_COLOR) for m in messages)
    return f"<div style='line-height:1.35;padding:5px 0 3px'>{lines}</div>"


class FieldInput(w.VBox):  # type: ignore[misc]
    """An input whose ``value`` is one field's request value; ``None`` leaves the field out."""

    value = tr.Any(None, allow_none=True)
    problems = tr.Dict()
    disabled = tr.Bool(False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._busy = False

    # Subclasses build their children, then call _watch() on the ones that carry input.
    def _read(self) -> tuple[Any, dict[str, str]]:
        raise NotImplementedError

    def _fill(self, value: Any) -> None:
        raise NotImplementedError

    def _controls(self) -> Iterable[Any]:
        return ()

    def _watch(self, *widgets: Any, names: str | list[str] = "value") -> None:
        for widget in widgets:
            widget.observe(self._changed, names=names)

    def fill(self, value: Any) -> None:
        """Show ``value`` (as given: a wrong one stays, for the schema to report)."""
        self._busy = True
        try:
            self._fill(value)
            self.problems = {}
            self.value = value
        finally:
            self._busy = False

    def show_errors(self, errors: Mapping[str, str]) -> dict[str, str]:
        """Show what this input can next to its own parts; return the rest for its row."""
        return dict(errors)

    def _changed(self, _change: Any = None) -> None:
        if self._busy:
            return
        value, problems = self._read()
        self._busy = True
        try:
            self.problems = problems
            self.value = value
        finally:
            self._busy = False

    @tr.observe("value")
    def _value_set(self, change: dict[str, Any]) -> None:
        if not self._busy:
            self.fill(change["new"])

    @tr.observe("disabled")
    def _disabled_set(self, change: dict[str, Any]) -> None:
        for control in self._controls():
            if control.has_trait("disabled"):  # TagsInput has none; it stays editable
                control.disabled = change["new"]


class StringInput(FieldInput):
    """A string: a Text, a Textarea (``multiline``), or a Combobox (``suggestions``)."""

    def __init__(
        self, field: Field, *, multiline: bool = False, suggestions: Sequence[str] = ()
    ) -> None:
        super().__init__()
        hint = f"at most {field.max_length} characters" if field.max_length else ""
        layout = w.Layout(width=INPUT_WIDTH)
        if suggestions:
            hint = ", ".join(suggestions) + ", or your own"
            self.text = w.Combobox(
                options=list(suggestions), ensure_option=False, placeholder=hint, layout=layout
            )
        elif multiline:
            self.text = w.Textarea(placeholder=hint, rows=3, layout=layout)
        else:
            self.text = w.Text(placeholder=hint, layout=layout)
        self.children = [self.text]
        self._watch(self.text)

    def _controls(self) -> Iterable[Any]:
        return (self.text,)

    def _read(self) -> tuple[Any, dict[str, str]]:
        return (self.text.value or None), {}

    def _fill(self, value: Any) -> None:
        self.text.value = "" if value is None else str(value)


class ChoiceInput(FieldInput):
    """One of the field's ``choices``; ``None`` shows (and means) the default."""

    def __init__(self, field: Field) -> None:
        super().__init__()
        self.field = field
        self.dropdown = w.Dropdown(
            options=list(field.choices), value=field.default, layout=w.Layout(width="200px")
        )
        self.children = [self.dropdown]
        self.value = field.default
        self._watch(self.dropdown)

    def _controls(self) -> Iterable[Any]:
        return (self.dropdown,)

    def _read(self) -> tuple[Any, dict[str, str]]:
        return self.dropdown.value, {}

    def fill(self, value: Any) -> None:
        super().fill(self.field.default if value is None else value)

    def _fill(self, value: Any) -> None:
        self.dropdown.value = value if value in self.field.choices else None


class TagsField(FieldInput):
    """A list of strings as tags; an empty list leaves the field out."""

    def __init__(
        self, *, placeholder: str = "type, then Enter", allowed: Sequence[str] = ()
    ) -> None:
        super().__init__()
        self.tags = w.TagsInput(
            value=[],
            allowed_tags=list(allowed),
            allow_duplicates=False,
            placeholder=placeholder,
            layout=w.Layout(width=INPUT_WIDTH),
        )
        self.children = [self.tags]
        self._watch(self.tags)

    def _controls(self) -> Iterable[Any]:
        return (self.tags,)

    def _read(self) -> tuple[Any, dict[str, str]]:
        return (list(self.tags.value) or None), {}

    def _fill(self, value: Any) -> None:
        items = value if isinstance(value, (list, tuple)) else [] if value is None else [value]
        shown = [str(item) for item in items if str(item)]
        if self.tags.allowed_tags:
            self.tags.allowed_tags = sorted({*self.tags.allowed_tags, *shown})
        self.tags.value = shown


class JsonInput(FieldInput):
    """A JSON value typed as text; text that does not parse is a problem, not a value."""

    def __init__(self, *, multiline: bool = True, placeholder: str = '{"key": "value"}') -> None:
        super().__init__()
        layout = w.Layout(width=INPUT_WIDTH)
        self.text = (
            w.Textarea(placeholder=placeholder, rows=3, layout=layout)
            if multiline
            else w.Text(placeholder=placeholder, layout=layout)
        )
        self.children = [self.text]
        self._watch(self.text)

    def _controls(self) -> Iterable[Any]:
        return (self.text,)

    def _read(self) -> tuple[Any, dict[str, str]]:
        if not self.text.value.strip():
            return None, {}
        try:
            return json.loads(self.text.value), {}
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            return None, {"": f"invalid JSON: {exc.msg} at {where}"}

    def _fill(self, value: Any) -> None:
        self.text.value = (
            "" if value is None else json.dumps(value, ensure_ascii=False, default=str)
        )


def _number(text: str) -> Any:
    """A float when the text is one; otherwise the text, for the schema to refuse."""
    try:
        return float(text)
    except ValueError:
        return text


class LocationInput(FieldInput):
    """``{lat, lng}`` as two texts; both empty leaves the field out, one empty is sent as
    missing so that the schema says which one is required."""

    def __init__(self) -> None:
        super().__init__()
        half = w.Layout(width="196px")
        self.lat, self.lng = (
            w.Text(placeholder=f"{key} (±{bound:g})", layout=half)
            for key, bound in LOCATION_BOUNDS.items()
        )
        self.children = [w.HBox([self.lat, self.lng])]
        self._watch(self.lat, self.lng)

    def _controls(self) -> Iterable[Any]:
        return (self.lat, self.lng)

    def _read(self) -> tuple[Any, dict[str, str]]:
        parts = {"lat": self.lat.value.strip(), "lng": self.lng.value.strip()}
        if not any(parts.values()):
            return None, {}
        return {key: _number(text) for key, text in parts.items() if text}, {}

    def _fill(self, value: Any) -> None:
        value = value if isinstance(value, Mapping) else {}
        for key, text in (("lat", self.lat), ("lng", self.lng)):
            text.value = "" if value.get(key) is None else str(value[key])


class TimeInput(FieldInput):
    """A time as ISO 8601 text with its offset; the hint shows it in UTC once it parses."""

    def __init__(self, field: Field) -> None:
        super().__init__()
        self.text = w.Text(
            placeholder=PLACEHOLDERS.get(field.name, ""), layout=w.Layout(width=INPUT_WIDTH)
        )
        self.hint = w.HTML()
        self.children = [self.text, self.hint]
        self._watch(self.text)
        self.observe(self._show_utc, names="value")

    def _controls(self) -> Iterable[Any]:
        return (self.text,)

    def _read(self) -> tuple[Any, dict[str, str]]:
        return (self.text.value.strip() or None), {}

    def _fill(self, value: Any) -> None:
        if value is None or isinstance(value, str):
            self.text.value = value or ""
            return
        try:
            self.text.value = format_time(parse_time(value))
        except ValueError:
            self.text.value = str(value)

    def _show_utc(self, change: dict[str, Any]) -> None:
        try:
            utc = format_time(parse_time(change["new"]))
        except (ValueError, TypeError):
            self.hint.value = ""
            return
        self.hint.value = colored(f"= {utc} (UTC)", MUTED_COLOR)


class SubRow(w.HBox):  # type: ignore[misc]
    """A compact labelled input inside a group (an attachment), its error beneath it."""

    def __init__(self, name: str, control: FieldInput, doc: str = "") -> None:
        self.label = w.HTML(
            f"<div style='text-align:right;padding-right:8px' title='{html.escape(doc)}'>"
            f"{html.escape(name)}</div>",
            layout=w.Layout(width="90px", flex="0 0 auto"),
        )
        self.control = control
        self.error = w.HTML(layout=w.Layout(margin="0 0 0 4px"))
        self.error.add_class("feedkit-error")
        super().__init__(
            [self.label, w.VBox([control, self.error])],
            layout=w.Layout(align_items="flex-start"),
        )
        self.add_class(f"feedkit-sub-{name}")

    def show(self, messages: Sequence[str]) -> None:
        self.error.value = error_html(messages)


def _narrow(control: FieldInput) -> FieldInput:
    for child in control._controls():
        child.layout.width = "280px"
    return control


class AttachmentItem(FieldInput):
    """One attachment: a string input per attachment field, custom as JSON, and Remove."""

    def __init__(self) -> None:
        super().__init__(
            layout=w.Layout(border="1px solid #d0d0d0", padding="4px", margin="0 0 4px 0")
        )
        self.title = w.HTML()
        self.bn_remove = w.Button(
            description="Remove", icon="trash", layout=w.Layout(width="100px")
        )
        self.rows: dict[str, SubRow] = {}
        for af in ATTACHMENT_FIELDS:
            control: FieldInput
            if af.kind is Kind.OBJECT:
                control = JsonInput(multiline=False)
            elif af.name == "type":
                control = StringInput(af, suggestions=ATTACHMENT_TYPES)
            else:
                control = StringInput(af)
            self.rows[af.name] = SubRow(af.name, _narrow(control), af.doc)
            self._watch(control, names=["value", "problems"])
        self.error = w.HTML()
        self.children = [
            w.HBox([self.title, self.bn_remove], layout=w.Layout(justify_content="space-between")),
            *self.rows.values(),
            self.error,
        ]
        self.add_class("feedkit-attachment")

    def _controls(self) -> Iterable[Any]:
        return (self.bn_remove, *(row.control for row in self.rows.values()))

    def _read(self) -> tuple[Any, dict[str, str]]:
        value = {n: r.control.value for n, r in self.rows.items() if r.control.value is not None}
        problems = {
            f".{name}{sub}": message
            for name, row in self.rows.items()
            for sub, message in row.control.problems.items()
        }
        return value, problems

    def fill(self, value: Any) -> None:
        super().fill({} if value is None else value)

    def _fill(self, value: Any) -> None:
        value = value if isinstance(value, Mapping) else {}
        for name, row in self.rows.items():
            row.control.fill(value.get(name))

    def show_errors(self, errors: Mapping[str, str]) -> dict[str, str]:
        by_name: dict[str, list[str]] = {name: [] for name in self.rows}
        rest: dict[str, str] = {}
        for sub, message in errors.items():
            name, deeper = split_path(sub[1:]) if sub.startswith(".") else ("", "")
            if name in by_name:
                by_name[name].append(f"{name}{deeper}: {message}" if deeper else message)
            else:
                rest[sub] = message
        for name, messages in by_name.items():
            self.rows[name].show(messages)
        self.error.value = error_html([f"{k}: {v}" if k else v for k, v in rest.items()])
        return {}


class AttachmentsInput(FieldInput):
    """A list of attachments with Add and Remove; error paths ``[i].url`` reach row ``i``."""

    def __init__(self) -> None:
        super().__init__(layout=w.Layout(width=INPUT_WIDTH))
        self.items: list[AttachmentItem] = []
        self.box = w.VBox()
        self.bn_add = w.Button(description="Add attachment", icon="plus")
        self.children = [self.box, self.bn_add]
        self.bn_add.on_click(lambda _button: self.add())

    def add(self, value: Any = None) -> AttachmentItem:
        item = AttachmentItem()
        item.fill(value)
        item.disabled = self.disabled
        item.observe(self._changed, names=["value", "problems"])
        item.bn_remove.on_click(lambda _button: self.remove(item))
        self.items.append(item)
        self._relayout()
        self._changed()
        return item

    def remove(self, item: AttachmentItem) -> None:
        self.items.remove(item)
        self._relayout()
        self._changed()

    def _relayout(self) -> None:
        for i, item in enumerate(self.items):
            item.title.value = f"<b>attachment {i + 1}</b>"
        self.box.children = list(self.items)

    def _controls(self) -> Iterable[Any]:
        return (self.bn_add, *self.items)

    def _read(self) -> tuple[Any, dict[str, str]]:
        value = [item.value for item in self.items] or None
        problems = {
            f"[{i}]{sub}": message
            for i, item in enumerate(self.items)
            for sub, message in item.problems.items()
        }
        return value, problems

    def _fill(self, value: Any) -> None:
        for item in self.items:
            item.unobserve(self._changed, names=["value", "problems"])
        self.items = []
        for entry in value if isinstance(value, (list, tuple)) else []:
            self.add(entry)
        self._relayout()

    def show_errors(self, errors: Mapping[str, str]) -> dict[str, str]:
        per_item: list[dict[str, str]] = [{} for _ in self.items]
        rest: dict[str, str] = {}
        for sub, message in errors.items():
            found = re.match(r"\[(\d+)\]", sub)
            if found and int(found.group(1)) < len(self.items):
                per_item[int(found.group(1))][sub[found.end() :]] = message
            else:
                rest[sub] = message
        for item, item_errors in zip(self.items, per_item, strict=True):
            item.show_errors(item_errors)
        return rest


def input_for(field: Field, *, suggestions: Sequence[str] = ()) -> FieldInput:
    """The input for one activity field, chosen by its kind."""
    if field.kind is Kind.STRING:
        return StringInput(field, multiline=field.name == "text", suggestions=suggestions)
    if field.kind is Kind.STRING_LIST:
        return TagsField(placeholder=PLACEHOLDERS.get(field.name, "type, then Enter"))
    if field.kind is Kind.CHOICE:
        return ChoiceInput(field)
    if field.kind is Kind.OBJECT:
        return JsonInput()
    if field.kind is Kind.LOCATION:
        return LocationInput()
    if field.kind is Kind.TIME:
        return TimeInput(field)
    if field.kind is Kind.ATTACHMENTS:
        return AttachmentsInput()
    raise AssertionError(field.kind)  # pragma: no cover


def label_html(text: str, doc: str = "", required: bool = False) -> str:
    star = colored(" *", ERROR_COLOR) if required else ""
    return (
        f"<div style='text-align:right;padding-right:10px' title='{html.escape(doc)}'>"
        f"<b>{html.escape(text)}</b>{star}</div>"
    )


class FieldRow(w.HBox):  # type: ignore[misc]
    """A label, an input and, to its right in red, the field's errors."""

    def __init__(self, name: str, control: FieldInput, label: Any = None) -> None:
        field = FIELDS.get(name)
        self.name = name
        self.label = label or w.HTML(
            label_html(name, field.doc if field else "", bool(field and field.required))
        )
        self.label.layout.width = LABEL_WIDTH
        self.label.layout.flex = "0 0 auto"
        self.control = control
        control.layout.flex = "0 0 auto"  # a long error wraps; it never squeezes the input
        self.error = w.HTML(layout=w.Layout(flex="1 1 0", min_width="200px", margin="0 0 0 8px"))
        self.error.add_class("feedkit-error")
        self.touched = False
        super().__init__(
            [self.label, control, self.error], layout=w.Layout(align_items="flex-start")
        )
        self.add_class(f"feedkit-field-{name}")

    def show(self, errors: Mapping[str, str]) -> None:
        """Show ``errors`` (sub-path -> message) after the input has had its pick of them."""
        rest = self.control.show_errors(errors)
        self.error.value = error_html(
            [f"{self.name}{sub}: {message}" if sub else message for sub, message in rest.items()]
        )


T = TypeVar("T")


def send(
    button: Any, call: Callable[[], T], refused: Callable[[Any, str], None], not_done: str
) -> T | None:
    """``call()`` with ``button`` disabled meanwhile; a refusal (client-side validation, the
    server's answer, or no answer) goes to ``refused(fields, text)`` and gives None."""
    button.disabled = True
    try:
        return call()
    except ValidationError as exc:
        refused(exc.fields, str(exc))
    except APIError as exc:
        refused(exc.exception_fields, f"The server refused it ({exc.status}): {exc.message}")
    except FeedkitError as exc:
        refused({}, f"{not_done}: {exc}")
    finally:
        button.disabled = False
    return None
