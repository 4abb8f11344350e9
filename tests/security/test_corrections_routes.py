"""The transcript-correction routes: a coach or researcher is refused (403), another team's
session does not exist (404), a request without the X-MSW header is refused, bad input is a
400 that changes nothing, and an evaluator's correction is saved and undone."""

from __future__ import annotations

import json

import pytest

from tests.conftest_app import PASSWORD, demo_session, make_store, running_server, write_session_dir
from tests.test_app import _login, _request

JSON = {"Content-Type": "application/json", "X-MSW": "1"}


def routes(sid):
    u = f"/api/sessions/{sid}/utterances/u0002"
    return [
        (u + "/speaker", {"speaker": "SPEAKER_02"}),
        (u + "/text", {"text": "Changed words here"}),
        (u + "/split", {"at_word": 1}),
        (u + "/merge", {}),
        (f"/api/sessions/{sid}/speakers/resplit", {"num_speakers": 3}),
        (f"/api/sessions/{sid}/corrections/undo", {}),
    ]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("corr-routes")
    store, north = make_store(root / "data")
    session = demo_session()
    session.audio.sha256, session.audio.path = "cd" * 32, ""
    south = store.ingest(write_session_dir(session, root / "south-out"), meta={"team": "South"})
    store.add_user("eva_s", "evaluator", PASSWORD, teams=("South",))
    with running_server(store) as base:
        yield store, north, south, base
    store.close()


def _post(base, path, payload, cookie, headers=JSON):
    return _request(base + path, method="POST", data=json.dumps(payload).encode(),
                    headers=headers, cookie=cookie)


def test_coach_and_researcher_are_refused_every_correction(served):
    store, north, _south, base = served
    before = store.get_session(north, store.get_user("eva")).to_dict()["utterances"]
    for name in ("cora", "rita"):
        cookie = _login(base, name)
        for path, payload in routes(north):
            status, _, _ = _post(base, path, payload, cookie)
            assert status == 403, (name, path, status)
        status, _, _ = _request(base + f"/export/sessions/{north}/transcript.stm", cookie=cookie)
        assert status == (403 if name == "cora" else 200)
    assert store.get_session(north, store.get_user("eva")).to_dict()["utterances"] == before


def test_another_teams_session_is_not_found_and_csrf_is_required(served):
    _store, north, south, base = served
    cookie = _login(base, "eva_s")
    for path, payload in routes(north):
        status, _, _ = _post(base, path, payload, cookie)
        assert status == 404, (path, status)
    for path in (f"/api/sessions/{north}/corrections",
                 f"/export/sessions/{north}/transcript.rttm"):
        assert _request(base + path, cookie=cookie)[0] == 404
    for path, payload in routes(south):
        status, _, _ = _post(base, path, payload, cookie,
                             headers={"Content-Type": "application/json"})
        assert status == 403, path  # no X-MSW header: a cross-site form


def test_an_evaluator_corrects_gets_400_for_bad_input_and_undoes(served):
    store, north, _south, base = served
    cookie = _login(base, "eva")
    u = f"/api/sessions/{north}/utterances/u0002"
    assert _post(base, u + "/split", {"at_word": 0}, cookie)[0] == 400
    assert _post(base, u + "/text", {"text": "  "}, cookie)[0] == 400
    assert _post(base, f"/api/sessions/{north}/speakers/resplit", {}, cookie)[0] == 400
    old = store.get_session(north, store.get_user("eva")).utterances[2]
    status, _, body = _post(base, u + "/speaker", {"speaker": "SPEAKER_02",
                                                   "expected": "SPEAKER_99"}, cookie)
    assert status == 409
    status, _, body = _post(base, u + "/speaker", {"speaker": "SPEAKER_02",
                                                   "expected": old.speaker}, cookie)
    assert status == 200 and json.loads(body)["speaker"] == "SPEAKER_02"
    status, _, body = _request(base + f"/api/sessions/{north}/corrections", cookie=cookie)
    assert status == 200 and json.loads(body)["corrections"][0]["kind"] == "reassign"
    assert _post(base, f"/api/sessions/{north}/corrections/undo", {}, cookie)[0] == 200
    assert store.get_session(north, store.get_user("eva")).utterances[2].speaker == old.speaker
    assert _post(base, f"/api/sessions/{north}/corrections/undo", {}, cookie)[0] == 400
