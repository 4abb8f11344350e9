"""Suggested seven-principle scores (1-5, halves) with confidence and evidence.

Why a rubric first: evaluators must be able to see *why* a score was suggested and argue
with it, and there are no confirmed MSW scores to learn from yet. Each principle is a
weighted mean of a few *components*; a component maps one session feature
(``msw_audio.scoring.features``) linearly onto 0..1 between two documented anchors (many of them
the MITI 4.2.1 thresholds). ``value = 1 + 4 * weighted mean``, rounded to the nearest half.
The weights and anchors below are the ones documented in ``docs/principles.md`` — change
both together (``tests/test_scores.py`` checks they agree).

Once evaluators have confirmed scores, ``train_calibration`` fits a regularised regression
over the same features; ``score_session(..., calibration=...)`` then uses it for the value
and keeps the rubric's evidence and reasons. Below ``MIN_CONFIRMED`` confirmed sessions it
refuses and the rubric stays.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from msw_audio.errors import InputError, ModelNotFoundError
from msw_audio.records import PRINCIPLES, Session
from msw_audio.scoring.features import (
    FEATURE_NAMES,
    SessionFeatures,
    UtteranceView,
    session_features,
)
from msw_audio.scoring.miti import miti_summary

#: 1.1: plausible-code counting, shares of few items shrunk, leave-one-out evidence (issue 15).
RUBRIC_VERSION = "msw-rubric-1.1"
#: The MITI-derived principles (checked against AnnoMI's high/low MI quality).
MITI_PRINCIPLES = ("evocation", "empathy", "collaboration", "autonomy")
#: Principles resting mostly on cue lexicons rather than trained codes: lower confidence.
CUE_PRINCIPLES = ("purposefulness", "child_focus", "clarity_about_concerns")
MIN_CONFIRMED = 20
#: Environment variable naming a calibration directory (from ``msw-audio scores train``).
CALIBRATION_ENV = "MSW_SCORES_CALIBRATION"


@dataclass(frozen=True)
class Component:
    """One feature's contribution: 0 at ``lo``, 1 at ``hi`` (reversed when lo > hi)."""

    features: tuple[str, ...]  # summed
    lo: float
    hi: float
    weight: float
    label: str
    #: For a share ("of reflections, how many are complex"): the per-turn rate features of its
    #: denominator and a pseudo-count. The unit is multiplied by n / (n + prior), n the
    #: denominator's count in the session. Why: a share of half a reflection says nothing,
    #: yet an uncertain tagger gives a session of advice a little reflection mass on every
    #: turn, and its complex share then looked like skilled practice (issue 15).
    per: tuple[str, ...] = ()
    prior: float = 0.0

    def value(self, values: dict[str, float]) -> float:
        return sum(values[f] for f in self.features)

    def support(self, values: dict[str, float]) -> float:
        """n / (n + prior) for a share component, 1 for any other."""
        if not self.per or self.prior <= 0:
            return 1.0
        n = sum(values[f] for f in self.per) * values.get("n_practitioner", 0.0)
        return float(n / (n + self.prior))

    def unit(self, values: dict[str, float]) -> float:
        x = self.value(values)
        unit = float(np.clip((x - self.lo) / (self.hi - self.lo), 0.0, 1.0))
        return unit * self.support(values)


@dataclass(frozen=True)
class Principle:
    """A principle's components plus what, per utterance, counts as evidence for and against."""

    name: str
    components: tuple[Component, ...]
    raise_codes: dict[str, float] = field(default_factory=dict)
    lower_codes: dict[str, float] = field(default_factory=dict)
    raise_cues: dict[str, float] = field(default_factory=dict)
    lower_cues: dict[str, float] = field(default_factory=dict)


def C(
    features: str | tuple[str, ...], lo: float, hi: float, weight: float, label: str,
    per: tuple[str, ...] = (), prior: float = 0.0,
) -> Component:
    """Shorthand for the RUBRIC table below."""
    return Component(features if isinstance(features, tuple) else (features,), lo, hi, weight,
                     label, per, prior)


#: Pseudo-count of a share's denominator (see ``Component.per``): with 3 reflections a
#: complex share counts at 3/5, with 15 at 15/17. Chosen a priori (a share of fewer than
#: about three items is mostly noise), not fitted to any label.
SHARE_PRIOR = 2.0


_NON_ADHERENT = ("rate_mi_non_adherent", 0.15, 0.0)
RUBRIC: dict[str, Principle] = {
    "evocation": Principle(
        "evocation",
        (
            C("pct_open_question", 0.3, 0.7, 0.15, "share of questions that are open",
              per=("rate_open_question", "rate_closed_question"), prior=SHARE_PRIOR),
            C("reflection_to_question", 0.5, 2.0, 0.2, "reflection-to-question ratio"),
            C("rate_complex_reflection", 0.03, 0.2, 0.2, "complex reflections per turn"),
            C("change_talk_share", 0.3, 0.8, 0.15, "change talk share of family talk"),
            C("rate_change_talk", 0.05, 0.3, 0.1, "change talk per family turn"),
            C("rate_mi_non_adherent", 0.15, 0.0, 0.1, "persuading/confronting (fewer is better)"),
            C("rate_giving_information", 0.3, 0.05, 0.1, "giving information (less is better)"),
        ),
        raise_codes={"complex_reflection": 1.0, "open_question": 0.9, "simple_reflection": 0.5,
                     "change_talk": 0.6},
        lower_codes={"persuade": 1.0, "confront": 1.0, "closed_question": 0.6,
                     "giving_information": 0.5},
        lower_cues={"directive": 0.8},
    ),
    "empathy": Principle(
        "empathy",
        (
            C("reflection_to_question", 0.5, 2.0, 0.25, "reflection-to-question ratio"),
            C("pct_complex_reflection", 0.2, 0.5, 0.2, "share of reflections that are complex",
              per=("rate_reflection",), prior=SHARE_PRIOR),
            C("rate_reflection", 0.08, 0.35, 0.3, "reflections per practitioner turn"),
            C("softening_sustain_talk", 0.3, 0.8, 0.1, "reflecting rather than arguing with "
              "sustain talk"),
            C(*_NON_ADHERENT, 0.15, "persuading/confronting (fewer is better)"),
        ),
        raise_codes={"complex_reflection": 1.0, "simple_reflection": 0.7, "affirm": 0.5},
        lower_codes={"confront": 1.0, "persuade": 0.8, "closed_question": 0.3},
    ),
    "collaboration": Principle(
        "collaboration",
        (
            C(("rate_seeking_collaboration", "rate_collaboration_cue"), 0.0, 0.12, 0.2,
              "seeking collaboration and partnership phrases"),
            C(*_NON_ADHERENT, 0.2, "persuading/confronting (fewer is better)"),
            C("rate_directive", 0.1, 0.0, 0.1, "directive phrases (fewer is better)"),
            C("practitioner_talk_share", 0.75, 0.45, 0.1, "practitioner's share of talk "
              "(less is better)"),
            C("reflection_to_question", 0.5, 2.0, 0.2, "reflection-to-question ratio"),
            C("rate_giving_information", 0.3, 0.05, 0.1, "giving information (less is better)"),
            C("softening_sustain_talk", 0.3, 0.8, 0.1, "reflecting rather than arguing with "
              "sustain talk"),
        ),
        raise_codes={"seeking_collaboration": 1.0, "emphasising_autonomy": 0.5,
                     "persuade_with_permission": 0.4, "complex_reflection": 0.4},
        lower_codes={"persuade": 1.0, "confront": 1.0, "giving_information": 0.3},
        raise_cues={"collaboration": 0.7},
        lower_cues={"directive": 0.8},
    ),
    "autonomy": Principle(
        "autonomy",
        (
            C(("rate_emphasising_autonomy", "rate_autonomy_cue"), 0.0, 0.06, 0.25,
              "emphasising autonomy (codes and phrases)"),
            C(*_NON_ADHERENT, 0.25, "persuading/confronting (fewer is better)"),
            C("rate_directive", 0.1, 0.0, 0.15, "directive phrases (fewer is better)"),
            C("pct_open_question", 0.3, 0.7, 0.1, "share of questions that are open",
              per=("rate_open_question", "rate_closed_question"), prior=SHARE_PRIOR),
            C("reflection_to_question", 0.5, 2.0, 0.15, "reflection-to-question ratio"),
            C("rate_giving_information", 0.3, 0.05, 0.1, "giving information (less is better)"),
        ),
        raise_codes={"emphasising_autonomy": 1.0, "persuade_with_permission": 0.5,
                     "open_question": 0.3, "complex_reflection": 0.3},
        lower_codes={"persuade": 1.0, "confront": 1.0, "giving_information": 0.3},
        raise_cues={"autonomy": 1.0},
        lower_cues={"directive": 1.0},
    ),
    "purposefulness": Principle(
        "purposefulness",
        (
            C("rate_goal", 0.0, 0.1, 0.3, "goal, plan and purpose talk per turn"),
            C("rate_concern_framing", 0.0, 0.05, 0.15, "saying why the visit is happening"),
            C("rate_seeking_collaboration", 0.0, 0.05, 0.1, "agreeing the agenda together"),
            C("rate_complex_reflection", 0.03, 0.2, 0.15, "summaries and complex reflections"),
            C("change_talk_share", 0.3, 0.8, 0.15, "change talk share of family talk"),
            C("rate_other", 0.5, 0.2, 0.15, "off-task talk (less is better)"),
        ),
        raise_codes={"seeking_collaboration": 0.6, "complex_reflection": 0.3},
        lower_codes={"other": 0.3},
        raise_cues={"goal": 1.0, "concern_framing": 0.6},
    ),
    "child_focus": Principle(
        "child_focus",
        (
            C("rate_child_reference", 0.0, 0.2, 0.35, "turns that refer to the child"),
            C("rate_practitioner_child_reference", 0.0, 0.15, 0.3,
              "practitioner turns about the child"),
            C("rate_child_question", 0.0, 0.08, 0.25, "questions about the child"),
            C("child_speaking_share", 0.0, 0.2, 0.1, "the child's own voice"),
        ),
        raise_cues={"child": 1.0, "child_name": 1.0, "child_world": 0.4},
    ),
    "clarity_about_concerns": Principle(
        "clarity_about_concerns",
        (
            C("rate_concern_framing", 0.0, 0.06, 0.3, "plain statements of the concern"),
            C("rate_concern", 0.0, 0.12, 0.2, "talk about safety and wellbeing"),
            C("rate_concern_about_child", 0.0, 0.06, 0.25, "concern tied to the child"),
            C("rate_giving_information", 0.02, 0.15, 0.15, "explaining (giving information)"),
            C("rate_goal", 0.0, 0.08, 0.1, "what needs to change"),
        ),
        raise_codes={"giving_information": 0.3},
        raise_cues={"concern_framing": 1.0, "concern": 0.6},
    ),
}

def _code_words(code: str) -> str:
    return code.replace("_", " ")


def half_round(x: float) -> float:
    """Round to the nearest half within 1..5."""
    return float(np.clip(round(float(x) * 2) / 2, 1.0, 5.0))


def _utterance_support(p: Principle, v: UtteranceView) -> tuple[float, float, list[str]]:
    """(for, against, why-phrases) one utterance gives a principle."""
    up = down = 0.0
    why: list[str] = []
    for code, w in p.raise_codes.items():
        if v.codes.get(code, 0.0) >= 0.2:
            up += w * v.codes[code]
            why.append(f"{_code_words(code)} ({v.codes[code]:.2f})")
    for code, w in p.lower_codes.items():
        if v.codes.get(code, 0.0) >= 0.2:
            down += w * v.codes[code]
            why.append(f"{_code_words(code)} ({v.codes[code]:.2f}, lowers)")
    # Cues count for the practitioner's words only, except references to the child.
    cue_ok = v.is_practitioner or p.name == "child_focus"
    for cue, w in p.raise_cues.items():
        if cue_ok and cue in v.cues:
            up += w
            why.append(f"{cue.replace('_', ' ')} cue")
    for cue, w in p.lower_cues.items():
        if cue_ok and cue in v.cues:
            down += w
            why.append(f"{cue} cue (lowers)")
    if p.name == "child_focus" and v.role == "child":
        up += 1.0
        why.append("the child speaking")
    if p.name == "clarity_about_concerns" and {"concern"} <= v.cues and (
        {"child", "child_name"} & v.cues
    ):
        up += 1.0
        why.append("concern about the child")
    return up, down, why


def _evidence(p: Principle, feats: SessionFeatures, value: float) -> list[dict[str, Any]]:
    """3-5 utterances that most support the suggested value (for high, raisers; low, lowerers)."""
    scored = []
    for i, v in enumerate(feats.views):
        up, down, why = _utterance_support(p, v)
        if up or down:
            scored.append((i, up, down, why))
    if value >= 3.0:
        ranked = sorted(scored, key=lambda s: (-(s[1] - 0.5 * s[2]), s[0]))
        ranked = [s for s in ranked if s[1] > 0] + [s for s in ranked if s[1] <= 0]
    else:
        ranked = sorted(scored, key=lambda s: (-(s[2] - 0.5 * s[1]), s[0]))
        ranked = [s for s in ranked if s[2] > 0] + [s for s in ranked if s[2] <= 0]
    picked = ranked[:5]
    if len(picked) < 3:  # too little signal: show the practitioner's longest turns instead
        have = {s[0] for s in picked}
        rest = sorted(
            (i for i, v in enumerate(feats.views) if v.is_practitioner and i not in have),
            key=lambda i: -len(feats.views[i].utterance.text),
        )
        why = ["no cue for this principle; a long practitioner turn for context"]
        picked += [(i, 0.0, 0.0, why) for i in rest[: 3 - len(picked)]]
    out = []
    for i, _, _, why in sorted(picked, key=lambda s: s[0]):
        u = feats.views[i].utterance
        out.append({"utterance_id": u.id, "start": u.start, "end": u.end, "text": u.text,
                    "why": "; ".join(why)})
    return out


def _confidence(p: Principle, feats: SessionFeatures, units: list[float]) -> float:
    """How far to trust the suggestion: amount of talk, tagger certainty, component agreement."""
    n = feats.values["n_practitioner"]
    amount = min(1.0, n / 30.0) ** 0.5
    certainty = 0.5 + 0.5 * (feats.mean_code_probability if feats.code_mass else 0.0)
    weights = np.array([c.weight for c in p.components])
    u = np.array(units)
    mean = float(np.average(u, weights=weights))
    spread = float(np.sqrt(np.average((u - mean) ** 2, weights=weights)))  # 0..0.5
    agreement = 1.0 - spread
    conf = amount * certainty * (0.5 + 0.5 * agreement)
    if p.name in CUE_PRINCIPLES:
        conf *= 0.75  # lexicon cues are cruder than trained codes
    return round(float(np.clip(conf, 0.05, 0.95)), 2)


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if abs(x) < 100 else f"{x:.0f}"


def rubric_principle(p: Principle, feats: SessionFeatures,
                     with_evidence: bool = True) -> dict[str, Any]:
    """Score one principle with the rubric: value, confidence, evidence and reasons.

    The evidence here is the cheap per-code ranking; ``score_session`` replaces it with the
    lines that moved the score (``explained_evidence``).
    """
    units = [c.unit(feats.values) for c in p.components]
    total = sum(c.weight for c in p.components)
    pairs = list(zip(p.components, units, strict=True))
    raw = 1.0 + 4.0 * sum(c.weight * u for c, u in pairs) / total
    value = half_round(raw)
    reasons = [
        f"{c.label}: {_fmt(c.value(feats.values))} -> {u:.2f} of weight {c.weight:g}"
        for c, u in sorted(pairs, key=lambda cu: -cu[0].weight * abs(cu[1] - 0.5))
    ]
    return {
        "value": value,
        "raw": round(raw, 3),
        "confidence": _confidence(p, feats, units),
        "evidence": _evidence(p, feats, value) if with_evidence else [],
        "reasons": reasons,
        "source": "rubric",
    }


# --------------------------------------------------------------------------- evidence

_BACKCHANNEL_WORDS = {
    "mm", "mmm", "hmm", "mhm", "uh", "huh", "um", "ah", "oh", "yeah", "yes", "yep", "ok",
    "okay", "right", "sure", "alright", "i", "see", "wow", "good", "great", "hm", "uhhuh",
}
_TOKEN = re.compile(r"[a-z']+")
#: Cheaply pre-ranked candidates per principle and direction that get the exact
#: leave-one-out influence (which recomputes the session's features once per candidate).
EVIDENCE_CANDIDATES = 8
#: A line already cited for another principle is cited again only if it moves this one at
#: least this fraction as much as the line that moves this one most (it truly serves both).
SHARED_EVIDENCE = 0.9


def is_substantive(text: str) -> bool:
    """At least three words and not only backchannel words ("Mm hmm.", "Yeah, okay, right")."""
    words = _TOKEN.findall((text or "").lower())
    return len(words) >= 3 and not all(w in _BACKCHANNEL_WORDS for w in words)


def _soft_unit(t: float) -> float:
    """A component's 0..1 unit with its clipping softened: linear between the anchors,
    growing logarithmically beyond them (0.5 log t above 1, -0.5 log(1 - t) below 0)."""
    if t > 1.0:
        return 1.0 + 0.5 * float(np.log(t))
    if t < 0.0:
        return -0.5 * float(np.log1p(-t))
    return float(t)


def _raw_parts(p: Principle, values: dict[str, float]) -> tuple[float, list[float]]:
    """The principle's raw score with softened clipping, and each component's points.

    Why not the clipped score: a session already past a component's anchor still owes its
    score to the reflections that put it there; clipped, removing any one of them changes
    nothing and the evidence would be empty exactly where the score is highest. Why not
    unclipped: a rate six times its anchor would make every other line look decisive (each
    one removed raises the rate). The logarithm keeps every line's push in the right
    direction and of a sensible size.
    """
    total = sum(c.weight for c in p.components)
    parts = [4.0 * c.weight / total * c.support(values)
             * _soft_unit((c.value(values) - c.lo) / (c.hi - c.lo)) for c in p.components]
    return 1.0 + sum(parts), parts


def _eligible(p: Principle, v: UtteranceView) -> bool:
    # Every principle but child focus is about what the practitioner does; child focus also
    # counts the child's own voice and family talk about the child.
    role_ok = v.is_practitioner or p.name == "child_focus"
    return role_ok and is_substantive(v.utterance.text)


def utterance_influence(session: Session, feats: SessionFeatures, codebook: Any, counting: str
                        ) -> dict[int, dict[str, tuple[float, str]]]:
    """Leave-one-out influence: index -> principle -> (score points, component most moved).

    Each candidate utterance is removed from the session, the features are recomputed and the
    principle's raw score compared with the whole session's: positive means the
    line raised the principle. Candidates are the eligible lines the cheap per-code support
    (``_utterance_support``) ranks highest for or against each principle, so a long session
    costs ``EVIDENCE_CANDIDATES`` x 2 x 7 feature passes at most.
    """
    from dataclasses import replace

    base = {n: _raw_parts(RUBRIC[n], feats.values) for n in PRINCIPLES}
    candidates: set[int] = set()
    for name in PRINCIPLES:
        p = RUBRIC[name]
        sup = [(i, *_utterance_support(p, v)[:2]) for i, v in enumerate(feats.views)
               if _eligible(p, v)]
        for col in (1, 2):
            ranked = sorted((s for s in sup if s[col] > 0), key=lambda s: (-s[col], s[0]))
            candidates.update(i for i, *_ in ranked[:EVIDENCE_CANDIDATES])
    out: dict[int, dict[str, tuple[float, str]]] = {}
    utts = session.utterances
    for i in sorted(candidates):
        without = replace(session, utterances=utts[:i] + utts[i + 1:], scores=None)
        values = session_features(without, counting=counting, codebook=codebook).values
        out[i] = {}
        for name in PRINCIPLES:
            p = RUBRIC[name]
            raw, parts = _raw_parts(p, values)
            full_raw, full_parts = base[name]
            moved = [f - w for f, w in zip(full_parts, parts, strict=True)]
            j = int(np.argmax(np.abs(moved)))
            out[i][name] = (full_raw - raw, p.components[j].label)
    return out


def explained_evidence(feats: SessionFeatures, principles: dict[str, dict[str, Any]],
                       influence: dict[int, dict[str, tuple[float, str]]]) -> None:
    """Replace each principle's evidence with the lines that most raised or lowered it.

    Up to five lines: for a score of 3 or more the three that raised it most then up to two
    that lowered it; below 3 the lowering ones first. A line counts for the principle it
    moves most (relative to that principle's strongest line) unless it moves another nearly
    as much (``SHARED_EVIDENCE``), so evocation and empathy do not cite the same reflections.
    A principle left with fewer than three lines takes its next most moving lines that no
    other principle cites, then the rubric's cheap picks that no other principle cites.
    The record keeps its fields (utterance_id, start, end, text, why) and adds ``effect``
    (signed score points) and ``direction`` ("raises"/"lowers").
    """
    strongest = {n: max((abs(d[n][0]) for d in influence.values()), default=0.0) or 1.0
                 for n in PRINCIPLES}
    rel = {i: {n: abs(d[n][0]) / strongest[n] for n in PRINCIPLES} for i, d in influence.items()}
    moving: dict[str, list[tuple[int, float, str]]] = {}
    chosen: dict[str, list[tuple[int, float, str]]] = {}
    for name, entry in principles.items():
        p = RUBRIC[name]
        moving[name] = [(i, d[name][0], d[name][1]) for i, d in influence.items()
                        if abs(d[name][0]) >= 1e-4 and _eligible(p, feats.views[i])]
        mine = []
        for i, effect, label in moving[name]:
            owner = max(rel[i], key=lambda n: (rel[i][n], n == name))
            if owner == name or rel[i][name] >= SHARED_EVIDENCE * rel[i][owner]:
                mine.append((i, effect, label))
        chosen[name] = _pick(mine, entry["value"])
    # Two principles citing exactly the same lines explain nothing apart (on the demo, with
    # the gap pass's lines, evocation and empathy both moved most through R:Q by the same
    # five): each of those lines stays with the one of the two it moves more, and the other
    # principle takes its next moving lines below.
    names = list(chosen)
    for k, a in enumerate(names):
        for b in names[k + 1:]:
            ids = {i for i, _, _ in chosen[a]}
            if ids and ids == {i for i, _, _ in chosen[b]}:
                chosen[a], chosen[b] = (
                    [m for m in chosen[a] if rel[m[0]][a] >= rel[m[0]][b]],
                    [m for m in chosen[b] if rel[m[0]][b] > rel[m[0]][a]],
                )
    used = {i for picks in chosen.values() for i, _, _ in picks}
    for name, entry in principles.items():
        picks = chosen[name]
        if len(picks) < 3:
            spare = [m for m in moving[name] if m[0] not in used]
            picks = picks + _pick(spare, entry["value"])[: 3 - len(picks)]
            used |= {i for i, _, _ in picks}
        out = [_evidence_record(name, feats.views[i], effect, label) for i, effect, label in picks]
        # Still too few lines moved it: the rubric's own picks that no other principle cites.
        ids = {v.utterance.id: (i, v) for i, v in enumerate(feats.views)}
        for e in entry["evidence"]:
            if len(out) >= 3:
                break
            i, v = ids.get(e["utterance_id"], (None, None))
            if v is not None and i not in used and _eligible(RUBRIC[name], v):
                out.append({**e, "why": f"counts towards {name.replace('_', ' ')}: {e['why']} "
                            "(alone it does not move the score: the component is past its "
                            "anchor or the line is one of many)"})
                used.add(i)
        if not out:  # every moving line is cited elsewhere: share rather than show nothing
            out = [_evidence_record(name, feats.views[i], effect, label)
                   for i, effect, label in _pick(moving[name], entry["value"])[:3]]
        if not out:  # nothing moved it at all: the rubric's context lines, as they were
            out = list(entry["evidence"])
        entry["evidence"] = sorted(out, key=lambda e: (e["start"], e["utterance_id"]))


def _pick(lines: list[tuple[int, float, str]], value: float) -> list[tuple[int, float, str]]:
    """Three raising then two lowering lines (lowering first below 3), at most five."""
    up = sorted((m for m in lines if m[1] > 0), key=lambda m: (-m[1], m[0]))
    down = sorted((m for m in lines if m[1] < 0), key=lambda m: (m[1], m[0]))
    first, second = (up, down) if value >= 3.0 else (down, up)
    picked = first[:3] + second[:2]
    return picked + [m for m in first[3:] if m not in picked][: 5 - len(picked)]


def _fmt_effect(effect: float) -> str:
    x = abs(effect)
    return f"{x:.2f}" if x >= 0.01 else f"{x:.1g}"


def _evidence_record(name: str, v: UtteranceView, effect: float, label: str) -> dict[str, Any]:
    p = RUBRIC[name]
    u = v.utterance
    signals = _utterance_support(p, v)[2]
    if not signals and v.codes:
        top = max(v.codes.items(), key=lambda kv: kv[1])
        signals = [f"suggested {_code_words(top[0])} ({top[1]:.2f})"]
    verb = "raises" if effect > 0 else "lowers"
    detail = f" ({'; '.join(signals)})" if signals else ""
    return {"utterance_id": u.id, "start": u.start, "end": u.end, "text": u.text,
            "why": f"{verb} {name.replace('_', ' ')} by {_fmt_effect(effect)} through "
                   f"{label}{detail}",
            "effect": round(float(effect), 3), "direction": verb}


def score_session(
    session: Session,
    codebook: Any = None,
    calibration: Calibration | Path | str | None = None,
    counting: str = "plausible",
    evidence: bool = True,
) -> dict[str, Any]:
    """Suggest the seven principle scores and the MITI summary; store them in session.scores.

    ``calibration``: a Calibration, or a directory written by ``msw-audio scores train``;
    when None, ``$MSW_SCORES_CALIBRATION`` is used if set, else the rubric alone.
    ``counting``: "plausible" (default: each utterance split by probability between the codes
    at least half as likely as its top one), "soft" (every probability) or "top" (one code
    per utterance); see ``msw_audio.scoring.features._counts`` and docs/principles.md.
    ``evidence``: False skips the leave-one-out evidence (benchmarks over many sessions).
    """
    return scores_and_features(session, codebook, calibration, counting, evidence)[0]


def scores_and_features(
    session: Session,
    codebook: Any = None,
    calibration: Calibration | Path | str | None = None,
    counting: str = "plausible",
    evidence: bool = True,
    reuse: SessionFeatures | None = None,
) -> tuple[dict[str, Any], SessionFeatures]:
    """``score_session`` that also returns the features it scored, and takes ``reuse`` (an
    earlier state's features, see ``session_features``): the review store keeps them
    between decisions so a rescore re-derives only the lines a decision changed."""
    feats = session_features(session, counting=counting, codebook=codebook, reuse=reuse)
    principles = {name: rubric_principle(RUBRIC[name], feats, with_evidence=evidence)
                  for name in PRINCIPLES}
    if evidence:
        explained_evidence(feats, principles,
                           utterance_influence(session, feats, codebook, counting))
    if calibration is None and os.environ.get(CALIBRATION_ENV):
        calibration = os.environ[CALIBRATION_ENV]
    if calibration is not None:
        cal = calibration if isinstance(calibration, Calibration) else load_calibration(calibration)
        cal.apply(feats, principles)
    evo, emp, col = (principles[k]["value"] for k in ("evocation", "empathy", "collaboration"))
    softening = 1.0 + 4.0 * (
        0.5 * feats.values["softening_sustain_talk"]
        + 0.5 * float(np.clip(1 - feats.values["rate_mi_non_adherent"] / 0.15, 0, 1))
    )
    miti = miti_summary(feats, technical_global=(evo + softening) / 2,
                        relational_global=(emp + col) / 2)
    scores = {
        "rubric_version": RUBRIC_VERSION,
        "counting": counting,
        "miti": miti,
        "principles": principles,
        "features": {k: round(v, 4) for k, v in feats.values.items()},
        "child_names": sorted(feats.child_names),
    }
    if calibration is not None:
        scores["calibration"] = cal.info()
    session.scores = scores
    return scores, feats


# --------------------------------------------------------------------------- calibration


@dataclass
class Calibration:
    """Per-principle ridge regressions over FEATURE_NAMES, fitted on confirmed scores."""

    models: dict[str, Any]  # principle -> sklearn Pipeline
    report: dict[str, Any]

    def apply(self, feats: SessionFeatures, principles: dict[str, dict[str, Any]]) -> None:
        x = np.array([[feats.values[f] for f in FEATURE_NAMES]])
        for name, model in self.models.items():
            pred = float(model.predict(x)[0])
            entry = principles[name]
            entry["rubric_value"] = entry["value"]
            entry["value"] = half_round(pred)
            entry["source"] = "calibrated"
            rep = self.report["principles"].get(name, {})
            entry["reasons"].insert(
                0,
                f"calibrated on {rep.get('n', '?')} confirmed sessions "
                f"(cross-validated weighted kappa {rep.get('qwk', float('nan')):.2f}); "
                f"rubric alone says {entry['rubric_value']:g}",
            )

    def info(self) -> dict[str, Any]:
        return {"trained_at": self.report.get("trained_at"), "n_sessions": self.report.get("n"),
                "principles": sorted(self.models)}


def read_confirmed(path: Path) -> list[tuple[Session, dict[str, float]]]:
    """Read a confirmed-scores JSONL (``msw-audio`` store export) into (session, scores)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"confirmed-scores file not found: {path}")
    out = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                session = Session.from_dict(obj["session"])
                confirmed = {
                    k: float(v) for k, v in (obj.get("confirmed") or {}).items()
                    if k in PRINCIPLES and v is not None
                }
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise InputError(f"{path}:{lineno}: not a confirmed-scores record ({exc})") from exc
            bad = {k: v for k, v in confirmed.items() if not 1.0 <= v <= 5.0}
            if bad:
                raise InputError(f"{path}:{lineno}: scores must be 1-5, got {bad}")
            out.append((session, confirmed))
    return out


def icc_a1(a: np.ndarray, b: np.ndarray) -> float:
    """ICC(2,1): two-way random, absolute agreement, single rater (Shrout & Fleiss)."""
    y = np.column_stack([a, b]).astype(float)
    n, k = y.shape
    grand = y.mean()
    msr = k * ((y.mean(axis=1) - grand) ** 2).sum() / (n - 1)
    msc = n * ((y.mean(axis=0) - grand) ** 2).sum() / (k - 1)
    sse = ((y - y.mean(axis=1, keepdims=True) - y.mean(axis=0, keepdims=True) + grand) ** 2).sum()
    mse = sse / ((n - 1) * (k - 1))
    den = msr + (k - 1) * mse + k * (msc - mse) / n
    return float((msr - mse) / den) if den > 0 else float("nan")


def qwk(a: Iterable[float], b: Iterable[float]) -> float:
    """Quadratic-weighted Cohen's kappa on the half-point scale."""
    from sklearn.metrics import cohen_kappa_score

    ia = [int(round(x * 2)) for x in a]
    ib = [int(round(x * 2)) for x in b]
    if len(set(ia) | set(ib)) < 2:
        return float("nan")
    return float(cohen_kappa_score(ia, ib, weights="quadratic", labels=list(range(2, 11))))


def train_calibration(
    records: list[tuple[Session, dict[str, float]]],
    min_confirmed: int = MIN_CONFIRMED,
    folds: int = 5,
    seed: int = 0,
) -> Calibration:
    """Fit one ridge regression per principle with enough confirmed sessions.

    Cross-validated predictions (rounded to halves) are compared with the evaluators by
    quadratic-weighted kappa and ICC(2,1), next to the rubric's own agreement, so a team
    can see whether calibration helps. Raises InputError when no principle reaches
    ``min_confirmed`` sessions (the rubric then stays in use).
    """
    from datetime import datetime, timezone

    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    feats = [session_features(s) for s, _ in records]
    rubric = [{n: rubric_principle(RUBRIC[n], f)["value"] for n in PRINCIPLES} for f in feats]
    x_all = np.array([[f.values[n] for n in FEATURE_NAMES] for f in feats])
    counts = {p: sum(p in c for _, c in records) for p in PRINCIPLES}
    if max(counts.values(), default=0) < min_confirmed:
        raise InputError(
            f"need at least {min_confirmed} sessions with confirmed scores for a principle to "
            f"calibrate; have {max(counts.values(), default=0)} "
            f"({', '.join(f'{k} {v}' for k, v in counts.items())}). The rubric stays in use."
        )
    models: dict[str, Any] = {}
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    report: dict[str, Any] = {"n": len(records), "min_confirmed": min_confirmed, "folds": folds,
                              "principles": {}, "skipped": {}, "trained_at": now,
                              "features": list(FEATURE_NAMES), "rubric_version": RUBRIC_VERSION}
    for name in PRINCIPLES:
        idx = [i for i, (_, c) in enumerate(records) if name in c]
        if len(idx) < min_confirmed:
            report["skipped"][name] = f"{len(idx)} confirmed sessions (< {min_confirmed})"
            continue
        x = x_all[idx]
        y = np.array([records[i][1][name] for i in idx])

        def make() -> Any:
            return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-1, 3, 13)))

        k = min(folds, len(idx))
        cv = KFold(n_splits=k, shuffle=True, random_state=seed)
        pred = np.array([half_round(p) for p in cross_val_predict(make(), x, y, cv=cv)])
        rub = np.array([rubric[i][name] for i in idx])
        model = make().fit(x, y)
        models[name] = model
        report["principles"][name] = {
            "n": len(idx),
            "qwk": qwk(y, pred),
            "icc": icc_a1(y, pred),
            "mae": float(np.mean(np.abs(y - pred))),
            "rubric_qwk": qwk(y, rub),
            "rubric_icc": icc_a1(y, rub),
            "rubric_mae": float(np.mean(np.abs(y - rub))),
            "alpha": float(model[-1].alpha_),
        }
    return Calibration(models, report)


def save_calibration(cal: Calibration, out_dir: Path) -> None:
    """Write model.joblib and report.json into ``out_dir``."""
    import joblib

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump({"models": cal.models, "features": list(FEATURE_NAMES),
                 "rubric_version": RUBRIC_VERSION}, out_dir / "model.joblib")
    (out_dir / "report.json").write_text(json.dumps(cal.report, indent=2), encoding="utf-8")


def load_calibration(path: Path | str) -> Calibration:
    """Load a calibration directory; ModelNotFoundError if it is missing or stale."""
    import joblib

    path = Path(path)
    model_file = path / "model.joblib"
    if not model_file.is_file():
        raise ModelNotFoundError(
            f"no score calibration in {path} (run `msw-audio scores train --confirmed FILE "
            f"--out {path}`, or unset {CALIBRATION_ENV} to use the rubric)"
        )
    blob = joblib.load(model_file)
    if list(blob.get("features", [])) != list(FEATURE_NAMES):
        raise ModelNotFoundError(
            f"score calibration in {path} was trained on other features; retrain it with "
            "`msw-audio scores train`"
        )
    report = json.loads((path / "report.json").read_text(encoding="utf-8"))
    return Calibration(blob["models"], report)
