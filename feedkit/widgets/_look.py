"""How the forms look: one width system, and the palette of :mod:`feedkit.display`.

Every width is derived from ``LABEL_PX`` and ``INPUT_PX``, so the inputs of both forms line
up. Colours are JupyterLab's CSS variables (with fallbacks), so light, dark and high-contrast
themes all read: text is always ``TEXT_COLOR`` (or ``MUTED_COLOR`` on the page), and errors,
success and changes are told by a panel and a coloured left border, never by coloured text.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from feedkit.display import (
    ERROR_MARK,
    ERROR_PANEL_COLOR,
    MUTED_COLOR,
    OK_MARK,
    PANEL_COLOR,
    RULE_COLOR,
    TEXT_COLOR,
)

LABEL_PX = 160  # the label column of every row
INPUT_PX = 440  # every input, list and group beside a label
GAP_PX = 8  # between parts of one row
SUB_LABEL_PX = 90  # the label column inside a group (an attachment)
PAIR_LABEL_PX = 32  # "lat", "lng" before their halves
BUTTON_PX = 40  # an icon button (remove)
PATH_PX = 160  # a custom.<path> beside its value


def px(n: int) -> str:
    return f"{n}px"


LABEL_WIDTH = px(LABEL_PX)
INPUT_WIDTH = px(INPUT_PX)
COLUMN_WIDTH = px(INPUT_PX + GAP_PX)  # an input and its help; room for ipywidgets' margins
NESTED_INPUT_WIDTH = px(INPUT_PX - SUB_LABEL_PX - 3 * GAP_PX)
HALF_INPUT_WIDTH = px((INPUT_PX - 2 * PAIR_LABEL_PX - 3 * GAP_PX) // 2)
PATH_WIDTH = px(PATH_PX)
PATH_VALUE_WIDTH = px(INPUT_PX - PATH_PX - BUTTON_PX - 3 * GAP_PX)
BUTTON_WIDTH = px(BUTTON_PX)

_MARKED = "line-height:1.35;padding:3px 8px;margin:2px 0;border-left:3px solid {mark}"


def text_html(text: str, *, muted: bool = False, bold: bool = False) -> str:
    color = MUTED_COLOR if muted else TEXT_COLOR
    weight = ";font-weight:bold" if bold else ""
    return f"<span style='color:{color}{weight}'>{html.escape(text)}</span>"


def error_html(messages: Sequence[str]) -> str:
    """Messages one a line, on the theme's error panel with a red mark; empty for none."""
    if not messages:
        return ""
    lines = "<br>".join(html.escape(m) for m in messages)
    style = _MARKED.format(mark=ERROR_MARK)
    return (
        f"<div class='feedkit-error-text' style='{style};color:{TEXT_COLOR};"
        f"background:{ERROR_PANEL_COLOR}'>{lines}</div>"
    )


def ok_html(text: str) -> str:
    """A success message: the theme's text colour, a green mark."""
    style = _MARKED.format(mark=OK_MARK)
    return f"<div style='{style};color:{TEXT_COLOR}'>{html.escape(text)}</div>"


def help_html(text: str) -> str:
    """The one visible line of help under a field."""
    return (
        f"<div style='color:{MUTED_COLOR};line-height:1.3;padding:0 2px 4px'>"
        f"{html.escape(text)}</div>"
    )


def label_html(text: str, doc: str = "", required: bool = False) -> str:
    star = " *" if required else ""
    return (
        f"<div style='text-align:right;padding-right:10px;color:{TEXT_COLOR}' "
        f"title='{html.escape(doc)}'><b>{html.escape(text)}{star}</b></div>"
    )


# ipywidgets themes a Text's placeholder but not a Textarea's (grey #757575 on JupyterLab Dark).
FORM_CSS = (
    "<style>.feedkit-form input::placeholder,.feedkit-form textarea::placeholder"
    f"{{color:{MUTED_COLOR};opacity:1}}</style>"
)


def heading_html(text: str) -> str:
    """A form's heading, with the little CSS the forms need (class ``feedkit-form``)."""
    return f"{FORM_CSS}<h3 style='margin:4px 0;color:{TEXT_COLOR}'>{html.escape(text)}</h3>"


def section_html(text: str) -> str:
    return (
        f"<div style='margin-top:8px;border-bottom:1px solid {RULE_COLOR};color:{TEXT_COLOR}'>"
        f"<b>{html.escape(text)}</b></div>"
    )


def code_html(text: str) -> str:
    """Preformatted text (the PATCH body) on a panel."""
    return (
        f"<pre style='margin:0;padding:4px 8px;background:{PANEL_COLOR};color:{TEXT_COLOR}'>"
        f"{html.escape(text)}</pre>"
    )
