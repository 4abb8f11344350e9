"""The "Supervision" tab: a supervision session's rubric scores with their evidence,
confirmed by a person, and supervision beside practice over time (own view; team view
with the < 3 rule).

Why a tab: the review pane codes the supervision transcript with its own codebook and
hotkeys already (the session records its codebook); what is new is the supervision rubric
and the golden thread to practice. Handlers call the ``Store`` as the signed-in user.
"""

from __future__ import annotations

from html import escape
from typing import Any

import gradio as gr

from msw_audio.errors import MswError
from msw_audio.review.store import Store
from msw_audio.web.family_view import md_cell
from msw_audio.web.render import PRINCIPLE_LABELS, CodebookView
from msw_audio.web.ui_common import PageLoads, Tab


def scores_markdown(view: dict[str, Any]) -> str:
    """Each dimension: suggested, confirmed, why, and up to three evidence lines."""
    lines = [f"*Rubric {escape(view.get('rubric_version') or '')} — suggested from the "
             "supervisor's codes; a person confirms each score.*", ""]
    for dim_id, d in view["dimensions"].items():
        conf = f" · **confirmed {d['confirmed']}**" if d.get("confirmed") is not None else ""
        lines.append(f"**{md_cell(d.get('label') or dim_id)}** (`{dim_id}`): suggested "
                     f"{md_cell(d.get('suggested'))}{conf}")
        for reason in d.get("reasons") or []:
            lines.append(f"- {md_cell(reason)}")
        for ev in d.get("evidence") or []:
            lines.append(f"- ✓ {ev['start']:.0f}s “{md_cell(ev['text'])}”")
        for ev in d.get("against") or []:
            lines.append(f"- ✗ {ev['start']:.0f}s “{md_cell(ev['text'])}”")
        lines.append("")
    return "\n".join(lines)


def beside_markdown(rows: list[dict[str, Any]], own: bool) -> str:
    head = ("**Supervision beside practice** — confirmed supervision scores of the sessions "
            "where you were supervised, and the mean confirmed principle score of your "
            "visits, by month." if own else
            "**Supervision beside practice, by team** — only groups and months with at least "
            "3 sessions appear; prompts for reflection, not a league table.")
    if not rows:
        return f"{head}\n\n*Nothing to show yet.*"
    lines = [head, "", "| Group | Period | Kind | Measure | Sessions | Mean |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        measure = PRINCIPLE_LABELS.get(r["measure"], r["measure"].replace("_", " "))
        lines.append(f"| {md_cell(r['group'])} | {r['period']} | {r['kind']} | {md_cell(measure)} |"
                     f" {r['n_sessions']} | {r['mean']:.2f} |")
    return "\n".join(lines)


def build_supervision_tab(store: Store, demo: gr.Blocks) -> None:
    """The Supervision tab (inside ``build_blocks``' ``gr.Tabs``); registers its own load."""
    from msw_audio.scoring.supervision import load_supervision_rubric

    rubric = load_supervision_rubric()
    with gr.Tab("Supervision", id="supervision", visible=False) as tab:
        gr.Markdown(
            "Supervision sessions (`process --recording-type supervision`) are coded in the "
            "Review tab with the supervision codebook. Here: the supervision rubric's scores "
            "with their evidence, to confirm, and supervision beside practice over time."
        )
        with gr.Row():
            session = gr.Dropdown([], label="Supervision session", scale=3,
                                  elem_id="msw-supervision-session")
            show = gr.Button("Show scores", scale=0, min_width=140)
        result = gr.Markdown(elem_id="msw-supervision-result")
        scores = gr.Markdown(elem_id="msw-supervision-scores")
        with gr.Row(visible=False) as confirm_row:
            dim = gr.Dropdown([(d.label, d.id) for d in rubric.dimensions], label="Dimension")
            value = gr.Number(label="Score (1–5, halves)", minimum=1, maximum=5, step=0.5)
            note = gr.Textbox(label="Note (optional)")
            confirm = gr.Button("Confirm score")
        with gr.Row():
            own_btn = gr.Button("My supervision, practice and families")
            team_btn = gr.Button("Team: supervision beside practice")
        beside = gr.Markdown(elem_id="msw-supervision-beside")

    def _signed_in(request: gr.Request):
        from msw_audio.web.ui_common import signed_in_user as _user

        return _user(store, request)

    def on_load(request: gr.Request):
        user = _signed_in(request)
        if not user.can("session.view"):
            return gr.update(visible=False), gr.update(), gr.update()
        items = store.supervision_sessions(user)
        return (gr.update(visible=True),
                gr.update(choices=[(f"{x['title'] or x['session_id']} · {x['worker']} · "
                                    f"{x['date'] or ''}", x["session_id"]) for x in items]),
                gr.update(visible=user.can("session.edit")))

    demo.load(on_load, outputs=[tab, session, confirm_row])

    def on_show(sid, request: gr.Request):
        user = _signed_in(request)
        if not sid:
            return "Choose a supervision session.", ""
        try:
            return "", scores_markdown(store.supervision_scores(sid, user))
        except MswError as exc:
            return f"⚠ {escape(str(exc))}", ""

    show.click(on_show, [session], [result, scores], api_name="supervision_show")
    session.input(on_show, [session], [result, scores], api_name="supervision_pick")

    def on_confirm(sid, dim_id, val, text, request: gr.Request):
        user = _signed_in(request)
        try:
            if not sid or not dim_id:
                return "⚠ Choose a session and a dimension.", gr.update()
            store.confirm_supervision_score(sid, dim_id, val, text, user)
            return "Score confirmed.", scores_markdown(store.supervision_scores(sid, user))
        except MswError as exc:
            return f"⚠ {escape(str(exc))}", gr.update()

    confirm.click(on_confirm, [session, dim, value, note], [result, scores],
                  api_name="supervision_confirm")

    def on_own(request: gr.Request):
        user = _signed_in(request)
        try:
            from msw_audio.web.family_view import progress_markdown

            families = progress_markdown(store.family_progress(user, worker=user.name),
                                         own=True)
            return (beside_markdown(store.supervision_beside_practice(user, worker=user.name),
                                    own=True) + "\n\n**Your families' progress**\n\n" + families)
        except MswError as exc:
            return f"⚠ {escape(str(exc))}"

    def on_team(request: gr.Request):
        user = _signed_in(request)
        try:
            return beside_markdown(store.supervision_beside_practice(user), own=False)
        except MswError as exc:
            return f"⚠ {escape(str(exc))}"

    own_btn.click(on_own, None, [beside], api_name="supervision_own")
    team_btn.click(on_team, None, [beside], api_name="supervision_team")


def build(store: Store, book: CodebookView) -> Tab:
    """The tab for ``web.ui.build_blocks`` (its page load included)."""
    loads = PageLoads()
    build_supervision_tab(store, loads)  # type: ignore[arg-type]
    return loads.tab()
