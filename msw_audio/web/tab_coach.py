"""The Exemplar library tab: confirmed good practice to listen to and shortlist for coaching."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from msw_audio.errors import MswError
from msw_audio.records import PRINCIPLES
from msw_audio.review.auth import User
from msw_audio.review.store import SessionSummary, Store
from msw_audio.web.render import PRINCIPLE_LABELS, CodebookView, exemplars_html, shortlist_markdown
from msw_audio.web.ui_common import Tab, error_html, principle_label, signed_in_user


def build(store: Store, book: CodebookView) -> Tab:
    """Lay out the Exemplar library tab and wire its handlers (inside ``gr.Tabs``)."""
    code_choices = [("Any good-practice code", "")] + [
        (c.label, c.id) for c in book.groups.get("practitioner", [])
    ]
    principle_choices = [("Any principle", "")] + [(PRINCIPLE_LABELS[p], p) for p in PRINCIPLES]
    with gr.Tab("Exemplar library", id="coach", visible=False) as coach_tab:
        gr.Markdown(
            "Confirmed good practice from reviewed recordings. Filter, listen to each "
            "example in context, and shortlist a few for a coaching conversation."
        )
        with gr.Row():
            f_code = gr.Dropdown(code_choices, value="", label="Code")
            f_principle = gr.Dropdown(
                principle_choices, value="", label="Principle (scored 4+)"
            )
            f_worker = gr.Dropdown([], value="", label="Worker", allow_custom_value=True)
            f_team = gr.Dropdown([], value="", label="Team", allow_custom_value=True)
            f_from = gr.Textbox(label="From (YYYY-MM-DD)")
            f_to = gr.Textbox(label="To (YYYY-MM-DD)")
        f_btn = gr.Button("Find examples", variant="primary")
        ex_state = gr.State([])
        ex_html = gr.HTML(js_on_load=None, apply_default_css=False, elem_id="msw-exemplars")
        shortlist = gr.CheckboxGroup([], label="Shortlist for a coaching conversation")
        with gr.Row():
            sl_btn = gr.Button("Export shortlist")
            sl_file = gr.File(label="Shortlist (Markdown)", interactive=False)


    def on_find(code, principle, worker, team, d_from, d_to, request: gr.Request):
        user = signed_in_user(store, request)
        try:
            items = store.exemplars(
                user,
                code=code or None,
                principle=principle or None,
                worker=worker or None,
                team=team or None,
                date_from=d_from or None,
                date_to=d_to or None,
            )
        except MswError as exc:
            return error_html(exc), [], gr.update(choices=[], value=[])
        labels = [
            (
                f"#{i + 1} {book.label(x.get('code')) or principle_label(x.get('principle'))}"
                f" · {x.get('title', '')} · {(x.get('text') or '')[:60]}",
                i,
            )
            for i, x in enumerate(items)
        ]
        return (
            exemplars_html(items, book, user.can("audio.listen")),
            items,
            gr.update(choices=labels, value=[]),
        )

    f_btn.click(
        on_find,
        [f_code, f_principle, f_worker, f_team, f_from, f_to],
        [ex_html, ex_state, shortlist],
    )

    def on_shortlist(items: list[dict[str, Any]], picked: list[int], request: gr.Request):
        signed_in_user(store, request)
        chosen = [items[i] for i in sorted(picked or []) if 0 <= i < len(items)] or items
        if not chosen:
            raise gr.Error("Find some examples first.")
        out = Path(tempfile.mkdtemp(prefix="msw-shortlist-")) / "coaching-shortlist.md"
        out.write_text(shortlist_markdown(chosen, book), encoding="utf-8")
        return str(out)

    sl_btn.click(on_shortlist, [ex_state, shortlist], [sl_file])

    def load(user: User, items: list[SessionSummary], request: gr.Request) -> list:
        teams = sorted({s.team for s in items if s.team})
        workers = sorted({s.worker for s in items if s.worker})
        return [
            gr.update(visible=user.can("exemplars.view")),
            gr.update(choices=[("Any worker", "")] + [(w, w) for w in workers]),
            gr.update(choices=[("Any team", "")] + [(t, t) for t in teams]),
        ]

    return Tab(outputs=[coach_tab, f_worker, f_team], load=load)
