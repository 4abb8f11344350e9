"""Least privilege for the family's voice: a family of another team "does not exist" for
every family method (read, enter, rate, feedback, export, team figures), and a
feedback row cannot point at a session the login may not see. Store level: the Families
tab has no JSON route of its own; its Gradio handlers call these methods as the user."""

from __future__ import annotations

import pytest

from msw_audio.errors import InputError
from msw_audio.review.auth import User
from tests.store_helpers import build_session, fake_sha, write_session_dir

ADMIN = User(name="admin1", role="admin")
NORTH_EV = User(name="nora", role="evaluator", teams=frozenset({"North"}))
NORTH_RES = User(name="rita", role="researcher", teams=frozenset({"North"}))


def test_another_teams_family_is_unknown_to_every_family_method(store, tmp_path):
    store.add_family("Family S", "South", ADMIN)
    store.add_goal("Family S", "Own words", "2026-09-01", ADMIN)
    store.rate_goal("Family S", 1, 4, "2026-09-01", ADMIN)
    out = write_session_dir(tmp_path / "south", build_session(fake_sha("south")))
    south_sid = store.ingest(out, ADMIN, {"team": "South", "family": "Family S"})
    store.add_family("Family N", "North", NORTH_EV)
    with pytest.raises(InputError, match="not one of yours"):
        store.add_family("Family Q", "South", NORTH_EV)
    calls = [
        lambda: store.family_view("Family S", NORTH_EV),
        lambda: store.add_goal("Family S", "x", "2026-09-02", NORTH_EV),
        lambda: store.rate_goal("Family S", 1, 5, "2026-09-02", NORTH_EV),
        lambda: store.close_goal("Family S", 1, "2026-09-02", NORTH_EV),
        lambda: store.add_feedback("Family S", {"helpfulness": 3}, "2026-09-02", NORTH_EV),
    ]
    for call in calls:
        with pytest.raises(InputError, match="unknown family 'Family S'"):
            call()
    # a North family's feedback cannot be tied to a South session
    with pytest.raises(InputError, match="no session"):
        store.add_feedback("Family N", {"helpfulness": 3}, "2026-09-02", NORTH_EV,
                           session_id=south_sid)
    assert [f["pseudonym"] for f in store.list_families(NORTH_EV)] == ["Family N"]
    assert store.family_progress(NORTH_RES)["n_families"] == 0
    path = tmp_path / "x.csv"
    store.export_family_outcomes(path, NORTH_RES)
    assert "South" not in path.read_text()
    assert store.family_view("Family S", ADMIN)["goals"][0]["ratings"][0]["score"] == 4


def test_another_teams_supervision_session_is_unknown(store, tmp_path):
    from msw_audio.coding.codebook import codebook_for_recording_type, load_codebook

    session = build_session(fake_sha("sup-south"))
    session.models["codebook"] = load_codebook(
        codebook_for_recording_type("supervision")).to_record()
    sid = store.ingest(write_session_dir(tmp_path / "sup", session), ADMIN,
                       {"team": "South", "worker": "Kim", "recording_type": "supervision"})
    store.confirm_supervision_score(sid, "child_focus", 4, None, ADMIN)
    for call in (lambda: store.supervision_scores(sid, NORTH_EV),
                 lambda: store.confirm_supervision_score(sid, "child_focus", 2, None, NORTH_EV)):
        with pytest.raises(InputError, match="no session"):
            call()
    assert store.supervision_sessions(NORTH_EV) == []
    assert store.supervision_beside_practice(NORTH_RES, worker="Kim") == []
    dims = store.supervision_scores(sid, ADMIN)["dimensions"]
    assert dims["child_focus"]["confirmed"] == 4 and dims["child_focus"]["suggested"] is None
    assert store.supervision_beside_practice(ADMIN, worker="Kim")[0]["mean"] == 4.0
