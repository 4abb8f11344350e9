"""The Team reflection tab: confirmed practice across a team over time, and one's own trend.

Prompts for reflection, not a league table: no worker is ranked, and groups or months with
fewer than 3 reviewed sessions are not shown (``review.analytics.MIN_GROUP``).
"""

from __future__ import annotations

import gradio as gr
import pandas as pd

from msw_audio.review.auth import User
from msw_audio.review.store import SessionSummary, Store
from msw_audio.web.render import CodebookView
from msw_audio.web.tab_family import build_family_progress
from msw_audio.web.team import distribution_figure, reflection_prompts, trend_figure
from msw_audio.web.ui_common import PageLoads, Tab, signed_in_user


def build(store: Store, book: CodebookView) -> Tab:
    """Lay out the Team reflection tab and wire its handler (inside ``gr.Tabs``)."""
    with gr.Tab("Team reflection", id="team", visible=False) as team_tab:
        gr.Markdown(
            "How confirmed practice looks across a team and the service over time. "
            "These are prompts for reflection, not a league table: no worker is ranked, "
            "and any group or month with fewer than 3 reviewed sessions is not shown."
        )
        with gr.Row():
            t_team = gr.Dropdown([("Whole service", "")], value="", label="Team")
            t_kind = gr.Radio(
                [("Principle scores", "principle"), ("MITI summaries", "miti")],
                value="principle",
                label="Show",
            )
            t_btn = gr.Button("Show", variant="primary")
        t_prompts = gr.Markdown()
        with gr.Row():
            t_trend = gr.Plot(show_label=False, elem_id="msw-team-trend")
            t_dist = gr.Plot(show_label=False)
        t_table = gr.Dataframe(interactive=False, label="Figures")
        with gr.Accordion("Your own trend", open=False, visible=False) as own_box:
            own_plot = gr.Plot(show_label=False)
            own_note = gr.Markdown()
        progress = PageLoads()
        build_family_progress(store, progress)  # families' goals beside practice


    def on_team(team: str, kind: str, request: gr.Request):
        user = signed_in_user(store, request)
        df = store.team_summary(user, team=team or None)
        df = df[df["kind"] == kind] if not df.empty else df
        own = pd.DataFrame()
        if user.name in {s.worker for s in store.list_sessions(user)}:
            own = store.team_summary(user, worker=user.name)
            own = own[own["kind"] == kind] if not own.empty else own
        shown = df.drop(columns=["worker"]) if "worker" in df.columns else df
        return (
            reflection_prompts(df, kind),
            trend_figure(df, kind),
            distribution_figure(df, kind),
            shown.round(2),
            trend_figure(own, kind, title="Your trend"),
            ""
            if not own.empty
            else "Fewer than 3 of your sessions have confirmed scores in any month yet.",
        )

    t_btn.click(
        on_team, [t_team, t_kind], [t_prompts, t_trend, t_dist, t_table, own_plot, own_note],
        api_name="team_show"
    )

    def load(user: User, items: list[SessionSummary], request: gr.Request) -> list:
        teams = sorted({s.team for s in items if s.team})
        workers = {s.worker for s in items if s.worker}
        return [
            gr.update(visible=user.can("team.view")),
            gr.update(choices=[("Whole service", "")] + [(t, t) for t in teams]),
            gr.update(visible=user.name in workers),
        ]

    return progress.tab(Tab(outputs=[team_tab, t_team, own_box], load=load))
