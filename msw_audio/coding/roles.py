"""Suggest each diarized speaker's role: practitioner, parent, child or other.

Why a heuristic and not a model: no labelled social-work visits exist to train one, and an
evaluator confirms every role on the review screen anyway (``Store.set_role``). The rules are
simple enough to explain to that evaluator:

1. **Practitioner** = the speaker whose talk looks most like practitioner talk. Per speaker we
   average, over their utterances, a "practitioner-likeness": questions (a ``?``, or an opening
   wh-/auxiliary word), reflection openers ("it sounds like", "so you..."), second-person
   ("you") minus first-person ("I/my") pronoun rate, and, when a ``Tagger`` is passed, the
   tagger's probability that the utterance is a question or reflection. Speakers with very
   little talk are down-weighted. The highest score wins; its confidence grows with the margin
   over the runner-up (at most 0.9).
2. **Family members** are everyone else. **Child vs parent** is a low-confidence guess (at most
   0.6) from text only (pitch is not available to us): child cues in the speaker's own words
   ("my mum", "my dad", "at school", "my teacher", "homework", "my friends") and in the
   practitioner's turn just before theirs ("your mum", "how's school", "what year are you in"),
   against parent cues ("my son/daughter/kids", "my partner", "at work", "the baby"). Ties go
   to parent (most visits are with a parent). A speaker with under 3% of the words and fewer
   than three utterances is "other" (a passer-by, a TV) with confidence 0.3; a speaker with
   no utterances at all is "other" with confidence 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from msw_audio.records import Session, Speaker

if TYPE_CHECKING:  # the tagger is optional; roles work from text alone
    from msw_audio.coding.tagger import Tagger

_QUESTION_START = re.compile(
    r"^\s*(what|how|why|when|where|who|which|tell me|could you|can you|would you|do you|did you|"
    r"have you|are you|is it|is that|is there|does|will you)\b", re.IGNORECASE)
_REFLECTION = re.compile(
    r"^\s*(so,? you|it sounds|sounds like|you('re| are) (feeling|saying|thinking|worried)|"
    r"you feel|it seems|you('ve| have) been|you want|you don'?t want|on the one hand)\b",
    re.IGNORECASE)
_YOU = re.compile(r"\b(you|your|you're|you've|yourself)\b", re.IGNORECASE)
_I = re.compile(r"\b(i|i'm|i've|me|my|myself)\b", re.IGNORECASE)
_CHILD_OWN = re.compile(
    r"\b(my (mum|mummy|mom|mommy|dad|daddy|nan|nana|teacher|brother|sister|friends?|mates|"
    r"class|form|year)|homework|playtime|in my (form|class|year)|my (xbox|playstation|ipad)|"
    r"i'?m (\d+|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen)\b|"
    r"would i have to|do i have to|(not|isn'?t) that deep|whatever)\b", re.IGNORECASE)
_CHILD_ADDRESSED = re.compile(
    r"\b(your (mum|mummy|mom|dad|daddy|teacher|class|form|mates|friends)|how'?s school|"
    r"what year are you|how old are you)\b", re.IGNORECASE)
_PARENT_OWN = re.compile(
    r"\b(my (son|daughter|kids|children|child|boy|girl|baby|partner|husband|wife|ex|"
    r"boyfriend|girlfriend|sister|brother|job|shifts?|break)|at work|work,|shifts?|the baby|"
    r"the kids|bedtime|(she|he)('s| is) (\d+|six|seven|eight|nine|ten|eleven|twelve|thirteen|"
    r"fourteen|fifteen|sixteen)|(she|he) (should|won'?t|never|always)|(his|her) (school|room|"
    r"phone|form|attendance)|(want|need) (her|him) (safe|back|home|in)|the money|rang me|"
    r"parenting)\b", re.IGNORECASE)

MAX_PRACTITIONER_CONFIDENCE = 0.9
MAX_CHILD_CONFIDENCE = 0.6


@dataclass
class SpeakerStats:
    speaker: str
    n_utterances: int
    words: int
    practitioner_score: float
    child_cues: int
    parent_cues: int


def _utterance_score(text: str, tagger_prob: float | None) -> float:
    """How much one utterance sounds like a practitioner (0..~2)."""
    words = max(1, len(text.split()))
    question = 1.0 if ("?" in text or _QUESTION_START.search(text)) else 0.0
    reflection = 1.0 if _REFLECTION.search(text) else 0.0
    pronoun = (len(_YOU.findall(text)) - len(_I.findall(text))) / words
    score = 0.5 * question + 0.4 * reflection + 2.0 * float(np.clip(pronoun, -0.3, 0.3))
    if tagger_prob is not None:
        score = 0.5 * score + tagger_prob
    return score


def speaker_stats(session: Session, tagger: Tagger | None = None) -> list[SpeakerStats]:
    """Per-speaker evidence the role rules use (exposed so the review screen can show why)."""
    utts = session.utterances
    probs: list[float | None] = [None] * len(utts)
    if tagger is not None and utts:
        pred = tagger.predict(["practitioner"] * len(utts), [u.text for u in utts],
                              [""] + [u.text for u in utts[:-1]])
        probs = [sum(p for c, p in d.items() if c.endswith(("question", "reflection")))
                 for d in pred["proba"]]
    ids = [s.id for s in session.speakers] or []
    for u in utts:
        if u.speaker not in ids:
            ids.append(u.speaker)
    stats = []
    for sid in ids:
        mine = [(i, u) for i, u in enumerate(utts) if u.speaker == sid]
        scores = [_utterance_score(u.text, probs[i]) for i, u in mine]
        child = sum(bool(_CHILD_OWN.search(u.text)) for _, u in mine)
        child += sum(
            bool(_CHILD_ADDRESSED.search(utts[i - 1].text))
            for i, _ in mine
            if i > 0 and utts[i - 1].speaker != sid
        )
        parent = sum(bool(_PARENT_OWN.search(u.text)) for _, u in mine)
        stats.append(SpeakerStats(
            speaker=sid, n_utterances=len(mine), words=sum(len(u.text.split()) for _, u in mine),
            practitioner_score=float(np.mean(scores)) if scores else 0.0,
            child_cues=child, parent_cues=parent))
    return stats


def suggest_roles(session: Session, tagger: Tagger | None = None,
                  family_role: str = "") -> Session:
    """Set ``role``/``role_confidence`` (and ``talk_time`` if unset) on every speaker.

    ``family_role`` (a codebook's, e.g. supervision: "other"): every speaker but the lead
    one gets that role, confidence 0.5, instead of the parent / child guess.
    """
    stats = speaker_stats(session, tagger)
    if not stats:
        return session
    by_id = {s.id: s for s in session.speakers}
    for st in stats:  # speakers only seen in utterances get a record
        if st.speaker not in by_id:
            by_id[st.speaker] = Speaker(id=st.speaker)
            session.speakers.append(by_id[st.speaker])
    for spk in session.speakers:
        if not spk.talk_time:
            spk.talk_time = round(sum(u.duration for u in session.utterances
                                      if u.speaker == spk.id), 3)
    total_words = max(1, sum(s.words for s in stats))

    def weight(st: SpeakerStats) -> float:  # little talk -> little evidence
        return min(1.0, st.n_utterances / 5) * min(1.0, 10 * st.words / total_words)

    for st in stats:  # no utterances, no evidence: "other" until an evaluator says otherwise
        if st.n_utterances == 0:
            by_id[st.speaker].role, by_id[st.speaker].role_confidence = "other", 0.0
    talking = [st for st in stats if st.n_utterances > 0]
    if not talking:
        return session
    ranked = sorted(talking, key=lambda s: s.practitioner_score * weight(s), reverse=True)
    top = ranked[0]
    if len(ranked) == 1:
        conf = 0.3
    else:
        margin = top.practitioner_score * weight(top) - ranked[1].practitioner_score * weight(
            ranked[1])
        conf = float(np.clip(0.5 + margin, 0.5, MAX_PRACTITIONER_CONFIDENCE))
    by_id[top.speaker].role, by_id[top.speaker].role_confidence = "practitioner", round(conf, 2)
    for st in ranked[1:]:
        spk = by_id[st.speaker]
        if st.words < 0.03 * total_words and st.n_utterances < 3:
            spk.role, spk.role_confidence = "other", 0.3
            continue
        if family_role:
            spk.role, spk.role_confidence = family_role, 0.5
            continue
        lean = st.child_cues - st.parent_cues
        spk.role = "child" if lean > 0 else "parent"
        spk.role_confidence = round(min(MAX_CHILD_CONFIDENCE, 0.35 + 0.08 * abs(lean)), 2)
    return session
