"""The field widgets both forms are made of: one input per schema ``Kind`` and a labelled row.

Every input is a :class:`FieldInput`: its ``value`` traitlet holds the field's request value
(``None`` when the field is left out) and its ``problems`` traitlet what could not even become a
value (JSON that does not parse), as sub-path -> message. Limits are never checked here: the
forms run :func:`feedkit.schema.validate_activity` / ``validate_partial`` on the values, and
route each ``FieldError.field`` path back to its row with :func:`split_path`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import ipywidgets as w
import traitlets as tr

from feedkit.display import RULE_COLOR
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
from feedkit.widgets._look import (
    BUTTON_WIDTH,
    COLUMN_WIDTH,
    HALF_INPUT_WIDTH,
    INPUT_WIDTH,
    LABEL_WIDTH,
    NESTED_INPUT_WIDTH,
    PAIR_LABEL_PX,
    SUB_LABEL_PX,
    error_html,
    help_html,
    label_html,
    px,
    text_html,
)

# Suggestions, not limits: any other type is accepted, as the protocol does.
COMMON_TYPES = ("post", "video", "image", "share", "comment", "like")
ATTACHMENT_TYPES = ("image", "video", "file", "url")
TAGS_HINT = "Enter or a comma adds it"
PLACEHOLDERS = {
    "feeds": f"group:id ({TAGS_HINT})",
    "mentioned_user_ids": f"user id ({TAGS_HINT})",
    "filter_tags": f"tag ({TAGS_HINT})",
    "interest_tags": f"tag ({TAGS_HINT})",
    "expires_at": "2030-01-01T00:00:00Z or +02:00",
}
_ROOT = re.compile(r"[^.\[]*")
_SEPARATOR = re.compile(r"[,\n]")  # between tags: a comma, or Enter


def split_path(path: str) -> tuple[str, str]:
    """``'attachments[1].image_url'`` -> ``('attachments', '[1].image_url')``."""
    root = _ROOT.match(path)
    name = root.group() if root else ""
    return name, path[len(name) :]


def field_help(field: Field) -> str:
    """The visible line of help under a field: its schema doc, and whether it is required."""
    return f"Required. {field.doc}" if field.required else field.doc


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
            options=list(field.choices), value=field.default, layout=w.Layout(width=INPUT_WIDTH)
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
    """A list of strings as tags; an empty list leaves the field out.

    A tag is added by Enter or a comma (``a, b,`` adds two), when another field of the form
    is edited, and by its Submit; text still in the box counts as a tag all along (ipywidgets
    sends no blur event, so the box's text is part of ``value`` from the first key). Each tag
    is a button that removes it.

    Why not ipywidgets' TagsInput: in JupyterLab 4 the notebook takes its Enter key, so a tag
    was added only when the box lost focus. Why a one-line Textarea, not a Text: a Text
    reports Enter as a message that can overtake the value still being sent (the tag lost its
    last letters); in a Textarea, Enter is a newline in the value itself, in order.
    """

    def __init__(self, *, placeholder: str = f"type ({TAGS_HINT})") -> None:
        super().__init__(layout=w.Layout(width=INPUT_WIDTH))
        self.tags: list[str] = []
        self.entry = w.Textarea(
            placeholder=placeholder,
            rows=1,
            continuous_update=True,
            layout=w.Layout(width=INPUT_WIDTH),
        )
        self.chips = w.HBox(layout=w.Layout(flex_flow="row wrap", width=INPUT_WIDTH))
        self.chips.add_class("feedkit-tags")
        self.children = [self.chips, self.entry]
        self.entry.observe(self._typed, names="value")
        self._show_chips()

    @property
    def pending(self) -> list[str]:
        """What is still in the box, as the tags it would add."""
        return [part.strip() for part in _SEPARATOR.split(self.entry.value) if part.strip()]

    def commit(self) -> None:
        """Turn what is in the box into tags."""
        if self.entry.value:
            self._add(self.pending, rest="")

    def remove(self, tag: str) -> None:
        if tag in self.tags:
            self.tags = [t for t in self.tags if t != tag]
            self._show_chips()
            self._changed()

    def _typed(self, change: dict[str, Any]) -> None:
        if self._busy:
            return
        *done, rest = _SEPARATOR.split(change["new"])
        if done:
            self._add([p.strip() for p in done if p.strip()], rest=rest.lstrip())
        else:
            self._changed()

    def _add(self, items: Sequence[str], rest: str) -> None:
        self.tags = [*self.tags, *(t for t in dict.fromkeys(items) if t not in self.tags)]
        self._busy = True
        try:
            self.entry.value = rest
        finally:
            self._busy = False
        self._show_chips()
        self._changed()

    def _show_chips(self) -> None:
        chips = []
        for tag in self.tags:
            chip = w.Button(
                description=f"{tag} ✕",
                tooltip=f"remove {tag}",
                disabled=self.disabled,
                layout=w.Layout(width="auto", margin="0 4px 4px 0"),
            )
            chip.add_class("feedkit-tag")
            chip.on_click(lambda _button, tag=tag: self.remove(tag))
            chips.append(chip)
        self.chips.children = chips
        self.chips.layout.display = "flex" if chips else "none"

    def _controls(self) -> Iterable[Any]:
        return (self.entry, *self.chips.children)

    def _read(self) -> tuple[Any, dict[str, str]]:
        pending = [t for t in dict.fromkeys(self.pending) if t not in self.tags]
        return ([*self.tags, *pending] or None), {}

    def _fill(self, value: Any) -> None:
        items = value if isinstance(value, (list, tuple)) else [] if value is None else [value]
        self.tags = list(dict.fromkeys(str(item) for item in items if str(item)))
        self.entry.value = ""
        self._show_chips()


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
    """``{lat, lng}`` as two labelled texts; both empty leaves the field out, one empty is sent
    as missing so that the schema says which one is required."""

    def __init__(self) -> None:
        super().__init__()
        self.lat, self.lng = (
            w.Text(placeholder=f"±{bound:g}", layout=w.Layout(width=HALF_INPUT_WIDTH))
            for bound in LOCATION_BOUNDS.values()
        )
        parts: list[Any] = []
        for key, text in (("lat", self.lat), ("lng", self.lng)):
            label = w.HTML(text_html(key), layout=w.Layout(width=px(PAIR_LABEL_PX)))
            label.add_class(f"feedkit-{key}-label")
            parts += [label, text]
        self.children = [w.HBox(parts, layout=w.Layout(align_items="center"))]
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
        self.hint.value = text_html(f"= {utc} (UTC)", muted=True)


class SubRow(w.HBox):  # type: ignore[misc]
    """A compact labelled input inside a group (an attachment), its error beneath it."""

    def __init__(self, name: str, control: FieldInput, doc: str = "") -> None:
        self.label = w.HTML(
            label_html(name, doc), layout=w.Layout(width=px(SUB_LABEL_PX), flex="0 0 auto")
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
        child.layout.width = NESTED_INPUT_WIDTH
    return control


class AttachmentItem(FieldInput):
    """One attachment: a string input per attachment field, custom as JSON, and Remove."""

    def __init__(self) -> None:
        super().__init__(
            layout=w.Layout(border=f"1px solid {RULE_COLOR}", padding="4px", margin="0 0 4px 0")
        )
        self.title = w.HTML()
        self.bn_remove = w.Button(
            icon="trash", tooltip="Remove this attachment", layout=w.Layout(width=BUTTON_WIDTH)
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
            item.title.value = text_html(f"attachment {i + 1}", bold=True)
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
        return TagsField(placeholder=PLACEHOLDERS.get(field.name, f"type ({TAGS_HINT})"))
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


class FieldRow(w.HBox):  # type: ignore[misc]
    """A label and, under the input, one line of help and the field's errors."""

    def __init__(self, name: str, control: FieldInput, label: Any = None, doc: str = "") -> None:
        field = FIELDS.get(name)
        self.name = name
        self.label = label or w.HTML(
            label_html(name, field.doc if field else doc, bool(field and field.required))
        )
        self.label.layout.width = LABEL_WIDTH
        self.label.layout.flex = "0 0 auto"
        self.control = control
        control.layout.width = INPUT_WIDTH
        control.layout.overflow = "visible"  # ipywidgets' 2px margins must not clip a border
        self.help = w.HTML(help_html(field_help(field) if field else doc))
        self.help.add_class("feedkit-help")
        self.error = w.HTML()
        self.error.add_class("feedkit-error")
        self.touched = False
        self.column = w.VBox(
            [control, self.help, self.error],
            layout=w.Layout(width=COLUMN_WIDTH, overflow="visible"),
        )
        super().__init__([self.label, self.column], layout=w.Layout(align_items="flex-start"))
        self.add_class(f"feedkit-field-{name}")

    def messages(self, errors: Mapping[str, str]) -> list[str]:
        """Let the input show what it can next to its parts; the rest, as lines for the row."""
        rest = self.control.show_errors(errors)
        return [f"{self.name}{sub}: {message}" if sub else message for sub, message in rest.items()]

    def show(self, errors: Mapping[str, str]) -> None:
        """Show ``errors`` (sub-path -> message) after the input has had its pick of them."""
        self.error.value = error_html(self.messages(errors))


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
