"""Transcript corrections in the store: each saved at once, audited old -> new, undone
exactly, refused to a coach and invisible across teams; fresh suggestions from the real
tagger, and figures recomputed after each correction.

The session is the demo recording's reference transcript (``conftest_app.demo_session``)
with word times spread over each line; the tagger that re-suggests codes is the shipped one.
"""

from __future__ import annotations

import pytest

from msw_audio.errors import InputError, PermissionDenied, StaleEdit
from msw_audio.records import Word
from msw_audio.review.corrections import retime_words
from tests.conftest_app import DEMO_AUDIO, PASSWORD, USERS, demo_session, write_session_dir


def demo_with_words():
    """The demo reference as a session whose lines carry (evenly spread) word times."""
    session = demo_session()
    for u in session.utterances:
        u.words = retime_words([], u.text, u.start, u.end)
        for w in u.words:
            w.speaker = u.speaker
    return session


@pytest.fixture(scope="module")
def corr_store(tmp_path_factory):
    from msw_audio.review.store import Store

    root = tmp_path_factory.mktemp("corrections")
    store = Store.open(root / "data")
    for name, role in USERS.items():
        store.add_user(name, role, PASSWORD)
    store.add_user("eva_s", "evaluator", PASSWORD, teams=("South",))
    out = write_session_dir(demo_with_words(), root / "out")
    sid = store.ingest(out, meta={"team": "North", "title": "Demo"}, audio_path=DEMO_AUDIO)
    yield store, sid
    store.close()


def _utt(store, sid, uid):
    session = store.get_session(sid, store.get_user("eva"))
    return next(u for u in session.utterances if u.id == uid)


def _rows(store, sid):
    return [(u.id, u.speaker, u.text, [(w.start, w.end, w.text) for w in u.words])
            for u in store.get_session(sid, store.get_user("eva")).utterances]


def test_retime_words_keeps_surviving_times_and_interpolates_inserted():
    old = [Word(0.0, 0.5, "Jayden"), Word(0.5, 1.0, "attendance"), Word(1.0, 1.5, "is"),
           Word(2.0, 2.5, "60"), Word(2.5, 3.0, "percent.")]
    new = retime_words(old, "Jayden's attendance is down to 60 percent.", 0.0, 3.0)
    assert [w.text for w in new] == ["Jayden's", "attendance", "is", "down", "to", "60",
                                     "percent."]
    assert (new[1].start, new[1].end) == (0.5, 1.0) and (new[5].start, new[6].end) == (2.0, 3.0)
    assert new[0].start == 0.0 and new[0].end == 0.5  # the misheard word keeps its time
    assert 1.5 <= new[3].start < new[4].start < new[4].end <= 2.0  # inserted: in the gap


def test_each_correction_is_saved_audited_undoable_and_refused_to_a_coach(corr_store):
    store, sid = corr_store
    eva, cora, admin = store.get_user("eva"), store.get_user("cora"), store.get_user("ada")
    rows0 = _rows(store, sid)
    u3 = _utt(store, sid, "u0003")
    store.set_code(sid, "u0003", u3.codes[0].code, eva)  # a confirmed code must stay

    # reassign one line to the child, then to a new speaker
    old_speaker = u3.speaker
    store.reassign_utterance(sid, "u0003", "SPEAKER_02", eva, expected=old_speaker)
    assert _utt(store, sid, "u0003").speaker == "SPEAKER_02"
    with pytest.raises(StaleEdit):
        store.reassign_utterance(sid, "u0003", "SPEAKER_00", eva, expected=old_speaker)
    store.reassign_utterance(sid, "u0003", "new", eva)
    new_spk = _utt(store, sid, "u0003").speaker
    assert new_spk not in {"SPEAKER_00", "SPEAKER_01", "SPEAKER_02"}
    assert any(s.id == new_spk for s in store.get_session(sid, eva).speakers)

    # edit a word: fresh suggestions, times kept for the surviving words
    u5 = _utt(store, sid, "u0005")
    words = u5.text.split()
    words[1] = "XYZZY"
    store.set_code(sid, "u0005", u5.codes[0].code, eva)
    store.edit_text(sid, "u0005", " ".join(words), eva, expected=u5.text)
    e5 = _utt(store, sid, "u0005")
    assert e5.text.split()[1] == "XYZZY"
    assert [(w.start, w.end) for w in e5.words] == [(w.start, w.end) for w in u5.words]
    assert e5.codes[0].source == "evaluator" and e5.codes[0].code == u5.codes[0].code
    model = [c for c in e5.codes if c.source != "evaluator"]
    assert model and all(c.source in ("model", "cue") for c in model)  # the real tagger's
    with pytest.raises(StaleEdit):
        store.edit_text(sid, "u0005", "something else", eva, expected=u5.text)

    # split at a word, merge with the next
    u8 = _utt(store, sid, "u0008")
    n = len(u8.words)
    out = store.split_utterance(sid, "u0008", n // 2, eva)
    new_id = out["new_utterance_id"]
    first, second = _utt(store, sid, "u0008"), _utt(store, sid, new_id)
    assert len(first.words) + len(second.words) == n and second.start >= first.end
    ids = [u.id for u in store.get_session(sid, eva).utterances]
    assert ids.index(new_id) == ids.index("u0008") + 1
    store.merge_with_next(sid, "u0010", admin)
    merged = _utt(store, sid, "u0010")
    assert "u0011" not in [u.id for u in store.get_session(sid, eva).utterances]
    assert merged.text.endswith(rows0[11][2].split()[-1].rstrip()) or rows0[11][2] in merged.text

    # audited old -> new in the decision history and the audit log
    history = [d for d in store.decision_history(sid, eva) if d["kind"] == "transcript"]
    assert [d["note"] for d in history] == ["reassign", "reassign", "edit", "split", "merge"]
    assert history[0]["old"] == old_speaker and history[0]["new"] == "SPEAKER_02"
    assert "XYZZY" in history[2]["new"] and u5.text == history[2]["old"]
    actions = [a["action"] for a in store.audit_log(admin)]
    for kind in ("reassign", "edit", "split", "merge"):
        assert f"correction.{kind}" in actions

    # a coach and a researcher are refused; another team's evaluator does not see it
    for who in (cora, store.get_user("rita")):
        for call in (lambda u: store.reassign_utterance(sid, "u0001", "SPEAKER_01", u),
                     lambda u: store.edit_text(sid, "u0001", "hello", u),
                     lambda u: store.split_utterance(sid, "u0001", 1, u),
                     lambda u: store.merge_with_next(sid, "u0001", u),
                     lambda u: store.resplit_speakers(sid, u, num_speakers=3),
                     lambda u: store.undo_correction(sid, u)):
            with pytest.raises(PermissionDenied):
                call(who)
    with pytest.raises(InputError, match="no session"):
        store.edit_text(sid, "u0001", "hello", store.get_user("eva_s"))
    with pytest.raises(InputError, match="no session"):
        store.undo_correction(sid, store.get_user("eva_s"))

    # undo, newest first, restores the exact rows (and a reopened store sees the same)
    for _ in range(5):
        store.undo_correction(sid, eva)
    assert _rows(store, sid) == rows0
    assert _utt(store, sid, "u0003").codes[0].source == "evaluator"  # confirmed before: kept
    with pytest.raises(InputError, match="nothing to undo"):
        store.undo_correction(sid, eva)
    assert store.machine_transcript(sid, eva)["utterances"][3]["speaker"] == old_speaker
    assert [c["undone_by"] for c in store.corrections(sid, eva)] == ["eva"] * 5


def test_bad_corrections_are_refused_and_change_nothing(corr_store, tmp_path):
    store, sid = corr_store
    # an empty cache of its own: the user's cache may hold this recording from another test
    empty_cache = tmp_path / "cache"
    eva = store.get_user("eva")
    before = _rows(store, sid)
    for call, match in (
        (lambda: store.edit_text(sid, "u0002", "   ", eva), "empty"),
        (lambda: store.edit_text(sid, "u0002", "x" * 6000, eva), "at most"),
        (lambda: store.split_utterance(sid, "u0002", 0, eva), "cut before"),
        (lambda: store.split_utterance(sid, "u0002", "a", eva), "not a number"),
        (lambda: store.reassign_utterance(sid, "u0002", "SPEAKER_99", eva), "no speaker"),
        (lambda: store.edit_text(sid, "u9999", "hi", eva), "no utterance"),
        (lambda: store.resplit_speakers(sid, eva), "number of speakers"),
        (lambda: store.resplit_speakers(sid, eva, min_speakers=4, max_speakers=2), "above"),
        (lambda: store.resplit_speakers(sid, eva, num_speakers=3, cache_dir=empty_cache),
         "not in the cache"),
    ):
        with pytest.raises(InputError, match=match):
            call()
    last = len(store.get_session(sid, eva).utterances)
    with pytest.raises(InputError, match="last one"):
        store.merge_with_next(sid, f"u{last - 1:04d}", eva)
    assert _rows(store, sid) == before


def test_figures_follow_a_correction(corr_store):
    store, sid = corr_store
    eva = store.get_user("eva")
    session = store.get_session(sid, eva)
    practitioner = next(u for u in session.utterances if u.speaker == "SPEAKER_00")
    store.set_code(sid, practitioner.id, "complex_reflection", eva)
    before = store.get_session(sid, eva).scores["miti"]
    store.reassign_utterance(sid, practitioner.id, "SPEAKER_01", eva)  # not a practitioner now
    after = store.get_session(sid, eva).scores["miti"]
    assert after != before
    assert store.flags(sid, eva).get(practitioner.id, "").startswith("was confirmed as")
    store.undo_correction(sid, eva)
    assert store.get_session(sid, eva).scores["miti"] == before
