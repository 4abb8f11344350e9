"""The Review tab: the evaluator's queue, the synced transcript pane, uploads and ingest.

The queue and the processing jobs follow the store while the page is open (``on_tick``);
the transcript itself is server-rendered HTML fetched by ``review.js`` (``web.render``).
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from msw_audio.errors import MswError
from msw_audio.review.auth import User
from msw_audio.review.store import SessionSummary, Store
from msw_audio.web import tab_upload_state
from msw_audio.web.render import CodebookView, review_mount_html, url_mount_html
from msw_audio.web.ui_common import (
    JOB_COLUMNS,
    ORDERS,
    PLACEHOLDER,
    QUEUE_COLUMNS,
    Tab,
    error_html,
    live_signature,
    queue_frame,
    session_choices,
    signed_in_user,
)

RECORDING_TYPES = ["home visit", "office meeting", "phone call", "role play", "supervision",
                   "other"]
LIVE_REFRESH_SECONDS = 10


def build(store: Store, book: CodebookView) -> Tab:
    """Lay out the Review tab and wire its handlers (inside ``gr.Tabs``)."""
    with gr.Tab("Review", id="review"):
        sessions_state = gr.State([])
        live_state = gr.State("")  # what the queue and jobs tables show now (see on_tick)
        ticker = gr.Timer(LIVE_REFRESH_SECONDS)
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
            url_mount_html(PLACEHOLDER), js_on_load=None, apply_default_css=False,
            elem_id="msw-review-pane",
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
                up_people = gr.Textbox(
                    label="People present (3, or 2-4)", elem_id="msw-upload-people"
                )
            with gr.Row():
                up_btn = gr.Button("Upload and process", variant="primary")
                jobs_btn = gr.Button("Refresh processing status")
            up_result = gr.Markdown()
            up_known = gr.State(None)  # a re-uploaded recording's session id
            up_update = gr.Button("Update its metadata", visible=False)
            tab_upload_state.worker_banner(store)
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


    def queue_outputs(items: list[SessionSummary], current: str | None):
        """The queue table, the session picker (keeping ``current``) and the session ids."""
        return (
            queue_frame(items),
            gr.update(choices=session_choices(items), value=current),
            [s.id for s in items],
        )

    def on_refresh(current: str | None, request: gr.Request):
        return queue_outputs(store.list_sessions(signed_in_user(store, request)), current)

    refresh.click(on_refresh, [session_dd], [queue, session_dd, sessions_state],
                  api_name="review_refresh")

    def on_open(session_id: str | None, order_label: str, request: gr.Request):
        user = signed_in_user(store, request)
        if not session_id:
            return PLACEHOLDER
        try:
            store.session_meta(session_id, user)  # exists and may be seen: else say why now
        except MswError as exc:
            return error_html(exc)
        return review_mount_html(session_id, ORDERS.get(order_label, "time"))

    # .input (not .change): a value set by another handler has already been rendered
    session_dd.input(on_open, [session_dd, order], [review], api_name="review_open")
    order.change(on_open, [session_dd, order], [review], api_name="review_order")

    def on_pick(ids: list[str], order_label: str, evt: gr.SelectData, request: gr.Request):
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if not ids or row is None or row >= len(ids):
            return gr.update(), gr.update()
        return ids[row], on_open(ids[row], order_label, request)

    queue.select(on_pick, [sessions_state, order], [session_dd, review], api_name="review_pick")

    def on_ingest(folder, audio, worker, team, date, family, rtype, request: gr.Request):
        user = signed_in_user(store, request)
        if not user.can("session.ingest"):
            # before the paths are looked at: their errors name the server's data folder
            return (f"⚠ user {user.name!r} ({user.role}) may not add sessions",
                    *[gr.update()] * 4)
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
        [in_result, queue, session_dd, sessions_state, review], api_name="review_ingest"
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

    def on_upload(path, worker, team, date, family, rtype, people, request: gr.Request):
        from msw_audio.jobs.queue import enqueue, submit

        user = signed_in_user(store, request)
        keep = (gr.update(),) * 7
        if not user.can("job.enqueue"):
            # refused before the file is touched: Gradio's uploads are shared by path, so
            # a path sent by another login must not be deleted by this one
            return (f"⚠ user {user.name!r} ({user.role}) may not upload recordings",
                    gr.update(), *keep, None, gr.update(visible=False))
        if not path:
            return "Choose a recording first.", gr.update(), *keep, None, gr.update(visible=False)
        upload = Path(path)
        meta = {
            "worker": worker,
            "team": team,
            "date": date,
            "family": family,
            "recording_type": rtype,
            "people": (people or "").strip(),  # diarization's speaker count
            "filename": upload.name,
        }
        try:
            job = enqueue(store, upload, user, meta={k: v for k, v in meta.items() if v})
            known, known_sid = tab_upload_state.known_upload(store, user, job)
            if not known:
                submit(job)  # the engine from MSW_AUDIO_ENGINE (serve --engine sets it)
        except MswError as exc:
            return f"⚠ {exc}", jobs_frame(user), *keep, None, gr.update(visible=False)
        finally:
            # Gradio keeps uploads in its temp folder: a family's recording must not linger
            upload.unlink(missing_ok=True)
        if known:  # keep the form: its details may go onto the known session
            return (known, jobs_frame(user), None, *keep[1:], known_sid,
                    gr.update(visible=bool(known_sid)))
        # a new recording: the form starts empty for the next one
        return (f"Queued as job `{job}`; refresh the status to follow it.", jobs_frame(user),
                None, "", "", "", "", None, "", None, gr.update(visible=False))

    up_fields = [up_worker, up_team, up_date, up_family, up_type, up_people]
    up_btn.click(
        on_upload,
        [up_file, *up_fields],
        [up_result, jobs_table, up_file, *up_fields, up_known, up_update], api_name="review_upload"
    )

    def on_update_meta(sid, worker, team, date, family, rtype, request: gr.Request):
        meta = {"worker": worker, "team": team, "date": date, "family": family,
                "recording_type": rtype}
        return tab_upload_state.update_meta(store, signed_in_user(store, request), sid, meta)

    up_update.click(on_update_meta, [up_known, *up_fields[:5]], [up_result],
                    api_name="review_update_meta")

    def on_jobs(request: gr.Request):
        return jobs_frame(signed_in_user(store, request))

    jobs_btn.click(on_jobs, None, [jobs_table], api_name="review_jobs")

    # The queue and the processing jobs follow the store while the page is open. A tick
    # that finds nothing new sends nothing, so an evaluator's screen only changes when
    # the data does (a finished job, a colleague's review).

    def on_tick(current: str | None, last: str, request: gr.Request):
        user = signed_in_user(store, request)
        items = store.list_sessions(user) if user.can("session.view") else []
        outputs, jobs = queue_outputs(items, current), jobs_frame(user)
        signature = live_signature(outputs[0], jobs)
        if signature == last:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return (*outputs, jobs, signature)

    ticker.tick(
        on_tick, [session_dd, live_state],
        [queue, session_dd, sessions_state, jobs_table, live_state], api_name="review_tick"
    )

    def load(user: User, items: list[SessionSummary], request: gr.Request) -> list:
        wanted = (request.query_params.get("session") if request else None) or None
        ids = [s.id for s in items]
        # the pane is not an output: review.js fills it from the URL (url_mount_html), and
        # an output would be dimmed by Gradio until this handler returns
        wanted = wanted if wanted in ids else None
        frame, jobs = queue_frame(items), jobs_frame(user)
        return [
            frame,
            jobs,
            live_signature(frame, jobs),
            gr.update(choices=session_choices(items), value=wanted),
            ids,
            gr.update(visible=user.can("session.ingest")),
            gr.update(visible=user.can("job.enqueue")),
        ]

    return Tab(
        outputs=[queue, jobs_table, live_state, session_dd, sessions_state, ingest_box,
                 upload_box],
        load=load,
    )
