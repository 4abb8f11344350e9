"""No lost update: two evaluators edit one line from stale views; the second gets 409 with
what the line holds now and who set it, nothing is overwritten, and replacing it on purpose
keeps both values in the decision history."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest_app import make_store, running_server
from tests.test_app import _login, _request

JSON = {"Content-Type": "application/json", "X-MSW": "1"}


def test_second_stale_edit_is_409_then_a_deliberate_replace_keeps_both(tmp_path: Path):
    store, sid = make_store(tmp_path / "data")
    store.add_user("evan", "evaluator", "test-password-1")
    url = None
    with running_server(store) as base:
        url = base + f"/api/sessions/{sid}/utterances/u0005/code"
        eva, evan = _login(base, "eva"), _login(base, "evan")
        # both screens showed no confirmed code on u0005
        first = json.dumps({"code": "complex_reflection", "expected": None}).encode()
        assert _request(url, method="POST", data=first, headers=JSON, cookie=eva)[0] == 200
        second = json.dumps({"code": "closed_question", "expected": None}).encode()
        status, _, body = _request(url, method="POST", data=second, headers=JSON, cookie=evan)
        assert status == 409
        detail = json.loads(body)["detail"]
        assert detail["current"] == "complex_reflection" and detail["by"] == "eva"
        assert "changed by eva" in detail["message"]
        decisions = store.get_decisions(sid, store.get_user("eva"))
        assert decisions["codes"]["u0005"]["code"] == "complex_reflection"  # not overwritten
        # evan saw theirs and replaces it on purpose
        again = json.dumps({"code": "closed_question",
                            "expected": "complex_reflection"}).encode()
        assert _request(url, method="POST", data=again, headers=JSON, cookie=evan)[0] == 200
        # a caller that does not say what it saw is not checked (scripts, the CLI)
        plain = json.dumps({"code": "open_question"}).encode()
        assert _request(url, method="POST", data=plain, headers=JSON, cookie=eva)[0] == 200
    history = [h for h in store.decision_history(sid, store.get_user("eva"))
               if h.get("target") == "u0005"]
    assert [(h["new"], h["by"]) for h in history] == [
        ("complex_reflection", "eva"), ("closed_question", "evan"), ("open_question", "eva")]
    store.close()
