"""Notebook forms: a new activity, and a partial update of a stored one.

Both are thin adapters over the library: fields, their order, help and checks come from
:mod:`feedkit.schema`, every request goes through the injected :class:`feedkit.Client` (the
embedded default or a remote server alike), colours follow JupyterLab's theme, and everything
a person does with the mouse a program can do with ``value``, ``errors``, ``submit()`` and
``reset()``::

    import feedkit
    from feedkit.widgets import ActivityForm, PartialUpdateForm

    client = feedkit.connect()
    form = ActivityForm(client)
    form.on_submitted(lambda activity: print("stored", activity.id))
    form                                   # shows the form in JupyterLab
    PartialUpdateForm(client, "some-activity-id")
"""

from __future__ import annotations

from feedkit.widgets.activity_form import ActivityForm
from feedkit.widgets.partial_form import PartialUpdateForm

__all__ = ["ActivityForm", "PartialUpdateForm"]
