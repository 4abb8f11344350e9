"""The store keeps a session's suggestion rows between rescores (``Store._suggestions``):
what a decision's rescore reads must still be what the database holds, whichever process
changed it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, select

from msw_audio.review.db import Suggestion
from msw_audio.review.store import Store
from tests.conftest_app import PASSWORD, demo_session, write_session_dir


def _stores(tmp_path: Path) -> tuple[Store, Store, str]:
    store = Store.open(tmp_path / "data")
    store.add_user("eva", "evaluator", PASSWORD)
    sid = store.ingest(write_session_dir(demo_session(), tmp_path / "out"))
    other = Store.open(tmp_path / "data")  # a second process on the same data folder
    return store, other, sid


def _read(store: Store, sid: str) -> dict[str, list[tuple]]:
    with store.rtx() as s:
        return {k: list(v) for k, v in store._suggestions(s, sid).items()}


def test_cached_suggestions_equal_the_rows_and_follow_another_process(tmp_path: Path) -> None:
    store, other, sid = _stores(tmp_path)
    first = _read(store, sid)
    assert first == _read(other, sid)
    assert _read(store, sid) is not None and store._suggestion_cache[sid][1] is not None
    utt = next(iter(first))
    # the other process replaces one line's suggestions with rows of the same count (the
    # ids SQLite hands out again may be the same ones): the first store must see it
    with other.tx() as s:
        rows = list(s.scalars(select(Suggestion).where(Suggestion.session_id == sid,
                                                       Suggestion.utterance_id == utt)))
        s.execute(delete(Suggestion).where(Suggestion.session_id == sid,
                                           Suggestion.utterance_id == utt))
        for rank, r in enumerate(rows):
            s.add(Suggestion(session_id=sid, utterance_id=utt, rank=rank, code="GI",
                             probability=r.probability, source="model"))
    after = _read(store, sid)
    assert [c[0] for c in after[utt]] == ["GI"] * len(rows)
    assert after == _read(other, sid)
    store.close()
    other.close()


def test_an_edited_line_gets_its_fresh_suggestions_in_the_rescore(tmp_path: Path) -> None:
    store, other, sid = _stores(tmp_path)
    other.close()
    user = store.get_user("eva")
    session = store.get_session(sid, user)
    line = next(u for u in session.utterances if len(u.text.split()) > 3)
    _read(store, sid)  # cached
    store.edit_text(sid, line.id, "How do you feel about that?", user)
    fresh = _read(store, sid)
    with store.rtx() as s:
        rows = s.execute(select(Suggestion.utterance_id, Suggestion.code)
                         .where(Suggestion.session_id == sid)
                         .order_by(Suggestion.utterance_id, Suggestion.rank)).all()
    expected: dict[str, list[str]] = {}
    for u, c in rows:
        expected.setdefault(u, []).append(c)
    assert {k: [c[0] for c in v] for k, v in fresh.items()} == expected
    store.close()
