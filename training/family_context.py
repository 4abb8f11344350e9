"""Family-member talk read after the practitioner's turn: a nested-CV experiment (issue 15.5).

    python -m training.family_context [--variants] [--json OUT.json]

Why: the talk-context stage (``msw_audio.coding.talk_context``) re-reads a family member's
turn with their own neighbouring turns, its place and its length, but not with what the
practitioner just did. People coding MITI hear change talk as an answer: an evocative open
question or a reflection draws it out, advice draws sustain talk. This candidate "family
context stage" is a multinomial logistic regression over, per family-member turn: the
talk-context log-probabilities of the turn; the practitioner heads' 8 fine log-probabilities
of the practitioner turn just before it (and whether there is one); the family member's
previous turn; position in the session; length (log words); the mean over the family
member's other turns in the session.

Input: the out-of-fold distributions of the grouped CV (``cv_predictions.json.gz``
``head_proba``: for a family-member row the talk-context stage's nested-CV output, as the
fine-tuning's package step wrote it; for a practitioner row the heads' fine distribution) and
AnnoMI's human codes. Nested as ``training.practice_context``: for each outer fold (grouped by
transcript, stratified by MI quality) C is chosen by an inner grouped CV on the other folds
only (minimum NLL of the human codes); class weights are fixed a priori ((inverse frequency)
** 0.5, the project's recipe); MI quality only shapes the folds.

Result (model card, ``benchmarks/RESULTS.md``): out-of-fold κ 0.352 → 0.315, so by the ship
rule set before fitting (gain ≥ 0.02) it is **not shipped**; the tagger has no such stage.
``run(write=True)`` would write ``family_context.npz`` only if the rule were met; nothing
reads it today, so shipping would also need the tagger to apply it (as ``practice_context``).
"""

from __future__ import annotations

import argparse
import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import cohen_kappa_score, f1_score

from msw_audio.coding.calibration import expected_calibration_error
from msw_audio.coding.practice_context import CLASSES as PRACTITIONER_CLASSES
from msw_audio.coding.session_context import (
    log_proba,
    neighbour_block,
    same_kind_neighbours,
    session_mean_of_others,
    session_positions,
    turn_just_before,
    word_counts,
)
from msw_audio.coding.tagger import DEFAULT_MODEL_DIR
from training.practice_context import fit_standardised_logistic
from training.practice_context import nll as _nll

FAMILY_CONTEXT_FILE = "family_context.npz"

CLASSES = ("change_talk", "neutral", "sustain_talk")
FEATURES = (
    "log p × 3 (this turn, talk-context stage)",
    "practitioner turn just before: heads' log p × 8", "practitioner turn present",
    "previous family turn: log p × 3", "previous family turn present",
    "position in session (0 = first turn, 1 = last)", "log(1 + words)",
    "session mean of the other family turns: log p × 3",
)
N_FEATURES = 3 + 9 + 4 + 2 + 3


def family_features(proba: np.ndarray, rows: np.ndarray, groups: np.ndarray, texts: list[str],
                    prac_proba: np.ndarray | None = None,
                    prac_rows: np.ndarray | None = None) -> np.ndarray:
    """The stage's inputs for the family-member rows ``rows`` of a table.

    ``proba`` (len(rows) × 3, ``CLASSES`` order): talk-context probabilities of those rows;
    ``groups``: the session of *every* table row (rows of a session in spoken order);
    ``texts``: the texts of ``rows``; ``prac_proba`` (len(prac_rows) × 8,
    ``practice_context.CLASSES`` order): the practitioner heads' fine distributions of the
    rows ``prac_rows``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    logp = log_proba(proba)
    inverse, position = session_positions(groups)
    prev_idx, _ = same_kind_neighbours(rows, inverse)
    prev = neighbour_block(logp, prev_idx)
    loo = session_mean_of_others(logp, rows, inverse)
    prac = turn_just_before(rows, inverse, prac_rows,
                            None if prac_proba is None else log_proba(prac_proba),
                            len(PRACTITIONER_CLASSES) + 1)
    words = word_counts(texts)
    return np.c_[logp, prac, prev, position[rows], np.log1p(words), loo]


@dataclass
class FamilyContext:
    """Standardise → linear → softmax over ``CLASSES`` (a multinomial logistic regression)."""

    classes: list[str]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # classes × features
    intercept: np.ndarray

    def proba(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, dtype=np.float64) - self.mean) / self.scale
        logits = z @ self.coef.T + self.intercept
        logits = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def apply(self, classes: list[str], proba: np.ndarray, rows: np.ndarray,
              groups: np.ndarray, texts: list[str], prac_proba: np.ndarray | None = None,
              prac_rows: np.ndarray | None = None) -> np.ndarray:
        """The talk-context probabilities of ``rows`` re-weighed after the practitioner's turn."""
        if list(classes) != list(self.classes):
            raise ValueError(f"family context was trained for classes {self.classes}, "
                             f"the head gives {list(classes)}")
        if len(rows) == 0:
            return proba
        return self.proba(family_features(proba, rows, groups, texts, prac_proba, prac_rows))

    def save(self, path: Path) -> None:
        np.savez(path, classes=np.array(self.classes), mean=self.mean, scale=self.scale,
                 coef=self.coef, intercept=self.intercept)

    @classmethod
    def load(cls, path: Path) -> FamilyContext:
        with np.load(path, allow_pickle=False) as z:
            return cls(classes=[str(c) for c in z["classes"]], mean=z["mean"],
                       scale=z["scale"], coef=z["coef"], intercept=z["intercept"])


#: 0.001 and 0.003 were added after the first run chose 0.01, the edge, in every fold.
C_GRID = (0.001, 0.003, 0.01, 0.05, 0.2, 1.0)
#: Class weight = (inverse frequency) ** BALANCE: set, not fitted (every head and stage).
BALANCE = 0.5
#: The gain in out-of-fold κ below which the stage is not shipped (set before fitting).
SHIP_GAIN = 0.02


def _fit(x: np.ndarray, y: np.ndarray, c: float, balance: float = BALANCE) -> FamilyContext:
    return FamilyContext(list(CLASSES),
                         *fit_standardised_logistic(x, y, len(CLASSES), c, balance))


def _oof(x, y, folds, c, balance) -> np.ndarray:
    out = np.zeros((len(y), len(CLASSES)))
    for k in np.unique(folds):
        te = folds == k
        out[te] = _fit(x[~te], y[~te], c, balance).proba(x[te])
    return out


def _choose(x, y, folds, balance, offsets: bool = False) -> tuple[float, float, np.ndarray]:
    """(C, inner NLL, decision offsets) by grouped CV over ``folds``.

    With ``offsets`` the per-class log offsets are then tuned (``training.offsets``, as the
    talk-context stage does) on the inner out-of-fold rows of the chosen C; else zeros.
    """
    best = (np.inf, C_GRID[0], None)
    for c in C_GRID:
        p = _oof(x, y, folds, c, balance)
        nll = _nll(p, y)
        if nll < best[0] - 1e-9:
            best = (nll, c, p)
    off = np.zeros(len(CLASSES))
    if offsets:
        from training.offsets import tune_offsets

        off = tune_offsets(best[2], y, list(range(len(CLASSES))))
    return best[1], best[0], off


def _shift(p: np.ndarray, off: np.ndarray) -> np.ndarray:
    q = np.exp(np.log(np.clip(p, 1e-9, 1.0)) + off)
    return q / q.sum(1, keepdims=True)


def fit_family_context(x: np.ndarray, y: np.ndarray, fold_of: np.ndarray,
                       balance: float = BALANCE, offsets: bool = False
                       ) -> tuple[FamilyContext, np.ndarray, dict]:
    """The final stage and the nested-CV out-of-fold probabilities of every row.

    ``y`` is -1 where a row has no human talk type (it still was a neighbour in ``x``).
    ``offsets``: also tune decision offsets inside each outer fold (a reported variant).
    """
    lab = y >= 0
    oof = np.zeros((len(y), len(CLASSES)))
    outer = {}
    for k in np.unique(fold_of):
        te, tr = fold_of == k, (fold_of != k) & lab
        c, inner, off = _choose(x[tr], y[tr], fold_of[tr], balance, offsets)
        oof[te] = _shift(_fit(x[tr], y[tr], c, balance).proba(x[te]), off)
        outer[int(k)] = {"C": c, "inner_nll": round(inner, 4),
                         "offsets": [round(float(o), 2) for o in off]}
    c, inner, off = _choose(x[lab], y[lab], fold_of[lab], balance, offsets)
    info = {"C": c, "inner_nll_all_folds": round(inner, 4), "outer": outer,
            "C_grid": list(C_GRID), "balance": balance, "features": list(FEATURES),
            "offsets": [round(float(o), 2) for o in off],
            "folds": "5-fold, grouped by transcript, stratified by MI quality (seed 0)"}
    return _fit(x[lab], y[lab], c, balance), oof, info


#: Column blocks of ``family_features`` (for the reported ablations).
BLOCKS = {"this turn": range(0, 3), "practitioner turn before": range(3, 12),
          "previous family turn": range(12, 16), "position": [16], "length": [17],
          "session mean": range(18, 21)}


def variants(x: np.ndarray, p: np.ndarray, y: np.ndarray, fold_of: np.ndarray) -> dict:
    """Out-of-fold κ / ECE of the sensitivity rows, each nested the same way.

    The design row is the main fit; these say where a gain or loss comes from: decision
    offsets tuned inside the folds, no practitioner turn, the practitioner turn alone with
    the turn itself, and class weights 0 / 1.
    """
    lab = y >= 0
    prac = list(BLOCKS["practitioner turn before"])
    own = list(BLOCKS["this turn"])
    rows = {
        "design + offsets tuned inside the folds": dict(offsets=True),
        "without the practitioner turn": dict(cols=[i for i in range(x.shape[1])
                                                    if i not in prac]),
        "without the practitioner turn + offsets": dict(
            cols=[i for i in range(x.shape[1]) if i not in prac], offsets=True),
        "this turn + practitioner turn only": dict(cols=own + prac),
        "this turn + practitioner turn only + offsets": dict(cols=own + prac, offsets=True),
        "this turn only (recalibration)": dict(cols=own),
        "this turn only + offsets": dict(cols=own, offsets=True),
        "class weights 0": dict(balance=0.0),
        "class weights 1 (balanced)": dict(balance=1.0),
    }
    out = {}
    for name, v in rows.items():
        cols = v.get("cols", list(range(x.shape[1])))
        _, oof, info = fit_family_context(x[:, cols], y, fold_of, v.get("balance", BALANCE),
                                          v.get("offsets", False))
        f = figures(oof[lab], y[lab], fold_of[lab])
        out[name] = {k: f[k] for k in ("kappa", "macro_f1", "ece", "nll")}
        out[name]["recall"] = {c: f["per_class"][c]["recall"] for c in CLASSES}
        out[name]["C_outer"] = [o["C"] for o in info["outer"].values()]
    return out


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
        out["ece_temperature_cross_fitted"] = round(_ece_cross_fitted(p, y, fold_of), 4)
        out["kappa_by_fold"] = [round(float(cohen_kappa_score(y[fold_of == k],
                                                              top[fold_of == k])), 4)
                                for k in np.unique(fold_of)]
    return out


def _ece_cross_fitted(p: np.ndarray, y: np.ndarray, fold_of: np.ndarray) -> float:
    """ECE after the tagger's temperature, fitted on four folds and applied to the fifth
    (what a user would see: ``training.calibrate`` for the shipped stages)."""
    from msw_audio.coding.calibration import fit_head

    out = np.zeros_like(p)
    for k in np.unique(fold_of):
        tr, te = fold_of != k, fold_of == k
        out[te] = fit_head(p[tr], y[tr], list(CLASSES), offsets=False).apply_array(p[te])
    return expected_calibration_error(out, y)


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
        version: str | None = None, with_variants: bool = False) -> dict:
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
    if with_variants:
        info["variants_out_of_fold"] = variants(x, p, y, fold_of)
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
    ap.add_argument("--variants", action="store_true", help="also the sensitivity rows")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    info = run(args.model, args.csv, args.write, args.version, args.variants)
    text = json.dumps(info, indent=1)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
