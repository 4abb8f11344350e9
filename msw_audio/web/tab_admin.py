"""The Admin tab: users, grants, erasure, retention, worker status and the audit log.

Why every handler starts from ``signed_in_user`` and calls a ``Store`` method with that
user: the store refuses anyone without ``user.manage`` / ``session.erase``, so a forged
Gradio event from another role gets "may not manage users" whatever the page shows. The
tab is hidden from other roles only as a courtesy. Passwords travel once, from the box to
``add_user`` / ``set_password``; the boxes are emptied after every attempt and no message
repeats them. Rendering lives in ``web.admin_view``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from msw_audio.errors import InputError, MswError
from msw_audio.jobs.worker_status import worker_status
from msw_audio.review.auth import GRANTABLE, USER_ROLES, User
from msw_audio.review.store import SessionSummary, Store
from msw_audio.web.admin_view import (
    audit_frame,
    erasure_markdown,
    parse_teams,
    retention_markdown,
    user_summary,
    users_frame,
    worker_markdown,
)
from msw_audio.web.render import CodebookView
from msw_audio.web.ui_common import NotSignedIn, Tab, signed_in_user

#: how often an open Admin tab re-reads the worker status (seconds)
WORKER_REFRESH_SECONDS = 15.0
_AUDIT_ROWS = 500


def _session_choices(items: list[SessionSummary]) -> list[tuple[str, str]]:
    return [(f"{s.title or s.id} · {s.team or 'no team'} · {s.date or ''} ({s.id})", s.id)
            for s in items]


def build(store: Store, book: CodebookView) -> Tab:
    """Lay out the Admin tab and wire its handlers (inside ``gr.Tabs``)."""
    grants = sorted(GRANTABLE)
    with gr.Tab("Admin", id="admin", visible=False) as admin_tab:
        with gr.Row():
            worker_md = gr.Markdown(elem_id="msw-admin-worker")
            refresh_btn = gr.Button("Refresh", scale=0, min_width=120, size="sm")
        result = gr.Markdown(elem_id="msw-admin-result")
        with gr.Accordion("Users", open=True):
            users_df = gr.Dataframe(interactive=False, label="Users", elem_id="msw-admin-users")
            with gr.Accordion("Add a user", open=False):
                with gr.Row():
                    add_name = gr.Textbox(label="New user name", max_length=64)
                    add_role = gr.Dropdown(list(USER_ROLES), value="evaluator", label="Role")
                    add_teams = gr.Textbox(label="Teams (comma-separated, * = every team)",
                                           value="*")
                    add_worker = gr.Textbox(label="Worker name (practitioner; default: login)")
                with gr.Row():
                    add_grants = gr.CheckboxGroup(grants, label="Extra grants")
                    add_pw1 = gr.Textbox(label="Initial password", type="password")
                    add_pw2 = gr.Textbox(label="Repeat initial password", type="password")
                    add_btn = gr.Button("Add user", variant="primary")
            with gr.Accordion("Change a user", open=True):
                with gr.Row():
                    pick = gr.Dropdown([], label="User", elem_id="msw-admin-pick", scale=2)
                    disable_btn = gr.Button("Disable login", variant="stop", scale=0,
                                            min_width=140)
                    enable_btn = gr.Button("Enable login", scale=0, min_width=140)
                pick_md = gr.Markdown(elem_id="msw-admin-pick-summary")
                with gr.Row():
                    new_role = gr.Dropdown(list(USER_ROLES), label="New role")
                    role_btn = gr.Button("Change role", scale=0, min_width=140)
                    new_teams = gr.Textbox(label="Teams of this user (comma-separated, *)")
                    teams_btn = gr.Button("Set teams", scale=0, min_width=140)
                with gr.Row():
                    perm = gr.Dropdown(grants, value="audio.listen", label="Permission")
                    grant_btn = gr.Button("Grant", scale=0, min_width=120)
                    revoke_btn = gr.Button("Revoke", scale=0, min_width=120)
                with gr.Row():
                    pw1 = gr.Textbox(label="New password", type="password")
                    pw2 = gr.Textbox(label="Repeat new password", type="password")
                    reset_btn = gr.Button("Reset password", scale=0, min_width=160)
        with gr.Accordion("Erase a session", open=False):
            gr.Markdown(
                "Erasure removes the session completely — recording, transcript, decisions, "
                "scores, uploads, jobs, caches and handouts — like `msw-audio erase "
                "--session`. It cannot be undone (backups still hold it). Type the session "
                "id to enable the button."
            )
            with gr.Row():
                erase_dd = gr.Dropdown([], label="Session to erase", scale=3)
                erase_confirm = gr.Textbox(label="Type the session id to confirm", scale=2)
                erase_btn = gr.Button("Erase session", variant="stop", interactive=False,
                                      scale=0, min_width=160)
            erase_md = gr.Markdown(elem_id="msw-admin-erase-result")
        with gr.Accordion("Retention", open=False):
            retention_md = gr.Markdown(elem_id="msw-admin-retention")
            with gr.Row():
                days = gr.Number(label="Retention days", precision=0, minimum=0)
                days_btn = gr.Button("Save retention", scale=0, min_width=160)
        with gr.Accordion("Audit log (newest first)", open=False):
            audit_df = gr.Dataframe(interactive=False, label="Audit log")
        ticker = gr.Timer(WORKER_REFRESH_SECONDS)

    # ------------------------------------------------------------------ reading
    def _users_views(user: User, selected: str | None) -> list[Any]:
        """Users table, user picker (keeping ``selected``) and audit log, as ``user``."""
        users = store.list_users(user)  # refuses a non-admin
        names = [u.name for u in users]
        return [
            users_frame(users),
            gr.update(choices=names, value=selected if selected in names else None),
            audit_frame(store.audit_log(user, limit=_AUDIT_ROWS)),
        ]

    def _erase_views(user: User) -> list[Any]:
        items = store.list_sessions(user)
        return [gr.update(choices=_session_choices(items), value=None), "",
                gr.update(interactive=False)]

    def _retention_views() -> list[Any]:
        value = store.setting("retention_days")
        return [retention_markdown(value), int(value) if value is not None else None]

    def _everything(user: User) -> list[Any]:
        views = _users_views(user, None)  # first: it refuses a non-admin
        return [worker_markdown(worker_status(store)), *views, *_erase_views(user),
                *_retention_views()]

    everything_outs = [worker_md, users_df, pick, audit_df, erase_dd, erase_confirm,
                       erase_btn, retention_md, days]

    def on_refresh(request: gr.Request):
        user = signed_in_user(store, request)
        try:
            return ("", *_everything(user))
        except MswError as exc:
            return (f"✗ {exc}", *[gr.update()] * len(everything_outs))

    refresh_btn.click(on_refresh, None, [result, *everything_outs], api_name="admin_refresh")

    def on_tick(request: gr.Request):
        try:
            user = signed_in_user(store, request)
        except NotSignedIn:
            return gr.skip()
        if not user.can("user.manage"):
            return gr.skip()  # the timer runs on every page; only an admin's shows this
        return worker_markdown(worker_status(store))

    ticker.tick(on_tick, None, worker_md, show_progress="hidden", api_name="admin_tick")

    # ------------------------------------------------------------------ user changes
    user_outs = [result, users_df, pick, audit_df]

    def _act(request: gr.Request, do: Callable[[User], str], selected: str | None) -> list:
        """Run one change as the signed-in user; the message, then fresh tables."""
        user = signed_in_user(store, request)
        try:
            message = do(user)
        except MswError as exc:
            return [f"✗ {exc}", gr.update(), gr.update(), gr.update()]
        return [message, *_users_views(user, selected)]

    def _need(name: str | None) -> str:
        if not name:
            raise InputError("choose a user first")
        return name

    def _same(first: str, second: str) -> str:
        if (first or "") != (second or ""):
            raise InputError("the two passwords differ")
        return first or ""

    def on_add(name, role, teams, extra, worker, p1, p2, request: gr.Request):
        def do(user: User) -> str:
            password = _same(p1, p2)
            added = store.add_user((name or "").strip(), role or "", password,
                                   tuple(extra or ()), teams=parse_teams(teams) or ("*",),
                                   worker=worker or None, actor=user)
            return f"✓ User **{added.name}** added ({added.role}); they can sign in now."

        out = _act(request, do, (name or "").strip())
        done = out[0].startswith("✓")
        return (*out, "" if done else gr.update(), "", "")  # passwords never stay in a box

    add_btn.click(on_add, [add_name, add_role, add_teams, add_grants, add_worker, add_pw1,
                           add_pw2], [*user_outs, add_name, add_pw1, add_pw2],
                  api_name="admin_add_user")

    def on_pick(name, request: gr.Request):
        user = signed_in_user(store, request)
        try:
            chosen = next((u for u in store.list_users(user) if u.name == name), None)
        except MswError as exc:
            return f"✗ {exc}", gr.update(), gr.update()
        if chosen is None:
            return "", gr.update(value=None), ""
        return user_summary(chosen), chosen.role, ", ".join(sorted(chosen.teams))

    pick.input(on_pick, [pick], [pick_md, new_role, new_teams], api_name="admin_pick")

    def on_active(active: bool):
        def handler(name, request: gr.Request):
            def do(user: User) -> str:
                store.set_active(_need(name), active, user)
                return (f"✓ **{name}** enabled: they can sign in again." if active else
                        f"✓ **{name}** disabled: their open logins ended at once.")
            return _act(request, do, name)
        return handler

    disable_btn.click(on_active(False), [pick], user_outs, api_name="admin_disable")
    enable_btn.click(on_active(True), [pick], user_outs, api_name="admin_enable")

    def on_role(name, role, request: gr.Request):
        def do(user: User) -> str:
            changed = store.set_user_role(_need(name), role or "", user)
            return f"✓ **{changed.name}** now has the role {changed.role}."
        return _act(request, do, name)

    role_btn.click(on_role, [pick, new_role], user_outs, api_name="admin_role")

    def on_teams(name, teams, request: gr.Request):
        def do(user: User) -> str:
            changed = store.set_teams(_need(name), parse_teams(teams), user)
            seen = "every team" if "*" in changed.teams else ", ".join(sorted(changed.teams))
            return f"✓ **{changed.name}** sees the sessions of {seen}."
        return _act(request, do, name)

    teams_btn.click(on_teams, [pick, new_teams], user_outs, api_name="admin_teams")

    def on_grant(give: bool):
        def handler(name, permission, request: gr.Request):
            def do(user: User) -> str:
                if give:
                    store.grant(_need(name), permission or "", user)
                    return f"✓ {permission} granted to **{name}**."
                store.revoke(_need(name), permission or "", user)
                return f"✓ {permission} revoked from **{name}**."
            return _act(request, do, name)
        return handler

    grant_btn.click(on_grant(True), [pick, perm], user_outs, api_name="admin_grant")
    revoke_btn.click(on_grant(False), [pick, perm], user_outs, api_name="admin_revoke")

    def on_reset(name, p1, p2, request: gr.Request):
        def do(user: User) -> str:
            store.set_password(_need(name), _same(p1, p2), actor=user)
            return f"✓ Password of **{name}** reset: their open logins ended at once."
        return (*_act(request, do, name), "", "")

    reset_btn.click(on_reset, [pick, pw1, pw2], [*user_outs, pw1, pw2],
                    api_name="admin_reset_password")

    # ------------------------------------------------------------------ erasure
    def on_confirm_typed(session_id, typed):
        return gr.update(interactive=bool(session_id) and (typed or "").strip() == session_id)

    erase_confirm.change(on_confirm_typed, [erase_dd, erase_confirm], erase_btn,
                        show_progress="hidden", api_name="admin_erase_typed")
    erase_dd.change(on_confirm_typed, [erase_dd, erase_confirm], erase_btn,
                    show_progress="hidden", api_name="admin_erase_pick")

    def on_erase(session_id, typed, request: gr.Request):
        user = signed_in_user(store, request)
        try:
            if not session_id or (typed or "").strip() != session_id:
                raise InputError("type the session id exactly to confirm the erasure")
            report = store.erase_session(session_id, user)
        except MswError as exc:
            return (f"✗ {exc}", gr.update(), gr.update(), gr.update(), gr.update())
        return (erasure_markdown(report), *_erase_views(user),
                audit_frame(store.audit_log(user, limit=_AUDIT_ROWS)))

    erase_btn.click(on_erase, [erase_dd, erase_confirm],
                    [erase_md, erase_dd, erase_confirm, erase_btn, audit_df],
                    api_name="admin_erase")

    # ------------------------------------------------------------------ retention
    def on_days(value, request: gr.Request):
        user = signed_in_user(store, request)
        try:
            if value is None:
                raise InputError("enter the number of days")
            saved = store.set_setting("retention_days", int(value), user)
        except MswError as exc:
            return (f"✗ {exc}", gr.update(), gr.update(), gr.update())
        return (f"✓ Retention set to {saved} days.", retention_markdown(saved), int(saved),
                audit_frame(store.audit_log(user, limit=_AUDIT_ROWS)))

    days_btn.click(on_days, [days], [result, retention_md, days, audit_df],
                   api_name="admin_retention")

    # ------------------------------------------------------------------ page load
    def load(user: User, items: list[SessionSummary], request: gr.Request) -> list:
        if not user.can("user.manage"):
            return [gr.update(visible=False), *[gr.update()] * len(everything_outs)]
        return [gr.update(visible=True), *_everything(user)]

    return Tab(outputs=[admin_tab, *everything_outs], load=load)
