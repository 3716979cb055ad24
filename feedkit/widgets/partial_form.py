"""PartialUpdateForm: load an activity, pick what to set and unset, preview the PATCH, send it.

::

    >>> import feedkit
    >>> from feedkit.widgets import PartialUpdateForm
    >>> client = feedkit.connect(":memory:")
    >>> stored = client.add_activity(
    ...     type="post", feeds=["user:a"], user_id="a", custom={"color": "blue"}
    ... )
    >>> form = PartialUpdateForm(client, stored.id)
    >>> form.value = {"set": {"custom.mood": "happy"}, "unset": ["custom.color"]}
    >>> form.preview
    {'set': {'custom.mood': 'happy'}, 'unset': ['custom.color']}
    >>> form.submit().custom
    {'mood': 'happy'}
    >>> sorted(form.changes)
    ['custom.color', 'custom.mood']
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import partial
from typing import Any

import ipywidgets as w
import traitlets as tr

from feedkit.client import Client, wire
from feedkit.errors import FeedkitError
from feedkit.results import Activity, request_fields
from feedkit.schema import (
    ACTIVITY_FIELDS,
    PARTIAL_UNSET_FIELDS,
    Reason,
    apply_partial,
    validate_activity,
    validate_partial,
)
from feedkit.widgets._fields import (
    FieldInput,
    FieldRow,
    JsonInput,
    TagsField,
    input_for,
    send,
    split_path,
)
from feedkit.widgets._look import (
    BUTTON_WIDTH,
    INPUT_WIDTH,
    LABEL_WIDTH,
    PATH_VALUE_WIDTH,
    PATH_WIDTH,
    code_html,
    error_html,
    heading_html,
    help_html,
    label_html,
    ok_html,
    section_html,
)
from feedkit.widgets._views import (
    STAMPS,
    changes_table,
    diff,
    fields_table,
    flat_view,
    flatten,
    stored_fields,
)

READ_ONLY = tuple(f.name for f in ACTIVITY_FIELDS if not f.settable) + STAMPS

__all__ = ["PartialUpdateForm"]


class CustomPathRow(w.VBox):  # type: ignore[misc]
    """One ``custom.<dotted path>`` to set: the path, its JSON value, Remove; its error below."""

    def __init__(self, options: list[str]) -> None:
        self.w_path = w.Combobox(
            options=options,
            ensure_option=False,
            placeholder="dotted.path",
            layout=w.Layout(width=PATH_WIDTH),
        )
        self.w_value = JsonInput(multiline=False, placeholder='JSON: "happy", 3, {"a": 1}')
        self.w_value.text.layout.width = PATH_VALUE_WIDTH
        self.bn_remove = w.Button(
            icon="trash", tooltip="Remove", layout=w.Layout(width=BUTTON_WIDTH)
        )
        self.error = w.HTML()
        self.error.add_class("feedkit-error")
        super().__init__(
            [w.HBox([self.w_path, self.w_value, self.bn_remove]), self.error],
            layout=w.Layout(width=INPUT_WIDTH),
        )

    @property
    def key(self) -> str:
        return "custom." + str(self.w_path.value).strip()

    @property
    def empty(self) -> bool:
        return not self.w_path.value.strip() and not self.w_value.text.value.strip()


class CustomPathsInput(FieldInput):
    """``custom.<path>`` keys to set, each with a JSON value; paths of the loaded activity's
    custom are offered, and picking one fills in its current value."""

    def __init__(self) -> None:
        super().__init__(layout=w.Layout(width=INPUT_WIDTH))
        self.current: Mapping[str, Any] = {}
        self.rows: list[CustomPathRow] = []
        self.box = w.VBox()
        self.bn_add = w.Button(description="Add custom key", icon="plus")
        self.error = w.HTML()
        self.children = [self.box, self.bn_add, self.error]
        self.bn_add.on_click(lambda _button: self.add())

    def set_current(self, custom: Mapping[str, Any]) -> None:
        self.current = custom
        for row in self.rows:
            row.w_path.options = flatten(custom)

    def add(self, path: str = "", value: Any = None) -> CustomPathRow:
        row = CustomPathRow(flatten(self.current))
        row.w_path.value = path
        row.w_value.fill(value)
        row.w_path.observe(partial(self._path_picked, row), names="value")
        row.w_value.observe(self._changed, names=["value", "problems"])
        row.bn_remove.on_click(lambda _button: self.remove(row))
        self.rows.append(row)
        self.box.children = list(self.rows)
        self._changed()
        return row

    def remove(self, row: CustomPathRow) -> None:
        self.rows.remove(row)
        self.box.children = list(self.rows)
        self._changed()

    def _path_picked(self, row: CustomPathRow, _change: Any) -> None:
        value: Any = self.current
        for part in row.w_path.value.strip().split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if value is not None and not row.w_value.text.value.strip():
            row.w_value.fill(value)
        self._changed()

    def _controls(self) -> list[Any]:
        return [self.bn_add]

    def _read(self) -> tuple[Any, dict[str, str]]:
        value: dict[str, Any] = {}
        problems: dict[str, str] = {}
        for row in self.rows:
            if row.empty:
                continue
            if row.w_value.problems:
                problems[row.key] = row.w_value.problems[""]
            elif row.w_value.value is None:
                problems[row.key] = "needs a JSON value (to remove a key, unset it)"
            else:
                value[row.key] = row.w_value.value
        return value or None, problems

    def _fill(self, value: Any) -> None:
        self.rows = []
        self.box.children = []
        for key, item in (value or {}).items():
            self.add(key.removeprefix("custom."), item)

    def show_errors(self, errors: Mapping[str, str]) -> dict[str, str]:
        rest = dict(errors)
        for row in self.rows:
            message = rest.pop(row.key, None)
            row.error.value = error_html([message] if message else [])
        self.error.value = error_html([f"{k}: {v}" for k, v in rest.items()])
        return {}


class PartialUpdateForm(w.VBox):  # type: ignore[misc]
    """Change some fields of a stored activity with one partial update (PATCH).

    ``load(id)`` shows the activity; ``value`` (get and set) is ``{"set": {...}, "unset":
    [...]}``; ``preview`` is the PATCH body exactly as the client sends it; ``errors`` maps
    ``set.<field>`` / ``unset.<field>`` paths (and fields of the result) to messages;
    ``submit()`` is the Submit button; ``result`` is the activity after the change and
    ``changes`` maps each changed path to ``(before, after)``.

    Each settable field shows its current value in its input, in the schema's order; editing
    an input ticks its field. The fields no partial update can change are shown once, above.
    """

    activity = tr.Instance(Activity, allow_none=True)
    errors = tr.Dict()
    result = tr.Instance(Activity, allow_none=True)
    changes = tr.Dict()

    def __init__(self, client: Client, activity_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = client
        self._current: dict[str, Any] = {}
        self._server_errors: dict[str, str] = {}
        self._filling = False
        self._init_form()
        self._init_controls()
        self._validate()
        if activity_id is not None:
            self.load(activity_id)

    def _init_form(self) -> None:
        self.heading = w.HTML(heading_html("Change an activity"))
        self.w_activity_id = w.Text(placeholder="activity id", layout=w.Layout(width=INPUT_WIDTH))
        self.bn_load = w.Button(description="Load", icon="download")
        self.id_label = w.HTML(label_html("activity id"), layout=w.Layout(width=LABEL_WIDTH))
        self.activity_view = w.HTML()
        self.changes_view = w.HTML()
        settable = [f for f in ACTIVITY_FIELDS if f.settable]
        self.cb_set = {
            f.name: w.Checkbox(description=f.name, indent=False, tooltip=f"set {f.name}: {f.doc}")
            for f in settable
        }
        self.w_set = {f.name: input_for(f) for f in settable}
        self.set_rows = {
            name: FieldRow(name, control, label=self.cb_set[name])
            for name, control in self.w_set.items()
        }
        for f in settable:  # nothing is required of a partial update
            self.set_rows[f.name].help.value = help_html(f.doc)
        self.w_custom_paths = CustomPathsInput()
        self.w_unset = TagsField(placeholder="field or custom.path (Enter or a comma adds it)")
        self.custom_row = FieldRow(
            "custom-paths",
            self.w_custom_paths,
            label=w.HTML(label_html("custom.<path>")),
            doc="Set one key inside custom, leaving the others as they are.",
        )
        self.unset_row = FieldRow(
            "unset",
            self.w_unset,
            label=w.HTML(label_html("unset")),
            doc=_unset_help({}),
        )
        self.preview_view = w.HTML()
        self.bn_submit = w.Button(description="Submit", button_style="primary", icon="paper-plane")
        self.message = w.HTML()
        for name, widget in (
            ("activity-id", self.w_activity_id),
            ("load", self.bn_load),
            ("activity", self.activity_view),
            ("changes", self.changes_view),
            ("preview", self.preview_view),
            ("submit", self.bn_submit),
            ("message", self.message),
        ):
            widget.add_class(f"feedkit-{name}")
        self.add_class("feedkit-partial-form")
        self.add_class("feedkit-form")
        self.children = [
            self.heading,
            w.HBox([self.id_label, self.w_activity_id, self.bn_load]),
            self.activity_view,
            w.HTML(section_html("Set: edit a field (or tick it) to change it")),
            *self.set_rows.values(),
            self.custom_row,
            w.HTML(section_html("Unset")),
            self.unset_row,
            w.HTML(section_html("PATCH body")),
            self.preview_view,
            w.HBox([self.bn_submit, self.message], layout=w.Layout(align_items="center")),
            self.changes_view,
        ]

    def _init_controls(self) -> None:
        self.bn_load.on_click(lambda _button: self.load(self.w_activity_id.value.strip()))
        for name, control in self.w_set.items():
            self.cb_set[name].observe(partial(self._on_check, name), names="value")
            control.observe(partial(self._on_input, name), names=["value", "problems"])
        self.w_custom_paths.observe(self._on_change, names=["value", "problems"])
        self.w_unset.observe(partial(self._on_input, "unset"), names="value")
        self.bn_submit.on_click(lambda _button: self.submit())

    # -- state ------------------------------------------------------------------------------

    @property
    def value(self) -> dict[str, Any]:
        """``{"set": {field or custom.path: value}, "unset": [field or custom.path]}``."""
        set_ = {name: self.w_set[name].value for name, box in self.cb_set.items() if box.value}
        set_.update(self.w_custom_paths.value or {})
        return {"set": set_, "unset": list(self.w_unset.value or [])}

    @value.setter
    def value(self, change: Mapping[str, Any]) -> None:
        unknown = sorted(set(change) - {"set", "unset"})
        if unknown:
            raise ValueError(f"a partial update has only 'set' and 'unset', not {unknown}")
        set_ = dict(change.get("set") or {})
        unset = list(change.get("unset") or [])
        refused = [
            e
            for e in validate_partial(set_, unset)
            if e.code in (Reason.NOT_SETTABLE, Reason.NOT_UNSETTABLE)
        ]
        if refused:
            raise ValueError("; ".join(str(e) for e in refused))
        self._filling = True
        try:
            for name, control in self.w_set.items():
                self.cb_set[name].value = name in set_
                control.fill(set_[name] if name in set_ else self._current.get(name))
            self.w_custom_paths.fill({k: v for k, v in set_.items() if k.startswith("custom.")})
            self.w_unset.fill(unset)
        finally:
            self._filling = False
        self._server_errors = {}
        self._validate()

    @property
    def preview(self) -> dict[str, Any]:
        """The PATCH body as the client sends it (empty parts and nulls left out)."""
        value = self.value
        body: dict[str, Any] = wire({"set": value["set"] or None, "unset": value["unset"] or None})
        return body

    # -- behaviour --------------------------------------------------------------------------

    def load(self, activity_id: str) -> Activity | None:
        """Fetch the activity and show its current values; clears any pending change."""
        self.w_activity_id.value = activity_id
        try:
            activity = self.client.get_activity(activity_id)
        except FeedkitError as exc:
            self.activity = None
            self._current = {}
            self.activity_view.value = ""
            self.changes_view.value = ""
            self._say(False, f"Could not load {activity_id!r}: {exc}")
            return None
        self._show_activity(activity)
        self.changes_view.value = ""
        self._say(True, f"Loaded activity {activity_id}")
        return activity

    def reset(self) -> None:
        """Drop the pending change: every input shows the loaded activity's value again."""
        self.value = {"set": {}, "unset": []}

    def _show_activity(self, activity: Activity) -> None:
        self.activity = activity
        self._current = request_fields(activity)
        custom = self._current.get("custom") or {}
        self.w_custom_paths.set_current(custom)
        self.unset_row.help.value = help_html(_unset_help(custom))
        self.value = {"set": {}, "unset": []}
        shown = stored_fields(activity)
        self.activity_view.value = fields_table({k: shown[k] for k in READ_ONLY if k in shown})

    def _on_check(self, name: str, change: dict[str, Any]) -> None:
        if not change["new"] and not self._filling:
            self._filling = True  # untick: show the current value again
            try:
                self.w_set[name].fill(self._current.get(name))
            finally:
                self._filling = False
        self._on_change()

    def _on_input(self, name: str, _change: Any) -> None:
        if self._filling:
            return
        self._commit_tags(but=name)
        if name in self.cb_set and not self.cb_set[name].value:
            self.cb_set[name].value = True  # editing a field means setting it
        self._on_change()

    def _tag_inputs(self) -> dict[str, TagsField]:
        inputs = {"unset": self.w_unset, **self.w_set}
        return {name: c for name, c in inputs.items() if isinstance(c, TagsField)}

    def _commit_tags(self, but: str = "") -> None:
        """Another field is being edited, or the form sent: typed tags are done."""
        for name, control in self._tag_inputs().items():
            if name != but:
                control.commit()

    def _on_change(self, _change: Any = None) -> None:
        if self._filling:
            return
        self._server_errors = {}
        self._validate()

    def _validate(self) -> None:
        """Check the change as the server will: the partial rules, then the merged result."""
        value = self.value
        errors = {
            f"set.{name}{sub}": message
            for name, control in self.w_set.items()
            if self.cb_set[name].value
            for sub, message in control.problems.items()
        }
        errors.update({f"set.{k}": m for k, m in self.w_custom_paths.problems.items()})
        found = validate_partial(value["set"], value["unset"])
        if not found and not errors and self._current:
            merged = apply_partial(self._current, value["set"], value["unset"])
            found = validate_activity(merged, strict=False)
        for error in found:
            errors.setdefault(error.field, error.message)
        for path, message in self._server_errors.items():
            errors.setdefault(path, message)
        self.errors = errors
        self.preview_view.value = code_html(json.dumps(self.preview, indent=2, ensure_ascii=False))
        self._say(False, "; ".join(self._show()))

    def _show(self) -> list[str]:
        """Route each error to its row; return those that belong to no row."""
        per_row: dict[str, dict[str, str]] = {name: {} for name in self.set_rows}
        custom: dict[str, str] = {}
        unset: dict[str, str] = {}
        unplaced: list[str] = []
        for path, message in self.errors.items():
            if path.startswith("unset."):
                unset[path] = message
                continue
            rest = path.removeprefix("set.")
            name, sub = split_path(rest)
            if rest.startswith("custom.") and any(r.key == rest for r in self.w_custom_paths.rows):
                custom[rest] = message
            elif name in per_row:
                per_row[name][sub] = message
            else:
                unplaced.append(f"{path}: {message}")
        for name, row in self.set_rows.items():
            row.show(per_row[name])
        self.custom_row.show(custom)
        self.unset_row.error.value = error_html(list(unset.values()))
        return unplaced

    def _say(self, ok: bool, text: str) -> None:
        self.message.value = (ok_html(text) if ok else error_html([text])) if text else ""

    def submit(self) -> Activity | None:
        """Send the partial update through the client; show the result, changes highlighted.

        Exactly what the Submit button does. Nothing is sent without a loaded activity, with
        nothing to change, or while anything is invalid. Returns the activity after the
        change (also in ``result``), or ``None``.
        """
        self._commit_tags()
        self._server_errors = {}
        self._validate()
        if self.activity is None:
            self._say(False, "Not sent: load an activity first")
            return None
        if self.errors:
            self._say(False, f"Not sent: fix {len(self.errors)} error(s) first")
            return None
        if not self.preview:
            self._say(False, "Not sent: edit a field to set, or name one to unset")
            return None
        value = self.value
        before = flat_view(self._current)
        activity_id = self.activity["id"]
        after = send(
            self.bn_submit,
            lambda: self.client.update_activity_partial(
                activity_id, set=value["set"] or None, unset=value["unset"] or None
            ),
            self._refused,
            "Not changed",
        )
        if after is None:
            return None
        changes = diff(before, flat_view(request_fields(after)))
        self.result = after
        self.changes = changes
        self._show_activity(after)
        self.changes_view.value = changes_table(changes)
        done = ", ".join(changes) if changes else "nothing (the values were already so)"
        self._say(True, f"Changed {done}")
        return after

    def _refused(self, fields: Mapping[str, str], text: str) -> None:
        self._server_errors = dict(fields)
        self._validate()
        self._say(False, "; ".join([text, *self._show()]))


def _unset_help(custom: Mapping[str, Any]) -> str:
    """Which names an unset takes: the unsettable fields, and this activity's custom paths."""
    paths = [f"custom.{p}" for p in flatten(custom, leaves_only=False)] or ["custom.<path>"]
    return f"Fields to remove: {', '.join(sorted(PARTIAL_UNSET_FIELDS))}; {', '.join(paths)}."
