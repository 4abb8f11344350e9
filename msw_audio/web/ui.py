"""The Gradio Blocks review app: evaluator queue and transcript, coach exemplar library,
team reflection, researcher exports and agreement, admin audit log.

Every handler resolves the signed-in user from the request (set by ``msw_audio.web.server``'s
login gate) and calls the ``Store`` with that user, so permissions are the store's, not the
browser's. Tabs a role cannot use are hidden as a courtesy; hiding is not the protection.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from msw_audio.errors import MswError
from msw_audio.records import PRINCIPLES
from msw_audio.review.auth import User
from msw_audio.review.store import SessionSummary, Store
from msw_audio.web.render import (
    PRINCIPLE_LABELS,
    CodebookView,
    codebook_view,
    exemplars_html,
    review_html,
    review_mount_html,
    shortlist_markdown,
)
from msw_audio.web.tab_family import build_family_progress, build_family_tab
from msw_audio.web.tab_supervision import build_supervision_tab
from msw_audio.web.team import distribution_figure, reflection_prompts, trend_figure

HEAD = '<link rel="stylesheet" href="/static/review.css"><script src="/static/review.js"></script>'
RECORDING_TYPES = ["home visit", "office meeting", "phone call", "role play", "supervision",
                   "other"]
JOB_COLUMNS = ["Recording", "State", "Stage", "Progress", "Session", "Error", "Queued"]
ORDERS = {"Time order": "time", "Least confident first": "confidence"}
LIVE_REFRESH_SECONDS = 10
STATUS_LABEL = {
    "unreviewed": "● Unreviewed",
    "in_progress": "◐ In progress",
    "reviewed": "✓ Reviewed",
}
QUEUE_COLUMNS = ["Status", "Session", "Worker", "Team", "Date", "Confirmed", "Id"]
PLACEHOLDER = (
    '<div class="msw-muted msw-empty">Choose a session from the queue to start reviewing.</div>'
)


class NotSignedIn(gr.Error):
    pass


def _user(store: Store, request: gr.Request | None) -> User:
    name = getattr(request, "username", None) if request is not None else None
    user = store.get_user(name) if name else None
    if user is None:
        raise NotSignedIn("Your sign-in has expired: reload the page to sign in again.")
    return user


def live_signature(*frames: pd.DataFrame) -> str:
    """What a set of tables shows, as one comparable string (unchanged -> no update sent)."""
    return "\n".join(f.to_json(orient="split") for f in frames)


def queue_frame(items: list[SessionSummary]) -> pd.DataFrame:
    rows = [
        [
            STATUS_LABEL.get(s.status, s.status),
            s.title or s.id,
            s.worker,
            s.team,
            s.date or "",
            f"{s.n_confirmed}/{s.n_utterances} ({round(100 * s.progress)}%)",
            s.id,
        ]
        for s in items
    ]
    return pd.DataFrame(rows, columns=QUEUE_COLUMNS)


def session_choices(items: list[SessionSummary]) -> list[tuple[str, str]]:
    return [
        (
            f"{s.title or s.id} · {s.status.replace('_', ' ')} · {s.n_confirmed}/{s.n_utterances}",
            s.id,
        )
        for s in items
    ]


def render_session(
    store: Store, book: CodebookView | None, user: User, session_id: str, order: str
) -> str:
    """The review pane HTML for ``session_id`` as ``user`` may see it.

    ``book`` None: the codebook that coded the session (its codes and hotkeys).
    """
    session = store.get_session(session_id, user)
    if book is None:
        book = codebook_view(store.codebook_for(session_id))
    decisions = store.get_decisions(session_id, user)
    meta = store.session_meta(session_id, user)
    return review_html(
        session_id,
        session,
        decisions,
        meta,
        book,
        editable=user.can("session.edit"),
        can_listen=user.can("audio.listen"),
        order=order,
    )


def _principle(name: str | None) -> str:
    return PRINCIPLE_LABELS.get(name or "", "")


def _error_html(exc: Exception) -> str:
    from html import escape

    return f'<div class="msw-empty" role="alert">⚠ {escape(str(exc))}</div>'


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
    code_choices = [("Any good-practice code", "")] + [
        (c.label, c.id) for c in book.groups.get("practitioner", [])
    ]
    principle_choices = [("Any principle", "")] + [(PRINCIPLE_LABELS[p], p) for p in PRINCIPLES]

    # analytics off: an offline-first tool for family recordings sends nothing anywhere
    with gr.Blocks(title="msw-audio review", analytics_enabled=False) as demo:
        header = gr.HTML(js_on_load=None, apply_default_css=False)
        with gr.Tabs():
            # ---------------------------------------------------------- evaluator
            with gr.Tab("Review", id="review"):
                with gr.Row(equal_height=True):
                    session_dd = gr.Dropdown(
                        label="Session", choices=[], scale=4, elem_id="msw-session"
                    )
                    order = gr.Radio(
                        list(ORDERS),
                        value="Time order",
                        label="Transcript order",
                        scale=2,
                        elem_id="msw-order",
                    )
                    refresh = gr.Button("Refresh queue", scale=0, size="sm", min_width=140)
                with gr.Accordion("Review queue (unreviewed first)", open=True):
                    queue = gr.Dataframe(
                        headers=QUEUE_COLUMNS,
                        interactive=False,
                        elem_id="msw-queue",
                        max_height=260,
                    )
                review = gr.HTML(
                    PLACEHOLDER, js_on_load=None, apply_default_css=False, elem_id="msw-review-pane"
                )
                with gr.Accordion(
                    "Upload a recording for processing", open=False, visible=False
                ) as upload_box:
                    gr.Markdown(
                        "The recording is checked, copied into the data folder and processed on "
                        "this machine (speech to text, speakers, suggested codes and scores); "
                        "it appears in the queue when done. Nothing is sent anywhere."
                    )
                    up_file = gr.File(
                        label="Recording (wav, mp3, m4a, ogg, flac...)",
                        file_count="single",
                        type="filepath",
                        elem_id="msw-upload",
                    )
                    with gr.Row():
                        up_worker = gr.Textbox(label="Worker")
                        up_team = gr.Textbox(label="Team")
                        up_date = gr.Textbox(label="Date (YYYY-MM-DD)")
                        up_family = gr.Textbox(label="Family pseudonym")
                        up_type = gr.Dropdown(
                            RECORDING_TYPES, label="Recording type", allow_custom_value=True
                        )
                    with gr.Row():
                        up_btn = gr.Button("Upload and process", variant="primary")
                        jobs_btn = gr.Button("Refresh processing status")
                    up_result = gr.Markdown()
                    jobs_table = gr.Dataframe(
                        headers=JOB_COLUMNS, interactive=False, label="Processing jobs"
                    )
                with gr.Accordion(
                    "Add a processed session", open=False, visible=False
                ) as ingest_box:
                    gr.Markdown(
                        "Add the output folder of `msw-audio process` (it holds `session.json`) "
                        "and its recording from the data folder's `import/` folder on the "
                        "server. The recording is copied into the managed data folder."
                    )
                    with gr.Row():
                        in_folder = gr.Textbox(label="Output folder (in import/)", scale=3)
                        in_audio = gr.Textbox(
                            label="Recording (in import/)", scale=2
                        )
                    with gr.Row():
                        in_worker = gr.Textbox(label="Worker")
                        in_team = gr.Textbox(label="Team")
                        in_date = gr.Textbox(label="Date (YYYY-MM-DD)")
                        in_family = gr.Textbox(label="Family pseudonym")
                        in_type = gr.Dropdown(
                            RECORDING_TYPES,
                            label="Recording type",
                            allow_custom_value=True,
                        )
                    in_btn = gr.Button("Add session", variant="primary")
                    in_result = gr.Markdown()

            # ---------------------------------------------------------- coach
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

            # ---------------------------------------------------------- team
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
                build_family_progress(store, demo)

            build_family_tab(store, demo)
            build_supervision_tab(store, demo)

            # ---------------------------------------------------------- researcher
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

            # ---------------------------------------------------------- admin
            with gr.Tab("Admin", id="admin", visible=False) as admin_tab:
                ad_btn = gr.Button("Load users and audit log")
                ad_users = gr.Dataframe(interactive=False, label="Users")
                ad_audit = gr.Dataframe(interactive=False, label="Audit log (newest first)")

        sessions_state = gr.State([])
        live_state = gr.State("")  # what the queue and jobs tables show now (see on_tick)

        # -------------------------------------------------------------- handlers
        def on_load(request: gr.Request):
            user = _user(store, request)
            items = store.list_sessions(user) if user.can("session.view") else []
            wanted = (request.query_params.get("session") if request else None) or None
            ids = [s.id for s in items]
            teams = sorted({s.team for s in items if s.team})
            workers = sorted({s.worker for s in items if s.worker})
            wanted = wanted if wanted in ids else None
            pane = review_mount_html(wanted) if wanted else PLACEHOLDER
            frame, jobs = queue_frame(items), jobs_frame(user)
            return (
                _header(user),
                frame,
                jobs,
                live_signature(frame, jobs),
                gr.update(choices=session_choices(items), value=wanted),
                pane,
                ids,
                gr.update(visible=user.can("session.ingest")),
                gr.update(visible=user.can("job.enqueue")),
                gr.update(visible=user.can("exemplars.view")),
                gr.update(visible=user.can("team.view")),
                gr.update(visible=user.can("export") or user.can("agreement.view")),
                gr.update(visible=user.can("audit.view")),
                gr.update(choices=[("Any worker", "")] + [(w, w) for w in workers]),
                gr.update(choices=[("Any team", "")] + [(t, t) for t in teams]),
                gr.update(choices=[("Whole service", "")] + [(t, t) for t in teams]),
                gr.update(visible=user.name in workers),
            )

        demo.load(
            on_load,
            outputs=[
                header,
                queue,
                jobs_table,
                live_state,
                session_dd,
                review,
                sessions_state,
                ingest_box,
                upload_box,
                coach_tab,
                team_tab,
                research_tab,
                admin_tab,
                f_worker,
                f_team,
                t_team,
                own_box,
            ],
        )

        def queue_outputs(items: list[SessionSummary], current: str | None):
            """The queue table, the session picker (keeping ``current``) and the session ids."""
            return (
                queue_frame(items),
                gr.update(choices=session_choices(items), value=current),
                [s.id for s in items],
            )

        def on_refresh(current: str | None, request: gr.Request):
            return queue_outputs(store.list_sessions(_user(store, request)), current)

        refresh.click(on_refresh, [session_dd], [queue, session_dd, sessions_state])

        def on_open(session_id: str | None, order_label: str, request: gr.Request):
            user = _user(store, request)
            if not session_id:
                return PLACEHOLDER
            try:
                store.session_meta(session_id, user)  # exists and may be seen: else say why now
            except MswError as exc:
                return _error_html(exc)
            return review_mount_html(session_id, ORDERS.get(order_label, "time"))

        # .input (not .change): a value set by another handler has already been rendered
        session_dd.input(on_open, [session_dd, order], [review])
        order.change(on_open, [session_dd, order], [review])

        def on_pick(ids: list[str], order_label: str, evt: gr.SelectData, request: gr.Request):
            row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
            if not ids or row is None or row >= len(ids):
                return gr.update(), gr.update()
            return ids[row], on_open(ids[row], order_label, request)

        queue.select(on_pick, [sessions_state, order], [session_dd, review])

        def on_ingest(folder, audio, worker, team, date, family, rtype, request: gr.Request):
            user = _user(store, request)
            if not folder:
                return (
                    "Enter the output folder of `msw-audio process`.",
                    *[gr.update()] * 4,
                )
            meta = {
                "worker": worker,
                "team": team,
                "date": date,
                "family": family,
                "recording_type": rtype,
            }
            try:
                paths = store.paths
                sid = store.ingest(
                    paths.inside_imports(folder),
                    actor=user,
                    meta={k: v for k, v in meta.items() if v},
                    audio_path=paths.inside_imports(audio) if audio else None,
                    audio_from_session=False,
                )
            except MswError as exc:
                return f"⚠ {exc}", *[gr.update()] * 4
            items = store.list_sessions(user)
            return (
                f"Added session `{sid}`.",
                queue_frame(items),
                gr.update(choices=session_choices(items), value=sid),
                [s.id for s in items],
                review_mount_html(sid),
            )

        in_btn.click(
            on_ingest,
            [in_folder, in_audio, in_worker, in_team, in_date, in_family, in_type],
            [in_result, queue, session_dd, sessions_state, review],
        )

        def jobs_frame(user: User) -> pd.DataFrame:
            from msw_audio.jobs.queue import list_jobs

            rows = [
                [
                    j.source_name,
                    j.state,
                    j.stage,
                    f"{round(100 * j.progress)}%",
                    j.session_id or "",
                    j.error or "",
                    j.created_at,
                ]
                for j in list_jobs(store, user, limit=50)
            ]
            return pd.DataFrame(rows, columns=JOB_COLUMNS)

        def on_upload(path, worker, team, date, family, rtype, request: gr.Request):
            from msw_audio.jobs.queue import enqueue, submit

            user = _user(store, request)
            if not path:
                return "Choose a recording first.", gr.update()
            upload = Path(path)
            meta = {
                "worker": worker,
                "team": team,
                "date": date,
                "family": family,
                "recording_type": rtype,
                "filename": upload.name,
            }
            try:
                job = enqueue(store, upload, user, meta={k: v for k, v in meta.items() if v})
                submit(job)  # the engine from MSW_AUDIO_ENGINE (serve --engine sets it)
            except MswError as exc:
                return f"⚠ {exc}", jobs_frame(user)
            finally:
                # Gradio keeps uploads in its temp folder: a family's recording must not linger
                upload.unlink(missing_ok=True)
            return f"Queued as job `{job}`; refresh the status to follow it.", jobs_frame(user)

        up_btn.click(
            on_upload,
            [up_file, up_worker, up_team, up_date, up_family, up_type],
            [up_result, jobs_table],
        )

        def on_jobs(request: gr.Request):
            return jobs_frame(_user(store, request))

        jobs_btn.click(on_jobs, None, [jobs_table])

        # The queue and the processing jobs follow the store while the page is open. A tick
        # that finds nothing new sends nothing, so an evaluator's screen only changes when
        # the data does (a finished job, a colleague's review).
        ticker = gr.Timer(LIVE_REFRESH_SECONDS)

        def on_tick(current: str | None, last: str, request: gr.Request):
            user = _user(store, request)
            items = store.list_sessions(user) if user.can("session.view") else []
            outputs, jobs = queue_outputs(items, current), jobs_frame(user)
            signature = live_signature(outputs[0], jobs)
            if signature == last:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return (*outputs, jobs, signature)

        ticker.tick(
            on_tick, [session_dd, live_state],
            [queue, session_dd, sessions_state, jobs_table, live_state],
        )

        # -------------------------------------------------------------- coach
        def on_find(code, principle, worker, team, d_from, d_to, request: gr.Request):
            user = _user(store, request)
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
                return _error_html(exc), [], gr.update(choices=[], value=[])
            labels = [
                (
                    f"#{i + 1} {book.label(x.get('code')) or _principle(x.get('principle'))}"
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
            _user(store, request)
            chosen = [items[i] for i in sorted(picked or []) if 0 <= i < len(items)] or items
            if not chosen:
                raise gr.Error("Find some examples first.")
            out = Path(tempfile.mkdtemp(prefix="msw-shortlist-")) / "coaching-shortlist.md"
            out.write_text(shortlist_markdown(chosen, book), encoding="utf-8")
            return str(out)

        sl_btn.click(on_shortlist, [ex_state, shortlist], [sl_file])

        # -------------------------------------------------------------- team
        def on_team(team: str, kind: str, request: gr.Request):
            user = _user(store, request)
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
            on_team, [t_team, t_kind], [t_prompts, t_trend, t_dist, t_table, own_plot, own_note]
        )

        # -------------------------------------------------------------- research
        def on_agreement(request: gr.Request):
            user = _user(store, request)
            try:
                ag = store.agreement(user)
            except MswError as exc:
                raise gr.Error(str(exc)) from None
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

        a_btn.click(on_agreement, None, [a_summary, a_codes, a_versions, a_principles])

        # -------------------------------------------------------------- admin
        def on_admin(request: gr.Request):
            user = _user(store, request)
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

    return demo
