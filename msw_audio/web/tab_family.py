"""The "Families" tab: goals, GBO ratings and feedback entered in the screen, and each
family's progress beside the practice scores of the visits in between.

Why a tab of its own: the family's voice is entered by a practitioner or evaluator after
a visit, not while coding a transcript. Every handler resolves the signed-in user and
calls the ``Store`` (which checks role and team); hiding controls is only a courtesy.
The team and own-view figures are prompts for reflection, never a ranking: families are
listed by pseudonym, workers are not compared, and with fewer than 3 families a team
shows nothing (``Store.family_progress``).
"""

from __future__ import annotations

from html import escape

import gradio as gr

from msw_audio.errors import MswError
from msw_audio.review.auth import User
from msw_audio.review.store import Store
from msw_audio.web.family_view import family_markdown, progress_markdown
from msw_audio.web.render import CodebookView
from msw_audio.web.ui_common import PageLoads, Tab


def _signed_in(store: Store, request: gr.Request | None) -> User:
    from msw_audio.web.ui_common import signed_in_user as _user  # the one sign-in check

    return _user(store, request)


def build_family_tab(store: Store, demo: gr.Blocks) -> None:
    """The Families tab (inside ``build_blocks``' ``gr.Tabs``); registers its own load."""
    m = store.measures
    rating_q = m.rating_questions[0] if m.rating_questions else None
    text_q = m.text_questions[0] if m.text_questions else None
    with gr.Tab("Families", id="families", visible=False) as tab:
        gr.Markdown(
            "What families say and achieve: the goals agreed with them (at most "
            f"{m.max_active_goals} at a time), their {m.gbo_label} ratings "
            f"({m.gbo_min}–{m.gbo_max}) at the start and at each review, and their feedback "
            "after a visit. Families are known by pseudonym only — never a real name."
        )
        with gr.Row():
            fam = gr.Dropdown([], label="Family (pseudonym)", allow_custom_value=True,
                              elem_id="msw-family", scale=3)
            show = gr.Button("Show family", scale=0, min_width=140, elem_id="msw-family-show")
        result = gr.Markdown(elem_id="msw-family-result")
        view = gr.Markdown(elem_id="msw-family-view")
        with gr.Column(visible=False) as entry:
            with gr.Accordion("Add a family", open=False):
                with gr.Row():
                    new_name = gr.Textbox(label="New family pseudonym")
                    new_team = gr.Textbox(label="Family's team")
                    add_btn = gr.Button("Add family")
            with gr.Accordion("Set a goal with the family", open=True):
                with gr.Row():
                    goal_text = gr.Textbox(label="Goal (the family's words)", scale=3,
                                           max_length=m.goal_max_chars)
                    goal_date = gr.Textbox(label="Date set (YYYY-MM-DD)")
                    goal_btn = gr.Button("Add goal")
            with gr.Accordion(f"{m.gbo_label} rating", open=True):
                with gr.Row():
                    r_goal = gr.Number(label="Goal number", precision=0, value=1, minimum=1)
                    r_score = gr.Number(label=f"Rating ({m.gbo_min}–{m.gbo_max})",
                                        precision=0, minimum=m.gbo_min, maximum=m.gbo_max)
                    r_date = gr.Textbox(label="Rated on (YYYY-MM-DD)")
                    r_occ = gr.Radio([("first is start, then review", ""),
                                      *[(o, o) for o in m.occasions]], value="",
                                     label="Occasion")
                    r_btn = gr.Button("Save rating")
            with gr.Accordion("The family's feedback after a visit", open=False):
                with gr.Row():
                    f_date = gr.Textbox(label="Visit date (YYYY-MM-DD)")
                    f_rating = gr.Number(
                        label=(f"{rating_q.text} ({rating_q.min}–{rating_q.max})"
                               if rating_q else "Rating"),
                        precision=0, visible=rating_q is not None)
                    f_text = gr.Textbox(label=text_q.text if text_q else "Comment",
                                        visible=text_q is not None, scale=3)
                    f_btn = gr.Button("Save feedback")

    def on_load(request: gr.Request):
        user = _signed_in(store, request)
        if not user.can("session.view"):
            return gr.update(visible=False), gr.update(), gr.update()
        fams = store.list_families(user)
        return (
            gr.update(visible=True),
            gr.update(choices=[f["pseudonym"] for f in fams]),
            gr.update(visible=user.can("session.edit")),
        )

    demo.load(on_load, outputs=[tab, fam, entry])

    def shown(user: User, name: str) -> str:
        return family_markdown(store.family_view(name, user)) if name else ""

    def act(name: str, request: gr.Request, do, done: str):  # noqa: ANN001
        user = _signed_in(store, request)
        if not name:
            return "⚠ Choose or add a family first.", gr.update()
        try:
            do(user)
        except MswError as exc:
            return f"⚠ {escape(str(exc))}", gr.update()
        return done, shown(user, name)

    def on_show(name, request: gr.Request):
        user = _signed_in(store, request)
        try:
            return "", shown(user, name)
        except MswError as exc:
            return f"⚠ {escape(str(exc))}", ""

    show.click(on_show, [fam], [result, view], api_name="family_show")
    fam.input(on_show, [fam], [result, view], api_name="family_pick")

    def on_add(name, team, request: gr.Request):
        user = _signed_in(store, request)
        try:
            added = store.add_family(name, team, user)
        except MswError as exc:
            return f"⚠ {escape(str(exc))}", gr.update(), gr.update()
        names = [f["pseudonym"] for f in store.list_families(user)]
        return f"Family {escape(added)} added.", gr.update(choices=names, value=added), \
            shown(user, added)

    add_btn.click(on_add, [new_name, new_team], [result, fam, view], api_name="family_add")

    def on_goal(name, text, day, request: gr.Request):
        return act(name, request, lambda u: store.add_goal(name, text, day, u), "Goal saved.")

    goal_btn.click(on_goal, [fam, goal_text, goal_date], [result, view], api_name="family_goal")

    def on_rate(name, goal, score, day, occ, request: gr.Request):
        if score is None:
            return "⚠ Enter the family's rating.", gr.update()
        return act(name, request,
                   lambda u: store.rate_goal(name, goal, score, day, u, occasion=occ or None),
                   "Rating saved.")

    r_btn.click(on_rate, [fam, r_goal, r_score, r_date, r_occ], [result, view],
                api_name="family_rate")

    def on_feedback(name, day, rating, text, request: gr.Request):
        answers = {}
        if rating_q and rating is not None:
            answers[rating_q.id] = rating
        if text_q and text:
            answers[text_q.id] = text
        return act(name, request, lambda u: store.add_feedback(name, answers, day, u),
                   "Feedback saved.")

    f_btn.click(on_feedback, [fam, f_date, f_rating, f_text], [result, view],
                api_name="family_feedback")


def build_family_progress(store: Store, demo: gr.Blocks) -> None:
    """In the team view: families' goal progress beside the practice scores of the visits
    in between (a team, or the signed-in worker's own families); < 3 families: nothing."""
    with gr.Accordion("Families' progress beside practice", open=False,
                      visible=False) as box:
        gr.Markdown("Goal-Based Outcomes rated by the families themselves, beside the "
                    "confirmed scores of the visits between their first and last rating.")
        with gr.Row():
            p_team = gr.Dropdown([("Whole service", "")], value="", label="Families' team")
            p_btn = gr.Button("Show families' progress", elem_id="msw-family-progress-btn")
            own_btn = gr.Button("Show my families")
        progress = gr.Markdown(elem_id="msw-family-progress")

    def on_load(request: gr.Request):
        user = _signed_in(store, request)
        if not user.can("team.view"):
            return gr.update(visible=False), gr.update()
        teams = sorted({f["team"] for f in store.list_families(user) if f["team"]})
        return (gr.update(visible=True),
                gr.update(choices=[("Whole service", "")] + [(t, t) for t in teams]))

    demo.load(on_load, outputs=[box, p_team])

    def on_progress(team, request: gr.Request):
        user = _signed_in(store, request)
        try:
            return progress_markdown(store.family_progress(user, team=team or None))
        except MswError as exc:
            return f"⚠ {escape(str(exc))}"

    p_btn.click(on_progress, [p_team], [progress], api_name="family_progress")

    def on_own(request: gr.Request):
        user = _signed_in(store, request)
        try:
            return progress_markdown(store.family_progress(user, worker=user.name), own=True)
        except MswError as exc:
            return f"⚠ {escape(str(exc))}"

    own_btn.click(on_own, None, [progress], api_name="family_progress_own")


def build(store: Store, book: CodebookView) -> Tab:
    """The tab for ``web.ui.build_blocks`` (its page load included)."""
    loads = PageLoads()
    build_family_tab(store, loads)  # type: ignore[arg-type]
    return loads.tab()
