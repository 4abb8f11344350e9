"""The Research tab: confirmed labels and scores for retraining, and suggestion agreement."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from msw_audio.errors import MswError
from msw_audio.review.auth import User
from msw_audio.review.store import SessionSummary, Store
from msw_audio.web.render import CodebookView
from msw_audio.web.ui_common import Tab, handler_error, signed_in_user


def build(store: Store, book: CodebookView) -> Tab:
    """Lay out the Research tab and wire its handler (inside ``gr.Tabs``)."""
    with gr.Tab("Research", id="research", visible=False) as research_tab:
        gr.Markdown(
            "**Training data** — confirmed labels in the format of "
            "`msw-audio tagger train --extra`, and confirmed scores for "
            "`msw-audio scores train`:\n\n"
            "- [Download confirmed labels (CSV)](/export/labels.csv)\n"
            "- [Download confirmed scores (JSONL)](/export/scores.jsonl)"
        )
        a_btn = gr.Button("Compute agreement of suggestions with evaluators")
        a_summary = gr.Markdown()
        with gr.Row():
            a_codes = gr.Dataframe(interactive=False, label="Per code (κ one-vs-rest)")
            a_versions = gr.Dataframe(interactive=False, label="Per tagger version")
        a_principles = gr.Dataframe(
            interactive=False, label="Per principle (quadratic-weighted κ, mean abs. error)"
        )


    def on_agreement(request: gr.Request):
        user = signed_in_user(store, request)
        try:
            ag = store.agreement(user)
        except MswError as exc:
            raise handler_error(exc) from None
        codes = ag.get("codes", {})
        fmt = lambda v: "–" if v is None else f"{v:.2f}"  # noqa: E731
        summary = (
            f"**{codes.get('n', 0)} confirmed utterances** · top suggestion agrees with the "
            f"evaluator {fmt(codes.get('accuracy'))} of the time · Cohen's κ "
            f"{fmt(codes.get('kappa'))}"
        )
        per_code = pd.DataFrame(
            [{"code": c, **v} for c, v in (codes.get("per_code") or {}).items()],
            columns=["code", "kappa", "n_confirmed", "n_suggested"],
        )
        versions = pd.DataFrame(
            [{"tagger version": v, **x} for v, x in (ag.get("model_versions") or {}).items()],
            columns=["tagger version", "n", "kappa", "accuracy"],
        )
        principles = pd.DataFrame(
            [{"principle": p, **x} for p, x in (ag.get("principles") or {}).items()],
            columns=["principle", "kappa", "mae", "n"],
        )
        return summary, per_code.round(3), versions.round(3), principles.round(3)

    a_btn.click(on_agreement, None, [a_summary, a_codes, a_versions, a_principles],
                api_name="research_agreement")

    def load(user: User, items: list[SessionSummary], request: gr.Request) -> list:
        return [gr.update(visible=user.can("export") or user.can("agreement.view"))]

    return Tab(outputs=[research_tab], load=load)
