"""What every tab of the Gradio app shares: the signed-in user, the queue table, error HTML.

A tab module exposes ``build(store, book) -> Tab``: it lays out its components (inside
``gr.Tabs``), wires its own handlers, and says which components the page load updates for
the signed-in user (``Tab.outputs`` / ``Tab.load``). ``web.ui.build_blocks`` composes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any

import gradio as gr
import pandas as pd

from msw_audio.errors import MswError
from msw_audio.review.auth import User
from msw_audio.review.store import SessionSummary, Store
from msw_audio.web.deps import _http_error
from msw_audio.web.gradio_guard import HANDLER_ERROR_TITLES
from msw_audio.web.render import PRINCIPLE_LABELS, CodebookView, codebook_view, review_html

JOB_COLUMNS = ["Recording", "State", "Stage", "Progress", "Session", "Error", "Queued"]
ORDERS = {"Time order": "time", "Least confident first": "confidence"}
STATUS_LABEL = {
    "unreviewed": "● Unreviewed",
    "in_progress": "◐ In progress",
    "reviewed": "✓ Reviewed",
}
QUEUE_COLUMNS = ["Status", "Session", "Worker", "Team", "Date", "Confirmed", "Id"]
PLACEHOLDER = (
    '<div class="msw-muted msw-empty">Choose a session from the queue to start reviewing.</div>'
)


@dataclass
class Tab:
    """One tab's handle for the page load: components to update, and their values for a user.

    ``load(user, items, request)`` gets the sessions the user may see (``items``) and returns
    one value (or ``gr.update``) per component in ``outputs``.
    """

    outputs: list[Any] = field(default_factory=list)
    load: Callable[[User, list[SessionSummary], gr.Request], list[Any]] = lambda u, i, r: []


class NotSignedIn(gr.Error):
    def __init__(self, message: str) -> None:
        super().__init__(message, title=HANDLER_ERROR_TITLES[401])


def handler_error(exc: MswError) -> gr.Error:
    """A store error as a handler's ``gr.Error``, titled by its kind ("Not allowed", "Not
    found"…): the page shows the title, and Gradio's ``run/``/``api/`` answer it with the
    matching 4xx instead of a 500 (``gradio_guard.HANDLER_ERROR_TITLES``)."""
    status = _http_error(exc).status_code
    title = HANDLER_ERROR_TITLES.get(status, HANDLER_ERROR_TITLES[400])
    return gr.Error(str(exc), title=title)


def signed_in_user(store: Store, request: gr.Request | None) -> User:
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


def principle_label(name: str | None) -> str:
    return PRINCIPLE_LABELS.get(name or "", "")


def error_html(exc: Exception) -> str:
    return f'<div class="msw-empty" role="alert">⚠ {escape(str(exc))}</div>'


class PageLoads:
    """Stands in for ``gr.Blocks`` where a builder registers its own page-load handlers
    (``demo.load(fn, outputs=[...])``, each ``fn(request)``), and turns them into a ``Tab``
    so ``web.ui.build_blocks`` runs every tab's load in its one ``demo.load``."""

    def __init__(self) -> None:
        self.handlers: list[tuple[Callable[..., Any], list[Any]]] = []

    def load(self, fn: Callable[..., Any], inputs: Any = None, outputs: Any = None) -> None:
        if inputs:
            raise TypeError("a tab's page-load handler takes only the request")
        self.handlers.append((fn, list(outputs or [])))

    def tab(self, then: Tab | None = None) -> Tab:
        """One ``Tab`` with these handlers' outputs (after ``then``'s, when given)."""
        base = then or Tab()

        def load(user: User, items: list[SessionSummary], request: gr.Request) -> list[Any]:
            values = list(base.load(user, items, request))
            for fn, outs in self.handlers:
                got = fn(request)
                values.extend(got if len(outs) > 1 else [got])
            return values

        return Tab(outputs=[*base.outputs, *(o for _fn, outs in self.handlers for o in outs)],
                   load=load)
