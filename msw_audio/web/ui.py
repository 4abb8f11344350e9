"""The Gradio Blocks review app: one module per tab, composed here.

Tabs: ``tab_review`` (evaluator queue, transcript, uploads), ``tab_library`` (coach
library), ``tab_team`` (team reflection, families' progress), ``tab_family`` (goals, ratings,
feedback), ``tab_supervision`` (supervision sessions), ``tab_research`` (exports and agreement),
``tab_double_coding`` (blind second coding, agreement), ``tab_admin`` (users, audit log).
Every handler resolves the signed-in user from the request (set by the login gate,
``web.login``) and calls the ``Store`` with that user, so permissions
are the store's, not the browser's. Tabs a role cannot use are hidden as a courtesy; hiding
is not the protection.
"""

from __future__ import annotations

import gradio as gr

from msw_audio.review.auth import User
from msw_audio.review.store import Store
from msw_audio.web import (
    tab_admin,
    tab_double_coding,
    tab_family,
    tab_library,
    tab_research,
    tab_review,
    tab_supervision,
    tab_team,
)
from msw_audio.web.render import CodebookView, codebook_view, review_html
from msw_audio.web.ui_common import signed_in_user

HEAD = ('<link rel="stylesheet" href="/static/review.css"><script src="/static/review.js"></script>'
        '<script src="/static/library.js"></script>'
        '<script src="/static/review_interchange.js"></script>')
#: The tabs in the order shown.
TABS = (tab_review, tab_library, tab_team, tab_family, tab_supervision, tab_research,
        tab_double_coding, tab_admin)


def render_session(
    store: Store, book: CodebookView | None, user: User, session_id: str, order: str
) -> str:
    """The review pane HTML for ``session_id`` as ``user`` may see it.

    ``book`` None: the codebook that coded the session (its codes and hotkeys).
    """
    from msw_audio.review.by_exception import default_threshold

    session = store.get_session(session_id, user)
    if book is None:
        book = codebook_view(store.codebook_for(session_id))
    decisions = store.get_decisions(session_id, user)
    decisions["flags"] = store.flags(session_id, user)  # lines a correction asks to re-check
    meta = store.session_meta(session_id, user)
    banner = (
        '<div class="msw-blind-banner" role="note">Blind second coding: you see the model\'s '
        "suggestions and speaker roles, not the first evaluator's codes, scores or history. "
        "<b>Mark reviewed</b> finishes your pass.</div>" if meta.get("blind") else ""
    )
    return banner + review_html(
        session_id,
        session,
        decisions,
        meta,
        book,
        editable=user.can("session.edit"),
        can_listen=user.can("audio.listen"),
        order=order,
        threshold=default_threshold(),
    )


def _header(user: User) -> str:
    from html import escape

    return (
        '<div class="msw-header"><span class="msw-brand">msw-audio</span>'
        '<span class="msw-muted">review of recorded Motivational Social Work sessions</span>'
        f'<span class="msw-user">Signed in as <b>{escape(user.name)}</b> ({escape(user.role)}) · '
        '<a href="/logout">Sign out</a></span></div>'
    )


def build_blocks(store: Store, book: CodebookView | None = None) -> gr.Blocks:
    """All views in one Blocks app; ``msw_audio.web.server.create_app`` mounts it behind login."""
    book = book or codebook_view(store.codebook)
    # analytics off: an offline-first tool for family recordings sends nothing anywhere
    with gr.Blocks(title="msw-audio review", analytics_enabled=False) as demo:
        header = gr.HTML(js_on_load=None, apply_default_css=False)
        with gr.Tabs():
            tabs = [module.build(store, book) for module in TABS]

        def on_load(request: gr.Request):
            user = signed_in_user(store, request)
            items = store.list_sessions(user) if user.can("session.view") else []
            values = [_header(user)]
            for tab in tabs:
                values.extend(tab.load(user, items, request))
            return tuple(values)

        demo.load(on_load, outputs=[header] + [c for tab in tabs for c in tab.outputs],
                  api_name="page_load")
    return demo
