"""The candidate family-context stage (issue 15, point 5): its features, its nested fit, and
the recorded negative result (out-of-fold κ fell, so the tagger ships no such stage)."""

from __future__ import annotations

import gzip
import json

import numpy as np
from sklearn.metrics import cohen_kappa_score

from msw_audio.coding.tagger import DEFAULT_MODEL_DIR, load_tagger
from tests.conftest import REPO
from training.family_context import (
    FAMILY_CONTEXT_FILE,
    N_FEATURES,
    SHIP_GAIN,
    FamilyContext,
    family_features,
    fit_family_context,
    stage_inputs,
)

RESULT = REPO / "benchmarks" / "data" / "family_context.json"


def test_features_read_the_practitioner_turn_before_and_the_session_within_a_session_only():
    # session a: rows 0 (prac), 1 (family), 2 (family), 3 (prac), 4 (family); b: 5 (family)
    groups = np.array(["a"] * 5 + ["b"])
    rows = np.array([1, 2, 4, 5])
    proba = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]])
    rng = np.random.default_rng(0)
    prac = rng.dirichlet(np.ones(8), size=2)
    x = family_features(proba, rows, groups, ["I could try.", "Maybe", "No", "Hi there"],
                        prac, np.array([0, 3]))
    assert x.shape == (4, N_FEATURES)
    logp = np.log(proba)
    np.testing.assert_allclose(x[:, :3], logp)
    np.testing.assert_array_equal(x[:, 11], [1, 0, 1, 0])  # a practitioner turn just before
    np.testing.assert_allclose(x[0, 3:11], np.log(prac[0]))
    np.testing.assert_allclose(x[2, 3:11], np.log(prac[1]))
    np.testing.assert_array_equal(x[:, 15], [0, 1, 1, 0])  # previous family turn, same session
    np.testing.assert_allclose(x[2, 12:15], logp[1])
    np.testing.assert_allclose(x[:, 16], [0.25, 0.5, 1.0, 0.0])  # place among *all* turns
    np.testing.assert_allclose(x[:, 17], np.log1p([3, 1, 1, 2]))
    np.testing.assert_allclose(x[0, 18:21], (logp[1] + logp[2]) / 2)  # the *other* turns
    np.testing.assert_allclose(x[3, 18:21], 0.0)  # alone in its session


def test_fit_is_nested_keeps_unlabelled_rows_and_round_trips(tmp_path):
    """Synthetic numbers (a unit test of the fitting glue): the signal is in the practitioner
    block only, so the stage must learn it from there."""
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 3, n)
    proba = np.full((n, 3), 1 / 3)
    prac_logits = rng.normal(size=(n, 8))
    prac_logits[np.arange(n), y] += 3.0
    prac = np.exp(prac_logits) / np.exp(prac_logits).sum(1, keepdims=True)
    groups = np.repeat(np.arange(40), 20).astype(str)  # prac row 2i, family row 2i + 1
    fam_rows, prac_rows = np.arange(1, 2 * n, 2), np.arange(0, 2 * n, 2)
    x = family_features(proba, fam_rows, groups, ["yes"] * n, prac, prac_rows)
    y_lab = y.copy()
    y_lab[::7] = -1
    folds = np.repeat(np.arange(5), 80)
    stage, oof, info = fit_family_context(x, y_lab, folds)
    np.testing.assert_allclose(oof.sum(1), 1.0, atol=1e-9)
    assert (oof.argmax(1) == y).mean() > 0.6
    assert set(info["outer"]) == {0, 1, 2, 3, 4} and info["C"] in info["C_grid"]
    stage.save(tmp_path / FAMILY_CONTEXT_FILE)
    again = FamilyContext.load(tmp_path / FAMILY_CONTEXT_FILE)
    np.testing.assert_allclose(again.proba(x), stage.proba(x))


def test_negative_result_is_recorded_and_the_tagger_ships_no_family_stage():
    """The ship rule (out-of-fold κ gain ≥ 0.02) was not met: nothing shipped, figures kept."""
    from training.annomi import default_annomi_csv, read_annomi

    result = json.loads(RESULT.read_text())
    assert result["shipped"] is False
    assert result["gain_kappa_out_of_fold"] < SHIP_GAIN
    assert result["gain_bootstrap_95"][1] < SHIP_GAIN
    assert set(result["outer"]) == {"0", "1", "2", "3", "4"}
    # the "before" of the record is what the shipped out-of-fold rows give today
    table = read_annomi(default_annomi_csv())
    with gzip.open(DEFAULT_MODEL_DIR / "cv_predictions.json.gz", "rt") as fh:
        blob = json.load(fh)
    _, _, x, p, y = stage_inputs(table, blob)
    lab = y >= 0
    kappa = cohen_kappa_score(y[lab], p[lab].argmax(1))
    assert abs(kappa - result["before_out_of_fold"]["kappa"]) < 1e-4
    meta = json.loads((DEFAULT_MODEL_DIR / "metadata.json").read_text())
    assert abs(meta["cv"]["tasks"]["client_3way"]["kappa"] - kappa) < 1e-3
    assert x.shape == (len(y), N_FEATURES)
    assert not (DEFAULT_MODEL_DIR / FAMILY_CONTEXT_FILE).exists()
    assert "family_context" not in meta
    assert not hasattr(load_tagger(), "family")
    card = (REPO / "models" / "MODEL_CARD.md").read_text()
    assert "family-context stage" in card and "not shipped" in card
