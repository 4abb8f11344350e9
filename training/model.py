"""Fit the tagger's heads and measure them by cross-validation grouped by transcript.

The same functions train the shipped model (``training/train.py``), answer
``msw-audio tagger train`` and produce the model card numbers, so what is reported is what ships.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score, confusion_matrix, f1_score
from sklearn.model_selection import GroupKFold

from msw_audio.coding.tagger import Features, Head
from training.annomi import CLIENT_CODES, FOUR_WAY, INPUT_CODES, SIX_TO_FOUR, SIX_WAY
from training.context import fit_on_table


@dataclass
class HeadConfig:
    """Hyper-parameters of one head (chosen by grouped CV on AnnoMI, see training/README.md)."""

    C: float = 2.0
    emb_weight: float = 1.0
    class_weight: str | None = None
    tune_offsets: bool = False  # client: fit the talk-context stage (it carries the offsets)
    use_prev: bool = True


CONFIGS = {
    "six": HeadConfig(C=2.0, emb_weight=1.0),
    "four": HeadConfig(C=2.0, emb_weight=1.0),
    "input": HeadConfig(C=2.0, emb_weight=1.0, class_weight="balanced"),
    "client": HeadConfig(C=1.0, emb_weight=1.0, class_weight="balanced", tune_offsets=True),
}


def fit_head(
    texts: list[str],
    prevs: list[str],
    emb: np.ndarray,
    prev_emb: np.ndarray,
    labels: list[str],
    classes: tuple[str, ...],
    cfg: HeadConfig,
) -> Head:
    """One head: features + logistic regression (the family-member decision offsets live in
    the talk-context stage, so a head's own offsets stay zero)."""
    feats = Features(emb_weight=cfg.emb_weight, use_prev=cfg.use_prev)
    x = feats.fit_transform(texts, prevs, emb, prev_emb)
    y = np.array(labels)
    if not labels:  # no labelled rows at all (a tiny slice): every class equally likely
        from msw_audio.coding.tagger import UniformPrior

        return Head(features=feats, clf=UniformPrior(classes),
                    offsets=np.zeros(len(classes)))
    if len(set(labels)) < 2:  # a fold or a small slice with one class: predict its prior
        from sklearn.dummy import DummyClassifier

        clf = DummyClassifier(strategy="prior")
    else:
        clf = LogisticRegression(C=cfg.C, class_weight=cfg.class_weight, max_iter=1000,
                                 tol=1e-3)
    clf.fit(x, y)
    return Head(features=feats, clf=clf, offsets=np.zeros(len(clf.classes_)))


@dataclass
class TaskScores:
    macro_f1: float
    kappa: float
    n: int
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    confusion: list[list[int]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    def short(self) -> dict[str, float]:
        return {"macro_f1": round(self.macro_f1, 4), "kappa": round(self.kappa, 4), "n": self.n}


def score_task(y_true: list[str], y_pred: list[str], labels: tuple[str, ...]) -> TaskScores:
    """Macro-F1, Cohen's kappa, per-class precision/recall/F1 and the confusion matrix."""
    from sklearn.metrics import precision_recall_fscore_support

    labels_present = [c for c in labels if c in set(y_true) | set(y_pred)]
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=labels_present, zero_division=0
    )
    per_class = {
        c: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
            "f1": round(float(f[i]), 4), "support": int(s[i])}
        for i, c in enumerate(labels_present)
    }
    return TaskScores(
        macro_f1=float(f1_score(y_true, y_pred, labels=labels_present, average="macro",
                                zero_division=0)),
        kappa=float(cohen_kappa_score(y_true, y_pred)),
        n=len(y_true),
        per_class=per_class,
        confusion=confusion_matrix(y_true, y_pred, labels=labels_present).tolist(),
        labels=labels_present,
    )


def fit_all(table: pd.DataFrame, emb: np.ndarray, prev_emb: np.ndarray,
            configs: dict[str, HeadConfig] | None = None) -> dict[str, Head]:
    """The heads from a table in ``read_annomi`` shape (+ aligned embeddings)."""
    configs = configs or CONFIGS
    heads: dict[str, Head] = {}
    specs = (
        ("six", (table["role"] == "practitioner") & table["six"].notna(), "six", SIX_WAY),
        ("four", (table["role"] == "practitioner") & table["four"].notna(), "four", FOUR_WAY),
        ("input", (table["role"] == "practitioner") & table["input_code"].notna(), "input_code",
         INPUT_CODES),
        ("client", (table["role"] == "client") & table["client_code"].notna(), "client_code",
         CLIENT_CODES),
    )
    for name, mask, column, classes in specs:
        if name not in configs:
            continue
        idx = np.flatnonzero(mask.to_numpy())
        sub = table.iloc[idx]
        heads[name] = fit_head(
            sub["text"].tolist(), sub["prev_text"].tolist(), emb[idx], prev_emb[idx],
            sub[column].tolist(), classes, configs[name],
        )
    return heads


def cross_validate(table: pd.DataFrame, emb: np.ndarray, prev_emb: np.ndarray,
                   n_splits: int = 5, configs: dict[str, HeadConfig] | None = None,
                   progress=None) -> dict[str, object]:
    """Grouped k-fold CV of the whole tagger: OOF predictions, per-task scores, talk-context stage.

    The family-member head's out-of-fold probabilities then train the talk-context stage
    (``msw_audio.coding.talk_context``), whose own CV is nested: fold k's regularisation and
    decision offsets are chosen on the other folds only, so no test label ever chooses its own
    threshold. ``context`` is the final stage, fitted on all out-of-fold rows.
    """
    from msw_audio.coding.tagger import predict_table

    configs = configs or CONFIGS
    groups = table["transcript_id"].astype(str).to_numpy()
    pred = pd.DataFrame(index=table.index, columns=["six", "code", "client"], dtype=object)
    pred["proba"] = None
    folds = list(GroupKFold(n_splits=n_splits).split(table, groups=groups))
    fold_of = np.zeros(len(table), dtype=int)
    for k, (tr, te) in enumerate(folds):
        fold_of[te] = k
        heads = fit_all(table.iloc[tr], emb[tr], prev_emb[tr], configs)
        out = predict_table(heads, table.iloc[te], emb[te], prev_emb[te])
        pred.iloc[te, :3] = out[["six", "code", "client"]].to_numpy()
        pred.loc[table.index[te], "proba"] = out["proba"].to_numpy()
        if progress:
            progress(k + 1, n_splits)
    context, context_info = None, None
    family = np.flatnonzero((table["role"] != "practitioner").to_numpy())
    if configs.get("client") and configs["client"].tune_offsets and len(family):
        context, context_info = _talk_context(table, pred, family, fold_of)
    return {"pred": pred, "scores": score_predictions(table, pred), "context": context,
            "context_info": context_info}


def _talk_context(table: pd.DataFrame, pred: pd.DataFrame, family: np.ndarray,
                  fold_of: np.ndarray):
    """Fit the talk-context stage on the family-member head's out-of-fold probabilities and
    put its nested-CV predictions into ``pred`` (``training/context.py``)."""

    classes = list(CLIENT_CODES)
    proba = np.array([[d.get(c, 0.0) for c in classes] for d in pred["proba"].iloc[family]])
    context, oof, info = fit_on_table(table, proba, family, fold_of, classes)
    pred.iloc[family, 2] = np.array(classes)[oof.argmax(1)]
    pred.iloc[family, 3] = pd.Series(
        [dict(zip(classes, map(float, row), strict=True)) for row in oof], dtype=object
    ).to_numpy()
    return context, info


def score_predictions(table: pd.DataFrame, pred: pd.DataFrame) -> dict[str, TaskScores]:
    """Scores for the issue's three tasks (+ the input subtype) from predictions."""
    scores: dict[str, TaskScores] = {}
    prac = (table["role"] == "practitioner") & table["four"].notna()
    if prac.any():
        y4 = table.loc[prac, "four"].tolist()
        p4 = [SIX_TO_FOUR[p] for p in pred.loc[prac, "six"]]
        scores["therapist_4way"] = score_task(y4, p4, ("question", "reflection", "input", "other"))
    six = prac & table["six"].notna()
    if six.any():
        scores["therapist_6way"] = score_task(
            table.loc[six, "six"].tolist(), pred.loc[six, "six"].tolist(), SIX_WAY
        )
    inp = prac & table["input_code"].notna() & (pred["six"] == "input")
    if inp.any():
        scores["input_subtype"] = score_task(
            table.loc[inp, "input_code"].tolist(), pred.loc[inp, "code"].tolist(), INPUT_CODES
        )
    cli = (table["role"] == "client") & table["client_code"].notna()
    if cli.any():
        scores["client_3way"] = score_task(
            table.loc[cli, "client_code"].tolist(), pred.loc[cli, "client"].tolist(), CLIENT_CODES
        )
    return scores
