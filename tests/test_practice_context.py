"""The practitioner practice-context stage: its features, its nested fit, the shipped stage."""

from __future__ import annotations

import json

import numpy as np

from msw_audio.coding.practice_context import (
    CLASSES,
    N_FEATURES,
    PRACTICE_CONTEXT_FILE,
    PracticeContext,
    labels_from_fine,
    practice_features,
)
from msw_audio.coding.tagger import DEFAULT_MODEL_DIR, hierarchical_labels, load_tagger
from training.practice_context import fit_practice_context


def _dist(rng, n):
    p = rng.dirichlet(np.ones(len(CLASSES)), size=n)
    return p


def test_features_read_neighbours_family_turn_and_session_within_a_session_only():
    # session a: rows 0 (prac), 1 (family), 2 (prac), 3 (prac); session b: 4 (family), 5 (prac)
    groups = np.array(["a", "a", "a", "a", "b", "b"])
    rows = np.array([0, 2, 3, 5])
    rng = np.random.default_rng(0)
    proba = _dist(rng, 4)
    fam = np.array([[0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    texts = ["Hello.", "You need to stop drinking.", "So you feel stuck", "Why not?"]
    x = practice_features(proba, rows, groups, texts, fam, np.array([1, 4]))
    assert x.shape == (4, N_FEATURES)
    logp = np.log(proba)
    np.testing.assert_allclose(x[:, :8], logp)
    np.testing.assert_array_equal(x[:, 16], [0, 1, 1, 0])  # previous practitioner turn present
    np.testing.assert_allclose(x[2, 8:16], logp[1])
    np.testing.assert_array_equal(x[:, 25], [1, 1, 0, 0])  # next present, not across sessions
    np.testing.assert_array_equal(x[:, 29], [0, 1, 0, 1])  # family turn just before
    np.testing.assert_allclose(x[1, 26:29], np.log(fam[0]))
    np.testing.assert_allclose(x[3, 26:29], np.log(fam[1]))
    np.testing.assert_allclose(x[0, 30:38], (logp[1] + logp[2]) / 2)  # the *other* turns
    np.testing.assert_allclose(x[3, 30:38], 0.0)  # alone in its session
    np.testing.assert_array_equal(x[:, 40], [0, 1, 0, 0])  # directive phrase


def test_fit_is_nested_keeps_unlabelled_rows_and_round_trips(tmp_path):
    """Synthetic numbers (a unit test of the fitting glue): signal in the turn's own columns."""
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, len(CLASSES), n)
    logits = rng.normal(size=(n, len(CLASSES))) + 2.5 * np.eye(len(CLASSES))[y]
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    groups = np.repeat(np.arange(40), 10).astype(str)
    x = practice_features(proba, np.arange(n), groups, ["word"] * n)
    y_lab = y.copy()
    y_lab[::7] = -1
    folds = np.repeat(np.arange(5), 80)
    stage, oof, info = fit_practice_context(x, y_lab, folds)
    assert oof.shape == (n, len(CLASSES))
    np.testing.assert_allclose(oof.sum(1), 1.0, atol=1e-9)
    assert (oof.argmax(1) == y).mean() > 0.6
    assert set(info["outer"]) == {0, 1, 2, 3, 4} and info["C"] in info["C_grid"]
    stage.save(tmp_path / PRACTICE_CONTEXT_FILE)
    again = PracticeContext.load(tmp_path / PRACTICE_CONTEXT_FILE)
    np.testing.assert_allclose(again.proba(x), stage.proba(x))


def test_labels_from_fine_are_the_taggers_top_down_labels():
    rng = np.random.default_rng(2)
    p = _dist(rng, 50)
    dists = [dict(zip(CLASSES, row, strict=True)) for row in p]
    six_classes = ["closed_question", "complex_reflection", "input", "open_question", "other",
                   "simple_reflection"]
    sub = [CLASSES.index(c) for c in ("giving_information", "persuade", "seeking_collaboration")]
    six = np.c_[p[:, [0, 1]], p[:, sub].sum(1), p[:, [3, 4, 7]]]
    six_lab, code = labels_from_fine(dists)
    np.testing.assert_array_equal(six_lab, hierarchical_labels(six_classes, six))
    inp = six_lab == "input"
    np.testing.assert_array_equal(code[inp], np.array(CLASSES)[sub][p[inp][:, sub].argmax(1)])


def test_shipped_stage_is_loaded_and_reads_each_session_on_its_own():
    assert (DEFAULT_MODEL_DIR / PRACTICE_CONTEXT_FILE).is_file()
    meta = json.loads((DEFAULT_MODEL_DIR / "metadata.json").read_text())
    assert meta["practice_context"]["features"]
    tagger = load_tagger()
    assert tagger.practice is not None
    a = (["practitioner", "client", "practitioner", "client", "practitioner"],
         ["You need to cut down.", "I know.", "You have to stick to the rules.", "Fine.",
          "You should stop drinking before the weekend."])
    b = (["practitioner", "client", "practitioner"],
         ["How was the week?", "Same as ever.", "It sounds like a hard week."])
    together = tagger.predict(a[0] + b[0], a[1] + b[1], [""] + a[1][:-1] + [""] + b[1][:-1],
                              sessions=["a"] * 5 + ["b"] * 3)
    alone = [tagger.predict(r, t, [""] + t[:-1]) for r, t in (a, b)]
    for got, want in zip(together["proba"], [*alone[0]["proba"], *alone[1]["proba"]],
                         strict=True):
        assert got.keys() == want.keys()
        np.testing.assert_allclose(list(got.values()), list(want.values()), atol=1e-5)
    # A run of "you need to / you have to" lines is read as telling, more than by the heads
    # alone (which took the first two for simple reflections).
    heads_only = load_tagger()
    heads_only.practice = None
    before = heads_only.predict(a[0], a[1], [""] + a[1][:-1])["proba"]
    def telling(d):
        return d["persuade"] + d["giving_information"]

    for i in (0, 2):
        assert telling(alone[0]["proba"][i]) > telling(before[i]) + 0.05, i
    assert telling(alone[0]["proba"][4]) >= telling(before[4])
    assert alone[0]["code"].tolist()[2] == "giving_information"  # the heads: a reflection
