"""The pieces every "read the turn in its session" stage builds its inputs from.

Why one module: the talk-context, practice-context and family-context stages each re-read a
turn with its neighbours, its place in the session and the session's other turns. They
read *different* neighbours (family turns, practitioner turns, the other side's turn just
before), but how a session's rows are ranked, how the previous and next row of one kind
are found, how a leave-one-out session mean is taken and how words are counted must be
the same everywhere, or a fix in one stage silently leaves the others behind.

Conventions: ``groups`` gives the session of *every* row of a table (rows of a session in
spoken order); ``rows`` are the table rows of the kind a stage codes, in table order.
"""

from __future__ import annotations

import re

import numpy as np

_WORD = re.compile(r"\w+")


def log_proba(proba: np.ndarray) -> np.ndarray:
    """Log-probabilities, clipped at 1e-6 so a zero never becomes -inf."""
    return np.log(np.clip(np.asarray(proba, dtype=np.float64), 1e-6, 1.0))


def session_positions(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(inverse, position)``: each row's session index and its relative position in its
    session (0 = first row, 1 = last), over every row of the table."""
    _, inverse, counts = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
    rank = np.zeros(len(inverse))
    seen: dict[int, int] = {}
    for i, g in enumerate(inverse):
        rank[i] = seen.get(g, 0)
        seen[g] = rank[i] + 1
    return inverse, rank / np.maximum(counts[inverse] - 1, 1)


def same_kind_neighbours(rows: np.ndarray, inverse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``rows``: the index (into ``rows``) of the previous and of the next row
    of the same kind in the same session, -1 where there is none."""
    k = len(rows)
    prev_idx, next_idx = np.full(k, -1), np.full(k, -1)
    for j in range(1, k):
        if inverse[rows[j]] == inverse[rows[j - 1]]:
            prev_idx[j] = j - 1
            next_idx[j - 1] = j
    return prev_idx, next_idx


def neighbour_block(logp: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``logp`` of the neighbour ``idx`` (zeros where -1) and a "present" column."""
    present = idx >= 0
    return np.c_[np.where(present[:, None], logp[np.maximum(idx, 0)], 0.0), present]


def session_mean_of_others(logp: np.ndarray, rows: np.ndarray,
                           inverse: np.ndarray) -> np.ndarray:
    """Per row of ``rows``: the mean of ``logp`` over the *other* rows of its session (0
    where it is the only one) — the session's character without the turn itself."""
    sess = inverse[rows]
    total = np.zeros((inverse.max() + 1 if len(inverse) else 1, logp.shape[1]))
    n = np.zeros(len(total))
    np.add.at(total, sess, logp)
    np.add.at(n, sess, 1.0)
    return np.where((n[sess] > 1)[:, None],
                    (total[sess] - logp) / np.maximum(n[sess] - 1, 1)[:, None], 0.0)


def turn_just_before(rows: np.ndarray, inverse: np.ndarray, other_rows: np.ndarray | None,
                     other_logp: np.ndarray | None, width: int) -> np.ndarray:
    """Per row of ``rows``: ``other_logp`` of the table row just before it, when that row
    is one of ``other_rows`` in the same session, with a "present" 1 (else zeros);
    ``width`` = columns of ``other_logp`` + 1."""
    out = np.zeros((len(rows), width))
    if other_logp is None or other_rows is None or not len(other_rows):
        return out
    where = {int(r): i for i, r in enumerate(other_rows)}
    for j, r in enumerate(rows):
        i = where.get(int(r) - 1)
        if i is not None and r > 0 and inverse[r - 1] == inverse[r]:
            out[j] = np.r_[other_logp[i], 1.0]
    return out


def word_counts(texts: list[str]) -> np.ndarray:
    """Words per text (``\\w+`` runs), as floats."""
    return np.array([len(_WORD.findall(t or "")) for t in texts], dtype=np.float64)
