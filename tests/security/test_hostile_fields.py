"""Hostile session.json fields (issue 13, test 8): HTML in the speaker, team, title,
worker, family, transcript, score evidence and a confirmed score's note, and times that
are not numbers. Against a served app and a real store: every role gets 200 (or its usual
refusal) with the markup escaped on every HTML route, and no 500 for anyone; the
non-numeric times are refused at ingest with a one-line reason naming no transcript text.
"""

from __future__ import annotations

import json

import pytest

from msw_audio.errors import InputError
from msw_audio.review.auth import system_user
from tests.conftest_app import USERS, make_store, running_server
from tests.security.gradio_calls import event, handler_table
from tests.store_helpers import build_session, fake_sha, write_session_dir
from tests.test_app import _login, _request


def _evil(field: str) -> str:
    """One marker per field, so a failure says which field was rendered raw."""
    return f'<img src=x onerror="alert(1)" data-field="{field}">'


RAW = b"<img src=x onerror"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    store, _sid = make_store(root / "data")
    session = build_session(fake_sha("hostile"))
    speaker = _evil("speaker")
    for u in session.utterances:
        if u.speaker == "SPEAKER_01":
            u.speaker = speaker
    for s in session.speakers:
        if s.id == "SPEAKER_01":
            s.id = speaker
    session.utterances[1].text = _evil("text") + " and more"
    for score in (session.scores or {}).get("principles", {}).values():
        score["evidence"][0]["why"] = _evil("why")
        score["evidence"][0]["text"] = _evil("evidence")
    sid = store.ingest(write_session_dir(root / "out", session), meta={
        "team": _evil("team"), "title": _evil("title"), "worker": _evil("worker"),
        "family": _evil("family"), "date": "2026-11-04"})
    admin = system_user("test")
    principle = next(iter(session.scores["principles"]))
    store.confirm_score(sid, principle, 4.0, _evil("note"), admin)
    with running_server(store) as base:
        yield store, sid, base, root
    store.close()


def test_non_numeric_times_are_refused_at_ingest_in_one_line(hostile) -> None:
    store, _sid, _base, root = hostile
    data = build_session(fake_sha("bad-times")).to_dict()
    data["utterances"][1]["start"] = "soon"
    out = root / "bad-times"
    out.mkdir()
    (out / "session.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError) as err:
        store.ingest(out, meta={"team": "North"})
    message = str(err.value)
    assert "'u0001'" in message and "numbers" in message and "\n" not in message
    assert data["utterances"][1]["text"] not in message


@pytest.mark.parametrize("name", sorted(USERS))
def test_hostile_fields_are_escaped_and_no_route_answers_500(hostile, name: str) -> None:
    """Every role, every route that shows a session: no 500, and no HTML route (the
    review fragment, the Gradio review pane, team and queue views) carries the markup raw."""
    store, sid, base, _root = hostile
    cookie = _login(base, name)
    routes = ["/", "/ui/", "/api/me", "/api/sessions", f"/api/sessions/{sid}",
              f"/fragment/review/{sid}", f"/api/sessions/{sid}/corrections",
              f"/api/sessions/{sid}/review-need", "/api/library", "/export/labels.csv",
              "/export/scores.jsonl", f"/export/sessions/{sid}/transcript.stm",
              f"/media/{sid}/peaks"]
    for route in routes:
        status, headers, body = _request(base + route, cookie=cookie)
        assert status < 500, (name, route, status, body[:200])
        if "text/html" in headers.get("content-type", ""):
            assert RAW not in body, (name, route)
        if route.startswith("/fragment/") and USERS[name] in ("admin", "evaluator"):
            assert b"&lt;img src=x" in body, "the fields reached the page, escaped"
    deps = type("S", (), {"base": base, "deps": handler_table(base, cookie)})
    page = f"hostile-{name}"
    assert event(deps, cookie, "page_load", [], page)[0]
    for handler, data in (("review_open", [sid, "Time order"]),
                          ("team_show", ["", "principle"]),
                          ("library_search", ["", "", "", "", ""])):
        ok, out = event(deps, cookie, handler, data, page)
        assert "HTTP 5" not in out, (name, handler, out[:200])
        assert RAW.decode() not in out, (name, handler)
