"""Fit the family-member family-context stage (``msw_audio.coding.family_context``), nested CV.

    python -m training.family_context [--model models/tagger] [--evaluate-only]

Input: the out-of-fold distributions of the grouped CV (``cv_predictions.json.gz``): for a
family-member row the talk-context stage's nested-CV output (``head_proba``, what the
fine-tuning's package step wrote), for a practitioner row the heads' fine distribution
(``head_proba``), and AnnoMI's human codes. Why nested, as ``training.practice_context``: for
each outer fold (grouped by transcript, stratified by MI quality) the regularisation C is
chosen by an inner grouped CV on the other folds only (minimum NLL of the human codes), then
the stage fitted on the other folds codes the held-out fold. Class weights are fixed a priori
((inverse frequency) ** 0.5, the project's recipe); MI quality only shapes the folds.

Reports out-of-fold κ, per-class recall and the expected calibration error of the top code
before (the talk-context stage) and after (this stage), the in-sample figures beside them
(the final stage fitted on all 113 transcripts, applied to them), and writes nothing with
``--evaluate-only``. Ship rule (issue 15, point 5): only if out-of-fold κ gains ≥ 0.02.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score, f1_score

from msw_audio.coding.calibration import expected_calibration_error
from msw_audio.coding.family_context import (
    CLASSES,
    FAMILY_CONTEXT_FILE,
    FEATURES,
    FamilyContext,
    family_features,
)
from msw_audio.coding.practice_context import CLASSES as PRACTITIONER_CLASSES
from msw_audio.coding.tagger import DEFAULT_MODEL_DIR

C_GRID = (0.01, 0.05, 0.2, 1.0)
#: Class weight = (inverse frequency) ** BALANCE: set, not fitted (every head and stage).
BALANCE = 0.5
#: The gain in out-of-fold κ below which the stage is not shipped (set before fitting).
SHIP_GAIN = 0.02


def _fit(x: np.ndarray, y: np.ndarray, c: float, balance: float = BALANCE) -> FamilyContext:
    n = len(CLASSES)
    mean, scale = x.mean(0), x.std(0)
    scale[scale < 1e-9] = 1.0
    counts = np.bincount(y, minlength=n).astype(float)
    weight = (counts.sum() / np.maximum(counts, 1) / n) ** balance
    clf = LogisticRegression(C=c, max_iter=3000).fit((x - mean) / scale, y,
                                                      sample_weight=weight[y])
    coef = np.zeros((n, x.shape[1]))
    intercept = np.full(n, -30.0)  # a class absent from training is never suggested
    coef[clf.classes_], intercept[clf.classes_] = clf.coef_, clf.intercept_
    return FamilyContext(list(CLASSES), mean, scale, coef, intercept)


def _nll(p: np.ndarray, y: np.ndarray) -> float:
    return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1)).mean())


def _oof(x, y, folds, c, balance) -> np.ndarray:
    out = np.zeros((len(y), len(CLASSES)))
    for k in np.unique(folds):
        te = folds == k
        out[te] = _fit(x[~te], y[~te], c, balance).proba(x[te])
    return out


def _choose(x, y, folds, balance) -> tuple[float, float]:
    """(C, inner NLL) by grouped CV over ``folds``."""
    best = (np.inf, C_GRID[0])
    for c in C_GRID:
        nll = _nll(_oof(x, y, folds, c, balance), y)
        if nll < best[0] - 1e-9:
            best = (nll, c)
    return best[1], best[0]


def fit_family_context(x: np.ndarray, y: np.ndarray, fold_of: np.ndarray,
                       balance: float = BALANCE) -> tuple[FamilyContext, np.ndarray, dict]:
    """The final stage and the nested-CV out-of-fold probabilities of every row.

    ``y`` is -1 where a row has no human talk type (it still was a neighbour in ``x``).
    """
    lab = y >= 0
    oof = np.zeros((len(y), len(CLASSES)))
    outer = {}
    for k in np.unique(fold_of):
        te, tr = fold_of == k, (fold_of != k) & lab
        c, inner = _choose(x[tr], y[tr], fold_of[tr], balance)
        oof[te] = _fit(x[tr], y[tr], c, balance).proba(x[te])
        outer[int(k)] = {"C": c, "inner_nll": round(inner, 4)}
    c, inner = _choose(x[lab], y[lab], fold_of[lab], balance)
    info = {"C": c, "inner_nll_all_folds": round(inner, 4), "outer": outer,
            "C_grid": list(C_GRID), "balance": balance, "features": list(FEATURES),
            "folds": "5-fold, grouped by transcript, stratified by MI quality (seed 0)"}
    return _fit(x[lab], y[lab], c, balance), oof, info


def figures(p: np.ndarray, y: np.ndarray, fold_of: np.ndarray | None = None) -> dict:
    """κ, macro-F1, per-class recall/precision, ECE of the top code (labelled rows only)."""
    from sklearn.metrics import precision_recall_fscore_support

    top = p.argmax(1)
    pr, rc, _, s = precision_recall_fscore_support(y, top, labels=range(len(CLASSES)),
                                                   zero_division=0)
    out = {"kappa": round(float(cohen_kappa_score(y, top)), 4),
           "macro_f1": round(float(f1_score(y, top, average="macro")), 4),
           "ece": round(expected_calibration_error(p, y), 4), "nll": round(_nll(p, y), 4),
           "per_class": {c: {"precision": round(float(pr[i]), 3),
                             "recall": round(float(rc[i]), 3), "support": int(s[i])}
                         for i, c in enumerate(CLASSES)}}
    if fold_of is not None:
        out["kappa_by_fold"] = [round(float(cohen_kappa_score(y[fold_of == k],
                                                              top[fold_of == k])), 4)
                                for k in np.unique(fold_of)]
    return out


def bootstrap_gain(before: np.ndarray, after: np.ndarray, y: np.ndarray, groups: np.ndarray,
                   n: int = 1000, seed: int = 0) -> list[float]:
    """95 % transcript-bootstrap interval of κ(after) − κ(before)."""
    rng = np.random.default_rng(seed)
    tids = np.unique(groups)
    rows = {t: np.flatnonzero(groups == t) for t in tids}
    a, b = before.argmax(1), after.argmax(1)
    gains = []
    for _ in range(n):
        idx = np.concatenate([rows[t] for t in rng.choice(tids, len(tids))])
        gains.append(cohen_kappa_score(y[idx], b[idx]) - cohen_kappa_score(y[idx], a[idx]))
    return [round(float(q), 4) for q in np.percentile(gains, [2.5, 97.5])]


def stage_inputs(table, blob: dict):
    """(utterance ids, family rows, stage inputs, talk-context probabilities, labels)."""
    head = blob.get("head_proba") or blob["proba"]
    ids = [f"{t}-{u}" for t, u in zip(table["transcript_id"].astype(str),
                                      table["utterance_id"], strict=True)]
    roles = table["role"].to_numpy()
    fam = np.flatnonzero(roles != "practitioner")
    prac = np.flatnonzero(roles == "practitioner")
    groups = table["transcript_id"].astype(str).to_numpy()
    texts = table["text"].fillna("").astype(str).to_numpy()
    p = np.array([[head[ids[i]].get(c, 0.0) for c in CLASSES] for i in fam])
    p /= p.sum(1, keepdims=True)
    pp = np.array([[head[ids[i]].get(c, 0.0) for c in PRACTITIONER_CLASSES] for i in prac])
    pp /= pp.sum(1, keepdims=True)
    codes = table["client_code"].to_numpy()[fam]
    y = np.array([CLASSES.index(c) if isinstance(c, str) and c in CLASSES else -1
                  for c in codes])
    x = family_features(p, fam, groups, texts[fam].tolist(), pp, prac)
    return ids, fam, x, p, y


def _folds(table, csv, rows: np.ndarray) -> np.ndarray:
    import pandas as pd

    from training.annomi import default_annomi_csv
    from training.calibrate import quality_folds

    groups = table["transcript_id"].astype(str).to_numpy()
    quality = pd.read_csv(csv or default_annomi_csv(), usecols=["transcript_id", "mi_quality"])
    q_of = dict(zip(quality["transcript_id"].astype(str), quality["mi_quality"], strict=False))
    tids = np.array(sorted(set(groups), key=lambda s: int(s) if s.isdigit() else s))
    fold_tid = dict(zip(tids, quality_folds(tids, np.array([q_of[t] for t in tids])),
                        strict=True))
    return np.array([fold_tid[g] for g in groups[rows]])


def run(model_dir: Path, csv: Path | None = None, write: bool = False,
        version: str | None = None) -> dict:
    """Fit, measure before/after (out of fold and in-sample); write the stage only if asked."""
    from training.annomi import default_annomi_csv, read_annomi

    model_dir = Path(model_dir)
    table = read_annomi(csv or default_annomi_csv())
    with gzip.open(model_dir / "cv_predictions.json.gz", "rt") as fh:
        blob = json.load(fh)
    ids, fam, x, p, y = stage_inputs(table, blob)
    fold_of = _folds(table, csv, fam)
    stage, oof, info = fit_family_context(x, y, fold_of)
    lab = y >= 0
    groups = table["transcript_id"].astype(str).to_numpy()[fam]
    info["before_out_of_fold"] = figures(p[lab], y[lab], fold_of[lab])
    info["after_out_of_fold"] = figures(oof[lab], y[lab], fold_of[lab])
    info["after_in_sample"] = figures(stage.proba(x)[lab], y[lab])
    info["gain_kappa_out_of_fold"] = round(info["after_out_of_fold"]["kappa"]
                                           - info["before_out_of_fold"]["kappa"], 4)
    info["gain_bootstrap_95"] = bootstrap_gain(p[lab], oof[lab], y[lab], groups[lab])
    info["ship_rule"] = f"ship only if out-of-fold kappa gains >= {SHIP_GAIN}"
    info["shipped"] = bool(write and info["gain_kappa_out_of_fold"] >= SHIP_GAIN)
    if info["shipped"]:
        _write(model_dir, stage, info, blob, ids, fam, oof, version)
    return info


def _write(model_dir, stage, info, blob, ids, fam, oof, version) -> None:
    stage.save(model_dir / FAMILY_CONTEXT_FILE)
    proba = dict(blob["proba"])
    for i, row in zip(fam, oof, strict=True):
        proba[ids[i]] = {c: float(v) for c, v in zip(CLASSES, row, strict=True)}
    blob = {**blob, "proba": proba}
    with gzip.open(model_dir / "cv_predictions.json.gz", "wt") as fh:
        json.dump(blob, fh)
    meta_path = model_dir / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["family_context"] = info
    if version:
        meta["version"] = version
    meta_path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    ap.add_argument("--csv", type=Path, default=None)
    ap.add_argument("--write", action="store_true",
                    help="write the stage and its out-of-fold rows if it clears the ship rule")
    ap.add_argument("--version", default=None)
    args = ap.parse_args()
    info = run(args.model, args.csv, args.write, args.version)
    print(json.dumps(info, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
