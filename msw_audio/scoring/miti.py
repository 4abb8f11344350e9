"""MITI 4.2.1 summary scores of a session, from its (suggested or confirmed) codes.

Why: coaches and researchers read MITI summary scores against the manual's fair/good
thresholds, so msw-audio reports them next to the principle scores, with the thresholds
and a plain rating (good / fair / below fair) so nobody has to look them up. Counts are the
tagger's soft counts (sum of code probabilities, see ``msw_audio.scoring.features``); with
confirmed codes (probability 1) they are ordinary MITI counts.
"""

from __future__ import annotations

from typing import Any

from msw_audio.scoring.features import SessionFeatures

#: MITI 4.2.1 (Moyers et al. 2014/2016) proficiency thresholds: "fair" and "good".
THRESHOLDS: dict[str, dict[str, float]] = {
    "reflection_to_question": {"fair": 1.0, "good": 2.0},
    "pct_complex_reflection": {"fair": 40.0, "good": 50.0},
    "technical_global": {"fair": 3.0, "good": 4.0},
    "relational_global": {"fair": 3.5, "good": 4.0},
}


def rating(name: str, value: float | None) -> str:
    """'good', 'fair' or 'below fair' against THRESHOLDS (``'n/a'`` when undefined)."""
    if value is None:
        return "n/a"
    t = THRESHOLDS[name]
    return "good" if value >= t["good"] else "fair" if value >= t["fair"] else "below fair"


def miti_summary(
    features: SessionFeatures,
    technical_global: float | None = None,
    relational_global: float | None = None,
) -> dict[str, Any]:
    """Summary scores plus thresholds and ratings.

    ``technical_global`` (MITI: mean of Cultivating Change Talk and Softening Sustain Talk)
    and ``relational_global`` (mean of Partnership and Empathy) are *estimates* the scorer
    derives from its suggested principle scores; MITI globals are rated by a human coder.
    """
    mass = features.code_mass
    count = {c: round(mass.get(c, 0.0), 2) for c in features.codes}

    def total(group: str) -> float:  # the codebook's groups (features.groups)
        return sum((count.get(c, 0.0) for c in features.groups.get(group, ())), 0.0)

    questions, reflections = total("question"), total("reflection")
    r2q = round(reflections / questions, 2) if questions else None
    pct_cr = round(100 * total("complex_reflection") / reflections, 1) if reflections else None
    pct_oq = round(100 * total("open_question") / questions, 1) if questions else None
    summary: dict[str, Any] = {
        "counts": count,
        "questions": round(questions, 2),
        "reflections": round(reflections, 2),
        "reflection_to_question": r2q,
        "pct_complex_reflection": pct_cr,
        "pct_open_question": pct_oq,
        "mi_adherent": round(total("mi_adherent"), 2),
        "mi_non_adherent": round(total("mi_non_adherent"), 2),
        "practitioner_talk_share": round(features.values["practitioner_talk_share"], 3),
        "change_talk": round(total("change_talk"), 2),
        "sustain_talk": round(total("sustain_talk"), 2),
        "change_talk_share": round(features.values["change_talk_share"], 3),
        "technical_global": None if technical_global is None else round(technical_global, 2),
        "relational_global": None if relational_global is None else round(relational_global, 2),
        "globals_are_estimates": True,
        "thresholds": THRESHOLDS,
    }
    summary.update(confirmed_breakdown(features))
    summary["ratings"] = {
        "reflection_to_question": rating("reflection_to_question", r2q),
        "pct_complex_reflection": rating("pct_complex_reflection", pct_cr),
        "technical_global": rating("technical_global", summary["technical_global"]),
        "relational_global": rating("relational_global", summary["relational_global"]),
    }
    return summary


def confirmed_breakdown(features: SessionFeatures) -> dict[str, Any]:
    """Which part of each count an evaluator confirmed (whole codes) and how many utterances
    still rest on suggestions, so the panel can say which figures are confirmed.

    ``confirmed_counts``: code -> number of utterances an evaluator gave that code;
    ``utterances_confirmed`` / ``utterances_coded``: how many of the coded utterances
    (practitioner or family member) carry a confirmed code.
    """
    confirmed: dict[str, int] = {}
    coded = done = 0
    for view in features.views:
        if not view.codes and not view.utterance.codes:
            continue
        coded += 1
        mine = [c for c in view.utterance.codes if c.source == "evaluator"]
        if mine:
            done += 1
            confirmed[mine[0].code] = confirmed.get(mine[0].code, 0) + 1
    groups = {  # summary figure -> the codebook group it counts (features.groups)
        "questions": "question",
        "reflections": "reflection",
        "mi_adherent": "mi_adherent",
        "mi_non_adherent": "mi_non_adherent",
        "change_talk": "change_talk",
        "sustain_talk": "sustain_talk",
    }
    return {
        "confirmed": {
            k: sum(confirmed.get(c, 0) for c in features.groups.get(group, ()))
            for k, group in groups.items()
        },
        "confirmed_counts": dict(sorted(confirmed.items())),
        "utterances_confirmed": done,
        "utterances_coded": coded,
        "all_confirmed": coded > 0 and done == coded,
    }
