"""Undo / redo / bulk accept / reopen routes: login, CSRF header, role, read-only state.

Team scope of the same routes is in ``test_scoping.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest_app import make_store, running_server
from tests.test_app import _login, _request

JSON = {"Content-Type": "application/json", "X-MSW": "1"}
WRITES = ("undo", "redo", "reopen", "accept-above", "reviewed")


def _post(base, path, payload=None, cookie=None, headers=JSON):
    status, _, body = _request(base + path, method="POST", data=json.dumps(payload or {}).encode(),
                               headers=headers, cookie=cookie)
    return status, (json.loads(body) if body.startswith(b"{") else body)


def test_routes_check_login_csrf_role_and_the_reviewed_state(tmp_path: Path):
    store, sid = make_store(tmp_path / "data")
    with running_server(store) as base:
        eva, cora = _login(base, "eva"), _login(base, "cora")
        for name in WRITES:
            path = f"/api/sessions/{sid}/{name}"
            assert _post(base, path, {"percent": 50})[0] == 401, name
            assert _post(base, path, {"percent": 50}, cookie=eva,
                         headers={"Content-Type": "application/json"})[0] == 403, name
            assert _post(base, path, {"percent": 50}, cookie=cora)[0] == 403, name
        assert _request(base + f"/api/sessions/{sid}/review-need")[0] == 401
        status = _request(base + f"/api/sessions/{sid}/review-need", cookie=cora)[0]
        assert status == 200  # a coach may see the progress, not change it
        status, body = _post(base, f"/api/sessions/{sid}/accept-above", {"percent": 150},
                             cookie=eva)
        assert status == 400 and "threshold" in body["detail"]
        # unconfirmed lines: 409 with the count, nothing changes; force goes through
        status, body = _post(base, f"/api/sessions/{sid}/reviewed", cookie=eva)
        assert status == 409 and body["detail"]["confirm_required"]
        assert body["detail"]["unconfirmed"] == len(store.get_session(
            sid, store.get_user("eva")).utterances)
        assert store.get_decisions(sid, store.get_user("eva"))["status"] != "reviewed"
        assert _post(base, f"/api/sessions/{sid}/reviewed", {"force": True}, cookie=eva)[0] == 200
        # reviewed: every decision route is 409 with a clear message
        for path, payload in (
            (f"/api/sessions/{sid}/utterances/u0002/code", {"code": "affirm"}),
            (f"/api/sessions/{sid}/utterances/u0002/accept", None),
            (f"/api/sessions/{sid}/utterances/u0002/clear", None),
            (f"/api/sessions/{sid}/speakers/SPEAKER_00/role", {"role": "parent"}),
            (f"/api/sessions/{sid}/scores/empathy", {"value": 1.0}),
            (f"/api/sessions/{sid}/accept-above", {"percent": 50}),
        ):
            status, body = _post(base, path, payload, cookie=eva)
            assert status == 409 and "read-only" in body["detail"]["message"], path
        status, body = _post(base, f"/api/sessions/{sid}/reopen", cookie=eva)
        assert status == 200 and body["status"] == "in_progress"
        status, body = _post(base, f"/api/sessions/{sid}/accept-above", {"percent": 80},
                             cookie=eva)
        assert status == 200 and body["accepted"] > 0
        status, body = _post(base, f"/api/sessions/{sid}/undo", cookie=eva)
        assert status == 200 and body["action"] == "bulk_accept"
    actions = [a["action"] for a in store.audit_log(store.get_user("ada"))]
    assert {"code.bulk_accept", "history.undo", "status.set"} <= set(actions)
    store.close()
