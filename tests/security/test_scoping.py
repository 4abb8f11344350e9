"""Least privilege by team: a login sees only its teams' sessions, on every route, and a
session of another team is "not found" (404), never "forbidden" (no existence leak)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from msw_audio.review.auth import system_user
from tests.conftest_app import PASSWORD, demo_session, make_store, running_server, write_session_dir
from tests.test_app import _login, _request

JSON = {"Content-Type": "application/json", "X-MSW": "1"}


@pytest.fixture(scope="module")
def two_teams(tmp_path_factory):
    root = tmp_path_factory.mktemp("scoping")
    store, north = make_store(root / "data")  # the demo visit, team North
    session = demo_session()
    session.audio.sha256, session.audio.path = "ab" * 32, ""
    south = store.ingest(write_session_dir(session, root / "south-out"),
                         meta={"team": "South", "family": "Family S", "worker": "Kim"})
    admin = system_user("test")
    store.add_user("cora_s", "coach", PASSWORD, teams=("South",))
    store.add_user("eva_s", "evaluator", PASSWORD, teams=("South",))
    store.add_user("rita_s", "researcher", PASSWORD, teams=("South",))
    store.set_code(south, "u0002", "complex_reflection", store.get_user("eva_s"))
    store.set_code(north, "u0002", "open_question", store.get_user("eva"))
    store.confirm_score(north, "empathy", 4.5, None, store.get_user("eva"))
    with running_server(store) as base:
        yield store, north, south, base, admin
    store.close()


def test_a_team_b_session_is_404_on_every_route_for_team_a(two_teams):
    _store, north, south, base, _admin = two_teams
    for name in ("cora_s", "eva_s", "rita_s"):
        cookie = _login(base, name)
        for path in (f"/media/{north}", f"/media/{north}/peaks", f"/api/sessions/{north}",
                     f"/fragment/review/{north}", f"/api/sessions/{north}/review-need"):
            status, _, body = _request(base + path, cookie=cookie)
            assert status in (404, 403) if name == "rita_s" and "media" in path else status == 404
            assert b"Family D" not in body
        for path, payload in (
            (f"/api/sessions/{north}/utterances/u0002/code", {"code": "affirm"}),
            (f"/api/sessions/{north}/utterances/u0002/accept", None),
            (f"/api/sessions/{north}/utterances/u0002/clear", None),
            (f"/api/sessions/{north}/speakers/SPEAKER_00/role", {"role": "parent"}),
            (f"/api/sessions/{north}/scores/empathy", {"value": 1.0}),
            (f"/api/sessions/{north}/reviewed", None),
            (f"/api/sessions/{north}/undo", None),
            (f"/api/sessions/{north}/redo", None),
            (f"/api/sessions/{north}/reopen", None),
            (f"/api/sessions/{north}/accept-above", {"percent": 50}),
        ):
            data = json.dumps(payload or {}).encode()
            status, _, _ = _request(base + path, method="POST", data=data, headers=JSON,
                                    cookie=cookie)
            assert status in (403, 404), (name, path, status)  # never 200
            if name == "eva_s":
                assert status == 404, path  # may edit, but this session does not exist for her
        # their own team's session is there
        assert _request(base + f"/api/sessions/{south}", cookie=cookie)[0] == 200


def test_lists_exemplars_team_view_agreement_and_exports_hold_only_their_teams(two_teams):
    store, north, south, base, _admin = two_teams
    cora_s, rita_s = store.get_user("cora_s"), store.get_user("rita_s")
    assert [s.id for s in store.list_sessions(cora_s)] == [south]
    status, _, body = _request(base + "/api/sessions", cookie=_login(base, "cora_s"))
    assert status == 200 and [s["id"] for s in json.loads(body)] == [south]
    assert all(e["session_id"] == south for e in store.exemplars(cora_s))
    assert set(store.team_summary(cora_s)["team"]) <= {"South"}
    assert store.agreement(rita_s)["codes"]["n"] == 1  # only South's confirmed code
    status, _, csv_body = _request(base + "/export/labels.csv", cookie=_login(base, "rita_s"))
    assert status == 200 and north not in csv_body.decode() and south in csv_body.decode()
    status, _, jsonl = _request(base + "/export/scores.jsonl", cookie=_login(base, "rita_s"))
    assert status == 200 and north.encode() not in jsonl
    # a login without a team restriction (the default, as before) sees both
    assert {s.id for s in store.list_sessions(store.get_user("cora"))} == {north, south}


def test_scoping_a_login_takes_effect_and_is_audited(two_teams, tmp_path: Path):
    store, north, south, _base, admin = two_teams
    store.set_teams("cora", ("South",), admin)
    try:
        assert [s.id for s in store.list_sessions(store.get_user("cora"))] == [south]
        from msw_audio.errors import InputError

        with pytest.raises(InputError, match="no session"):
            store.get_session(north, store.get_user("cora"))
        actions = [a["action"] for a in store.audit_log(store.get_user("ada"))]
        assert "user.teams" in actions
    finally:
        store.set_teams("cora", ("*",), admin)
