"""Practitioner codes read in their session: a second look at each practitioner turn.

Why: the fine-tuned head sees one practitioner turn and the turn before it. Advice read alone
is often phrased as a "you" statement ("you're on a team, you have to stick by the rules"),
which is how reflections read, so on advice-heavy (poor-practice) sessions the head puts
reflection mass where people code persuade or giving information, and the principle scores
then rise (issue 15: low-quality practice scored up by +0.4 evocation, +0.6 empathy). People
coding MITI hear more than one line: advice and information come in runs, and a session in
which the practitioner mostly tells sounds different from one in which they mostly listen.
This stage is a small multinomial logistic regression over, per practitioner turn:

* the head's log-probabilities of the 8 fine practitioner codes for the turn;
* the same for the practitioner's previous and next turn (and whether there is one);
* the family member's turn just before it (talk-type log-probabilities, if there is one);
* the mean log-probabilities of the practitioner's *other* turns in the session;
* the turn's relative position in the session, its length (log words) and whether it
  matches a directive phrase ("you need to", "you should", "I suggest you"...).

It is fitted on the head's **out-of-fold** probabilities against AnnoMI's human codes with a
nested grouped CV (``training/practice_context.py``); MI quality only shapes the folds and is
never a target. It re-weighs the head's suggestions; an evaluator still confirms every code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from msw_audio.coding.session_context import (
    log_proba,
    neighbour_block,
    same_kind_neighbours,
    session_mean_of_others,
    session_positions,
    turn_just_before,
    word_counts,
)

PRACTICE_CONTEXT_FILE = "practice_context.npz"
#: The fine practitioner codes the stage reads and writes, in this order.
CLASSES = ("closed_question", "complex_reflection", "giving_information", "open_question",
           "other", "persuade", "seeking_collaboration", "simple_reflection")
FAMILY_CLASSES = ("change_talk", "neutral", "sustain_talk")
FEATURES = (
    "log p × 8 (this turn)", "previous practitioner turn: log p × 8", "previous present",
    "next practitioner turn: log p × 8", "next present",
    "family turn just before: log p × 3", "family turn present",
    "session mean of the other practitioner turns: log p × 8",
    "position in session (0 = first turn, 1 = last)", "log(1 + words)", "directive phrase",
)
N_FEATURES = 8 + 9 + 9 + 4 + 8 + 3
#: Directive phrasing, the righting reflex (a superset of ``scoring.features`` "directive").
DIRECTIVE = re.compile(
    r"\b(?:you (?:need|have|must|ought) to|you should(?:n't)?|you(?:'ve| have) got to|"
    r"you(?:'d| had) better|i want you to|if you don't|you can't|you must|you will have to|"
    r"i (?:think|suggest|recommend|would) you|why don't you|try to|make sure)\b",
    re.IGNORECASE,
)


def practice_features(proba: np.ndarray, rows: np.ndarray, groups: np.ndarray,
                      texts: list[str], family_proba: np.ndarray | None = None,
                      family_rows: np.ndarray | None = None) -> np.ndarray:
    """The stage's inputs for the practitioner rows ``rows`` of a table.

    ``proba`` (len(rows) × 8, ``CLASSES`` order) are the head's fine probabilities for those
    rows; ``groups`` gives the session of *every* table row (rows of a session in spoken
    order); ``texts`` are the texts of ``rows``; ``family_proba`` (len(family_rows) × 3,
    ``FAMILY_CLASSES`` order) the family-member probabilities of the rows ``family_rows``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    logp = log_proba(proba)
    inverse, position = session_positions(groups)
    prev_idx, next_idx = same_kind_neighbours(rows, inverse)
    loo = session_mean_of_others(logp, rows, inverse)
    fam = turn_just_before(rows, inverse, family_rows,
                           None if family_proba is None else log_proba(family_proba), 4)
    words = word_counts(texts)
    directive = np.array([bool(DIRECTIVE.search(t or "")) for t in texts], dtype=np.float64)
    return np.c_[logp, neighbour_block(logp, prev_idx), neighbour_block(logp, next_idx), fam,
                 loo, position[rows], np.log1p(words), directive]


@dataclass
class PracticeContext:
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

    def apply(self, dists: list[dict[str, float]], rows: np.ndarray, groups: np.ndarray,
              texts: list[str], family_proba: np.ndarray | None = None,
              family_rows: np.ndarray | None = None) -> list[dict[str, float]]:
        """The head's fine distributions for ``rows`` re-weighed in their session."""
        if len(rows) == 0:
            return dists
        missing = set(self.classes) - set(dists[0])
        if missing:
            raise ValueError(f"practice context needs the codes {sorted(missing)} from the head")
        proba = np.array([[d[c] for c in self.classes] for d in dists])
        proba /= np.maximum(proba.sum(1, keepdims=True), 1e-12)
        out = self.proba(practice_features(proba, rows, groups, texts, family_proba,
                                           family_rows))
        return [dict(zip(self.classes, map(float, row), strict=True)) for row in out]

    def save(self, path: Path) -> None:
        np.savez(path, classes=np.array(self.classes), mean=self.mean, scale=self.scale,
                 coef=self.coef, intercept=self.intercept)

    @classmethod
    def load(cls, path: Path) -> PracticeContext:
        with np.load(path, allow_pickle=False) as z:
            return cls(classes=[str(c) for c in z["classes"]], mean=z["mean"],
                       scale=z["scale"], coef=z["coef"], intercept=z["intercept"])


def labels_from_fine(dists: list[dict[str, float]]) -> tuple[np.ndarray, np.ndarray]:
    """(6-way label, fine code) of each fine distribution, chosen as the tagger does.

    The 6-way view folds the three input subtypes into ``input``; the label is chosen
    top-down (``tagger.hierarchical_labels``), the input subtype by its largest share.
    """
    from msw_audio.coding.tagger import hierarchical_labels

    six_classes = ["closed_question", "complex_reflection", "input", "open_question", "other",
                   "simple_reflection"]
    subtypes = ["giving_information", "persuade", "seeking_collaboration"]
    six = np.array([[sum(d.get(s, 0.0) for s in subtypes) if c == "input" else d.get(c, 0.0)
                     for c in six_classes] for d in dists])
    six_lab = hierarchical_labels(six_classes, six)
    sub = np.array(subtypes)[np.array([[d.get(s, 0.0) for s in subtypes]
                                       for d in dists]).argmax(1)]
    return six_lab, np.where(six_lab == "input", sub, six_lab)
