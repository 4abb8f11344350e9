"""Probability calibration of the tagger's suggestions: temperature plus per-class log offsets.

Why: the fine-tuned practitioner head is over-confident out of fold (mean top probability
0.75 against 64 % accuracy; expected calibration error 0.11), and the principle scores count
codes *by probability* (``msw_audio.scoring.features``), so an over-confident wrong code moves a
score as much as a right one. Temperature scaling (Guo et al. 2017) divides the log
probabilities by one number T per head; the per-class log offsets ``b`` move the decision
point (the family-member head's talk-context offsets are such a thing), so rare codes such as
``persuade`` are not swallowed by their frequent neighbours. Both are fitted by minimum
negative log-likelihood on **out-of-fold** probabilities (``training/calibrate.py``), so they
learn how the tagger behaves on transcripts it never saw; nothing is fitted to AnnoMI's
session-level MI-quality label.

    p'(c) ∝ exp(log p(c) / T + b_c)

Stored as ``models/tagger/calibration.json`` (plain JSON, no pickle) and applied by
``msw_audio.coding.tagger.Tagger`` to every distribution it suggests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CALIBRATION_FILE = "calibration.json"
#: Head names: what ``Tagger`` calls the two distributions it calibrates.
HEADS = ("practitioner", "family")
_EPS = 1e-6


@dataclass(frozen=True)
class HeadCalibration:
    """Temperature and per-class log offsets for one head's code distribution."""

    classes: tuple[str, ...]
    temperature: float = 1.0
    offsets: tuple[float, ...] = ()

    def apply_array(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of an (n, len(classes)) array in ``classes`` order."""
        logp = np.log(np.clip(np.asarray(proba, dtype=np.float64), _EPS, 1.0))
        z = logp / self.temperature
        if self.offsets:
            z = z + np.asarray(self.offsets)[None, :]
        z -= z.max(axis=1, keepdims=True)
        out = np.exp(z)
        return out / out.sum(axis=1, keepdims=True)

    def apply(self, dist: dict[str, float]) -> dict[str, float]:
        """Calibrate one suggestion distribution; codes outside ``classes`` pass through.

        Why pass-through: a hybrid model or a newer codebook may add codes; the calibrated
        mass of the known codes keeps its share and unknown ones keep theirs.
        """
        known = [c for c in self.classes if c in dist]
        if len(known) != len(self.classes):
            return dict(dist)
        mass = sum(dist[c] for c in known)
        if mass <= 0:
            return dict(dist)
        row = np.array([[dist[c] / mass for c in self.classes]])
        cal = self.apply_array(row)[0] * mass
        out = dict(dist)
        out.update({c: float(p) for c, p in zip(self.classes, cal, strict=True)})
        return out

    def to_dict(self) -> dict[str, object]:
        return {"classes": list(self.classes), "temperature": round(self.temperature, 6),
                "offsets": [round(x, 6) for x in self.offsets]}

    @classmethod
    def from_dict(cls, d: dict) -> HeadCalibration:
        return cls(tuple(str(c) for c in d["classes"]), float(d.get("temperature", 1.0)),
                   tuple(float(x) for x in d.get("offsets") or ()))


@dataclass
class TaggerCalibration:
    """The calibration of every head plus how it was fitted and what it measured."""

    heads: dict[str, HeadCalibration]
    report: dict[str, object] = field(default_factory=dict)

    def apply(self, head: str, dist: dict[str, float]) -> dict[str, float]:
        cal = self.heads.get(head)
        return cal.apply(dist) if cal is not None else dist

    def save(self, path: Path) -> None:
        blob = {"format": "msw-tagger-calibration-1",
                "formula": "p'(c) ∝ exp(log p(c) / temperature + offset_c)",
                "heads": {k: v.to_dict() for k, v in sorted(self.heads.items())},
                "report": self.report}
        Path(path).write_text(json.dumps(blob, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> TaggerCalibration:
        blob = json.loads(Path(path).read_text())
        return cls({k: HeadCalibration.from_dict(v) for k, v in blob["heads"].items()},
                   dict(blob.get("report") or {}))


def fit_head(proba: np.ndarray, y: np.ndarray, classes: list[str], offsets: bool = True,
             l2: float = 1.0) -> HeadCalibration:
    """Minimum-NLL temperature (and, with ``offsets``, per-class log offsets).

    ``l2`` is a small ridge penalty on the offsets (in units of the summed NLL), so a class
    with few rows cannot buy a large offset; the offsets are centred (softmax is unchanged by
    a common shift).
    """
    from scipy.optimize import minimize

    logp = np.log(np.clip(np.asarray(proba, dtype=np.float64), _EPS, 1.0))
    k = logp.shape[1]
    onehot = np.eye(k)[y]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        inv_t = np.exp(theta[0])  # 1 / T, kept positive
        b = theta[1:] if offsets else np.zeros(k)
        z = logp * inv_t + b[None, :]
        z -= z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1))
        nll = float((lse - (z * onehot).sum(1)).sum() + l2 * (b ** 2).sum())
        soft = np.exp(z - lse[:, None])
        g = soft - onehot
        grad_inv_t = float((g * logp).sum()) * inv_t
        grad = [grad_inv_t]
        if offsets:
            grad += list(g.sum(0) + 2 * l2 * b)
        return nll, np.array(grad)

    theta0 = np.zeros(1 + (k if offsets else 0))
    res = minimize(loss, theta0, jac=True, method="L-BFGS-B")
    b = res.x[1:] - res.x[1:].mean() if offsets else np.zeros(0)
    return HeadCalibration(tuple(classes), float(np.exp(-res.x[0])), tuple(float(x) for x in b))


def expected_calibration_error(proba: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """ECE of the top code: mean |accuracy - confidence| over equal-width confidence bins."""
    proba = np.asarray(proba)
    conf = proba.max(1)
    right = proba.argmax(1) == np.asarray(y)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs(right[m].mean() - conf[m].mean())
    return float(total)


def reliability(proba: np.ndarray, y: np.ndarray, bins: int = 10) -> list[tuple[float, float, int]]:
    """(mean confidence, accuracy, rows) per non-empty bin of the top code (for the diagram)."""
    proba = np.asarray(proba)
    conf = proba.max(1)
    right = proba.argmax(1) == np.asarray(y)
    edges = np.linspace(0, 1, bins + 1)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            out.append((float(conf[m].mean()), float(right[m].mean()), int(m.sum())))
    return out


def fit_decision_offsets(proba: np.ndarray, y: np.ndarray, classes: list[str],
                         tune: tuple[str, ...], grid: tuple[float, ...] = (
                             -1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.5),
                         rounds: int = 2) -> np.ndarray:
    """Per-class log offsets for the classes in ``tune`` that maximise macro-F1 (coordinate
    ascent over ``grid``), the others left at 0.

    Why macro-F1: it weighs a rare code (``persuade``, 2.6 % of practitioner turns) as much
    as a frequent one, so the offsets stop the frequent neighbours (giving information,
    reflections) from swallowing it; minimum NLL alone leaves the rare code's recall low.
    """
    from sklearn.metrics import f1_score

    logp = np.log(np.clip(np.asarray(proba, dtype=np.float64), _EPS, 1.0))
    off = np.zeros(len(classes))
    idx = [classes.index(c) for c in tune if c in classes]

    def score(o: np.ndarray) -> float:
        return float(f1_score(y, np.argmax(logp + o, axis=1), average="macro",
                              labels=range(len(classes)), zero_division=0))

    best = score(off)
    for _ in range(rounds):
        for j in idx:
            for g in grid:
                trial = off.copy()
                trial[j] = g
                s = score(trial)
                if s > best + 1e-9:
                    best, off = s, trial
    return off
