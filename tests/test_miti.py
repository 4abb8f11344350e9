"""MITI 4.2.1 summary scores from known code counts, and the AnnoMI session reader."""

from __future__ import annotations

import pytest

from msw_audio.coding.annomi import annomi_transcripts, default_annomi_csv, load_annomi
from msw_audio.errors import InputError
from msw_audio.records import AudioInfo, CodeSuggestion, Session, Speaker, Utterance
from msw_audio.scoring.features import session_features
from msw_audio.scoring.miti import THRESHOLDS, miti_summary, rating


def session_with(codes: list[tuple[str, str, float]]) -> Session:
    utts = [
        Utterance(f"u{i}", 2.0 * i, 2.0 * i + (1.5 if spk == "P" else 0.5), spk, "text",
                  codes=[CodeSuggestion(code, p, "human")])
        for i, (spk, code, p) in enumerate(codes)
    ]
    speakers = [Speaker("P", "practitioner", 1.0), Speaker("F", "parent", 1.0)]
    return Session(AudioInfo("x.wav", "", 2.0 * len(codes)), speakers, utts)


def test_summary_counts_ratios_and_ratings():
    codes = (
        [("P", "complex_reflection", 1.0)] * 3 + [("P", "simple_reflection", 1.0)] * 3
        + [("P", "open_question", 1.0)] * 2 + [("P", "closed_question", 1.0)]
        + [("P", "persuade", 1.0), ("P", "affirm", 1.0), ("P", "emphasising_autonomy", 1.0)]
        + [("F", "change_talk", 1.0)] * 3 + [("F", "sustain_talk", 1.0)]
    )
    m = miti_summary(session_features(session_with(codes)), 3.2, 4.1)
    assert m["counts"]["complex_reflection"] == 3
    assert m["reflection_to_question"] == pytest.approx(6 / 3)
    assert m["pct_complex_reflection"] == pytest.approx(50.0)
    assert m["pct_open_question"] == pytest.approx(66.7, abs=0.1)
    assert m["mi_adherent"] == 2 and m["mi_non_adherent"] == 1
    assert m["change_talk_share"] == pytest.approx(0.75)
    # practitioner talks 1.5 s per turn (12 turns), family 0.5 s (4 turns)
    assert m["practitioner_talk_share"] == pytest.approx(18 / 20)
    assert m["ratings"] == {"reflection_to_question": "good", "pct_complex_reflection": "good",
                            "technical_global": "fair", "relational_global": "good"}
    assert m["thresholds"] is THRESHOLDS


def test_manual_thresholds():
    assert THRESHOLDS["reflection_to_question"] == {"fair": 1.0, "good": 2.0}
    assert THRESHOLDS["pct_complex_reflection"] == {"fair": 40.0, "good": 50.0}
    assert THRESHOLDS["technical_global"] == {"fair": 3.0, "good": 4.0}
    assert THRESHOLDS["relational_global"] == {"fair": 3.5, "good": 4.0}
    assert rating("relational_global", 3.4) == "below fair"
    assert rating("pct_complex_reflection", 45) == "fair"
    assert rating("reflection_to_question", None) == "n/a"


def test_top_and_soft_counting():
    s = session_with([("P", "complex_reflection", 0.6), ("P", "open_question", 1.0)])
    s.utterances[0].codes.append(CodeSuggestion("simple_reflection", 0.3, "model"))
    top = miti_summary(session_features(s, counting="top"))  # one code per utterance
    assert top["counts"]["complex_reflection"] == 1 and top["counts"]["simple_reflection"] == 0
    assert top["reflection_to_question"] == 1.0
    soft = miti_summary(session_features(s))  # the default
    assert soft["counts"]["complex_reflection"] == pytest.approx(0.6)
    assert soft["reflections"] == pytest.approx(0.9)
    assert soft["pct_complex_reflection"] == pytest.approx(66.7, abs=0.1)
    # a family code on a practitioner turn is ignored
    s.utterances[1].codes.append(CodeSuggestion("change_talk", 0.5, "model"))
    assert miti_summary(session_features(s, counting="soft"))["change_talk"] == 0
    with pytest.raises(ValueError):
        session_features(s, counting="median")


def test_annomi_sessions_roles_codes_and_majority():
    transcripts = annomi_transcripts(default_annomi_csv())
    assert len(transcripts) == 113
    assert {t.mi_quality for t in transcripts} == {"high", "low"}
    s = transcripts[0].session
    assert [sp.role for sp in s.speakers] == ["practitioner", "parent"]
    assert s.utterances[0].codes[0].code == "open_question"
    assert all(u.end >= u.start for t in transcripts for u in t.session.utterances)
    df = load_annomi(default_annomi_csv())
    assert not df.duplicated(["transcript_id", "utterance_id"]).any()  # 10-annotator subset


def test_annomi_rejects_other_csv(tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("transcript_id,text\n1,hi\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing column"):
        load_annomi(bad)
    with pytest.raises(InputError, match="not found"):
        load_annomi(tmp_path / "none.csv")
