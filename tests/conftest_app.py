"""Helpers for the app tests: a store with users and a session built for a real recording.

The session is glue, not a model result: its words, speakers and times are the exact
reference of the bundled demo recording (``msw_audio/demo/demo.stm``, written by
``scripts/make_session.py``), and its suggested codes and scores are fixed by hand so the
browser tests never wait for models. The store, server, audio and browser are all real.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from msw_audio.records import PRINCIPLES, AudioInfo, CodeSuggestion, Session, Speaker, Utterance
from msw_audio.speech.audio import sha256_file

REPO = Path(__file__).resolve().parents[1]
DEMO_AUDIO = REPO / "msw_audio" / "demo" / "demo.ogg"
DEMO_STM = REPO / "msw_audio" / "demo" / "demo.stm"
#: Debian's Chromium, headless, with every background connection off (the machine is offline).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "test-password-1"
USERS = {"eva": "evaluator", "cora": "coach", "rita": "researcher", "ada": "admin"}
SPEAKER_IDS = {"practitioner": "SPEAKER_00", "parent": "SPEAKER_01", "child": "SPEAKER_02"}


def _codes(role: str, text: str, i: int) -> list[CodeSuggestion]:
    """Fixed, plausible suggestions; every third one is deliberately unsure (< 0.6)."""
    p = 0.45 if i % 3 == 0 else 0.82
    if role == "practitioner":
        if text.rstrip().endswith("?"):
            first, second = ("open_question", "closed_question")
        elif text.lower().startswith(("you", "so ")):
            first, second = ("complex_reflection", "simple_reflection")
        else:
            first, second = ("giving_information", "affirm")
    else:
        first, second = ("neutral", "change_talk")
    return [
        CodeSuggestion(first, p, "model"),
        CodeSuggestion(second, round(1 - p - 0.05, 2), "model"),
    ]


def demo_session(n_repeat: int = 1, period: float | None = None) -> Session:
    """The demo recording's reference transcript as a Session (``n_repeat`` > 1 makes a
    long synthetic session for the open-time benchmark by repeating it in time, every
    ``period`` seconds: the length of the recording repeated, see ``repeated_recording``)."""
    lines = [
        ln.split(maxsplit=5)
        for ln in DEMO_STM.read_text(encoding="utf-8").splitlines()
        if ln.strip()
    ]
    duration = period or max(float(x[4]) for x in lines) + 1.0
    utterances = []
    for rep in range(n_repeat):
        offset = rep * duration
        for _uri, _ch, role, start, end, text in lines:
            i = len(utterances)
            utterances.append(
                Utterance(
                    id=f"u{i:04d}",
                    start=round(float(start) + offset, 3),
                    end=round(float(end) + offset, 3),
                    speaker=SPEAKER_IDS[role],
                    text=text,
                    codes=_codes(role, text, i),
                )
            )
    talk: dict[str, float] = {}
    for u in utterances:
        talk[u.speaker] = talk.get(u.speaker, 0.0) + u.duration
    speakers = [
        Speaker(sid, role=role, role_confidence=0.8, talk_time=round(talk.get(sid, 0.0), 1))
        for role, sid in SPEAKER_IDS.items()
    ]
    evidence = [
        {
            "utterance_id": u.id,
            "start": u.start,
            "end": u.end,
            "text": u.text,
            "why": "fixed test evidence",
        }
        for u in utterances[:12:4]
    ]
    scores = {
        "rubric_version": "test",
        "miti": {
            "reflection_to_question": 1.4,
            "pct_complex_reflection": 45.0,
            "pct_open_question": 60.0,
            "mi_adherent": 6.0,
            "mi_non_adherent": 1.0,
            "change_talk": 4.0,
            "sustain_talk": 2.0,
            "practitioner_talk_share": 0.55,
            "technical_global": 3.5,
            "relational_global": 3.5,
            "ratings": {"reflection_to_question": "fair", "pct_complex_reflection": "fair"},
        },
        "principles": {
            name: {
                "value": 3.5,
                "confidence": 0.6,
                "evidence": evidence,
                "reasons": ["fixed test reason"],
            }
            for name in PRINCIPLES
        },
    }
    return Session(
        audio=AudioInfo(
            path=str(DEMO_AUDIO), sha256=sha256_file(DEMO_AUDIO), duration=duration * n_repeat
        ),
        speakers=speakers,
        utterances=utterances,
        models={"tagger": {"name": "hand-made-test-codes", "version": "0"}},
        scores=scores,
    )


def repeated_recording(n_repeat: int, out: Path) -> tuple[Path, float]:
    """The demo recording ``n_repeat`` times in a row, as one Ogg/Opus file (packets copied,
    not re-encoded: seconds, not minutes), and the length of one copy in seconds.

    Why: the open-time benchmark needs an hour-long recording whose lines match a
    1,000-utterance session (``demo_session(n_repeat, period)``).
    """
    import av

    with av.open(str(DEMO_AUDIO)) as src:
        stream = src.streams.audio[0]
        packets = [p for p in src.demux(stream) if p.dts is not None]
        # mid-stream the last packet plays whole (its end trim applies only at the end)
        step = packets[-1].pts + packets[0].duration - packets[0].pts
        with av.open(str(out), "w", format="ogg") as dst:
            copy = dst.add_stream_from_template(stream)
            for rep in range(n_repeat):
                for p in packets:
                    q = av.Packet(bytes(p))
                    q.pts, q.dts = p.pts + rep * step, p.dts + rep * step
                    q.duration, q.time_base, q.stream = p.duration, stream.time_base, copy
                    dst.mux(q)
        period = float(step * stream.time_base)
    return out, period


def write_session_dir(session: Session, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "session.json").write_text(json.dumps(session.to_dict()), encoding="utf-8")
    return out_dir


def make_store(data_dir: Path):  # noqa: ANN201
    """A store with one user per role (password ``PASSWORD``) and the demo session."""
    from msw_audio.review.store import Store

    store = Store.open(data_dir)
    for name, role in USERS.items():
        store.add_user(name, role, PASSWORD)
    out = write_session_dir(demo_session(), data_dir.parent / "demo-out")
    sid = store.ingest(
        out,
        meta={
            "worker": "Sam",
            "team": "North",
            "date": "2026-11-02",
            "family": "Family D",
            "recording_type": "home visit",
            "title": "Demo visit",
        },
        audio_path=DEMO_AUDIO,
    )
    return store, sid


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(store) -> Iterator[str]:  # noqa: ANN001
    """Serve ``create_app(store)`` with uvicorn in a thread on a free loopback port."""
    from msw_audio.web.server import create_app

    with serve_app(create_app(store)) as base:
        yield base


@contextlib.contextmanager
def serve_app(app) -> Iterator[str]:  # noqa: ANN001
    """Serve an app object with uvicorn in a thread on a free loopback port (a test that
    must reach into the app, e.g. to age a login, builds it itself)."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def signed_in_contexts(base: str, session_id: str):
    """One Chromium with one signed-in browser context per user, made on first use: each
    test opens a fresh page (its own sessionStorage) without signing in again or fetching
    Gradio's assets anew. Yields ``context(name)``; skips where Debian chromium is missing."""
    import pytest

    if not CHROMIUM.exists():
        pytest.skip("needs Debian chromium: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        contexts = {}

        def context(name: str):
            if name not in contexts:
                ctx = b.new_context(viewport={"width": 1280, "height": 720})
                page = ctx.new_page()
                page.goto(base + f"/ui/?session={session_id}")
                assert "/login" in page.url, "every page asks for a login first"
                page.fill("input[name=username]", name)
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_selector(".msw-utt", timeout=60_000)
                page.close()
                contexts[name] = ctx
            return contexts[name]

        try:
            yield context
        finally:
            b.close()
