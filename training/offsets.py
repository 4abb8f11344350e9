"""Decision offsets tuned on held-out predictions (shared by the heads and the talk-context stage).

Why a module of its own: both ``training.model`` (the heads' CV) and ``training.context`` (the
talk-context stage's nested CV) tune offsets; keeping them here lets ``model`` import
``context`` without ``context`` importing ``model`` back (no import cycle).
"""

from __future__ import annotations

import itertools

import numpy as np
from sklearn.metrics import cohen_kappa_score, f1_score


def tune_offsets(proba: np.ndarray, y: np.ndarray, classes: list[str]) -> np.ndarray:
    """Per-class additive log-probability offsets maximising macro-F1 + kappa (grid search).

    Why: class weights fix most of the imbalance, but the decision point that best matches
    human coders is found on held-out predictions, not assumed.
    """
    logp = np.log(np.clip(proba, 1e-9, 1))
    grid = np.round(np.arange(-1.0, 1.01, 0.1), 2)
    best, best_off = -1.0, np.zeros(len(classes))
    for combo in itertools.product(grid, repeat=len(classes) - 1):
        off = np.array([0.0, *combo])
        pred = np.array(classes)[np.argmax(logp + off, axis=1)]
        score = f1_score(y, pred, average="macro") + cohen_kappa_score(y, pred)
        if score > best + 1e-9:
            best, best_off = score, off
    return best_off


def cross_fitted_offsets(proba: np.ndarray, y: np.ndarray, fold_of: np.ndarray,
                         classes: list) -> dict[int, np.ndarray]:
    """Fold k -> offsets tuned (``tune_offsets``) on the out-of-fold rows of the *other* folds.

    Why: applying fold k's offsets to fold k's predictions means no test label ever chooses
    its own decision point, so the CV of a model with tuned offsets stays honest.
    """
    return {int(k): tune_offsets(proba[fold_of != k], y[fold_of != k], classes)
            for k in np.unique(fold_of) if (fold_of != k).any()}
