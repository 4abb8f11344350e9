"""Calling a served app's Gradio routes by hand, as the page does (shared by the security
tests of Gradio handlers and pages).

Why one module: the handler matrix (``test_gradio_handlers.py``) and the page binding
(``test_gradio_pages.py``) post the same events, read the same event stream and upload the
same way; a change to how Gradio is called is made once here.
"""

from __future__ import annotations

import http.client
import json
import uuid
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from tests.test_app import _request

JSON = {"Content-Type": "application/json"}


class Served(Protocol):
    """What the calls need of a test's served app: its base URL and its handlers."""

    base: str
    #: api_name → ``fn_index``, ``trigger`` and, per input, whether it is a ``gr.State``
    deps: dict[str, dict[str, Any]]


def handler_table(base: str, cookie: str) -> dict[str, dict[str, Any]]:
    """Each handler of the app's ``/ui/config`` by api_name: what ``event`` needs."""
    status, _, body = _request(base + "/ui/config", cookie=cookie)
    assert status == 200, status
    cfg = json.loads(body)
    kinds = {comp["id"]: comp["type"] for comp in cfg["components"]}
    return {dep["api_name"]: {"fn_index": i, "trigger": dep["targets"][0][0],
                              "state": [kinds.get(x) == "state" for x in dep["inputs"]]}
            for i, dep in enumerate(cfg["dependencies"])}


def guard_of(app: Any) -> Any:
    """The ``GradioGuard`` inside ``create_app``'s middleware."""
    from msw_audio.web.gradio_guard import GradioGuard

    while not isinstance(app, GradioGuard):
        app = app.app
    return app


def full_inputs(s: Served, name: str, data: list[Any]) -> list[Any]:
    """``data`` (a handler's inputs without its ``gr.State`` ones) as the full input list,
    None where Gradio fills in the page's state."""
    values = iter(data)
    full = [None if is_state else next(values) for is_state in s.deps[name]["state"]]
    assert next(values, "end") == "end", f"{name}: too many inputs"
    return full


def event(s: Served, cookie: str | None, name: str, data: list[Any], session_hash: str,
          event_data: Any = None) -> tuple[bool, str]:
    """Post handler ``name`` to Gradio's queue with ``data`` and read its result from the
    event stream: (completed without error, the answer as text; ``HTTP <status>: …`` when
    the join itself was refused)."""
    dep = s.deps[name]
    payload = {"data": full_inputs(s, name, data), "event_data": event_data,
               "fn_index": dep["fn_index"], "trigger_id": dep["trigger"],
               "session_hash": session_hash}
    status, _, body = _request(s.base + "/ui/gradio_api/queue/join", cookie=cookie,
                               method="POST", data=json.dumps(payload).encode(),
                               headers=JSON)
    if status != 200:
        return False, f"HTTP {status}: {body.decode(errors='replace')}"
    event_id = json.loads(body)["event_id"]
    conn = http.client.HTTPConnection(urlsplit(s.base).netloc, timeout=60)
    try:
        conn.request("GET", f"/ui/gradio_api/queue/data?session_hash={session_hash}",
                     headers={"Cookie": cookie or ""})
        resp = conn.getresponse()
        for raw in resp:
            line = raw.decode().strip()
            if not line.startswith("data:"):
                continue
            msg = json.loads(line[5:])
            if msg.get("event_id") == event_id and msg.get("msg") == "process_completed":
                out = msg.get("output") or {}
                return bool(msg.get("success")), json.dumps(out.get("error") or out)
    finally:
        conn.close()
    raise AssertionError(f"{name}: no completed event")


def run_direct(s: Served, cookie: str | None, name: str, data: list[Any],
               session_hash: str, event_data: Any = None) -> tuple[int, bytes]:
    """Post handler ``name`` to Gradio's direct ``run/`` route (no queue): status, body."""
    payload = {"data": full_inputs(s, name, data), "event_data": event_data,
               "session_hash": session_hash}
    status, _, body = _request(f"{s.base}/ui/gradio_api/run/{name}", cookie=cookie,
                               method="POST", data=json.dumps(payload).encode(),
                               headers=JSON)
    return status, body


def upload(base: str, cookie: str | None, content: bytes, filename: str = "a.ogg",
           upload_id: str | None = None) -> tuple[int, bytes]:
    """POST one file to Gradio's upload route (multipart, as the page sends it)."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
            f"filename=\"{filename}\"\r\nContent-Type: audio/ogg\r\n\r\n").encode() \
        + content + f"\r\n--{boundary}--\r\n".encode()
    query = f"?upload_id={upload_id}" if upload_id else ""
    status, _, out = _request(f"{base}/ui/gradio_api/upload{query}", cookie=cookie,
                              method="POST", data=body,
                              headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    return status, out


def upload_file(base: str, cookie: str | None, audio: Path) -> tuple[int, bytes]:
    """``upload`` of a whole file under its own name."""
    return upload(base, cookie, audio.read_bytes(), audio.name)


def stream_status(base: str, path: str, cookie: str) -> tuple[int, bytes]:
    """A GET that may answer an endless event stream: its status and first bytes."""
    conn = http.client.HTTPConnection(urlsplit(base).netloc, timeout=30)
    try:
        conn.request("GET", path, headers={"Cookie": cookie})
        resp = conn.getresponse()
        return resp.status, resp.read(200) if resp.status != 200 else resp.readline()
    finally:
        conn.close()
