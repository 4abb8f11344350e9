"""Coach library and blind double coding on a real store (SQLite) with the demo session.

The session is the demo recording's reference transcript (``conftest_app.demo_session``);
decisions are made through the Store API as the roles would. PDFs are read back with pypdf.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from msw_audio.errors import InputError, PermissionDenied
from msw_audio.review.double_coding import icc2_1
from msw_audio.review.handouts import redactor, spoken_names
from tests.conftest_app import PASSWORD, demo_session, make_store, write_session_dir

CHILD, PARENT, FAMILY = "Jade", "Mark", "Family D"  # names in the demo visit and its metadata


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """One store built once (logins are slow to hash on purpose); each test gets a copy."""
    root = tmp_path_factory.mktemp("library")
    store, sid = make_store(root / "data")
    store.add_user("bo", "evaluator", PASSWORD)
    store.add_user("cora_s", "coach", PASSWORD, teams=("South",))
    store.add_user("Sam", "coach", PASSWORD)  # the demo session's worker
    eva = store.get_user("eva")
    for u in demo_session().utterances[:14]:
        store.accept_code(sid, u.id, eva)
    store.set_code(sid, "u0004", "simple_reflection", eva)  # "Mm hmm." confirmed, not quotable
    store.close()
    return root / "data", sid


@pytest.fixture()
def lib_store(template, tmp_path: Path):
    from msw_audio.review.store import Store

    data, sid = template
    shutil.copytree(data, tmp_path / "data")
    store = Store.open(tmp_path / "data")
    yield store, sid
    store.close()


def _has_word(word: str, text: str) -> bool:
    return re.search(rf"(?<![A-Za-z]){re.escape(word)}(?![A-Za-z])", text) is not None


def _audit_actions(store, sid):
    return [(a["action"], a["detail"].get("old"), a["detail"].get("new"))
            for a in store.audit_log(store.get_user("ada")) if a["target_id"] == sid]


# ------------------------------------------------------------------------------ library
def test_library_lists_starred_first_and_no_short_lines(lib_store):
    store, sid = lib_store
    cora = store.get_user("cora")
    before = store.library(cora)
    assert before and all(len(x["text"].split()) >= 5 for x in before)
    assert "u0004" not in {x["utterance_id"] for x in before}, "Mm hmm. is not an example"
    assert not any(x["starred"] for x in before)
    store.star_exemplar(sid, "u0013", cora, note="Good question to the child")
    store.star_exemplar(sid, "u0004", store.get_user("eva"))  # a person may star a short line
    after = store.library(cora)
    assert [x["utterance_id"] for x in after[:2]] == ["u0004", "u0013"], "newest star first"
    assert after[1]["starred_by_me"] and after[1]["stars"][0]["note"].startswith("Good")
    assert len({(x["session_id"], x["utterance_id"]) for x in after}) == len(after)
    # text search over the line and the star notes
    assert {x["utterance_id"] for x in store.library(cora, query="QUESTION TO THE")} == {"u0013"}
    assert all("shifts" in x["text"] for x in store.library(cora, query="shifts"))
    store.unstar_exemplar(sid, "u0013", cora)
    assert "u0013" not in {x["utterance_id"] for x in store.library(cora) if x["starred"]}
    actions = _audit_actions(store, sid)
    assert ("exemplar.star", "unstarred", "starred") in actions
    assert ("exemplar.unstar", "starred", "unstarred") in actions


def test_star_permissions_and_team_scope(lib_store):
    store, sid = lib_store
    with pytest.raises(PermissionDenied):
        store.star_exemplar(sid, "u0002", store.get_user("rita"))  # researchers don't curate
    with pytest.raises(InputError, match="no session"):
        store.star_exemplar(sid, "u0002", store.get_user("cora_s"))  # another team's session
    assert store.library(store.get_user("cora_s")) == []
    with pytest.raises(InputError, match="no utterance"):
        store.star_exemplar(sid, "nope", store.get_user("cora"))
    with pytest.raises(InputError, match="no star"):
        store.unstar_exemplar(sid, "u0002", store.get_user("cora"))


def test_handouts_have_no_family_names_and_go_with_the_session(lib_store):
    from pypdf import PdfReader

    store, sid = lib_store
    cora = store.get_user("cora")
    store.star_exemplar(sid, "u0000", cora, note=f"{PARENT} and {CHILD} both greeted")
    with pytest.raises(InputError, match="nothing is shortlisted"):
        store.write_handout(cora, [], "md")
    picks = [{"session_id": sid, "utterance_id": u} for u in ("u0000", "u0013", "u0007")]
    md = store.write_handout(cora, picks, "md")
    pdf = store.write_handout(cora, picks, "pdf")
    data = store.data_dir.resolve()
    for path in (md, pdf):
        assert path.resolve().parent == data / "handouts" / sid, "in the data folder, not /tmp"
    text = md.read_text(encoding="utf-8")
    reader = PdfReader(str(pdf))
    assert len(reader.pages) == 1, "a one-page practice note"
    pdf_text = reader.pages[0].extract_text()
    for body in (text, pdf_text):
        for name in (CHILD, PARENT, FAMILY, "Sam", "Demo visit"):  # child, parent, pseudonym,
            assert not _has_word(name, body), (name, body[:400])  # worker, title
        # redacted with role tokens (``review.redaction``), with timestamps
        assert any(t in body for t in ("[CHILD]", "[PARENT]", "[NAME]")) and "00:02" in body
        assert "Open question" in body
    assert re.search(r"You'd like \[(CHILD|NAME)\] to be able", text), "context, \"you'd\" intact"
    # the worker sees their own name; everyone else does not
    own = store.write_handout(store.get_user("Sam"), picks[:1], "md").read_text()
    assert _has_word("Sam", own) and not _has_word(CHILD, own)
    store.erase_session(sid, store.get_user("ada"))
    assert not (data / "handouts" / sid).exists() and not list((data / "handouts").rglob("*.*"))


def test_a_handout_quoting_two_sessions_is_erased_with_either(lib_store, tmp_path):
    store, sid = lib_store
    other = demo_session()
    other.audio.sha256, other.audio.path = "cd" * 32, ""
    sid2 = store.ingest(write_session_dir(other, tmp_path / "o"), meta={"team": "North"})
    store.star_exemplar(sid2, "u0013", store.get_user("cora"))
    picks = [{"session_id": sid, "utterance_id": "u0000"},
             {"session_id": sid2, "utterance_id": "u0013"}]
    path = store.write_handout(store.get_user("cora"), picks, "md")
    copy = store.paths.handout_dir(sid2) / path.name
    assert path.exists() and copy.exists()
    store.erase_session(sid2, store.get_user("ada"))
    assert not path.exists() and not copy.exists()


def test_name_heuristic():
    names = spoken_names(["Hi Mark, hi Jade. Thanks for coming.", "On Mondays I'm at the depot."])
    assert names == {"Mark", "Jade"}
    clean = redactor(names | {"Family D"})
    assert clean("Jade's mum, Family D. You'd go, Mark?") == (
        "[name]'s mum, [name]. You'd go, [name]?")


# ------------------------------------------------------------------------------ statistics
def test_icc2_1_matches_shrout_and_fleiss_worked_example():
    # Shrout & Fleiss (1979), Psychological Bulletin 86(2), Table 2: 6 targets, 4 judges;
    # published ICC(2,1) = .29 (ICC(1,1) = .17, ICC(3,1) = .71).
    table = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    assert round(icc2_1(table), 2) == 0.29
    assert icc2_1([[3, 3], [3, 3]]) is None and icc2_1([[1, 2]]) is None


# ------------------------------------------------------------------------------ double coding
def _blind_setup(store, sid):
    eva, bo = store.get_user("eva"), store.get_user("bo")
    store.confirm_score(sid, "empathy", 4.5, "warm", eva)
    store.confirm_score(sid, "evocation", 2.0, None, eva)
    store.set_role(sid, "SPEAKER_02", "other", eva)  # a first-coder role change
    with pytest.raises(PermissionDenied):
        store.assign_blind(sid, "bo", store.get_user("cora"))
    with pytest.raises(InputError, match="already coded"):
        store.assign_blind(sid, "eva", store.get_user("ada"))
    store.assign_blind(sid, "bo", eva)
    return eva, bo


def test_the_blind_coder_never_receives_the_first_coders_decisions(lib_store):
    store, sid = lib_store
    eva, bo = _blind_setup(store, sid)
    first = store.get_decisions(sid, eva)
    assert first["codes"] and first["scores"]
    assert store.get_decisions(sid, bo)["codes"] == {} == store.get_decisions(sid, bo)["scores"]
    session = store.get_session(sid, bo)
    assert all(c.source != "evaluator" for u in session.utterances for c in u.codes)
    assert {s.id: s.role for s in session.speakers}["SPEAKER_02"] == "child", "model's roles"
    assert all(p.get("confirmed") is None
               for p in session.scores["principles"].values())
    assert store.decision_history(sid, bo) == []
    assert store.session_meta(sid, bo)["status"] == "unreviewed"
    assert [s.n_confirmed for s in store.list_sessions(bo)] == [0]
    assert store.exemplars(bo) == [] and store.library(bo) == []
    assert store.agreement(bo)["codes"]["n"] == 0
    with pytest.raises(InputError):
        store.double_coding_report(bo, session_id=sid)
    with pytest.raises(InputError, match="roles are fixed"):
        store.set_role(sid, "SPEAKER_00", "parent", bo)
    # the blind coder codes: their own table, the first coder's codes untouched
    store.set_code(sid, "u0002", "closed_question", bo)
    store.accept_code(sid, "u0005", bo)
    store.confirm_score(sid, "empathy", 4.0, None, bo)
    assert store.get_decisions(sid, eva) == first
    mine = store.get_decisions(sid, bo)
    assert {u: c["code"] for u, c in mine["codes"].items()} == {
        "u0002": "closed_question", "u0005": "complex_reflection"}
    assert [h["kind"] for h in store.decision_history(sid, bo)] == ["blind.code"] * 2 + [
        "blind.score"]
    assert all(not h["kind"].startswith("blind") for h in store.decision_history(sid, eva))
    assert [s.n_confirmed for s in store.list_sessions(bo)] == [2]
    store.mark_reviewed(sid, bo)  # finishes the blind pass only
    assert store.session_meta(sid, eva)["status"] != "reviewed"
    assert not store.is_blind(sid, bo)
    actions = [a for a, _o, _n in _audit_actions(store, sid)]
    assert {"blind.assign", "blind.code.set", "blind.score.set", "blind.finish"} <= set(actions)


def test_no_write_path_lets_a_blind_coder_touch_the_shared_session(lib_store):
    """Corrections, undo/redo, bulk accept and metadata edits are refused in a blind pass,
    and what the blind coder reads of the session's progress is their own."""
    store, sid = lib_store
    eva, bo = _blind_setup(store, sid)
    first, before = store.get_decisions(sid, eva), store.get_session(sid, eva)
    speaker = before.utterances[2].speaker
    attempts = [
        lambda: store.reassign_utterance(sid, "u0003", "SPEAKER_00", bo, expected=speaker),
        lambda: store.edit_text(sid, "u0003", "something else entirely", bo),
        lambda: store.split_utterance(sid, "u0003", 1, bo),
        lambda: store.merge_with_next(sid, "u0003", bo),
        lambda: store.resplit_speakers(sid, bo, num_speakers=2),
        lambda: store.undo_correction(sid, bo),
        lambda: store.undo(sid, bo),
        lambda: store.redo(sid, bo),
        lambda: store.accept_above(sid, 0.5, bo),
        lambda: store.update_session_meta(sid, {"date": "2026-01-01"}, bo),
    ]
    for attempt in attempts:
        with pytest.raises(InputError, match="not part of a blind pass"):
            attempt()
    assert store.get_decisions(sid, eva) == first
    after = store.get_session(sid, eva)
    assert [(u.speaker, u.text) for u in after.utterances] == [
        (u.speaker, u.text) for u in before.utterances]
    need = store.review_need(sid, bo)
    assert need["unconfirmed"] == need["n_utterances"]  # none of eva's confirmations leak
    assert store.flags(sid, bo) == {} and store.corrections(sid, bo) == []


def test_agreement_report_matches_scikit_learn(lib_store, tmp_path):
    from sklearn.metrics import cohen_kappa_score

    store, sid = lib_store
    eva, bo = _blind_setup(store, sid)
    second = {"u0000": "open_question", "u0001": "neutral", "u0002": "closed_question",
              "u0003": "change_talk", "u0005": "complex_reflection", "u0006": "neutral",
              "u0007": "simple_reflection", "u0009": "affirm", "u0020": "affirm"}
    for uid, code in second.items():
        store.set_code(sid, uid, code, bo)
    for principle, value in (("empathy", 4.0), ("evocation", 3.0)):
        store.confirm_score(sid, principle, value, None, bo)
    report = store.double_coding_report(eva, session_id=sid)
    firsts = store.get_decisions(sid, eva)["codes"]
    both = sorted(u for u in second if u in firsts)  # u0020 was never coded by eva
    a = [firsts[u]["code"] for u in both]
    b = [second[u] for u in both]
    assert report["codes"]["n"] == len(both) == 8
    assert report["codes"]["kappa"] == pytest.approx(cohen_kappa_score(a, b))
    per = report["codes"]["per_code"]["affirm"]
    assert per["kappa"] == pytest.approx(cohen_kappa_score(
        [x == "affirm" for x in a], [x == "affirm" for x in b]))
    wanted = {u for u, x, y in zip(both, a, b, strict=True) if x != y}
    assert {d["utterance_id"] for d in report["disagreements"]} == wanted
    assert all(d["link"] == f"/ui/?session={sid}&line={d['utterance_id']}"
               for d in report["disagreements"])
    pooled = report["principles"]["all"]
    assert pooled["n"] == 2 and pooled["kappa_quadratic"] == pytest.approx(cohen_kappa_score(
        [9, 4], [8, 6], labels=list(range(2, 11)), weights="quadratic"))
    assert pooled["icc2_1"] == pytest.approx(icc2_1([[4.5, 4.0], [2.0, 3.0]]))
    # per team (the demo session is North's), and exports for researchers
    assert store.double_coding_report(eva, team="North")["codes"]["n"] == 8
    assert store.double_coding_report(eva, team="South")["codes"]["n"] == 0
    rita = store.get_user("rita")
    rows = store.export_double_coding(rita, "csv", session_id=sid).splitlines()
    assert rows[0].startswith("kind,session_id,target") and len(rows) == 1 + 8 + 2
    exported = json.loads(store.export_double_coding(rita, "json", team="North"))
    assert exported["codes"]["kappa"] == pytest.approx(report["codes"]["kappa"])
    assert "text" not in exported["pairs"][0]
    with pytest.raises(PermissionDenied):
        store.export_double_coding(eva, "csv")
