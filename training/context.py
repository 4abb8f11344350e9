"""Fit the family-member talk-context stage (``msw_audio.coding.talk_context``) with nested CV.

The stage learns from *out-of-fold* head probabilities, so it sees the head as it behaves on
transcripts it never trained on. Its own CV is nested: for each outer fold, the strength of
regularisation C and the class offsets are chosen on the other folds only (an inner grouped
CV), then the stage fitted on the other folds predicts the held-out fold. No held-out label
chooses anything, so the reported kappa is honest.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score

from msw_audio.coding.talk_context import FEATURES, TalkContext, context_features
from training.offsets import tune_offsets

C_GRID = (0.01, 0.05, 0.2, 1.0, 5.0)
BALANCE = 0.5  # class weight = (inverse frequency) ** BALANCE, as the fine-tuned heads


def _fit(x: np.ndarray, y: np.ndarray, n_classes: int, c: float) -> TalkContext:
    if len(y) == 0:  # no labelled rows at all: every class equally likely
        return TalkContext(classes=[], mean=np.zeros(x.shape[1]), scale=np.ones(x.shape[1]),
                           coef=np.zeros((n_classes, x.shape[1])),
                           intercept=np.zeros(n_classes), offsets=np.zeros(n_classes))
    counts = np.bincount(y, minlength=n_classes).astype(float)
    weight = (counts.sum() / np.maximum(counts, 1) / n_classes) ** BALANCE
    mean, scale = x.mean(0), x.std(0)
    scale[scale < 1e-9] = 1.0
    coef = np.zeros((n_classes, x.shape[1]))
    intercept = np.full(n_classes, -30.0)  # a class absent from training is never chosen
    present = np.unique(y)
    if len(present) == 1:  # a tiny slice: always that class
        intercept[present] = 0.0
    else:
        clf = LogisticRegression(C=c, max_iter=2000).fit((x - mean) / scale, y,
                                                          sample_weight=weight[y])
        if len(present) == 2:  # binary: one logit against the first class
            intercept[present] = (0.0, clf.intercept_[0])
            coef[present[1]] = clf.coef_[0]
        else:
            coef[clf.classes_], intercept[clf.classes_] = clf.coef_, clf.intercept_
    return TalkContext(classes=[], mean=mean, scale=scale, coef=coef, intercept=intercept,
                       offsets=np.zeros(n_classes))


def _round(v: float) -> float | None:
    return None if np.isnan(v) else round(float(v), 4)


def _oof(x, y, folds, n_classes, c) -> np.ndarray:
    out = np.zeros((len(y), n_classes))
    for k in np.unique(folds):
        te = folds == k
        out[te] = _fit(x[~te], y[~te], n_classes, c).proba(x[te])
    return out


def _choose(x, y, folds, n_classes) -> tuple[float, np.ndarray, float]:
    """(C, offsets, inner kappa) chosen by grouped CV over ``folds`` (labelled rows only)."""
    if len(np.unique(folds)) < 2:  # a two-fold CV's inner split: nothing to choose with
        return 1.0, np.zeros(n_classes), float("nan")
    best = (-2.0, C_GRID[0], np.zeros(n_classes))
    labels = list(range(n_classes))
    for c in C_GRID:
        p = _oof(x, y, folds, n_classes, c)
        off = tune_offsets(p, y, labels)
        kappa = cohen_kappa_score(y, np.argmax(np.log(np.clip(p, 1e-9, 1)) + off, axis=1))
        if kappa > best[0] + 1e-9:
            best = (kappa, c, off)
    return best[1], best[2], best[0]


def fit_talk_context(x: np.ndarray, y: np.ndarray, fold_of: np.ndarray,
                     classes: list[str]) -> tuple[TalkContext, np.ndarray, dict]:
    """The final stage and the nested-CV out-of-fold probabilities (with offsets) of every row.

    ``x``: ``context_features`` of out-of-fold head probabilities for every family-member
    row; ``y``: class indices, -1 where a row has no label (it still is a neighbour);
    ``fold_of``: the grouped folds the head's out-of-fold probabilities came from.
    """
    n_classes = len(classes)
    oof = np.zeros((len(y), n_classes))
    chosen = {}
    lab = y >= 0
    for k in np.unique(fold_of):
        te = fold_of == k
        tr = ~te & lab
        c, off, inner = _choose(x[tr], y[tr], fold_of[tr], n_classes)
        stage = _fit(x[tr], y[tr], n_classes, c)
        stage.offsets = off
        oof[te] = stage.proba(x[te])
        chosen[int(k)] = {"C": c, "inner_kappa": _round(inner)}
    c, off, inner = _choose(x[lab], y[lab], fold_of[lab], n_classes)
    final = _fit(x[lab], y[lab], n_classes, c)
    final.classes, final.offsets = list(classes), off
    info = {"C": c, "inner_kappa_all_folds": _round(inner), "outer": chosen,
            "C_grid": list(C_GRID), "balance": BALANCE}
    return final, oof, info


def fit_on_table(table, proba: np.ndarray, family: np.ndarray, fold_of: np.ndarray,
                 classes: list[str]) -> tuple[TalkContext, np.ndarray, dict]:
    """``fit_talk_context`` for the family-member rows ``family`` of a training table.

    ``proba`` holds the head's out-of-fold probabilities of those rows (columns in ``classes``
    order), ``fold_of`` the fold of every table row. The info dict also names the features and
    the final offsets, as the model's metadata records them.
    """
    codes = table["client_code"].to_numpy()[family]
    y = np.array([classes.index(c) if isinstance(c, str) and c in classes else -1
                  for c in codes])
    x = context_features(proba, family, table["transcript_id"].astype(str).to_numpy(),
                         table["text"].fillna("").astype(str).to_numpy()[family].tolist())
    context, oof, info = fit_talk_context(x, y, fold_of[family], classes)
    info = {**info, "features": list(FEATURES),
            "offsets": [round(float(o), 3) for o in context.offsets]}
    return context, oof, info
