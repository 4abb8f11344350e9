"""Undo / redo of every decision kind, review by exception and the read-only reviewed state.

Store-level (real SQLite store, sessions as ``msw-audio process`` writes them); the browser
side is in ``tests/test_app_history.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from msw_audio.errors import InputError, ReadOnlySession, StaleEdit, UnconfirmedLines
from msw_audio.review.auth import User
from msw_audio.review.by_exception import default_threshold
from msw_audio.review.store import Store
from tests.store_helpers import build_session, fake_sha, write_session_dir


@pytest.fixture()
def ev(store: Store) -> User:
    return store.add_user("eve", "evaluator", "evaluator-password")


@pytest.fixture()
def sid(store: Store, ev: User, tmp_path: Path) -> str:
    session = build_session(fake_sha("history"), n=8)
    for i, u in enumerate(session.utterances):  # confidences 0.50, 0.55, ... 0.85
        u.codes[0].probability = round(0.5 + 0.05 * i, 2)
    out = write_session_dir(tmp_path / "out", session)
    return store.ingest(out, ev, {"team": "North", "family": "F-1"})


def _codes(store: Store, sid: str, ev: User) -> dict[str, str]:
    return {k: v["code"] for k, v in store.get_decisions(sid, ev)["codes"].items()}


def _actions(store: Store) -> list[str]:
    admin = store.get_user("root") or store.add_user("root", "admin", "admin-password-1")
    return [a["action"] for a in store.audit_log(admin)]


def test_undo_redo_a_code_a_clear_and_an_accept(store: Store, ev: User, sid: str):
    store.set_code(sid, "u0000", "closed_question", ev)
    store.set_code(sid, "u0000", "open_question", ev)
    store.accept_code(sid, "u0001", ev)
    store.clear_code(sid, "u0001", ev)
    assert _codes(store, sid, ev) == {"u0000": "open_question"}
    assert store.undo(sid, ev)["done"]  # the clear
    assert _codes(store, sid, ev) == {"u0000": "open_question", "u0001": "neutral"}
    store.undo(sid, ev)  # the accept
    store.undo(sid, ev)  # open -> closed
    assert _codes(store, sid, ev) == {"u0000": "closed_question"}
    assert store.get_decisions(sid, ev)["codes"]["u0000"]["by"] == ev.name
    store.redo(sid, ev)
    assert _codes(store, sid, ev) == {"u0000": "open_question"}
    assert store.history_depth(sid, ev) == {"undo": 2, "redo": 2}
    store.set_code(sid, "u0002", "affirm", ev)  # a new action ends the redo
    assert store.redo(sid, ev) == {"done": False, "message": "Nothing to redo",
                                   "status": "in_progress"}
    history = [(h["target"], h["old"], h["new"], h["note"])
               for h in store.decision_history(sid, ev)]
    assert ("u0001", "neutral", None, "undo") in history
    assert ("u0000", "closed_question", "open_question", "redo") in history
    assert _actions(store).count("history.undo") == 3 and "history.redo" in _actions(store)


def test_undo_a_role_a_score_and_the_figures_follow(store: Store, ev: User, sid: str):
    store.set_role(sid, "SPEAKER_01", "child", ev)
    store.set_role(sid, "SPEAKER_01", "parent", ev)
    as_parent = store.get_session(sid, ev).scores["miti"]  # recomputed, not the ingested ones
    store.set_role(sid, "SPEAKER_01", "practitioner", ev)
    as_practitioner = store.get_session(sid, ev).scores["miti"]
    assert as_practitioner != as_parent
    store.confirm_score(sid, "empathy", 4.5, "warm", ev)
    store.confirm_score(sid, "empathy", 2.0, "", ev)
    store.undo(sid, ev)
    assert store.get_decisions(sid, ev)["scores"]["empathy"]["value"] == 4.5
    store.undo(sid, ev)
    assert "empathy" not in store.get_decisions(sid, ev)["scores"] or \
        store.get_decisions(sid, ev)["scores"]["empathy"]["value"] is None
    store.undo(sid, ev)  # the role
    session = store.get_session(sid, ev)
    assert {s.id: s.role for s in session.speakers}["SPEAKER_01"] == "parent"
    assert session.scores["miti"] == as_parent, "figures recomputed from the restored role"
    store.redo(sid, ev)
    session = store.get_session(sid, ev)
    assert {s.id: s.role for s in session.speakers}["SPEAKER_01"] == "practitioner"
    assert session.scores["miti"] == as_practitioner


def test_undo_never_overwrites_a_later_edit_by_someone_else(store: Store, ev: User, sid: str):
    other = store.add_user("otto", "evaluator", "evaluator-password")
    store.set_code(sid, "u0000", "closed_question", ev)
    store.set_code(sid, "u0000", "open_question", other)
    with pytest.raises(StaleEdit, match="changed since"):
        store.undo(sid, ev)
    assert _codes(store, sid, ev) == {"u0000": "open_question"}
    store.undo(sid, other)  # each login undoes its own actions
    assert _codes(store, sid, ev) == {"u0000": "closed_question"}


def test_bulk_accept_sets_exactly_the_lines_at_or_above_and_one_undo_reverts_it(
        store: Store, ev: User, sid: str):
    store.set_code(sid, "u0007", "change_talk", ev)  # confirmed lines are left alone
    result = store.accept_above(sid, 0.7, ev)
    # u0004 0.70, u0005 0.75, u0006 0.80 (u0007 0.85 was already confirmed)
    assert result["utterance_ids"] == ["u0004", "u0005", "u0006"]
    assert result["remaining"] == 4 and result["n_utterances"] == 8
    codes = _codes(store, sid, ev)
    assert set(codes) == {"u0004", "u0005", "u0006", "u0007"} and codes["u0007"] == "change_talk"
    assert store.review_need(sid, ev, 0.5) == {"n_utterances": 8, "unconfirmed": 4,
                                               "at_or_above": 4, "threshold": 0.5}
    audit = [a for a in store.audit_log(store.add_user("root", "admin", "admin-password-1"))
             if a["action"] == "code.bulk_accept"]
    assert len(audit) == 1 and audit[0]["detail"] == {"threshold": 0.7, "accepted": 3}
    undone = store.undo(sid, ev)
    assert undone["action"] == "bulk_accept" and len(undone["targets"]) == 3
    assert _codes(store, sid, ev) == {"u0007": "change_talk"}
    store.redo(sid, ev)
    assert len(_codes(store, sid, ev)) == 4
    with pytest.raises(InputError, match="threshold"):
        store.accept_above(sid, 1.5, ev)


def test_bulk_accept_skips_suggestions_that_do_not_fit_the_role(store: Store, ev: User,
                                                                sid: str):
    store.set_role(sid, "SPEAKER_01", "practitioner", ev)  # family codes no longer fit
    ids = store.accept_above(sid, 0.5, ev)["utterance_ids"]
    assert ids == ["u0000", "u0002", "u0004", "u0006"]


def test_a_code_for_another_role_is_refused_with_a_clear_message(store: Store, ev: User,
                                                                 sid: str):
    with pytest.raises(InputError, match="is a code for practitioner lines; this line is "
                                         "the parent's"):
        store.set_code(sid, "u0001", "open_question", ev)
    with pytest.raises(InputError, match="family-member lines"):
        store.set_code(sid, "u0000", "change_talk", ev)
    assert _codes(store, sid, ev) == {}


def test_reviewed_session_is_read_only_until_reopened(store: Store, ev: User, sid: str):
    store.accept_code(sid, "u0000", ev)
    with pytest.raises(UnconfirmedLines, match=r"7 of \d+ lines have no confirmed code") as err:
        store.mark_reviewed(sid, ev, allow_unconfirmed=False)
    assert err.value.count == 7
    assert store.get_decisions(sid, ev)["status"] == "in_progress"
    assert store.mark_reviewed(sid, ev) == {"status": "reviewed", "unconfirmed": 7}
    for edit in (lambda: store.set_code(sid, "u0001", "neutral", ev),
                 lambda: store.accept_code(sid, "u0001", ev),
                 lambda: store.clear_code(sid, "u0000", ev),
                 lambda: store.set_role(sid, "SPEAKER_01", "child", ev),
                 lambda: store.confirm_score(sid, "empathy", 3, None, ev),
                 lambda: store.accept_above(sid, 0.5, ev)):
        with pytest.raises(ReadOnlySession, match="read-only"):
            edit()
    coach = store.add_user("cora", "coach", "coach-password-1")
    with pytest.raises(Exception, match="may not"):
        store.reopen(sid, coach)
    assert store.reopen(sid, ev)["status"] == "in_progress"
    store.set_code(sid, "u0001", "neutral", ev)
    assert store.mark_reviewed(sid, ev)["unconfirmed"] == 6
    # undoing "mark reviewed" reopens; undoing a code on a reviewed session is refused
    assert store.undo(sid, ev)["action"] == "status"
    assert store.get_decisions(sid, ev)["status"] == "in_progress"
    with pytest.raises(InputError, match="nothing to reopen"):
        store.reopen(sid, ev)


def test_the_default_threshold_is_the_measured_one():
    t = default_threshold()
    assert 0.5 <= t < 1.0
