"""Least privilege by person: a practitioner sees only their own sessions and trend; a
researcher gets stable pseudonyms and redacted text (no names) from every read, unless an
admin grants ``identity.view``. All enforced in the store's queries (real store, real
SQLite, the demo transcript)."""

from __future__ import annotations

import json
import re

import pytest

from msw_audio.errors import InputError, PermissionDenied
from msw_audio.review.auth import system_user
from tests.conftest_app import PASSWORD, demo_session, make_store, write_session_dir

NAMES = ("Jade", "Mark", "Sam", "Family D", "Demo visit", "eva")


@pytest.fixture(scope="module")
def people(tmp_path_factory):
    root = tmp_path_factory.mktemp("people")
    store, sam_sid = make_store(root / "data")  # worker "Sam", team North
    session = demo_session()
    session.audio.sha256, session.audio.path = "cd" * 32, ""
    kim_sid = store.ingest(write_session_dir(session, root / "kim-out"),
                           meta={"team": "North", "family": "Family K", "worker": "Kim Lee"})
    store.add_user("sam", "practitioner", PASSWORD, worker="Sam")
    store.add_user("kim", "practitioner", PASSWORD, worker="Kim Lee")
    store.add_user("rex", "researcher", PASSWORD)
    eva = store.get_user("eva")
    for sid in (sam_sid, kim_sid):
        store.set_code(sid, "u0002", "complex_reflection", eva)
        store.confirm_score(sid, "empathy", 4.0, "Jade opened up to Sam", eva)
    yield store, sam_sid, kim_sid
    store.close()


def test_a_practitioner_sees_only_their_own_sessions_and_trend(people):
    store, sam_sid, kim_sid = people
    sam, kim = store.get_user("sam"), store.get_user("kim")
    assert [s.id for s in store.list_sessions(sam)] == [sam_sid]
    assert [s.id for s in store.list_sessions(kim)] == [kim_sid]
    for user, other in ((sam, kim_sid), (kim, sam_sid)):
        for read in (store.get_session, store.session_meta, store.get_decisions,
                     store.decision_history, store.audio_file):
            with pytest.raises(InputError, match="no session"):
                read(other, user)
    assert store.get_session(sam_sid, sam).utterances  # their own one is there
    trend = store.team_summary(sam, worker="Kim Lee")  # asks for Kim's: gets their own
    assert set(trend["worker"]) <= {"Sam"}
    with pytest.raises(PermissionDenied):
        store.set_code(sam_sid, "u0003", "affirm", sam)
    with pytest.raises(PermissionDenied):
        store.export_labels(store.data_dir / "x.csv", sam)


def test_a_researcher_reads_pseudonyms_and_redacted_text_only(people, tmp_path):
    store, sam_sid, kim_sid = people
    rex = store.get_user("rex")
    rows = store.list_sessions(rex)
    assert {r.id for r in rows} == {sam_sid, kim_sid}
    seen = json.dumps([r.__dict__ for r in rows])
    seen += json.dumps(store.session_meta(sam_sid, rex), default=str)
    seen += json.dumps(store.get_session(sam_sid, rex).to_dict())
    seen += json.dumps(store.get_decisions(sam_sid, rex), default=str)
    seen += json.dumps(store.decision_history(sam_sid, rex), default=str)
    store.export_labels(tmp_path / "labels.csv", rex)
    store.export_scores(tmp_path / "scores.jsonl", rex)
    seen += (tmp_path / "labels.csv").read_text() + (tmp_path / "scores.jsonl").read_text()
    for name in NAMES:
        assert not re.search(rf"\b{name}\b", seen), name
    assert "[CHILD]" in seen or "[NAME]" in seen  # the names were replaced, not the lines
    meta = store.session_meta(sam_sid, rex)
    assert meta["worker"].startswith("worker-") and meta["family"].startswith("family-")
    assert store.session_meta(sam_sid, rex)["worker"] == meta["worker"]  # stable token
    assert store.person_token("worker", "Kim Lee") != meta["worker"]
    with pytest.raises(PermissionDenied):
        store.audio_file(sam_sid, rex)  # no audio unless granted


def test_identity_view_is_granted_per_login_and_audited(people):
    store, sam_sid, _ = people
    admin = system_user("test")
    store.grant("rex", "identity.view", admin)
    try:
        rex = store.get_user("rex")
        assert store.session_meta(sam_sid, rex)["worker"] == "Sam"
        assert any("Jade" in u.text for u in store.get_session(sam_sid, rex).utterances)
    finally:
        store.revoke("rex", "identity.view", admin)
    assert store.session_meta(sam_sid, store.get_user("rex"))["worker"].startswith("worker-")
    assert [a["detail"] for a in store.audit_log(admin, 5) if a["action"] == "user.grant"]
