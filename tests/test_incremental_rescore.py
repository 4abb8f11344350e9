"""A decision's rescore reuses the lines and feature views it did not change
(``Store._scoring_session``, ``session_features(reuse=)``): its figures must be exactly
those of a computation from scratch, after any sequence of decisions, corrections and
another process's writes (issue 12)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from msw_audio.coding.codebook import load_codebook
from msw_audio.errors import InputError, StaleEdit
from msw_audio.records import PRINCIPLES, ROLES
from msw_audio.review.store import Store
from msw_audio.scoring.features import session_features
from msw_audio.scoring.rubric import score_session
from tests.conftest_app import PASSWORD, demo_session, write_session_dir


def _figures(scores: dict[str, Any]) -> dict[str, Any]:
    """Every figure but the evidence (a code decision keeps the evidence chosen before)."""
    out = dict(scores)
    out["principles"] = {k: {f: v for f, v in p.items() if f != "evidence"}
                         for k, p in scores["principles"].items()}
    return out


def _stored_and_full(store: Store, sid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The figures the store holds, and the same computed from scratch from its rows."""
    with store.rtx() as s:
        row = store._session_row(s, sid)
        stored = row.scores
        session = store._session_from_rows(s, row, words=False)
        full = score_session(session, codebook=store._codebook_of(row.models), evidence=False)
    return _figures(stored), _figures(full)


def test_random_decisions_give_the_figures_of_a_full_recompute(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "data")
    store.add_user("eva", "evaluator", PASSWORD)
    store.add_user("ed", "evaluator", PASSWORD)
    sid = store.ingest(write_session_dir(demo_session(n_repeat=3), tmp_path / "out"))
    other = Store.open(tmp_path / "data")  # a second process on the same data folder
    eva, ed = store.get_user("eva"), other.get_user("ed")
    book = load_codebook()
    rng = random.Random(12)
    kinds = ["code"] * 6 + ["accept"] * 3 + ["clear"] * 2 + ["role", "undo", "undo", "redo",
                                                           "score", "edit", "other"]
    first = store.get_session(sid, eva).utterances[0]  # the ingested scores are the demo's:
    store.set_code(sid, first.id, first.codes[0].code, eva)  # a first rescore replaces them
    done: dict[str, int] = {}
    for step in range(70):
        kind = rng.choice(kinds)
        session = store.get_session(sid, eva)
        line = rng.choice(session.utterances)
        role = session.role_of(line.speaker)
        codes = [c.id for c in book.for_role(role)]
        try:
            if kind == "code" and codes:
                store.set_code(sid, line.id, rng.choice(codes), eva)
            elif kind == "accept":
                store.accept_code(sid, line.id, eva)
            elif kind == "clear":
                store.clear_code(sid, line.id, eva)
            elif kind == "role":
                spk = rng.choice(session.speakers)
                store.set_role(sid, spk.id, rng.choice(ROLES), eva)
            elif kind == "undo":
                store.undo(sid, eva)
            elif kind == "redo":
                store.redo(sid, eva)
            elif kind == "score":
                store.confirm_score(sid, rng.choice(PRINCIPLES), rng.choice([1.5, 3.0, 4.5]),
                                    None, eva)
            elif kind == "edit":
                store.edit_text(sid, line.id, f"So you worry about school {step}?", eva)
            elif kind == "other" and codes:  # another process's decision, then mine
                other.set_code(sid, line.id, rng.choice(codes), ed)
                store.clear_code(sid, rng.choice(session.utterances).id, eva)
        except (InputError, StaleEdit):
            continue  # e.g. a code the line's role no longer takes, nothing to undo
        done[kind] = done.get(kind, 0) + 1
        stored, full = _stored_and_full(store, sid)
        assert stored == full, f"step {step} ({kind}): the kept figures differ from a recompute"
    assert {"code", "accept", "clear", "role", "undo", "edit", "other"} <= set(done)
    # the kept lines were really reused (else the test says nothing about the cache)
    assert sid in store._scoring_cache and store._scoring_cache[sid][1] is not None
    store.add_user("ada", "admin", PASSWORD)
    store.erase_session(sid, store.get_user("ada"))  # nothing of it stays in this process
    assert sid not in store._scoring_cache and sid not in store._suggestion_cache
    other.close()
    store.close()


def test_reused_views_equal_fresh_ones_after_a_role_change(tmp_path: Path) -> None:
    session = demo_session(n_repeat=2)
    book = load_codebook()
    first = session_features(session, counting="plausible", codebook=book)
    parent = next(s for s in session.speakers if s.role == "parent")
    parent.role = "child"  # the same Utterance objects, one speaker's role changed
    reused = session_features(session, counting="plausible", codebook=book, reuse=first)
    fresh = session_features(session, counting="plausible", codebook=book)
    assert reused.values == fresh.values and reused.code_mass == fresh.code_mass
    assert [(v.role, v.codes, v.counts, v.cues) for v in reused.views] == [
        (v.role, v.codes, v.counts, v.cues) for v in fresh.views]
    kept = sum(a is b for a, b in zip(reused.views, first.views, strict=True))
    assert 0 < kept < len(first.views)  # the other speakers' views were taken over
    other = session_features(session, counting="soft", codebook=book, reuse=first)
    assert not any(a is b for a, b in zip(other.views, first.views, strict=True))
