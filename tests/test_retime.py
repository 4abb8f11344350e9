"""A line's new start and end (a dragged waveform region, ``review.retime``): saved, audited
old -> new, undone exactly, bounded by the neighbours and the recording, never moving words,
refused to a coach, a blind coder, another team and a reviewed session.

The session is the demo recording's reference transcript with word times spread over each
line (``test_corrections.demo_with_words``); fresh suggestions come from the shipped tagger.
"""

from __future__ import annotations

import pytest

from msw_audio.errors import InputError, PermissionDenied, ReadOnlySession, StaleEdit
from tests.conftest_app import DEMO_AUDIO, PASSWORD, USERS, write_session_dir
from tests.test_corrections import demo_with_words


@pytest.fixture(scope="module")
def rt_store(tmp_path_factory):
    from msw_audio.review.store import Store

    root = tmp_path_factory.mktemp("retime")
    store = Store.open(root / "data")
    for name, role in USERS.items():
        store.add_user(name, role, PASSWORD)
    store.add_user("eva_s", "evaluator", PASSWORD, teams=("South",))
    out = write_session_dir(demo_with_words(), root / "out")
    sid = store.ingest(out, meta={"team": "North", "title": "Demo"}, audio_path=DEMO_AUDIO)
    yield store, sid
    store.close()


def _lines(store, sid):
    return store.get_session(sid, store.get_user("eva")).utterances


def _gap_line(store, sid):
    """Index of a line with a gap of at least 0.3 s before and after it."""
    utts = _lines(store, sid)
    for i in range(1, len(utts) - 1):
        if utts[i].start - utts[i - 1].end >= 0.3 and utts[i + 1].start - utts[i].end >= 0.3:
            return i
    pytest.skip("the demo transcript has no line with gaps either side")


def test_a_new_span_is_saved_audited_retagged_and_undone_exactly(rt_store):
    store, sid = rt_store
    eva, admin = store.get_user("eva"), store.get_user("ada")
    i = _gap_line(store, sid)
    utts = _lines(store, sid)
    u, prev, nxt = utts[i], utts[i - 1], utts[i + 1]
    before = [(x.id, x.start, x.end, [(w.start, w.end, w.text) for w in x.words]) for x in utts]

    lo, hi = store.span_bounds(sid, u.id, eva)
    assert (lo, hi) == (round(prev.end, 3), round(nxt.start, 3))
    new_start, new_end = round(u.start - 0.2, 3), round(u.end + 0.2, 3)
    out = store.retime_utterance(sid, u.id, new_start, new_end, eva, expected=[u.start, u.end])
    assert (out["start"], out["end"]) == (new_start, new_end)
    got = next(x for x in _lines(store, sid) if x.id == u.id)
    assert (got.start, got.end) == (new_start, new_end)
    assert [(w.start, w.end) for w in got.words] == [(w.start, w.end) for w in u.words]
    assert got.codes and all(c.source in ("model", "cue") for c in got.codes)  # fresh, real tagger

    history = [d for d in store.decision_history(sid, eva) if d["kind"] == "transcript"]
    assert history[-1]["note"] == "retime"
    assert history[-1]["old"] == f"{u.start:.3f}–{u.end:.3f}"
    assert history[-1]["new"] == f"{new_start:.3f}–{new_end:.3f}"
    entry = next(a for a in store.audit_log(admin) if a["action"] == "correction.retime")
    assert entry["detail"]["target"] == u.id and entry["detail"]["end"] == new_end
    assert u.text not in str(entry)  # times only, never transcript text

    # the screen's view is stale now: a second drag from the old span is a 409
    with pytest.raises(StaleEdit):
        store.retime_utterance(sid, u.id, u.start, u.end, eva, expected=[u.start, u.end])

    store.undo_correction(sid, eva)
    after = [(x.id, x.start, x.end, [(w.start, w.end, w.text) for w in x.words])
             for x in _lines(store, sid)]
    assert after == before


def test_spans_past_neighbours_recording_or_words_are_refused(rt_store):
    store, sid = rt_store
    eva = store.get_user("eva")
    utts = _lines(store, sid)
    i = _gap_line(store, sid)
    u, prev, nxt = utts[i], utts[i - 1], utts[i + 1]
    n0 = len(store.corrections(sid, eva))
    with pytest.raises(InputError, match="may span"):
        store.retime_utterance(sid, u.id, prev.end - 0.5, u.end, eva)  # into the previous line
    with pytest.raises(InputError, match="may span"):
        store.retime_utterance(sid, u.id, u.start, nxt.start + 0.5, eva)
    last = utts[-1]
    with pytest.raises(InputError, match="may span"):
        store.retime_utterance(sid, last.id, last.start, 10_000.0, eva)  # past the recording
    with pytest.raises(InputError, match="never moves words"):
        store.retime_utterance(sid, u.id, u.start, u.words[-2].start, eva)  # drops a word
    with pytest.raises(InputError, match="at least"):
        store.retime_utterance(sid, u.id, u.start, u.start + 0.01, eva)
    with pytest.raises(InputError, match="not a number"):
        store.retime_utterance(sid, u.id, "soon", u.end, eva)
    assert len(store.corrections(sid, eva)) == n0  # nothing saved
    assert [(x.start, x.end) for x in _lines(store, sid)] == [(x.start, x.end) for x in utts]


def test_coach_other_team_blind_coder_and_reviewed_session_cannot_retime(rt_store):
    store, sid = rt_store
    eva = store.get_user("eva")
    u = _lines(store, sid)[_gap_line(store, sid)]
    for name in ("cora", "rita"):
        with pytest.raises(PermissionDenied):
            store.retime_utterance(sid, u.id, u.start - 0.1, u.end, store.get_user(name))
    with pytest.raises(InputError, match="no session"):
        store.retime_utterance(sid, u.id, u.start - 0.1, u.end, store.get_user("eva_s"))
    store.add_user("eve2", "evaluator", PASSWORD)
    store.assign_blind(sid, "eve2", store.get_user("ada"))
    with pytest.raises(InputError, match="blind pass"):
        store.retime_utterance(sid, u.id, u.start - 0.1, u.end, store.get_user("eve2"))
    store.mark_reviewed(sid, eva, True, allow_unconfirmed=True)
    try:
        with pytest.raises(ReadOnlySession):
            store.retime_utterance(sid, u.id, u.start - 0.1, u.end, eva)
    finally:
        store.mark_reviewed(sid, eva, False)
