"""Forged Admin-tab events from a non-admin are refused on the server.

Every role receives the whole Gradio config (the Admin tab is only hidden), so an
evaluator can post the Admin tab's events to the Gradio queue by hand. Each must come back
"may not …" from the store and change nothing. Real served app, real store, real HTTP
through the Gradio queue protocol (``queue/join`` then the ``queue/data`` event stream).
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.conftest_app import PASSWORD, make_store, running_server
from tests.test_app import _login, _request


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    store, sid = make_store(tmp_path_factory.mktemp("admin-events") / "data")
    with running_server(store) as base:
        yield store, sid, base
    store.close()


def _forge(base: str, cookie: str, button: str, data: list) -> str:
    """Post the click event of the button labelled ``button`` with ``data``; the first
    output's text, or Gradio's own error when it refused the inputs before the handler."""
    status, _, body = _request(base + "/ui/config", cookie=cookie)
    assert status == 200
    cfg = json.loads(body)
    ids = {c["id"] for c in cfg["components"] if c.get("props", {}).get("value") == button}
    fn, trigger = next((i, t[0]) for i, d in enumerate(cfg["dependencies"])
                       for t in d["targets"] if t[0] in ids and t[1] == "click")
    session = f"forged-{fn}"
    payload = {"data": data, "event_data": None, "fn_index": fn, "trigger_id": trigger,
               "session_hash": session}
    status, _, _ = _request(base + "/ui/gradio_api/queue/join", cookie=cookie, method="POST",
                            data=json.dumps(payload).encode(),
                            headers={"Content-Type": "application/json"})
    assert status == 200
    req = urllib.request.Request(f"{base}/ui/gradio_api/queue/data?session_hash={session}")
    req.add_header("Cookie", cookie)
    with urllib.request.urlopen(req, timeout=60) as resp:
        for raw in resp:
            line = raw.decode().strip()
            if line.startswith("data:") and "process_completed" in line:
                message = json.loads(line[5:])
                if not message.get("success", True):
                    return "gradio: " + str(message["output"].get("error"))
                return str(message["output"]["data"][0])
    raise AssertionError("no completed event")


def test_each_admin_event_refuses_an_evaluator(served):
    store, sid, base = served
    eva = _login(base, "eva")
    pw = "forged-password-1"
    events = [
        ("Add user", ["mallory", "admin", "*", [], "", pw, pw]),
        ("Disable login", ["ada"]),
        ("Enable login", ["ada"]),
        ("Change role", ["eva", "admin"]),
        ("Set teams", ["cora", "South"]),
        ("Grant", ["eva", "export"]),
        ("Revoke", ["ada", "export"]),
        ("Reset password", ["ada", pw, pw]),
        ("Erase session", [sid, sid]),
        ("Save retention", [1]),
        ("Refresh", []),
    ]
    reached_store = set()
    for button, data in events:
        out = _forge(base, eva, button, data)
        # a user picker holds no names for a non-admin's page, so Gradio itself refuses
        # those values before the handler (defence in depth); the rest reach the store
        assert "may not" in out or "not in the list of choices" in out, (button, out)
        if "may not" in out:
            reached_store.add(button)
    assert {"Add user", "Save retention", "Refresh"} <= reached_store
    assert store.get_user("mallory") is None
    assert store.get_user("eva").role == "evaluator" and not store.get_user("eva").grants
    assert store.get_user("ada") is not None
    assert store.get_user("cora").teams == frozenset({"*"})
    assert store.setting("retention_days") is None
    assert [s.id for s in store.list_sessions(store.get_user("ada"))] == [sid]
    # ada's password is still the old one
    body = f"username=ada&password={PASSWORD}&next=/".encode()
    status, headers, _ = _request(base + "/login", method="POST", data=body,
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303 and "set-cookie" in headers
