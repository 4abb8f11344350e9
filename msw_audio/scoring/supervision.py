"""The supervision rubric (``supervision_rubric.yaml``): seven dimensions, each 1-5 with
evidence utterances, from the supervisor's codes.

Why from codes and not a model: no labelled supervision recordings exist, so each score
is a transparent function of the codes an evaluator sees and can correct — a confirmed
code counts 1, a suggestion counts its probability — and a person confirms the score, as
for the practice principles. ``score_supervision(start=, end=)`` scores one stretch of a
recording (the tests compare a reflective with a directive stretch).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from msw_audio.errors import InputError
from msw_audio.records import Session, Utterance

DEFAULT_RUBRIC = Path(__file__).resolve().parent / "supervision_rubric.yaml"
KINDS = ("balance", "rate")
MAX_EVIDENCE = 3


@dataclass(frozen=True)
class Dimension:
    id: str
    label: str
    kind: str
    codes_for: tuple[str, ...]
    codes_against: tuple[str, ...] = ()
    target: float = 0.0
    source: str = ""
    proposal: str = ""


@dataclass(frozen=True)
class SupervisionRubric:
    name: str
    version: str
    dimensions: tuple[Dimension, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(d.id for d in self.dimensions)

    def get(self, dim_id: str) -> Dimension:
        for d in self.dimensions:
            if d.id == dim_id:
                return d
        raise InputError(f"unknown supervision dimension {dim_id!r}: use one of "
                         f"{', '.join(self.ids)}")


def load_supervision_rubric(path: Path | None = None, codebook=None) -> SupervisionRubric:  # noqa: ANN001
    """Read and validate the rubric; with ``codebook``, every code it names must exist."""
    path = Path(path) if path else DEFAULT_RUBRIC
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        raw = data["dimensions"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise InputError(f"cannot read supervision rubric {path}: {exc}") from None
    dims = []
    known = set(codebook.ids) if codebook is not None else None
    for i, d in enumerate(raw):
        where = f"{path}: dimension {i + 1} ({d.get('id', '?') if isinstance(d, dict) else '?'})"
        if not isinstance(d, dict) or not d.get("id") or d.get("kind") not in KINDS:
            raise InputError(f"{where}: needs an id and a kind ({', '.join(KINDS)})")
        codes_for = tuple(d.get("for") or d.get("codes") or ())
        against = tuple(d.get("against") or ())
        if not codes_for:
            raise InputError(f"{where}: names no codes")
        if d["kind"] == "rate" and not float(d.get("target") or 0) > 0:
            raise InputError(f"{where}: a rate needs a target above 0")
        if known is not None:
            missing = [c for c in codes_for + against if c not in known]
            if missing:
                raise InputError(f"{where}: codes not in {codebook.name}: {', '.join(missing)}")
        dims.append(Dimension(str(d["id"]), str(d.get("label") or d["id"]), d["kind"],
                              codes_for, against, float(d.get("target") or 0),
                              str(d.get("source") or ""), str(d.get("proposal") or "")))
    return SupervisionRubric(str(data.get("name") or path.stem), str(data.get("version") or "0"),
                             tuple(dims))


def _weights(u: Utterance) -> dict[str, float]:
    """Code -> weight for one utterance: the confirmed code 1, else the suggestions' p."""
    if u.codes and u.codes[0].source == "evaluator":
        return {u.codes[0].code: 1.0}
    return {c.code: float(c.probability) for c in u.codes}


def _evidence(utts: list[Utterance], codes: tuple[str, ...], why: str) -> list[dict[str, Any]]:
    scored = [(sum(_weights(u).get(c, 0.0) for c in codes), u) for u in utts]
    scored = [x for x in scored if x[0] >= 0.1]
    scored.sort(key=lambda x: -x[0])
    return [{"utterance_id": u.id, "start": u.start, "end": u.end, "text": u.text,
             "why": f"{why} ({w:.2f})"} for w, u in scored[:MAX_EVIDENCE]]


def _half(x: float) -> float:
    return round(max(1.0, min(5.0, x)) * 2) / 2


def score_supervision(session: Session, codebook=None, rubric: SupervisionRubric | None = None,  # noqa: ANN001
                      start: float | None = None, end: float | None = None) -> dict[str, Any]:
    """``{rubric_version, n_supervisor_utterances, dimensions: {id: {value, evidence,
    against, reasons, source}}}`` over the supervisor's (lead role's) utterances, optionally
    only those starting in ``[start, end)``. ``value`` is None where nothing speaks to it."""
    rubric = rubric or load_supervision_rubric(codebook=codebook)
    utts = [u for u in session.utterances
            if session.role_of(u.speaker) == "practitioner"
            and (start is None or u.start >= start) and (end is None or u.start < end)]
    n = len(utts)
    totals: dict[str, float] = {}
    for u in utts:
        for code, w in _weights(u).items():
            totals[code] = totals.get(code, 0.0) + w
    out: dict[str, Any] = {}
    for d in rubric.dimensions:
        pro = sum(totals.get(c, 0.0) for c in d.codes_for)
        con = sum(totals.get(c, 0.0) for c in d.codes_against)
        if d.kind == "balance":
            value = _half(1 + 4 * pro / (pro + con)) if pro + con > 0 else None
            reasons = [f"{pro:.1f} reflective/collaborative vs {con:.1f} directive "
                       f"(weighted codes over {n} supervisor utterances)"]
        else:
            rate = pro / n if n else 0.0
            value = _half(1 + 4 * min(1.0, rate / d.target)) if n else None
            reasons = [f"{pro:.1f} of {', '.join(d.codes_for)} over {n} supervisor utterances "
                       f"(rate {rate:.2f}; 5 at {d.target:.2f} or more)"]
        out[d.id] = {
            "value": value,
            "label": d.label,
            "evidence": _evidence(utts, d.codes_for, "shows " + d.label.lower()),
            "against": _evidence(utts, d.codes_against, "against") if d.codes_against else [],
            "reasons": reasons,
            "source": d.source,
        }
    return {"rubric_version": f"{rubric.name}@{rubric.version}", "n_supervisor_utterances": n,
            "window": [start, end], "dimensions": out}
