"""The shipped tagger loads offline and tags the demo session; evaluate/train CLI contracts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from msw_audio.cli.main import main
from msw_audio.coding.codebook import load_codebook
from msw_audio.coding.roles import suggest_roles
from msw_audio.coding.tagger import DEFAULT_MODEL_DIR, cue_codes, load_tagger
from msw_audio.records import AudioInfo, Session, Speaker, Utterance
from tests.conftest import annomi_slice as write_annomi_slice

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tagger():
    os.environ["HF_HUB_OFFLINE"] = "1"
    return load_tagger()


@pytest.fixture(scope="module")
def annomi_slice(tmp_path_factory) -> Path:
    """The first 8 AnnoMI transcripts (incl. some 10-annotator utterances) as a small CSV."""
    return write_annomi_slice(tmp_path_factory.mktemp("annomi") / "slice.csv", 8)


def demo_session() -> Session:
    """The demo home visit (msw_audio/demo) as a Session with its reference speakers/texts."""
    utts, ids = [], {"practitioner": "SPEAKER_01", "parent": "SPEAKER_00", "child": "SPEAKER_02"}
    for i, line in enumerate((REPO / "msw_audio" / "demo" / "demo.stm").read_text().splitlines()):
        _, _, role, start, end, text = line.split(" ", 5)
        utts.append(Utterance(f"u{i:04d}", float(start), float(end), ids[role], text))
    return Session(audio=AudioInfo("demo.ogg", "0" * 64, utts[-1].end),
                   speakers=[Speaker(s) for s in sorted(ids.values())], utterances=utts)


def test_shipped_model_is_versioned_small_and_offline():
    meta = json.loads((DEFAULT_MODEL_DIR / "metadata.json").read_text())
    assert meta["version"] and meta["name"]
    size = sum(p.stat().st_size for p in DEFAULT_MODEL_DIR.rglob("*") if p.is_file())
    assert size <= 100 * 1024 * 1024


def test_tags_the_demo_session(tagger):
    session = suggest_roles(demo_session())
    assert session.role_of("SPEAKER_01") == "practitioner"
    assert session.role_of("SPEAKER_00") == "parent"  # (cues were written against this demo)
    assert session.role_of("SPEAKER_02") == "child"
    tagger.tag_session(session)
    book = load_codebook()
    prac = {c.id for c in book.for_role("practitioner")}
    fam = {c.id for c in book.for_role("parent")}
    assert session.models["tagger"]["version"] == tagger.version
    for utt in session.utterances:
        allowed = prac if session.role_of(utt.speaker) == "practitioner" else fam
        assert utt.codes and {c.code for c in utt.codes} <= allowed
        probs = [c.probability for c in utt.codes]
        assert probs == sorted(probs, reverse=True)
        assert sum(probs) == pytest.approx(1.0, abs=0.01)
    first = session.utterances[0]  # "... How have things been since I was last here?"
    assert first.top_code.code == "open_question"
    tops = {u.top_code.code for u in session.utterances}
    assert {"change_talk", "neutral"} <= tops


def test_tagger_is_loaded_once_and_reused(tagger):
    session = demo_session()
    encoder = tagger.encoder
    tagger.tag_session(session)
    tagger.tag_session(session)
    assert tagger.encoder is encoder


def test_cue_rules_suggest_codes_annomi_lacks(tagger):
    assert [r.code for r in cue_codes("It's completely up to you what happens next.")] == [
        "emphasising_autonomy"]
    assert [r.code for r in cue_codes("Well done, you've kept going to every meeting.")] == [
        "affirm"]
    assert [r.code for r in cue_codes("Would it be okay if I share some ideas?")] == [
        "persuade_with_permission"]
    assert cue_codes("What would you like to talk about?") == []
    session = Session(audio=AudioInfo("x", "0" * 64, 2.0),
                      speakers=[Speaker("P", role="practitioner")],
                      utterances=[Utterance("u1", 0, 2, "P", "It's your decision in the end.")])
    codes = tagger.tag_session(session).utterances[0].codes
    cue = [c for c in codes if c.source == "cue"]
    assert [c.code for c in cue] == ["emphasising_autonomy"]
    assert cue[0].probability <= 0.3


def test_empty_session_is_tagged_without_error(tagger):
    session = tagger.tag_session(Session(audio=AudioInfo("x", "0" * 64, 0.0)))
    assert session.models["tagger"]["name"]


def test_evaluate_prints_json_with_the_issue_keys(annomi_slice, capsys):
    assert main(["tagger", "evaluate", "--annomi", str(annomi_slice), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for task in ("therapist_4way", "therapist_6way", "client_3way"):
        assert set(result[task]) == {"macro_f1", "kappa"}
        assert 0.0 <= result[task]["macro_f1"] <= 1.0
    assert result["n_utterances"] > 100
    assert result["therapist_4way"]["kappa"] > 0.5  # (these transcripts are in training data)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("transcript_id,utterance_id,interlocutor\n1,1,client\n", "missing AnnoMI column"),
        ("transcript_id,utterance_id,interlocutor,utterance_text,main_therapist_behaviour,"
         "client_talk_type\n", "no rows"),
        ("transcript_id,utterance_id,interlocutor,utterance_text,main_therapist_behaviour,"
         "client_talk_type\n1,x,client,hi,,neutral\n", "utterance_id"),
    ],
)
def test_malformed_csv_gets_a_clear_error(tmp_path, capsys, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert main(["tagger", "evaluate", "--annomi", str(path), "--json"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_model_names_what_to_do(tmp_path):
    from msw_audio.errors import ModelNotFoundError

    with pytest.raises(ModelNotFoundError, match="tagger train"):
        load_tagger(tmp_path)


def test_train_on_a_small_slice_and_refuse_to_overwrite(annomi_slice, tmp_path, capsys):
    """CI-sized training: 5 transcripts, 2-fold grouped CV, plus confirmed labels (< 60 s)."""
    extra = tmp_path / "confirmed.csv"
    extra.write_text(
        "session_id,utterance_id,role,text,prev_text,code,evaluator,confirmed_at,model_version\n"
        "s1,u1,practitioner,You have worked so hard on this.,I went every day.,affirm,ev1,"
        "2026-01-01T10:00:00Z,1.0.0\n"
        "s1,u2,parent,I want to get him to school on time.,What matters most?,change_talk,ev1,"
        "2026-01-01T10:00:00Z,1.0.0\n"
        "s2,u1,child,School is boring and I'm not going.,,sustain_talk,ev1,"
        "2026-01-01T10:00:00Z,1.0.0\n"
    )
    out = tmp_path / "model"
    argv = ["tagger", "train", "--annomi", str(annomi_slice), "--extra", str(extra),
            "--out", str(out), "--folds", "2", "--version", "test-1", "--limit-transcripts", "5"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["version"] == "test-1" and "client_3way" in report
    assert (out / "metadata.json").exists() and (out / "report.json").exists()
    assert (out / "confusion_client_3way.png").exists()
    retrained = load_tagger(out)
    assert retrained.version == "test-1"
    assert retrained.context is not None  # the talk-context stage trained with the heads
    assert "talk_context" in json.loads((out / "metadata.json").read_text())
    assert retrained.tag_session(demo_session()).utterances[0].codes
    # a non-empty --out is refused (the shipped model is never overwritten silently)
    assert main(argv) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["tagger", "train", "--out", str(DEFAULT_MODEL_DIR)]) == 2
    assert "shipped model" in capsys.readouterr().err


def test_malformed_confirmed_labels_are_refused(annomi_slice, tmp_path, capsys):
    extra = tmp_path / "confirmed.csv"
    extra.write_text("session_id,utterance_id,role,text,prev_text,code\ns,u,parent,hi,,affirm\n")
    argv = ["tagger", "train", "--annomi", str(annomi_slice), "--extra", str(extra),
            "--out", str(tmp_path / "m"), "--folds", "0"]
    assert main(argv) == 2
    assert "not a family-member code" in capsys.readouterr().err


def test_calibration_loads_and_lowers_ece_on_a_slice():
    """The shipped calibration (temperature per head) makes out-of-fold probabilities of the
    top code match how often it is right, on the first 40 transcripts. Since 2.3.0 the
    practitioner distributions come out of the practice-context stage (a logistic regression
    fitted by likelihood), already calibrated (T ~ 1): ECE stays low; the family-member
    head's temperature still lowers it. (The shipped file saw every transcript;
    training/calibrate.py reports cross-fitted ECE.)"""
    import numpy as np

    from msw_audio.coding.calibration import (
        CALIBRATION_FILE,
        TaggerCalibration,
        expected_calibration_error,
    )
    from training.calibrate import load_oof

    cal = TaggerCalibration.load(DEFAULT_MODEL_DIR / CALIBRATION_FILE)
    oof = load_oof()
    ece = {}
    for head in ("practitioner", "family"):
        rows = oof[head]
        first = sorted(set(rows.transcript), key=int)[:40]
        m = np.isin(rows.transcript, first)
        ece[head] = (expected_calibration_error(rows.proba[m], rows.y[m]),
                     expected_calibration_error(cal.heads[head].apply_array(rows.proba[m]),
                                                rows.y[m]))
    assert ece["practitioner"][1] <= 0.06, ece
    assert ece["family"][1] < ece["family"][0] - 0.02 and ece["family"][1] <= 0.06, ece
    rows = oof["practitioner"]
    m = np.isin(rows.transcript, sorted(set(rows.transcript), key=int)[:40])
    # a temperature never changes the top code, and codes it does not know pass through
    assert (cal.heads["practitioner"].apply_array(rows.proba[m]).argmax(1)
            == rows.proba[m].argmax(1)).all()
    dist = {"change_talk": 0.5, "neutral": 0.3, "sustain_talk": 0.2}
    out = cal.apply("family", {**dist, "extra": 0.1})
    assert out["extra"] == 0.1 and abs(sum(out[c] for c in dist) - 1.0) < 1e-9
    tagger = load_tagger()
    assert tagger.calibration is not None and tagger.version == "2.3.0"
