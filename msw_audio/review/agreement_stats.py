"""Agreement statistics beyond a pair of coders and beyond labels: Fleiss' κ for three or
more coders, and two segmentation measures (boundaries within a tolerance, ELAN-style
overlap ratio).

Why these: ELAN's inter-annotator reliability offers Fleiss' κ over many raters and an
overlap-based comparison of segmentations; a service whose lines are coded by a first
evaluator and two blind coders, or whose transcript was re-segmented by an evaluator,
needs the same numbers without exporting to ELAN. Short formulas instead of a statistics
package (statsmodels is not in this environment): ``tests/test_agreement_stats.py`` checks
Fleiss' κ against Fleiss (1971)'s worked example as printed on Wikipedia (κ = 0.210), its
two-rater case against Scott's π, and against scikit-learn's Cohen's κ where the two
coincide (equal marginals).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Sequence
from typing import Any

#: Boundaries of two segmentations that are this close (seconds) count as the same boundary.
BOUNDARY_TOLERANCE_S = 0.5


def fleiss_kappa(items: Sequence[Sequence[Any]]) -> float | None:
    """Fleiss' κ (1971): ``items`` one row per coded line, the label each coder gave it.

    Every row must have the same number of coders (≥ 2): lines not coded by all of them
    are left out by the caller. ``(P̄ − P̄e) / (1 − P̄e)`` with P̄ the mean pairwise agreement
    within lines and P̄e the chance agreement from the pooled label shares. None where
    undefined (no lines, or every coder gave every line one same label).
    """
    rows = [list(r) for r in items]
    if not rows:
        return None
    n = len(rows[0])
    if n < 2 or any(len(r) != n for r in rows):
        raise ValueError("Fleiss' κ needs the same number (≥ 2) of coders on every line")
    totals: Counter[Any] = Counter()
    p_bar = 0.0
    for r in rows:
        counts = Counter(r)
        totals.update(counts)
        p_bar += (sum(c * c for c in counts.values()) - n) / (n * (n - 1))
    p_bar /= len(rows)
    all_labels = len(rows) * n
    p_e = sum((c / all_labels) ** 2 for c in totals.values())
    if p_e >= 1.0:
        return None
    return float((p_bar - p_e) / (1 - p_e))


def _boundaries(segments: Sequence[tuple[float, float]]) -> list[float]:
    return sorted({round(float(t), 3) for a, b in segments for t in (a, b)})


def boundary_agreement(a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]],
                       tolerance: float = BOUNDARY_TOLERANCE_S) -> dict[str, Any]:
    """The share of the two segmentations' boundaries (starts and ends) that the other one
    also has within ``± tolerance`` seconds, each boundary matched at most once (nearest
    first). ``matched`` / ``n_a`` / ``n_b``; ``agreement`` = 2·matched / (n_a + n_b) (the
    boundary F-measure); None with no boundaries."""
    ba, bb = _boundaries(a), _boundaries(b)
    pairs = []
    for i, x in enumerate(ba):  # only the boundaries of b within the tolerance (sorted)
        for j in range(bisect_left(bb, x - tolerance), bisect_right(bb, x + tolerance)):
            pairs.append((abs(x - bb[j]), i, j))
    pairs.sort()
    used_a: set[int] = set()
    used_b: set[int] = set()
    for _d, i, j in pairs:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
    total = len(ba) + len(bb)
    return {"tolerance_s": tolerance, "n_a": len(ba), "n_b": len(bb), "matched": len(used_a),
            "agreement": (2 * len(used_a) / total) if total else None}


def overlap_ratio(a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]]
                  ) -> dict[str, Any]:
    """ELAN-style overlap agreement: each segment of ``a`` paired with the segment of ``b``
    it overlaps most (one-to-one, largest overlaps first); a pair scores
    overlap / extent (intersection over union of the two intervals), an unpaired segment of
    either side scores 0. ``ratio``: the mean over pairs and unpaired segments; None when both
    are empty."""
    cand = []
    order = sorted(range(len(b)), key=lambda j: b[j][0])
    starts = [b[j][0] for j in order]
    longest = max((b1 - b0 for b0, b1 in b), default=0.0)
    for i, (a0, a1) in enumerate(a):  # b's segments starting before a1 and ending after a0
        lo = bisect_left(starts, a0 - longest)
        for j in order[lo:bisect_left(starts, a1)]:
            b0, b1 = b[j]
            inter = min(a1, b1) - max(a0, b0)
            if inter > 0:
                cand.append((inter, i, j, inter / (max(a1, b1) - min(a0, b0))))
    cand.sort(reverse=True)
    used_a: set[int] = set()
    used_b: set[int] = set()
    scores: list[float] = []
    for _inter, i, j, ratio in cand:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            scores.append(ratio)
    unpaired = (len(a) - len(used_a)) + (len(b) - len(used_b))
    n = len(scores) + unpaired
    return {"pairs": len(scores), "unpaired": unpaired,
            "ratio": (sum(scores) / n) if n else None}
