"""The "Double coding" tab: assign a blind second coder, see your own blind passes, and the
agreement report per session or team with each disagreement one click from its line.

The report comes from ``Store.double_coding_report`` (the store leaves out sessions the
viewer is coding blind); exports are the research view's ``/export/double-coding.*``.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any
from urllib.parse import urlencode

import gradio as gr
import pandas as pd

from msw_audio.errors import MswError
from msw_audio.review.auth import User
from msw_audio.review.store import SessionSummary, Store
from msw_audio.web.render import PRINCIPLE_LABELS, CodebookView, _attr, clock
from msw_audio.web.ui_common import Tab, signed_in_user

PASS_COLUMNS = ["Session", "Team", "Second coder", "Assigned by", "Lines coded", "State", "Id"]


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def passes_frame(passes: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([[p["title"], p["team"], p["coder"], p["assigned_by"], p["n_coded"],
                          "finished" if p["finished_at"] else "open", p["session_id"]]
                         for p in passes], columns=PASS_COLUMNS)


def disagreements_html(report: dict[str, Any], book: CodebookView) -> str:
    """One line per disagreement, each a link to that line in the review screen."""
    rows = report.get("disagreements") or []
    if not rows:
        return '<div class="msw-muted msw-empty">No disagreements among the lines both coded.</div>'
    items = "".join(
        f'<li><a class="msw-dc-line" href="{_attr(d["link"])}" target="_self">'
        f'{clock(d.get("start"))} {escape((d.get("text") or "")[:120])}</a> — '
        f'{escape(d.get("first_coder") or "first")}: <b>{escape(book.label(d["first"]))}</b>'
        f' · {escape(d["second_coder"])}: <b>{escape(book.label(d["second"]))}</b></li>'
        for d in rows
    )
    return f'<ul class="msw-dc-disagreements msw-scope">{items}</ul>'


def more_agreement_md(report: dict[str, Any]) -> str:
    """Fleiss' κ (three or more coders) and the segmentation figures, when there are any."""
    out = ""
    fl = report.get("fleiss") or {}
    if fl.get("sessions"):
        out += (f"**Fleiss' κ {_fmt(fl['kappa'])}** over {fl['n']} lines coded by all "
                f"{fl['n_coders']} coders (first and blind) · "
                + ", ".join(f"{x['session_id']}: {_fmt(x['kappa'])} ({x['n_coders']} coders,"
                            f" {x['n']} lines)" for x in fl["sessions"]) + "\n\n")
    for seg in report.get("segmentation") or []:
        b, o = seg["boundaries"], seg["overlap"]
        out += (f"Segmentation of {seg['session_id']} ({seg['compared']}): "
                f"{b['matched']} of {b['n_a']} / {b['n_b']} boundaries within "
                f"± {b['tolerance_s']} s (agreement {_fmt(b['agreement'])}) · overlap ratio "
                f"{_fmt(o['ratio'])}\n\n")
    return out


def report_outputs(report: dict[str, Any], book: CodebookView, scope: dict[str, str]):
    """Summary Markdown, per-code and per-principle tables, disagreement links."""
    codes = report["codes"]
    query = urlencode({k: v for k, v in scope.items() if v})
    summary = (
        f"**{codes['n']} lines coded by both** in {report['scope']['n_sessions']} session(s) · "
        f"raw agreement {_fmt(codes['agreement'])} · Cohen's κ {_fmt(codes['kappa'])} · "
        f"κ with the model's suggestion: first coder {_fmt(report['model']['first'])}, "
        f"second {_fmt(report['model']['second'])} (both saw the suggestions)\n\n"
        + more_agreement_md(report) +
        f"[Download CSV](/export/double-coding.csv?{query}) · "
        f"[Download JSON](/export/double-coding.json?{query}) (research view)"
    )
    per_code = pd.DataFrame(
        [{"code": book.label(c), **v} for c, v in codes["per_code"].items()],
        columns=["code", "kappa", "n_first", "n_second"])
    principles = pd.DataFrame(
        [{"principle": PRINCIPLE_LABELS.get(p, "All principles pooled"), **v}
         for p, v in report["principles"].items()],
        columns=["principle", "n", "icc2_1", "kappa_quadratic", "mean_abs_diff"])
    return summary, per_code.round(3), principles.round(3), disagreements_html(report, book)


def build_double_coding_tab(store: Store, book: CodebookView,
                            user_of: Callable[[Store, Any], User]) -> Any:
    """The tab (hidden until ``on_load`` shows it to roles with agreement or assign rights)."""
    with gr.Tab("Double coding", id="double", visible=False) as tab:
        gr.Markdown(
            "**Blind double coding.** A second evaluator codes a session without seeing "
            "the first one's codes, scores or history (they see the model's suggestions "
            "and speaker roles). *Mark reviewed* in their review screen finishes the pass."
        )
        passes = gr.Dataframe(headers=PASS_COLUMNS, interactive=False,
                              label="Blind passes (yours, or all you may assign)")
        with gr.Row():
            dc_session = gr.Dropdown([], label="Session", scale=3, elem_id="msw-dc-session")
            dc_coder = gr.Dropdown([], label="Second coder (evaluator)", scale=2,
                                   elem_id="msw-dc-coder")
            dc_assign = gr.Button("Assign blind second coding", scale=1)
        dc_msg = gr.Markdown()
        gr.Markdown("**Agreement report** — one session, or a whole team.")
        with gr.Row():
            dc_team = gr.Dropdown([("Every team", "")], value="", label="Team")
            dc_report_btn = gr.Button("Show agreement", variant="primary",
                                      elem_id="msw-dc-report")
        dc_summary = gr.Markdown(elem_id="msw-dc-summary")
        with gr.Row():
            dc_codes = gr.Dataframe(interactive=False, label="Per code (κ one-vs-rest)")
            dc_principles = gr.Dataframe(
                interactive=False, label="Per principle (ICC(2,1), quadratic-weighted κ)")
        dc_lines = gr.HTML(js_on_load=None, apply_default_css=False, elem_id="msw-dc-lines")

        def on_show(request: gr.Request):
            user = user_of(store, request)
            items = store.list_sessions(user)
            teams = sorted({s.team for s in items if s.team})
            return (
                passes_frame(store.blind_assignments(user)),
                gr.update(choices=[(s.title or s.id, s.id) for s in items]),
                gr.update(choices=[("Every team", "")] + [(t, t) for t in teams]),
            )

        tab.select(on_show, None, [passes, dc_session, dc_team], api_name="double_coding_open")

        def on_session(session_id: str | None, request: gr.Request):
            user = user_of(store, request)
            if not session_id or not user.can("session.assign"):
                return gr.update(choices=[], value=None)
            try:
                names = store.blind_coder_choices(session_id, user)
            except MswError:
                names = []
            return gr.update(choices=names, value=None)

        dc_session.input(on_session, [dc_session], [dc_coder], api_name="double_coding_coders")

        def on_assign(session_id: str | None, coder: str | None, request: gr.Request):
            user = user_of(store, request)
            if not session_id or not coder:
                return "Choose a session and a second coder.", gr.update()
            try:
                store.assign_blind(session_id, coder, user)
            except MswError as exc:
                return f"⚠ {exc}", gr.update()
            return (f"Assigned: **{coder}** codes this session blind.",
                    passes_frame(store.blind_assignments(user)))

        dc_assign.click(on_assign, [dc_session, dc_coder], [dc_msg, passes],
                        api_name="double_coding_assign")

        def on_report(session_id: str | None, team: str | None, request: gr.Request):
            user = user_of(store, request)
            try:
                report = store.double_coding_report(user, session_id=session_id or None,
                                                    team=team or None)
            except MswError as exc:
                return f"⚠ {exc}", pd.DataFrame(), pd.DataFrame(), ""
            return report_outputs(report, book, {"session": session_id or "",
                                                 "team": team or ""})

        dc_report_btn.click(on_report, [dc_session, dc_team],
                            [dc_summary, dc_codes, dc_principles, dc_lines],
                            api_name="double_coding_report")
    return tab


def build(store: Store, book: CodebookView) -> Tab:
    """The tab for ``web.ui.build_blocks``: shown to roles that assign or read agreement."""
    tab = build_double_coding_tab(store, book, signed_in_user)

    def load(user: User, items: list[SessionSummary], request: gr.Request) -> list:
        return [gr.update(visible=user.can("agreement.view") or user.can("session.assign"))]

    return Tab(outputs=[tab], load=load)
