"""The review toolbar's server-side tools: undo / redo, bulk accept, reviewed state.

Why a module of its own: the toolbar is shared with the listening tools; these controls
are one HTML snippet ``render.review_html`` places with one call, and ``review.js`` drives
them through ``routes_review_state`` (the browser keeps no state: after an undo, a redo or
a bulk accept it fetches the pane again).
"""

from __future__ import annotations

from html import escape


def review_tools_html(*, editable: bool, status: str, n_open: int, threshold: float) -> str:
    """Undo/redo, "accept ≥ T %", the lines still needing a person, mark reviewed / reopen.

    ``n_open``: unconfirmed lines; ``threshold``: the measured default (0-1).
    """
    need = (f'<span class="msw-need" title="lines nobody has confirmed yet">'
            f'<b class="msw-nneed">{n_open}</b> still need a person</span>')
    if not editable:
        return need
    if status == "reviewed":
        return (f'{need}<span class="msw-readonly" role="note">Reviewed: read-only</span>'
                '<button class="msw-reopen" type="button">Reopen for changes</button>')
    pct = round(100 * threshold)
    return (
        '<button class="msw-undo" type="button" title="Undo (Ctrl+Z)">Undo</button>'
        '<button class="msw-redo" type="button" title="Redo (Ctrl+Shift+Z)">Redo</button>'
        '<span class="msw-bulk"><label>Accept ≥ <input class="msw-bulk-pct" type="number" '
        f'min="1" max="100" step="1" value="{pct}" aria-label="confidence threshold, percent">'
        ' %</label><button class="msw-bulk-accept" type="button" title="Confirm every '
        f'unconfirmed suggestion at or above this confidence (default {escape(str(pct))} %: '
        'accepted lines agree with human coders 90 % of the time, see the model card); '
        'one Undo reverts it">Accept all</button></span>'
        f"{need}"
        '<button class="msw-mark-reviewed" type="button">Mark reviewed</button>'
    )
