"""Every figure follows what the evaluator confirmed: the MITI summary, the principle-score
features and the team view are recomputed on each decision (``Store._rescore``), with whole
counts for confirmed codes. Real store, real rubric, the demo session's real transcript."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from msw_audio.web.render import miti_html
from tests.conftest_app import make_store

QUESTIONS = ("open_question", "closed_question")
REFLECTIONS = ("simple_reflection", "complex_reflection")


def _confirm_all(store, sid, user) -> dict[str, str]:
    """Confirm a code for every utterance: questions for '?', reflections for 'you…' lines,
    information otherwise (practitioner); neutral / change talk for family members."""
    session = store.get_session(sid, user)
    chosen: dict[str, str] = {}
    for i, u in enumerate(session.utterances):
        if session.role_of(u.speaker) == "practitioner":
            text = u.text.strip().lower()
            code = ("open_question" if text.endswith("?") and i % 2 else
                    "closed_question" if text.endswith("?") else
                    "complex_reflection" if text.startswith("you") else
                    "simple_reflection" if text.startswith("so") else "giving_information")
        else:
            code = "change_talk" if i % 4 == 0 else "neutral"
        store.set_code(sid, u.id, code, user)
        chosen[u.id] = code
    return chosen


def test_confirmed_codes_drive_the_miti_panel_and_one_change_moves_rq(tmp_path: Path):
    store, sid = make_store(tmp_path / "data")
    eva = store.get_user("eva")
    chosen = _confirm_all(store, sid, eva)
    hand = Counter(chosen.values())
    miti = store.get_session(sid, eva).scores["miti"]
    assert miti["all_confirmed"] and miti["utterances_confirmed"] == len(chosen)
    for code, n in hand.items():  # whole counts, equal to a hand count
        assert miti["counts"][code] == n
    questions = sum(hand[c] for c in QUESTIONS)
    reflections = sum(hand[c] for c in REFLECTIONS)
    assert miti["reflection_to_question"] == round(reflections / questions, 2)
    assert miti["confirmed"]["reflections"] == reflections
    html = miti_html(miti)
    assert f"All {len(chosen)} coded lines confirmed" in html
    assert "fair ≥ 1" in html and "good ≥ 2" in html and "fair ≥ 40" in html

    # change one question into a reflection: R:Q moves at once, in the panel and the exports
    qid = next(uid for uid, c in chosen.items() if c in QUESTIONS)
    store.set_code(sid, qid, "complex_reflection", eva)
    after = store.get_session(sid, eva).scores["miti"]
    assert after["reflection_to_question"] == round((reflections + 1) / (questions - 1), 2)
    assert after["reflection_to_question"] != miti["reflection_to_question"]
    assert _num_in(miti_html(after), after["reflection_to_question"])

    # clearing it returns that line to its suggestion: the panel says so
    store.clear_code(sid, qid, eva)
    cleared = store.get_session(sid, eva).scores["miti"]
    assert not cleared["all_confirmed"]
    assert cleared["utterances_confirmed"] == len(chosen) - 1
    assert f"{len(chosen) - 1} of {len(chosen)} coded lines confirmed" in miti_html(cleared)
    store.close()


def test_team_view_miti_follows_confirmed_codes(tmp_path: Path):
    """Three sessions of one team (the team view hides smaller groups), each fully confirmed
    with its principle scores; then one code changes and the team mean R:Q moves."""
    from tests.conftest_app import demo_session, write_session_dir

    store, first = make_store(tmp_path / "data")
    eva, cora = store.get_user("eva"), store.get_user("cora")
    sids = [first]
    for i in (1, 2):
        session = demo_session()
        session.audio.sha256 = f"{i:064x}"
        session.audio.path = ""
        out = write_session_dir(session, tmp_path / f"out{i}")
        sids.append(store.ingest(out, meta={"team": "North", "worker": "Sam",
                                            "date": f"2026-11-0{i + 2}"}))
    choices = [_confirm_all(store, sid, eva) for sid in sids]
    for sid in sids:
        store.confirm_score(sid, "empathy", 4.0, None, eva)

    def team_rq() -> float:
        df = store.team_summary(cora, team="North")
        row = df[(df.kind == "miti") & (df.measure == "reflection_to_question")
                 & (df.period == "all") & (df.group == "team:North")]
        return float(row.iloc[0]["mean"])

    before = team_rq()
    qid = next(uid for uid, c in choices[0].items() if c in QUESTIONS)
    store.set_code(sids[0], qid, "complex_reflection", eva)
    assert team_rq() > before
    store.close()


def _num_in(html: str, value: float) -> bool:
    return f"{value:.2f}".rstrip("0").rstrip(".") in html
