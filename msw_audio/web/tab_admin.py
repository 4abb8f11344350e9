"""The Admin tab: users and the audit log (the store checks the admin role on every call)."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from msw_audio.errors import MswError
from msw_audio.review.auth import User
from msw_audio.review.store import SessionSummary, Store
from msw_audio.web.render import CodebookView
from msw_audio.web.ui_common import Tab, signed_in_user


def build(store: Store, book: CodebookView) -> Tab:
    """Lay out the Admin tab and wire its handler (inside ``gr.Tabs``)."""
    with gr.Tab("Admin", id="admin", visible=False) as admin_tab:
        ad_btn = gr.Button("Load users and audit log")
        ad_users = gr.Dataframe(interactive=False, label="Users")
        ad_audit = gr.Dataframe(interactive=False, label="Audit log (newest first)")

    def on_admin(request: gr.Request):
        user = signed_in_user(store, request)
        try:
            users = store.list_users(user)
            audit = store.audit_log(user, limit=500)
        except MswError as exc:
            raise gr.Error(str(exc)) from None
        u = pd.DataFrame(
            [
                {"name": x.name, "role": x.role, "grants": ", ".join(sorted(x.grants))}
                for x in users
            ]
        )
        a = pd.DataFrame(
            [{k: v for k, v in e.items() if k != "detail"} for e in audit],
            columns=["at", "user", "action", "target_type", "target_id"],
        )
        return u, a

    ad_btn.click(on_admin, None, [ad_users, ad_audit])

    def load(user: User, items: list[SessionSummary], request: gr.Request) -> list:
        return [gr.update(visible=user.can("audit.view"))]

    return Tab(outputs=[admin_tab], load=load)
