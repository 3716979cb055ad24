"""ActivityForm: a notebook form for a new activity, checked by the schema as it is typed.

::

    >>> import feedkit
    >>> from feedkit.widgets import ActivityForm
    >>> form = ActivityForm(feedkit.connect(":memory:"))
    >>> form.value = {"type": "post", "feeds": ["user:alice"], "user_id": "alice", "text": "hi"}
    >>> form.errors
    {}
    >>> form.submit().text
    'hi'
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import ipywidgets as w
import traitlets as tr

from feedkit.client import Client
from feedkit.results import Activity
from feedkit.schema import ACTIVITY_FIELDS, FIELDS, FieldError, Reason, validate_activity
from feedkit.widgets._fields import (
    COMMON_TYPES,
    FieldInput,
    FieldRow,
    TagsField,
    input_for,
    send,
    split_path,
)
from feedkit.widgets._look import error_html, heading_html, ok_html
from feedkit.widgets._views import activity_table, to_second

__all__ = ["ActivityForm"]

SubmittedCallback = Callable[[Activity], Any]


class ActivityForm(w.VBox):  # type: ignore[misc]
    """Every activity field, validated on each change; Submit sends it through the client.

    ``value`` (get and set) is the request as a dict, ``errors`` maps each failing field path
    (``feeds[0]``, ``location.lat``) to its message, ``submit()`` is the Submit button, and
    ``result`` is the activity the server stored. ``visibility_tag`` is sent only with
    visibility ``tag``; a required field shows its error once touched or after a submit.
    Fields are in the schema's order. After a successful submit the form is locked (a second
    click stores nothing) until **New** or :meth:`reset` clears it for the next activity.
    """

    errors = tr.Dict()
    result = tr.Instance(Activity, allow_none=True)

    def __init__(self, client: Client, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = client
        self._callbacks: list[SubmittedCallback] = []
        self._server_errors: dict[str, str] = {}
        self._schema_errors: list[FieldError] = []
        self._filling = False
        self._init_form()
        self._init_controls()
        self._validate()

    def _init_form(self) -> None:
        self.heading = w.HTML(heading_html("New activity"))
        self.w_id = input_for(FIELDS["id"])
        self.w_type = input_for(FIELDS["type"], suggestions=COMMON_TYPES)
        self.w_user_id = input_for(FIELDS["user_id"])
        self.w_feeds = input_for(FIELDS["feeds"])
        self.w_text = input_for(FIELDS["text"])
        self.w_attachments = input_for(FIELDS["attachments"])
        self.w_custom = input_for(FIELDS["custom"])
        self.w_search_data = input_for(FIELDS["search_data"])
        self.w_filter_tags = input_for(FIELDS["filter_tags"])
        self.w_interest_tags = input_for(FIELDS["interest_tags"])
        self.w_mentioned_user_ids = input_for(FIELDS["mentioned_user_ids"])
        self.w_visibility = input_for(FIELDS["visibility"])
        self.w_visibility_tag = input_for(FIELDS["visibility_tag"])
        self.w_restrict_replies = input_for(FIELDS["restrict_replies"])
        self.w_location = input_for(FIELDS["location"])
        self.w_expires_at = input_for(FIELDS["expires_at"])
        self.w_parent_id = input_for(FIELDS["parent_id"])
        self.w_poll_id = input_for(FIELDS["poll_id"])
        self.inputs: dict[str, FieldInput] = {  # field name -> its w_<name>, in schema order
            f.name: getattr(self, f"w_{f.name}") for f in ACTIVITY_FIELDS
        }
        self.rows = {name: FieldRow(name, control) for name, control in self.inputs.items()}
        self.w_visibility_tag.disabled = True
        self.bn_submit = w.Button(description="Submit", button_style="primary", icon="paper-plane")
        self.bn_new = w.Button(
            description="New",
            icon="plus",
            tooltip="Clear the form for another activity",
            layout=w.Layout(display="none"),
        )
        self.message = w.HTML()
        self.result_view = w.HTML()
        self.bn_submit.add_class("feedkit-submit")
        self.bn_new.add_class("feedkit-new")
        self.message.add_class("feedkit-message")
        self.result_view.add_class("feedkit-result")
        self.add_class("feedkit-activity-form")
        self.add_class("feedkit-form")
        self.children = [
            self.heading,
            *self.rows.values(),
            w.HBox(
                [self.bn_submit, self.bn_new, self.message], layout=w.Layout(align_items="center")
            ),
            self.result_view,
        ]

    def _init_controls(self) -> None:
        for name, control in self.inputs.items():
            control.observe(partial(self._on_input, name), names=["value", "problems"])
        self.w_visibility.observe(self._on_visibility, names="value")
        self.bn_submit.on_click(lambda _button: self.submit())
        self.bn_new.on_click(lambda _button: self.reset())

    # -- state ------------------------------------------------------------------------------

    @property
    def value(self) -> dict[str, Any]:
        """The request the form would send: fields left empty are left out."""
        out = {name: c.value for name, c in self.inputs.items() if c.value is not None}
        if out.get("visibility") != "tag":
            out.pop("visibility_tag", None)
        return out

    @value.setter
    def value(self, request: dict[str, Any]) -> None:
        unknown = sorted(set(request) - set(self.inputs))
        if unknown:
            raise ValueError(f"not activity fields: {', '.join(unknown)}")
        self._filling = True
        try:
            for name, control in self.inputs.items():
                control.fill(request.get(name))
                self.rows[name].touched = name in request
        finally:
            self._filling = False
        self._server_errors = {}
        self._on_visibility()
        self._validate()

    @property
    def locked(self) -> bool:
        """True after a successful submit, until :meth:`reset`."""
        return self.result is not None

    def reset(self) -> None:
        """Clear every field, the errors and the result: ready for a new activity."""
        self.result = None
        self.result_view.value = ""
        self.value = {}
        for row in self.rows.values():
            row.control.disabled = False
        self._on_visibility()
        self.bn_submit.layout.display = None
        self.bn_new.layout.display = "none"
        self._validate()

    def on_submitted(self, callback: SubmittedCallback, remove: bool = False) -> None:
        """Call ``callback(activity)`` after each successful submit (``remove`` to stop)."""
        if remove:
            self._callbacks.remove(callback)
        else:
            self._callbacks.append(callback)

    # -- behaviour --------------------------------------------------------------------------

    def _on_input(self, name: str, _change: Any) -> None:
        if self._filling:
            return
        for other, control in self.inputs.items():  # editing elsewhere: a typed tag is done
            if other != name and isinstance(control, TagsField):
                control.commit()
        self.rows[name].touched = True
        self._server_errors = {
            k: v for k, v in self._server_errors.items() if split_path(k)[0] != name
        }
        self._validate()

    def _on_visibility(self, _change: Any = None) -> None:
        self.w_visibility_tag.disabled = self.w_visibility.value != "tag"

    def _validate(self) -> None:
        """Check the whole request with the schema and show every error at its field."""
        problems = {
            name + sub: message
            for name, control in self.inputs.items()
            for sub, message in control.problems.items()
        }
        self._schema_errors = validate_activity(self.value)
        errors = dict(problems)
        for error in self._schema_errors:
            errors.setdefault(error.field, error.message)
        for path, message in self._server_errors.items():
            errors.setdefault(path, message)
        self.errors = errors
        self._say(False, "; ".join(self._show()))

    def _show(self) -> list[str]:
        """Route each error to its row; return those that belong to no field."""
        hidden = {  # "is required" waits until the field is touched or a submit is tried
            e.field
            for e in self._schema_errors
            if e.code is Reason.REQUIRED and e.field in self.rows and not self.rows[e.field].touched
        }
        per_row: dict[str, dict[str, str]] = {name: {} for name in self.rows}
        unplaced: list[str] = []
        for path, message in self.errors.items():
            name, sub = split_path(path)
            if path in hidden:
                continue
            if name in per_row and not self.inputs[name].disabled:
                per_row[name][sub] = message
            else:
                unplaced.append(f"{path}: {message}" if path else message)
        for name, row in self.rows.items():
            row.show(per_row[name])
        return unplaced

    def _say(self, ok: bool, text: str) -> None:
        self.message.value = (ok_html(text) if ok else error_html([text])) if text else ""

    def submit(self) -> Activity | None:
        """Validate, send through the client and show the stored activity or the refusal.

        Exactly what the Submit button does. Nothing is sent while any field is invalid, nor
        again once stored (see :meth:`reset`). Returns the stored activity (also in
        ``result``), or ``None``.
        """
        if self.result is not None:
            self._say(False, f"Already stored as {self.result.get('id')}: click New for another")
            return None
        for control in self.inputs.values():
            if isinstance(control, TagsField):
                control.commit()
        self._server_errors = {}
        for row in self.rows.values():
            row.touched = True
        self._validate()
        if self.errors:
            fields = ", ".join(sorted({split_path(p)[0] or p for p in self.errors}))
            self._say(False, f"Not sent: {len(self.errors)} error(s) in {fields}")
            return None
        stored = send(
            self.bn_submit,
            lambda: self.client.add_activity(self.value),
            self._refused,
            "Not stored",
        )
        if stored is None:
            return None
        self.result = stored
        created = to_second(stored["created_at"]) if "created_at" in stored else "?"
        self._say(True, f"Stored activity {stored.get('id')} (created {created})")
        self.result_view.value = activity_table(stored)
        for control in self.inputs.values():
            control.disabled = True
        self.bn_submit.layout.display = "none"
        self.bn_new.layout.display = None
        for callback in list(self._callbacks):
            callback(stored)
        return stored

    def _refused(self, fields: dict[str, str], text: str) -> None:
        """Show a refusal: each field's message at its row, the rest beside the button."""
        self._server_errors = dict(fields)
        self._validate()
        unplaced = self._show()
        self._say(False, "; ".join([text, *unplaced]))
        self.result_view.value = ""
