"""Family-member talk read after the practitioner's turn: a third look at change/sustain talk.

Why: the talk-context stage (``talk_context``) re-reads a family member's turn with their own
neighbouring turns, its place and its length, but not with what the practitioner just did.
People coding MITI hear change talk as an answer: an evocative open question or a reflection
of change talk draws it out, a righting-reflex piece of advice draws sustain talk. This stage
is a small multinomial logistic regression over, per family-member turn:

* the talk-context stage's log-probabilities for the turn (change / neutral / sustain);
* the practitioner's turn just before it: the heads' 8 fine code log-probabilities (a
  reflection, an open question, advice...) and whether there is one;
* the family member's previous turn in the session (talk-context log-probabilities, present);
* the turn's relative position in the session and its length (log words);
* the mean talk-context log-probabilities of the family member's *other* turns in the session.

It is fitted on out-of-fold probabilities against AnnoMI's human codes with a nested grouped
CV (``training/family_context.py``). It reads the practitioner *heads* (not the practice-
context stage, which itself reads the family turn), so the two stages do not feed each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from msw_audio.coding.practice_context import CLASSES as PRACTITIONER_CLASSES

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
_WORD = re.compile(r"\w+")


def _logp(proba: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(proba, dtype=np.float64), 1e-6, 1.0))


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
    groups = np.asarray(groups)
    logp = _logp(proba)
    k = len(rows)
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    rank = np.zeros(len(groups))
    seen: dict[int, int] = {}
    for i, g in enumerate(inverse):
        rank[i] = seen.get(g, 0)
        seen[g] = rank[i] + 1
    position = rank / np.maximum(counts[inverse] - 1, 1)
    prev = np.zeros((k, 4))
    for j in range(1, k):
        if inverse[rows[j]] == inverse[rows[j - 1]]:
            prev[j] = np.r_[logp[j - 1], 1.0]
    sess = inverse[rows]
    total = np.zeros((inverse.max() + 1 if len(inverse) else 1, logp.shape[1]))
    n = np.zeros(len(total))
    np.add.at(total, sess, logp)
    np.add.at(n, sess, 1.0)
    loo = np.where((n[sess] > 1)[:, None],
                   (total[sess] - logp) / np.maximum(n[sess] - 1, 1)[:, None], 0.0)
    prac = np.zeros((k, len(PRACTITIONER_CLASSES) + 1))
    if prac_proba is not None and prac_rows is not None and len(prac_rows):
        where = {int(r): i for i, r in enumerate(prac_rows)}
        plogp = _logp(prac_proba)
        for j, r in enumerate(rows):
            i = where.get(int(r) - 1)
            if i is not None and r > 0 and inverse[r - 1] == inverse[r]:
                prac[j] = np.r_[plogp[i], 1.0]
    words = np.array([len(_WORD.findall(t or "")) for t in texts], dtype=np.float64)
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
