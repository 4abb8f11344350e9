"""The family-member talk-context stage: its features, its nested fit, the shipped stage."""

from __future__ import annotations

import json

import numpy as np
import pytest

from msw_audio.coding.tagger import DEFAULT_MODEL_DIR, load_tagger
from msw_audio.coding.talk_context import CONTEXT_FILE, TalkContext, context_features
from training.context import fit_talk_context

CLASSES = ["change_talk", "neutral", "sustain_talk"]


def test_features_read_position_and_neighbours_within_a_session_only():
    # two sessions: a (rows 0-3) and b (rows 4-5); family-member rows 1, 3 (a) and 5 (b)
    groups = np.array(["a", "a", "a", "a", "b", "b"])
    rows = np.array([1, 3, 5])
    proba = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    x = context_features(proba, rows, groups, ["I could try.", "Maybe", "No way, not me"])
    assert x.shape == (3, 13)
    np.testing.assert_allclose(x[:, :3], np.log(proba))
    np.testing.assert_allclose(x[:, 3], [1 / 3, 1.0, 1.0])  # place among *all* turns
    np.testing.assert_allclose(x[:, 4], np.log1p([3, 1, 4]))  # words
    prev, prev_present, nxt, nxt_present = x[:, 5:8], x[:, 8], x[:, 9:12], x[:, 12]
    np.testing.assert_array_equal(prev_present, [0, 1, 0])  # row 5 is another session's
    np.testing.assert_allclose(prev[1], np.log(proba[0]))
    np.testing.assert_array_equal(nxt_present, [1, 0, 0])
    np.testing.assert_allclose(nxt[0], np.log(proba[1]))


def test_fit_is_nested_keeps_unlabelled_rows_and_round_trips(tmp_path):
    """Synthetic numbers (a unit test of the fitting glue): signal in the first three columns."""
    rng = np.random.default_rng(0)
    n = 300
    y = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3)) + 2.0 * np.eye(3)[y]
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    groups = np.repeat(np.arange(30), 10).astype(str)
    x = context_features(proba, np.arange(n), groups, ["word"] * n)
    y_lab = y.copy()
    y_lab[::7] = -1  # unlabelled rows still get predictions
    folds = np.repeat(np.arange(5), 60)
    stage, oof, info = fit_talk_context(x, y_lab, folds, CLASSES)
    assert oof.shape == (n, 3)
    np.testing.assert_allclose(oof.sum(1), 1.0, atol=1e-9)
    assert (oof.argmax(1) == y).mean() > 0.7
    assert set(info["outer"]) == {0, 1, 2, 3, 4} and info["C"] in info["C_grid"]
    stage.save(tmp_path / CONTEXT_FILE)
    again = TalkContext.load(tmp_path / CONTEXT_FILE)
    np.testing.assert_allclose(again.proba(x), stage.proba(x))
    with pytest.raises(ValueError, match="classes"):
        again.apply(["neutral", "change_talk", "sustain_talk"], proba, np.arange(n), groups,
                    ["word"] * n)


def test_two_fold_cv_has_no_inner_split_and_still_fits():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 13))
    y = rng.integers(0, 3, 40)
    stage, oof, info = fit_talk_context(x, y, np.repeat([0, 1], 20), CLASSES)
    assert oof.shape == (40, 3) and info["outer"][0]["inner_kappa"] is None


def test_shipped_stage_is_loaded_and_reads_each_session_on_its_own():
    assert (DEFAULT_MODEL_DIR / CONTEXT_FILE).is_file()
    meta = json.loads((DEFAULT_MODEL_DIR / "metadata.json").read_text())
    assert meta["talk_context"]["features"] and meta["heads"]["client"]["offsets"] == [0, 0, 0]
    tagger = load_tagger()
    assert tagger.context is not None
    a = (["practitioner", "client", "practitioner", "client"],
         ["What would be better if you cut down?", "I'd have more money for the kids.",
          "Money for the kids matters.", "Yeah. But I like a drink with my mates."])
    b = (["practitioner", "client", "client"],
         ["How was the week?", "Same as ever, I'm not changing anything.", "Why should I?"])
    together = tagger.predict(a[0] + b[0], a[1] + b[1], [""] + a[1][:-1] + [""] + b[1][:-1],
                              sessions=["a"] * 4 + ["b"] * 3)
    alone = [tagger.predict(r, t, [""] + t[:-1]) for r, t in (a, b)]
    for got, want in zip(together["proba"], [*alone[0]["proba"], *alone[1]["proba"]],
                         strict=True):
        assert got.keys() == want.keys()
        np.testing.assert_allclose(list(got.values()), list(want.values()), atol=1e-5)
