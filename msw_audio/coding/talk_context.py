"""Family-member talk type read in its session: a second look at each turn with its neighbours.

Why: the fine-tuned head sees one family-member turn and the practitioner turn before it, and
a short answer ("Yeah, I could do that") often reads neutral on its own. People coding change
and sustain talk hear more: such talk comes in runs, and it grows as an MI conversation moves
from engaging to evoking and planning. This stage is a small logistic regression over 13
numbers per family-member turn: the head's own log-probabilities, the same for the family
member's previous and next turn in the session, the turn's relative position in the session
and its length. Grouped CV on AnnoMI (``training/context.py``, the model card) measures what
it adds. It only re-weighs the head's suggestions; an evaluator still confirms every code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from msw_audio.coding.session_context import (
    log_proba,
    neighbour_block,
    same_kind_neighbours,
    session_positions,
    word_counts,
)

CONTEXT_FILE = "talk_context.npz"
FEATURES = (
    "log p(change)", "log p(neutral)", "log p(sustain)",
    "position in session (0 = first turn, 1 = last)", "log(1 + words)",
    "previous family turn: log p × 3", "previous family turn present",
    "next family turn: log p × 3", "next family turn present",
)


def context_features(proba: np.ndarray, rows: np.ndarray, groups: np.ndarray,
                     texts: list[str]) -> np.ndarray:
    """The stage's inputs for the family-member rows ``rows`` of a table.

    ``proba`` (len(rows) × classes) are the head's probabilities for those rows; ``groups``
    gives the session (transcript) of *every* table row, rows of a session in spoken order;
    ``texts`` are the texts of ``rows``. Position counts every turn of the session, the
    neighbours only the family-member turns of the same session.
    """
    rows = np.asarray(rows, dtype=np.int64)
    logp = log_proba(proba)
    inverse, position = session_positions(groups)
    prev_idx, next_idx = same_kind_neighbours(rows, inverse)
    words = word_counts(texts)
    return np.c_[logp, position[rows], np.log1p(words), neighbour_block(logp, prev_idx),
                 neighbour_block(logp, next_idx)]


@dataclass
class TalkContext:
    """Standardise → linear → softmax, then per-class log offsets (the decision point)."""

    classes: list[str]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # classes × features
    intercept: np.ndarray
    offsets: np.ndarray

    def proba(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, dtype=np.float64) - self.mean) / self.scale
        logits = z @ self.coef.T + self.intercept
        logits = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        p = np.exp(np.log(np.clip(p, 1e-9, 1.0)) + self.offsets)
        return p / p.sum(axis=1, keepdims=True)

    def apply(self, classes: list[str], proba: np.ndarray, rows: np.ndarray,
              groups: np.ndarray, texts: list[str]) -> np.ndarray:
        """The head's probabilities for ``rows`` re-weighed in their session."""
        if list(classes) != list(self.classes):
            raise ValueError(f"talk context was trained for classes {self.classes}, "
                             f"the head gives {list(classes)}")
        if len(rows) == 0:
            return proba
        return self.proba(context_features(proba, rows, groups, texts))

    def save(self, path: Path) -> None:
        np.savez(path, classes=np.array(self.classes), mean=self.mean, scale=self.scale,
                 coef=self.coef, intercept=self.intercept, offsets=self.offsets)

    @classmethod
    def load(cls, path: Path) -> TalkContext:
        with np.load(path, allow_pickle=False) as z:
            return cls(classes=[str(c) for c in z["classes"]], mean=z["mean"],
                       scale=z["scale"], coef=z["coef"], intercept=z["intercept"],
                       offsets=z["offsets"])
