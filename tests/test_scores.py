"""Principle scores on small hand-written sessions whose answer is known, plus calibration.

Codes in these sessions are written by hand (probability 1, source "human") so that the
rubric is tested on its own; the tagger's share is checked by ``test_score_cli_with_tagger``
and by ``benchmarks/scores_annomi.py``.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import pytest

from msw_audio.cli import main as cli
from msw_audio.coding.annomi import annomi_transcripts, default_annomi_csv
from msw_audio.errors import InputError, ModelNotFoundError
from msw_audio.records import AudioInfo, CodeSuggestion, Session, Speaker, Utterance
from msw_audio.scoring.features import child_names, session_features
from msw_audio.scoring.rubric import (
    MIN_CONFIRMED,
    PRINCIPLES,
    RUBRIC,
    load_calibration,
    read_confirmed,
    score_session,
    train_calibration,
)

REPO = Path(__file__).resolve().parents[1]
ROLE_SPEAKER = {"practitioner": "S0", "parent": "S1", "child": "S2"}


def make_session(turns: list[tuple[str, str, str | None]]) -> Session:
    """Session from (role, text, code) turns, 4 s each."""
    utts = []
    for i, (role, text, code) in enumerate(turns):
        codes = [CodeSuggestion(code, 1.0, "human")] if code else []
        utts.append(Utterance(f"u{i}", 4.0 * i, 4.0 * i + 3.5, ROLE_SPEAKER[role], text,
                              codes=codes))
    speakers = [Speaker(s, role, 1.0) for role, s in ROLE_SPEAKER.items()]
    return Session(AudioInfo("test.wav", "0" * 64, 4.0 * len(turns)), speakers, utts)


def directive_session() -> Session:
    """Only closed questions and advice: the practitioner does all the steering."""
    turns = []
    pairs = [
        ("Did you take him to the appointment?", "closed_question", "No.", "neutral"),
        ("You need to take him next week.", "persuade", "Right.", "neutral"),
        ("Is he going to school every day?", "closed_question", "Mostly.", "neutral"),
        ("You should walk him there yourself.", "persuade", "I can't, I work.", "sustain_talk"),
        ("Have you called the GP?", "closed_question", "Not yet.", "neutral"),
        ("You have to call them tomorrow morning.", "persuade", "Fine.", "neutral"),
        ("Are you still smoking in the house?", "closed_question", "Sometimes.", "sustain_talk"),
        ("You must stop that, it's bad for him.", "persuade", "Okay.", "neutral"),
        ("Do you understand?", "closed_question", "Yes.", "neutral"),
        ("I'll write it down and you'd better follow it.", "persuade", "Yeah.", "neutral"),
    ]
    for prac, pcode, par, fcode in pairs * 2:
        turns += [("practitioner", prac, pcode), ("parent", par, fcode)]
    return make_session(turns)


def evocative_session() -> Session:
    """Complex reflections and open, child-centred questions about Amy."""
    pairs = [
        ("What would you like to happen for Amy?", "open_question",
         "I want her to be happy at school again.", "change_talk"),
        ("You really want your daughter to feel settled and safe, and that matters more to "
         "you than anything.", "complex_reflection",
         "Yeah, she's everything to me.", "change_talk"),
        ("How do you think Amy sees things at home at the moment?", "open_question",
         "She gets upset when we argue.", "neutral"),
        ("You've noticed how the arguments land on Amy, and part of you wants to protect "
         "her from that.", "complex_reflection",
         "I do. I don't want her growing up like I did.", "change_talk"),
        ("What might help Amy feel calmer in the evenings?", "open_question",
         "Maybe a proper bedtime, reading with her.", "change_talk"),
        ("Reading together is something you already know works for your little girl.",
         "complex_reflection", "It does, she loves it.", "change_talk"),
        ("What would Amy say if we asked her what she needs?", "open_question",
         "She'd say she wants her mum to not be stressed.", "change_talk"),
        ("You can hear what Amy needs from you, and you're already thinking about how "
         "to give it to her.", "complex_reflection", "I suppose I am.", "change_talk"),
    ]
    turns = []
    for prac, pcode, par, fcode in pairs * 2:
        turns += [("practitioner", prac, pcode), ("parent", par, fcode)]
    turns.append(("child", "I like it when mummy reads to me.", "change_talk"))
    return make_session(turns)


def advice_session() -> Session:
    """Advice and information only, no reflection: what the tagger must not score up."""
    lines = [
        ("You need to cut down on the drinking before the weekend.", "persuade"),
        ("The guidance says no more than fourteen units a week.", "giving_information"),
        ("You should get him to bed by eight every night.", "persuade"),
        ("Children his age need about eleven hours of sleep.", "giving_information"),
        ("I want you to ring the school about his attendance.", "persuade"),
        ("The health visitor can come round on Tuesdays.", "giving_information"),
    ]
    turns = []
    for text, code in lines * 3:
        turns += [("practitioner", text, code), ("parent", "Okay, I will try that.", "neutral")]
    return make_session(turns)


def test_advice_without_reflections_keeps_evocation_and_empathy_low():
    """Issue 15: a session of advice-giving must not be scored up on evocation or empathy,
    and its evidence says what lowered them (practitioner lines of three words or more)."""
    scores = score_session(advice_session())["principles"]
    for name in ("evocation", "empathy"):
        assert scores[name]["value"] <= 2.0, (name, scores[name])
    ev = scores["evocation"]["evidence"]
    strongest = max(ev, key=lambda e: abs(e["effect"]))
    assert strongest["direction"] == "lowers" and "lowers evocation" in strongest["why"]
    assert all(len(e["text"].split()) >= 3 for e in ev)


def test_evidence_is_the_lines_that_moved_each_principle():
    scores = score_session(evocative_session())["principles"]
    texts = {e["text"] for e in scores["empathy"]["evidence"]}
    assert all("Okay" not in t and "Mm" not in t for t in texts)
    for name in ("evocation", "empathy", "collaboration", "autonomy"):
        for e in scores[name]["evidence"]:
            assert e["utterance_id"] in {u.id for u in evocative_session().utterances
                                         if u.speaker == ROLE_SPEAKER["practitioner"]}, name
    assert scores["empathy"]["evidence"][0]["direction"] == "raises"
    assert ({e["utterance_id"] for e in scores["evocation"]["evidence"]}
            != {e["utterance_id"] for e in scores["empathy"]["evidence"]})


def check_shape(scores: dict) -> None:
    assert scores["rubric_version"]
    assert set(scores["principles"]) == set(PRINCIPLES)
    for name, p in scores["principles"].items():
        assert 1.0 <= p["value"] <= 5.0 and (p["value"] * 2).is_integer(), name
        assert 0.0 <= p["confidence"] <= 1.0, name
        assert 1 <= len(p["evidence"]) <= 5, name
        for e in p["evidence"]:
            assert set(e) >= {"utterance_id", "start", "end", "text", "why"}
            assert e["end"] >= e["start"]
        assert p["reasons"] and all(isinstance(r, str) for r in p["reasons"])


def test_directive_session_scores_low_on_evocation_and_autonomy():
    session = directive_session()
    scores = score_session(session)
    check_shape(scores)
    p = scores["principles"]
    assert p["evocation"]["value"] <= 2.0
    assert p["autonomy"]["value"] <= 2.0
    assert p["empathy"]["value"] <= 2.0
    assert p["collaboration"]["value"] <= 2.0
    assert session.scores is scores
    # Low score: evidence shows what lowered it (the persuading / closed questions).
    whys = " ".join(e["why"] for e in p["autonomy"]["evidence"])
    assert "lowers" in whys


def test_evocative_child_focused_session_scores_high():
    scores = score_session(evocative_session())
    check_shape(scores)
    p = scores["principles"]
    assert p["evocation"]["value"] >= 4.0
    assert p["child_focus"]["value"] >= 4.0
    assert p["empathy"]["value"] >= 4.0
    texts = [e["text"] for e in p["child_focus"]["evidence"]]
    assert any("Amy" in t for t in texts)
    assert any("complex reflection" in e["why"] for e in p["evocation"]["evidence"])


def test_high_and_low_sessions_ordered_for_every_miti_principle():
    low = score_session(directive_session())["principles"]
    high = score_session(evocative_session())["principles"]
    for name in ("evocation", "empathy", "collaboration", "autonomy"):
        assert high[name]["value"] > low[name]["value"], name


def test_clarity_about_concerns_and_purposefulness_from_cues():
    clear = make_session([
        ("practitioner", "The reason I'm here today is that the school rang us.",
         "giving_information"),
        ("parent", "Right, okay.", "neutral"),
        ("practitioner", "I'm worried about Amy's safety when she walks home alone at night.",
         "giving_information"),
        ("parent", "She's fine, she's eleven.", "sustain_talk"),
        ("practitioner", "To be clear with you, the concern is that she has been hurt twice.",
         "giving_information"),
        ("parent", "I didn't know that.", "neutral"),
        ("practitioner", "What needs to change is that someone collects her from school.",
         "giving_information"),
        ("parent", "I could ask my mum.", "change_talk"),
        ("practitioner", "Shall we agree on a plan for who collects her, and review it next "
         "week?", "seeking_collaboration"),
        ("parent", "Yes, okay.", "change_talk"),
        ("practitioner", "So our goal for this week is that Amy is picked up every day.",
         "complex_reflection"),
        ("parent", "Yes.", "neutral"),
    ])
    vague = make_session([
        ("practitioner", "How was your weekend?", "open_question"),
        ("parent", "Good, we went to the seaside.", "neutral"),
        ("practitioner", "Lovely, was the weather nice?", "closed_question"),
        ("parent", "It was sunny.", "neutral"),
        ("practitioner", "Nice. Anything else going on?", "open_question"),
        ("parent", "Not really.", "neutral"),
    ])
    c, v = score_session(clear)["principles"], score_session(vague)["principles"]
    assert c["clarity_about_concerns"]["value"] >= 4.0
    assert v["clarity_about_concerns"]["value"] <= 2.0
    assert c["purposefulness"]["value"] > v["purposefulness"]["value"]
    assert c["child_focus"]["value"] > v["child_focus"]["value"]
    assert any("concern about the child" in e["why"]
               for e in c["clarity_about_concerns"]["evidence"])


def test_autonomy_cues_raise_autonomy():
    base = [("practitioner", "How are things with the kids?", "open_question"),
            ("parent", "Busy.", "neutral")]
    cues = [("practitioner", "It's your decision how you handle bedtimes, you know your "
             "children best.", "emphasising_autonomy"),
            ("parent", "I think I'll try earlier nights.", "change_talk"),
            ("practitioner", "Whatever you decide, it's up to you.", "emphasising_autonomy"),
            ("parent", "Okay.", "neutral")]
    orders = [("practitioner", "You need to put them to bed at seven.", "persuade"),
              ("parent", "Fine.", "neutral"),
              ("practitioner", "You must stop the screens.", "persuade"),
              ("parent", "Okay.", "neutral")]
    free = score_session(make_session(base * 3 + cues * 2))["principles"]["autonomy"]
    told = score_session(make_session(base * 3 + orders * 2))["principles"]["autonomy"]
    assert free["value"] >= told["value"] + 2
    assert any("autonomy cue" in e["why"] for e in free["evidence"])


def test_child_names_heuristic():
    s = make_session([
        ("practitioner", "Thanks, Barbara. How is your daughter Amy getting on?", None),
        ("parent", "She's fine, Amy loves school. We went to Blackpool with the kids.", None),
        ("practitioner", "Hello Barbara, good to see you and Amy.", None),
        ("parent", "It was the Like button. I like it.", None),
    ])
    assert child_names(s) == {"Amy"}
    # A child in the room, addressed by name and answering, is a child reference too.
    s = make_session([
        ("practitioner", "Thanks, Mark.", None),
        ("parent", "No problem.", None),
        ("practitioner", "And Jade, what's school like for you at the moment?", None),
        ("child", "Boring.", None),
    ])
    assert child_names(s) == {"Jade"}


def test_uncertain_codes_move_scores_less_and_lower_confidence():
    sure = evocative_session()
    unsure = evocative_session()
    for u in unsure.utterances:
        if u.codes:
            u.codes = [CodeSuggestion(u.codes[0].code, 0.4, "model"),
                       CodeSuggestion("other" if u.speaker == "S0" else "neutral", 0.6, "model")]
    a, b = score_session(sure)["principles"], score_session(unsure)["principles"]
    assert b["empathy"]["value"] < a["empathy"]["value"]
    assert b["empathy"]["confidence"] < a["empathy"]["confidence"]


def test_an_evaluator_code_counts_in_full_whatever_the_model_suggested():
    """Store.get_session puts a confirmed code first, then the model's other suggestions."""
    confirmed = evocative_session()
    plain = evocative_session()
    for u in confirmed.utterances:
        if u.codes:
            top = u.codes[0].code
            u.codes = [CodeSuggestion(top, 1.0, "evaluator"),
                       CodeSuggestion("other" if u.speaker == "S0" else "neutral", 0.6, "model")]
    assert session_features(confirmed).values == session_features(plain).values


def test_empty_session_does_not_crash():
    scores = score_session(make_session([]))
    assert all(p["value"] >= 1.0 for p in scores["principles"].values())
    assert scores["miti"]["reflection_to_question"] is None


def test_rubric_is_documented():
    """docs/principles.md names every component's feature and weight (they change together)."""
    doc = (REPO / "docs" / "principles.md").read_text(encoding="utf-8")
    for name, principle in RUBRIC.items():
        section = re.search(rf"^## .*`{name}`.*?(?=^## |\Z)", doc, re.S | re.M)
        assert section, f"no section for {name}"
        for comp in principle.components:
            for feat in comp.features:
                assert f"`{feat}`" in section.group(0), (name, feat)
            assert f"{comp.weight:g}" in section.group(0), (name, comp.weight)


# ----------------------------------------------------------------------------- calibration


@functools.cache
def _annomi():
    return annomi_transcripts(default_annomi_csv())


def _confirmed_file(path: Path, n: int) -> Path:
    """Real AnnoMI sessions with a stand-in 'confirmed' evocation score from MI quality."""
    transcripts = _annomi()
    lows = [t for t in transcripts if t.mi_quality == "low"]
    highs = [t for t in transcripts if t.mi_quality == "high"]
    chosen = (lows + highs)[: n // 2] + highs[-(n - n // 2):] if n > len(lows) else lows[:n]
    with path.open("w", encoding="utf-8") as fh:
        for t in chosen:
            value = 4.0 if t.mi_quality == "high" else 2.0
            fh.write(json.dumps({"session_id": t.transcript_id, "session": t.session.to_dict(),
                                 "confirmed": {"evocation": value, "empathy": value}}) + "\n")
    return path


def test_calibration_refuses_below_minimum(tmp_path, capsys):
    path = _confirmed_file(tmp_path / "few.jsonl", MIN_CONFIRMED - 5)
    with pytest.raises(InputError, match=f"at least {MIN_CONFIRMED}"):
        train_calibration(read_confirmed(path))
    rc = cli.main(["scores", "train", "--confirmed", str(path), "--out", str(tmp_path / "m")])
    assert rc != 0 and "rubric stays" in capsys.readouterr().err
    assert not (tmp_path / "m" / "model.joblib").exists()


def test_calibration_trains_reports_and_applies(tmp_path, capsys):
    path = _confirmed_file(tmp_path / "c.jsonl", 40)
    out = tmp_path / "cal"
    assert cli.main(["scores", "train", "--confirmed", str(path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "QWK" in printed and "evocation" in printed
    report = json.loads((out / "report.json").read_text())
    rep = report["principles"]["evocation"]
    assert rep["n"] == 40 and {"qwk", "icc", "rubric_qwk", "rubric_icc"} <= set(rep)
    assert rep["qwk"] > 0.3  # high vs low separates: calibrated values agree with labels
    assert "autonomy" in report["skipped"]
    cal = load_calibration(out)
    scores = score_session(evocative_session(), calibration=cal)
    assert scores["principles"]["evocation"]["source"] == "calibrated"
    assert scores["principles"]["autonomy"]["source"] == "rubric"
    assert "calibrated on 40" in scores["principles"]["evocation"]["reasons"][0]


def test_missing_calibration_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="scores train"):
        load_calibration(tmp_path / "nothing")


def test_read_confirmed_rejects_bad_records(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"session_id": "x"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="bad.jsonl:1"):
        read_confirmed(bad)


# ------------------------------------------------------------------------------------ CLI


def _small_csv(tmp_path: Path, ids: tuple[str, ...]) -> Path:
    import pandas as pd

    df = pd.read_csv(default_annomi_csv(), dtype={"transcript_id": str})
    path = tmp_path / "small.csv"
    df[df.transcript_id.isin(ids)].to_csv(path, index=False)
    return path


def test_score_cli_annomi_human_codes(tmp_path, capsys):
    path = _small_csv(tmp_path, ("0", "1"))
    assert cli.main(["score", "--annomi", str(path), "--codes", "human", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"0", "1"}
    for row in out.values():
        assert set(PRINCIPLES) <= set(row) and "miti" in row
        assert row["miti"]["thresholds"]["reflection_to_question"] == {"fair": 1.0, "good": 2.0}


SHIPPED_TAGGER = REPO / "models" / "tagger" / "metadata.json"


@pytest.mark.skipif(not SHIPPED_TAGGER.is_file(),
                    reason="the shipped tagger (models/tagger) is not built in this checkout yet")
def test_score_cli_with_tagger(tmp_path, capsys):
    """The shipped tagger codes the transcripts (the issue's default)."""
    path = _small_csv(tmp_path, ("1",))
    assert cli.main(["score", "--annomi", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"1"} and out["1"]["miti"]["questions"] > 0


def test_score_cli_session_json(tmp_path, capsys):
    session = evocative_session()
    path = tmp_path / "session.json"
    path.write_text(json.dumps(session.to_dict()), encoding="utf-8")
    assert cli.main(["score", "--session", str(path), "--write", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    stored = json.loads(path.read_text())["scores"]
    assert stored["principles"]["evocation"]["value"] == printed["principles"]["evocation"]["value"]


def test_score_cli_bad_csv_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    assert cli.main(["score", "--annomi", str(bad), "--codes", "human"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("msw-audio: error:") and "missing column" in err and "\n" not in err


def test_features_on_annomi_are_finite():
    t = _annomi()[0]
    values = session_features(t.session).values
    assert all(v == v and abs(v) < 1e6 for v in values.values())


@pytest.mark.slow
def test_demo_evidence_differs_between_evocation_and_empathy(speech_pipeline):
    """Issue 15: on the demo recording evocation and empathy cited the same five lines,
    "Mm hmm." and a parent's line among them."""
    from msw_audio.scoring.features import session_features as features_of

    session = speech_pipeline.process(REPO / "msw_audio" / "demo" / "demo.ogg")
    principles = (session.scores or score_session(session))["principles"]
    views = {v.utterance.id: v for v in features_of(session).views}
    evo = {e["utterance_id"] for e in principles["evocation"]["evidence"]}
    emp = {e["utterance_id"] for e in principles["empathy"]["evidence"]}
    assert evo and emp and evo != emp
    for uid in evo | emp:
        assert views[uid].is_practitioner and len(views[uid].utterance.text.split()) >= 3
