"""Fit the practitioner practice-context stage (``msw_audio.coding.practice_context``), nested CV.

    python -m training.practice_context [--model models/tagger] [--version 2.3.0]

Input: the head's out-of-fold fine practitioner distributions of the grouped CV
(``cv_predictions.json.gz``; kept under ``head_proba`` once the stage has been fitted, so a
rerun starts from the head again) and AnnoMI's human codes. Why nested: for each outer fold
(grouped by transcript, stratified by MI quality as ``training.calibrate`` folds are) the
regularisation C is chosen by an inner grouped CV on the other folds only (minimum NLL of the
human codes), then the stage fitted on the other folds codes the held-out fold. No held-out
label chooses anything, and MI quality is never a target, so the per-class figures and the
principle-score bias measured from these rows (``benchmarks/scores_annomi.py``) are honest.

Writes ``practice_context.npz``, the stage's out-of-fold distributions as the new ``proba`` of
``cv_predictions.json.gz`` (what ``training.calibrate`` and the benchmarks read), and the
practitioner tasks of ``metadata.json``'s CV, before and after. Then run
``python -m training.calibrate --plot models/tagger/reliability.png`` and
``python -m training.review_threshold``: the calibration describes the stage's output now.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from msw_audio.coding.practice_context import (
    CLASSES,
    FAMILY_CLASSES,
    FEATURES,
    PRACTICE_CONTEXT_FILE,
    PracticeContext,
    labels_from_fine,
    practice_features,
)
from msw_audio.coding.tagger import DEFAULT_MODEL_DIR

C_GRID = (0.01, 0.05, 0.2, 1.0)
#: Class weight = (inverse frequency) ** BALANCE, the project's recipe for every head and the
#: talk-context stage: rare codes (persuade, 2.6 % of practitioner turns) are not swallowed by
#: frequent neighbours. Set, not fitted; 0 and 0.25 are reported beside it (model card).
BALANCE = 0.5


def fit_standardised_logistic(x: np.ndarray, y: np.ndarray, n: int, c: float,
                              balance: float = BALANCE):
    """``(mean, scale, coef, intercept)`` of a class-weighted logistic regression on
    standardised ``x`` over ``n`` classes: the fit of every context stage (practitioner here,
    family in ``training.family_context``), so both weigh and standardise alike."""
    mean, scale = x.mean(0), x.std(0)
    scale[scale < 1e-9] = 1.0
    counts = np.bincount(y, minlength=n).astype(float)
    weight = (counts.sum() / np.maximum(counts, 1) / n) ** balance
    clf = LogisticRegression(C=c, max_iter=3000).fit((x - mean) / scale, y,
                                                      sample_weight=weight[y])
    coef = np.zeros((n, x.shape[1]))
    intercept = np.full(n, -30.0)  # a class absent from training is never suggested
    coef[clf.classes_], intercept[clf.classes_] = clf.coef_, clf.intercept_
    return mean, scale, coef, intercept


def _fit(x: np.ndarray, y: np.ndarray, c: float, balance: float = BALANCE) -> PracticeContext:
    return PracticeContext(list(CLASSES),
                           *fit_standardised_logistic(x, y, len(CLASSES), c, balance))


def nll(p: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes ``y`` under ``p``."""
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
        loss = nll(_oof(x, y, folds, c, balance), y)
        if loss < best[0] - 1e-9:
            best = (loss, c)
    return best[1], best[0]


def fit_practice_context(x: np.ndarray, y: np.ndarray, fold_of: np.ndarray,
                         balance: float = BALANCE) -> tuple[PracticeContext, np.ndarray, dict]:
    """The final stage and the nested-CV out-of-fold probabilities of every row.

    ``y`` is -1 where a row has no fine human code (it still was a neighbour in ``x``).
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


def practitioner_tasks(table, dists: list[dict[str, float]], prac: np.ndarray) -> dict:
    """The model card's practitioner tasks (4-way, 6-way, input subtype) from distributions."""
    from training.annomi import INPUT_CODES, SIX_TO_FOUR, SIX_WAY
    from training.model import score_task

    six_lab, code = labels_from_fine(dists)
    t = table.iloc[prac]
    scores = {}
    has4 = t["four"].notna().to_numpy()
    scores["therapist_4way"] = score_task(t["four"][has4].tolist(),
                                          [SIX_TO_FOUR[s] for s in six_lab[has4]],
                                          ("question", "reflection", "input", "other"))
    has6 = has4 & t["six"].notna().to_numpy()
    scores["therapist_6way"] = score_task(t["six"][has6].tolist(), six_lab[has6].tolist(),
                                          SIX_WAY)
    inp = has4 & t["input_code"].notna().to_numpy() & (six_lab == "input")
    scores["input_subtype"] = score_task(t["input_code"][inp].tolist(), code[inp].tolist(),
                                         INPUT_CODES)
    return scores


def fine_recall(table, dists: list[dict[str, float]], prac: np.ndarray) -> dict:
    """Per-class precision/recall of the 8 fine codes by top probability (as suggested)."""
    from sklearn.metrics import precision_recall_fscore_support

    y = fine_labels(table, prac)
    lab = y >= 0
    p = np.array([[d[c] for c in CLASSES] for d in dists])[lab].argmax(1)
    pr, rc, f1, s = precision_recall_fscore_support(y[lab], p, labels=range(len(CLASSES)),
                                                    zero_division=0)
    return {c: {"precision": round(float(pr[i]), 3), "recall": round(float(rc[i]), 3),
                "f1": round(float(f1[i]), 3), "support": int(s[i])}
            for i, c in enumerate(CLASSES)}


def fine_labels(table, prac: np.ndarray) -> np.ndarray:
    """Index in CLASSES of each practitioner row's human fine code, -1 where there is none."""
    six = table["six"].to_numpy()[prac]
    sub = table["input_code"].to_numpy()[prac]
    fine = [s2 if s == "input" else s for s, s2 in zip(six, sub, strict=True)]
    return np.array([CLASSES.index(f) if isinstance(f, str) and f in CLASSES else -1
                     for f in fine])


def stage_inputs(table, head: dict[str, dict[str, float]]):
    """(utterance ids, practitioner rows, stage inputs, head probabilities of those rows)."""
    ids = [f"{t}-{u}" for t, u in zip(table["transcript_id"].astype(str),
                                      table["utterance_id"], strict=True)]
    roles = table["role"].to_numpy()
    prac = np.flatnonzero(roles == "practitioner")
    fam = np.flatnonzero(roles != "practitioner")
    groups = table["transcript_id"].astype(str).to_numpy()
    texts = table["text"].fillna("").astype(str).to_numpy()
    p = np.array([[head[ids[i]].get(c, 0.0) for c in CLASSES] for i in prac])
    p /= p.sum(1, keepdims=True)
    fp = np.array([[head[ids[i]].get(c, 0.0) for c in FAMILY_CLASSES] for i in fam])
    return ids, prac, practice_features(p, prac, groups, texts[prac].tolist(), fp, fam), p


def run(model_dir: Path, csv: Path | None = None, version: str | None = None) -> dict:
    from training.annomi import default_annomi_csv, read_annomi
    from training.calibrate import quality_folds

    model_dir = Path(model_dir)
    table = read_annomi(csv or default_annomi_csv())
    with gzip.open(model_dir / "cv_predictions.json.gz", "rt") as fh:
        blob = json.load(fh)
    head = blob.get("head_proba") or blob["proba"]
    ids, prac, x, p = stage_inputs(table, head)
    groups = table["transcript_id"].astype(str).to_numpy()
    y = fine_labels(table, prac)
    # folds per transcript: MI quality of each transcript from the AnnoMI CSV
    import pandas as pd

    quality = pd.read_csv(csv or default_annomi_csv(), usecols=["transcript_id", "mi_quality"])
    q_of = dict(zip(quality["transcript_id"].astype(str), quality["mi_quality"], strict=False))
    tids = np.array(sorted(set(groups), key=lambda s: int(s) if s.isdigit() else s))
    fold_tid = dict(zip(tids, quality_folds(tids, np.array([q_of[t] for t in tids])),
                        strict=True))
    fold_of = np.array([fold_tid[g] for g in groups[prac]])
    stage, oof, info = fit_practice_context(x, y, fold_of)
    stage.save(model_dir / PRACTICE_CONTEXT_FILE)

    before = [{c: float(v) for c, v in zip(CLASSES, row, strict=True)} for row in p]
    after = [{c: float(v) for c, v in zip(CLASSES, row, strict=True)} for row in oof]
    lab = y >= 0
    info["nll_out_of_fold"] = {"head": round(nll(p[lab], y[lab]), 4),
                               "stage": round(nll(oof[lab], y[lab]), 4)}
    info["per_class_head"] = fine_recall(table, before, prac)
    info["per_class_stage"] = fine_recall(table, after, prac)
    tasks_before = {k: s.short() for k, s in practitioner_tasks(table, before, prac).items()}
    tasks = practitioner_tasks(table, after, prac)
    info["tasks_head"] = tasks_before
    info["coef_norm_by_block"] = _block_norms(stage)

    proba = {**head}
    for i, d in zip(prac, after, strict=True):
        proba[ids[i]] = d
    blob = {"about": "out-of-fold code distributions of the grouped CV (key "
            "transcript_id-utterance_id); practitioner rows after the practice-context stage "
            "(its nested CV); head_proba: the heads alone", "proba": proba, "head_proba": head}
    with gzip.open(model_dir / "cv_predictions.json.gz", "wt") as fh:
        json.dump(blob, fh)
    meta_path = model_dir / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["practice_context"] = info
    for task, s in tasks.items():
        meta["cv"]["tasks"][task] = {**s.short(), "per_class": s.per_class, "labels": s.labels,
                                     "confusion": s.confusion}
    if version:
        meta["version"] = version
    meta_path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    (model_dir / "report.json").write_text(json.dumps(meta["cv"], indent=2) + "\n")
    from training.report import confusion_pngs

    confusion_pngs(tasks, model_dir)
    return info


def in_sample_distributions(model_dir: Path = DEFAULT_MODEL_DIR,
                            csv: Path | None = None) -> dict[str, dict[str, float]]:
    """The shipped stage (fitted on all transcripts) and shipped calibration applied to the
    head's out-of-fold distributions: the *in-sample* figures the benchmark prints beside the
    nested ones (the stage and the temperature have seen every transcript here)."""
    from msw_audio.coding.calibration import CALIBRATION_FILE, TaggerCalibration
    from training.annomi import default_annomi_csv, read_annomi

    model_dir = Path(model_dir)
    table = read_annomi(csv or default_annomi_csv())
    with gzip.open(model_dir / "cv_predictions.json.gz", "rt") as fh:
        blob = json.load(fh)
    head = blob.get("head_proba") or blob["proba"]
    ids, prac, x, _ = stage_inputs(table, head)
    stage = PracticeContext.load(model_dir / PRACTICE_CONTEXT_FILE)
    cal = TaggerCalibration.load(model_dir / CALIBRATION_FILE)
    out = {i: cal.apply("family", d) if set(d) == set(FAMILY_CLASSES) else d
           for i, d in head.items()}
    for i, row in zip(prac, stage.proba(x), strict=True):
        out[ids[i]] = cal.apply("practitioner", dict(zip(CLASSES, map(float, row), strict=True)))
    return out


def _block_norms(stage: PracticeContext) -> dict[str, float]:
    """How much each block of inputs weighs (L2 norm of its standardised coefficients)."""
    blocks = {"this turn": range(0, 8), "previous turn": range(8, 17),
              "next turn": range(17, 26), "family turn before": range(26, 30),
              "session mean": range(30, 38), "position": [38], "length": [39],
              "directive phrase": [40]}
    return {b: round(float(np.linalg.norm(stage.coef[:, list(cols)])), 3)
            for b, cols in blocks.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    ap.add_argument("--csv", type=Path, default=None)
    ap.add_argument("--version", default=None, help="new model version for metadata.json")
    args = ap.parse_args()
    info = run(args.model, args.csv, args.version)
    print(json.dumps({k: info[k] for k in ("C", "outer", "nll_out_of_fold", "tasks_head",
                                           "coef_norm_by_block")}, indent=1))
    for c in CLASSES:
        print(f"{c:<22} recall {info['per_class_head'][c]['recall']:.3f} -> "
              f"{info['per_class_stage'][c]['recall']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
