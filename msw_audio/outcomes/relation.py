"""Relation between practice scores and family-rated change, with its uncertainty.

Why Pearson with a Fisher interval: a team has few families, so the figure must carry
its uncertainty (n and a 95 % interval) and is shown as a prompt for reflection, never as
proof that one worker's practice caused a family's change. ``pearson_with_interval``
returns no interval below four pairs (the Fisher standard error needs n > 3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Relation:
    n: int
    r: float | None
    low: float | None
    high: float | None

    def text(self) -> str:
        if self.r is None:
            return f"n = {self.n}: no relation can be computed (scores do not vary)"
        if self.low is None:
            return f"r = {self.r:+.2f} (n = {self.n}; too few families for an interval)"
        return (f"r = {self.r:+.2f}, 95 % interval {self.low:+.2f} to {self.high:+.2f} "
                f"(n = {self.n})")


def pearson_with_interval(xs: list[float], ys: list[float], z: float = 1.959964) -> Relation:
    """Pearson's r of paired values and its Fisher-z 95 % interval (None where undefined)."""
    n = len(xs)
    if n != len(ys):
        raise ValueError("xs and ys differ in length")
    if n < 2:
        return Relation(n, None, None, None)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return Relation(n, None, None, None)
    r = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / math.sqrt(sxx * syy)
    r = max(-1.0, min(1.0, r))
    if n <= 3 or abs(r) >= 1.0:
        return Relation(n, r, None, None)
    fz, se = math.atanh(r), 1.0 / math.sqrt(n - 3)
    return Relation(n, r, math.tanh(fz - z * se), math.tanh(fz + z * se))
