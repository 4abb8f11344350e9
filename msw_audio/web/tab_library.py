"""The coach library tab: search, star, shortlist from the cards, export a practice note.

Why the shortlist lives on the cards (``library.js``) and not in a Gradio checkbox list:
a coach picks while reading an example, and 32 numbered checkboxes under the list made
them match numbers by eye. Starring and exporting go straight to the JSON routes of
``web.routes_library``; the store decides who may do either.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

import gradio as gr

from msw_audio.errors import MswError
from msw_audio.records import PRINCIPLES
from msw_audio.review.auth import User
from msw_audio.review.library import MIN_WORDS
from msw_audio.review.store import SessionSummary, Store
from msw_audio.web.render import PRINCIPLE_LABELS, CodebookView, _attr, _code_chip, clock
from msw_audio.web.ui_common import Tab, signed_in_user

EMPTY = (
    '<div class="msw-muted msw-empty">No examples match yet. Starred lines and confirmed '
    f"good practice of at least {MIN_WORDS} words appear here.</div>"
)


def library_html(items: list[dict[str, Any]], book: CodebookView, *, can_listen: bool,
                 can_star: bool) -> str:
    """Library cards: starred first (★), each with its context, a play button, a star
    button with a note, and "Add to shortlist"; a shortlist bar exports the ticked ones."""
    if not items:
        return EMPTY
    cards = []
    for ex in items:
        ctx = "".join(
            f'<li class="msw-ctx{" msw-ctx-main" if c.get("is_exemplar") else ""}" '
            f'data-start="{float(c["start"]):.3f}" data-end="{float(c["end"]):.3f}">'
            f'<span class="msw-time">{clock(c["start"])}</span> '
            f'<span class="msw-role msw-role-{_attr(c.get("role", "other"))}">'
            f"{escape(c.get('role', ''))}</span> "
            f"{escape(c.get('text', ''))} {_code_chip(book, c.get('code'))}</li>"
            for c in ex.get("context", [])
        )
        media = f' data-media="/media/{_attr(ex["session_id"])}"' if can_listen else ""
        play = (
            f'<button class="msw-play-clip" data-start="{float(ex["start"]):.3f}" data-end="'
            f'{float(ex["end"]):.3f}">▶ Play clip</button>' if can_listen else ""
        )
        mine = bool(ex.get("starred_by_me"))
        star = ""
        if can_star:
            star = (
                f'<button class="msw-star" aria-pressed="{"true" if mine else "false"}">'
                f'{"★ Starred" if mine else "☆ Star"}</button>'
                '<input class="msw-star-note" maxlength="1000" '
                'placeholder="Note: why is this a good example?" aria-label="Star note">'
            )
        notes = "".join(
            f'<li><b>{escape(st["by"])}</b>: {escape(st["note"])}</li>'
            for st in ex.get("stars", []) if st.get("note")
        )
        who = " · ".join(
            escape(str(x)) for x in (ex.get("title"), ex.get("worker"), ex.get("team"),
                                     ex.get("date")) if x
        )
        mark = '<span class="msw-starred" title="starred">★</span>' if ex.get("starred") else ""
        cards.append(
            f'<div class="msw-exemplar msw-lib-card" data-session="{_attr(ex["session_id"])}" '
            f'data-uid="{_attr(ex["utterance_id"])}" data-starred="{"1" if mine else "0"}"'
            f"{media}><div class=\"msw-ex-head\">{mark} {_code_chip(book, ex.get('code'))} "
            f'<span class="msw-muted">{who} · {clock(ex.get("start"))}</span> {play}</div>'
            f'<ul class="msw-context">{ctx}</ul>'
            f'{f"<ul class=msw-star-notes>{notes}</ul>" if notes else ""}'
            '<div class="msw-lib-actions">'
            '<label class="msw-sl-label"><input type="checkbox" class="msw-sl-add"> '
            f"Add to shortlist</label>{star}</div></div>"
        )
    bar = (
        '<div class="msw-shortlist-bar">Shortlist: <b class="msw-sl-count">0</b> · '
        '<button class="msw-sl-export" data-format="md">Export Markdown</button> '
        '<button class="msw-sl-export" data-format="pdf">Export PDF (one page)</button> '
        '<button class="msw-sl-clear">Clear</button> '
        '<span class="msw-sl-msg" role="status" aria-live="polite"></span></div>'
        if can_star else ""
    )
    player = (
        '<audio class="msw-audio msw-clip-audio" controls preload="none" '
        'controlslist="nodownload"></audio>' if can_listen else ""
    )
    return (
        f'<div class="msw-exemplars msw-library msw-scope msw-clip-scope">{bar}{player}'
        f'{"".join(cards)}</div>'
    )


def build_library_tab(store: Store, book: CodebookView,
                      user_of: Callable[[Store, Any], User]) -> tuple[Any, Any, Any]:
    """The "Coach library" tab; returns (tab, worker filter, team filter) for ``on_load``."""
    code_choices = [("Any good-practice code", "")] + [
        (c.label, c.id) for c in book.groups.get("practitioner", [])
    ] + [(c.label, c.id) for c in book.groups.get("client", [])]
    principle_choices = [("Any principle", "")] + [(PRINCIPLE_LABELS[p], p) for p in PRINCIPLES]
    with gr.Tab("Coach library", id="coach", visible=False) as tab:
        gr.Markdown(
            "Starred examples first, then confirmed good practice of at least "
            f"{MIN_WORDS} words. Star a line (with a note) to put it at the top for your "
            "team; tick *Add to shortlist* on the cards you want, then export a practice "
            "note (Markdown, or a one-page PDF) with no family names in it."
        )
        with gr.Row():
            f_query = gr.Textbox(label="Search the text or notes", elem_id="msw-lib-q", scale=2)
            f_code = gr.Dropdown(code_choices, value="", label="Code")
            f_principle = gr.Dropdown(principle_choices, value="",
                                      label="Principle (scored 4+)")
            f_worker = gr.Dropdown([], value="", label="Worker", allow_custom_value=True)
            f_team = gr.Dropdown([], value="", label="Team", allow_custom_value=True)
        f_btn = gr.Button("Find examples", variant="primary", elem_id="msw-lib-find")
        out = gr.HTML(js_on_load=None, apply_default_css=False, elem_id="msw-exemplars")

        def on_find(query, code, principle, worker, team, request: gr.Request):
            user = user_of(store, request)
            try:
                items = store.library(user, query=query or None, code=code or None,
                                      principle=principle or None, worker=worker or None,
                                      team=team or None)
            except MswError as exc:
                return f'<div class="msw-empty" role="alert">⚠ {escape(str(exc))}</div>'
            return library_html(items, book, can_listen=user.can("audio.listen"),
                                can_star=user.can("exemplars.star"))

        inputs = [f_query, f_code, f_principle, f_worker, f_team]
        f_btn.click(on_find, inputs, [out], api_name="library_find")
        f_query.submit(on_find, inputs, [out], api_name="library_search")
        tab.select(on_find, inputs, [out], api_name="library_open")
    return tab, f_worker, f_team


def build(store: Store, book: CodebookView) -> Tab:
    """The tab for ``web.ui.build_blocks``: shown to roles that may see exemplars."""
    tab, f_worker, f_team = build_library_tab(store, book, signed_in_user)

    def load(user: User, items: list[SessionSummary], request: gr.Request) -> list:
        teams = sorted({s.team for s in items if s.team})
        workers = sorted({s.worker for s in items if s.worker})
        return [
            gr.update(visible=user.can("exemplars.view")),
            gr.update(choices=[("Any worker", "")] + [(w, w) for w in workers]),
            gr.update(choices=[("Any team", "")] + [(t, t) for t in teams]),
        ]

    return Tab(outputs=[tab, f_worker, f_team], load=load)
