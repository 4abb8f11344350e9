"""A new code needs only a YAML entry: review screen, MITI groups, store, export and training.

The test copies the shipped codebook, adds a practitioner code ``summary`` (hotkey ``m``,
groups reflection + MI-adherent, trained as an input subtype) and changes no Python. It
checks each place the issue names: the review screen offers it with its hotkey, the MITI
summary counts it in its groups, the store accepts it (and refuses it for a session coded
with the shipped codebook), the labels CSV exports it, and ``tagger train`` learns it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from msw_audio.cli.main import main
from msw_audio.coding.codebook import DEFAULT_CODEBOOK, load_codebook, shipped_codebooks
from msw_audio.errors import InputError
from msw_audio.records import CodeSuggestion
from msw_audio.review.store import Store
from msw_audio.scoring.features import session_features
from msw_audio.scoring.miti import miti_summary
from msw_audio.web.render import codebook_view
from msw_audio.web.ui import render_session
from tests.conftest import annomi_slice
from tests.store_helpers import build_session, fake_sha, write_session_dir

SUMMARY = {
    "id": "summary",
    "label": "Summary",
    "description": "Pulls together several things the family member has said.",
    "example": "So far you've told me about the mornings, school and your mum's help.",
    "hotkey": "m",
    "colour": "#e377c2",
    "roles": ["practitioner"],
    "groups": ["reflection", "mi_adherent"],
    "tagger": "input",
}
SUMMARY_LINES = [
    "So, to sum up, mornings are hard, school is a worry and you want a routine.",
    "Let me pull that together: you are tired, you care a lot, and you want help.",
    "So far you have told me about bedtime, the school run and your mum's help.",
    "Putting it together, things are better at weekends and hardest on Mondays.",
]


@pytest.fixture()
def book_path(tmp_path: Path) -> Path:
    data = yaml.safe_load(DEFAULT_CODEBOOK.read_text(encoding="utf-8"))
    data["name"], data["version"] = "msw-miti-plus-summary", "1.1.0"
    data["codes"].insert(4, SUMMARY)
    path = tmp_path / "codebook_summary.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _session_coded_with(book, sha: str, code: str = "summary"):
    session = build_session(sha)
    session.utterances[2].codes = [CodeSuggestion(code, 0.8), CodeSuggestion("affirm", 0.2)]
    session.models["codebook"] = book.to_record()
    return session


def test_new_code_from_yaml_only(book_path: Path, tmp_path: Path):
    book = load_codebook(book_path)
    assert "summary" in book.practitioner_codes
    assert "summary" in book.group("reflection") and "summary" in book.group("mi_adherent")

    # counted by the MITI summary in its groups (a confirmed-style code, probability 1)
    session = _session_coded_with(book, fake_sha("miti"))
    session.utterances[2].codes = [CodeSuggestion("summary", 1.0, "evaluator")]
    plain = miti_summary(session_features(session))  # the shipped codebook has no summary
    counted = miti_summary(session_features(session, codebook=book))
    assert counted["counts"]["summary"] == 1.0
    assert counted["reflections"] == pytest.approx(plain["reflections"] + 1.0)
    assert counted["mi_adherent"] == pytest.approx(plain["mi_adherent"] + 1.0)

    store = Store.open(tmp_path / "data")  # the store's own codebook stays the shipped one
    try:
        evaluator = store.add_user("ev1", "evaluator", "ev-password-1")
        admin = store.add_user("admin1", "admin", "admin-password-1")
        sid = store.ingest(write_session_dir(tmp_path / "s1", _session_coded_with(
            book, fake_sha("s1"))), admin)
        plain_sid = store.ingest(write_session_dir(tmp_path / "s2", build_session(
            fake_sha("s2"))), admin)

        # the review screen offers it, with its hotkey, for the session it coded
        assert codebook_view(store.codebook_for(sid)).hotkeys()["practitioner"]["m"] == "summary"
        html = render_session(store, None, evaluator, sid, "time")
        assert "&quot;m&quot;:&quot;summary&quot;" in html and ">Summary<" in html
        assert "&quot;summary&quot;" not in render_session(store, None, evaluator, plain_sid,
                                                             "time")

        # accepted by the store for that session, refused where the codebook lacks it
        store.set_code(sid, "u0002", "summary", evaluator)
        with pytest.raises(InputError, match="unknown code"):
            store.set_code(plain_sid, "u0002", "summary", evaluator)

        # exported in the labels CSV (the `tagger train --extra` file)
        labels = tmp_path / "labels.csv"
        store.export_labels(labels, admin)
        rows = list(csv.DictReader(labels.open(encoding="utf-8")))
        assert [r["code"] for r in rows] == ["summary"]
    finally:
        store.close()


def test_tagger_train_learns_a_yaml_only_code(book_path: Path, tmp_path: Path, capsys):
    extra = tmp_path / "confirmed.csv"
    with extra.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["session_id", "utterance_id", "role", "text", "prev_text", "code",
                         "evaluator", "confirmed_at", "model_version"])
        for i, line in enumerate(SUMMARY_LINES * 2):
            writer.writerow([f"s{i % 2}", f"u{i}", "practitioner", line, "Yes.", "summary",
                             "ev1", "2026-01-01T10:00:00Z", "1.0.0"])
    out = tmp_path / "model"
    argv = ["tagger", "train", "--annomi", str(annomi_slice(tmp_path / "a.csv", 3)),
            "--extra", str(extra), "--codebook", str(book_path), "--out", str(out),
            "--folds", "0", "--version", "yaml-only"]
    assert main(argv) == 0
    capsys.readouterr()
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["codebook"] == "msw-miti-plus-summary@1.1.0"
    assert "summary" in meta["heads"]["input"]["classes"]

    from msw_audio.coding.tagger import load_tagger

    tagger = load_tagger(out, codebook=load_codebook(book_path))
    assert "summary" in tagger.heads["input"].classes
    session = build_session(fake_sha("tag"))
    session.utterances[0].text = SUMMARY_LINES[0]
    tagged = tagger.tag_session(session)
    assert "summary" in {c.code for c in tagged.utterances[0].codes}
    assert tagged.models["codebook"]["name"] == "msw-miti-plus-summary"


def test_shipped_codebooks_say_what_each_code_counts_as():
    """Every shipped codebook loads, and the default keeps the MITI groups it always had."""
    books = {load_codebook(p).name: load_codebook(p) for p in shipped_codebooks()}
    default = books["msw-miti-4.2.1"]
    assert default.group("question") == ("open_question", "closed_question")
    assert default.group("reflection") == ("simple_reflection", "complex_reflection")
    assert set(default.group("mi_adherent")) == {"affirm", "seeking_collaboration",
                                                 "emphasising_autonomy"}
    assert set(default.group("mi_non_adherent")) == {"persuade", "confront"}
    assert default.input_subtypes() == ("giving_information", "persuade",
                                        "seeking_collaboration")
    supervision = books["msw-supervision"]
    assert supervision.family_codes == ("self_reflection", "case_report")
    view = codebook_view(supervision)
    assert view.hotkeys()["client"] == {"1": "self_reflection", "2": "case_report"}


def test_a_session_opens_with_the_codebook_that_coded_it(tmp_path: Path):
    """``process --codebook codebook_supervision.yaml`` -> ingest -> review screen."""
    from msw_audio.cli.main import build_parser
    from msw_audio.cli.process import config_from_args

    supervision = next(p for p in shipped_codebooks() if p.name == "codebook_supervision.yaml")
    args = build_parser().parse_args(["process", "x.wav", "--out", str(tmp_path / "o"),
                                      "--codebook", str(supervision)])
    assert config_from_args(args).codebook == supervision.resolve()

    book = load_codebook(supervision)
    session = build_session(fake_sha("sup"))
    session.utterances[0].codes = [CodeSuggestion("directive", 0.9)]
    session.models["codebook"] = book.to_record()
    store = Store.open(tmp_path / "data")
    try:
        admin = store.add_user("admin1", "admin", "admin-password-1")
        evaluator = store.add_user("ev1", "evaluator", "ev-password-1")
        sid = store.ingest(write_session_dir(tmp_path / "s", session), admin)
        assert store.codebook_for(sid).name == "msw-supervision"
        html = render_session(store, None, evaluator, sid, "time")
        assert "&quot;d&quot;:&quot;directive&quot;" in html
        assert "&quot;1&quot;:&quot;self_reflection&quot;" in html
        store.set_code(sid, "u0000", "directive", evaluator)  # its codes, not the default's
        with pytest.raises(InputError, match="unknown code"):
            store.set_code(sid, "u0000", "sustain_talk", evaluator)
    finally:
        store.close()
