"""The upload form's state: the no-worker banner and re-uploads of known audio.

Why: under an app started without a worker an upload sat at "queued 0 %" for ever with no
hint, and re-uploading a recording the store already holds returned the old job and
silently dropped the new metadata. The banner reads ``jobs.worker_status``; a known
recording is named, and the form offers to update its session's metadata
(``Store.update_session_meta``, audited).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from msw_audio.errors import MswError
from msw_audio.review.auth import User
from msw_audio.review.store import Store

#: seconds between banner checks while the page is open
BANNER_SECONDS = 10


def worker_banner(store: Store) -> gr.Markdown:
    """A banner (empty while a worker takes work) that follows the queue on its own."""
    from msw_audio.jobs.worker_status import worker_status
    from msw_audio.web.ui_common import signed_in_user

    banner = gr.Markdown(worker_status(store).banner, elem_id="msw-worker-banner")

    def on_banner(request: gr.Request) -> str:
        # like every handler: the signed-in user first (the queue's state is for job viewers)
        if not signed_in_user(store, request).can("job.view"):
            return ""
        return worker_status(store).banner

    gr.Timer(BANNER_SECONDS).tick(on_banner, None, [banner], api_name="worker_banner")
    return banner


def known_upload(store: Store, user: User, job_id: str) -> tuple[str, str | None]:
    """("" , None) for a new recording; else what the store already holds and, if it is a
    session, its id (so the form can offer to update its metadata)."""
    from msw_audio.jobs.queue import get_job

    try:
        job = get_job(store, job_id, user)
    except MswError:
        # identical audio is processed once: the job is another login's (not theirs to see)
        return ("This recording was **already uploaded by another login**; it is processed "
                "once. Nothing was queued."), None
    if job.stage != "already in store" and job.state in ("queued", "running", "done") \
            and not _older_than_now(job.created_at):
        return "", None
    if job.session_id:
        try:
            meta = store.session_meta(job.session_id, user)
        except MswError:
            return "This recording is already in the store (in a team you do not see).", None
        said = " · ".join(str(meta[k]) for k in ("title", "worker", "team", "date", "family")
                          if meta.get(k))
        return (f"This recording is **already in the store** as session `{job.session_id}`"
                f"{f' ({said})' if said else ''}. Nothing was queued. To replace its details "
                "with the ones in the form, press **Update its metadata**."), job.session_id
    return (f"This recording is **already queued** as job `{job.id}` ({job.state}); it keeps "
            "the details of its first upload until it is processed."), None


def _older_than_now(created_at: str, seconds: float = 5.0) -> bool:
    from datetime import datetime

    from msw_audio.review.db import utcnow

    try:
        return (utcnow() - datetime.fromisoformat(created_at)).total_seconds() > seconds
    except (TypeError, ValueError):
        return False


def update_meta(store: Store, user: User, session_id: str | None, meta: dict[str, Any]) -> str:
    """The form's values onto the known session; a message saying what changed."""
    if not session_id:
        return "Upload the recording first."
    try:
        changed = store.update_session_meta(
            session_id, {k: v for k, v in meta.items() if v}, user)
    except MswError as exc:
        return f"⚠ {exc}"
    if not changed:
        return f"Session `{session_id}` already has these details."
    fields = ", ".join(f"{k} ({old or '—'} → {new})" for k, (old, new) in changed.items())
    return f"Updated session `{session_id}`: {fields}."
