"""Session features that the principle rubric (``scoring.rubric``) and its calibration use.

Why a separate module: the rubric, the calibrated model and the docs must all talk about
the *same* numbers, so each feature is computed once here, named, and documented in
``docs/principles.md``. Two kinds of evidence feed them:

* **code counts** — the tagger's suggested MITI codes, counted *softly* by default
  (``counting="soft"``): an utterance suggested as ``complex_reflection`` at 0.6 and
  ``simple_reflection`` at 0.3 adds 0.6 and 0.3 to those counts, so an uncertain tagger moves
  the scores less than a sure one. ``counting="top"`` counts each utterance once under its
  top code, as a MITI coder does; with out-of-fold tagger codes on AnnoMI it separated
  high from low MI quality less well (benchmarks/RESULTS.md), so soft stays;
* **cues** — transparent regular expressions for what the MITI codes do not capture in
  child-protection work: references to the child, statements of concern, goal and purpose
  talk, autonomy and collaboration phrases, directive ("you need to") phrases.

Every feature keeps the utterance ids behind it, so each score can cite its evidence.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

from msw_audio.coding.codebook import GROUPS, Codebook, load_codebook
from msw_audio.records import FAMILY_ROLES, Session, Utterance

# Which codes are questions, reflections, MI-adherent... is the codebook's ``groups`` (one
# source): a code added to the YAML with ``groups: [reflection, mi_adherent]`` is counted
# here, in the MITI summary and in the rubric's group features with no change to this file.


def _rx(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b", re.IGNORECASE)


#: Cue lexicons (documented in docs/principles.md). Each is matched per utterance.
CUES: dict[str, re.Pattern[str]] = {
    # The child, by role word or relationship ("your son", "the kids", "the baby").
    "child": _rx(
        r"child(?:ren)?", r"kids?", r"bab(?:y|ies)", r"toddlers?", r"infants?", r"sons?",
        r"daughters?", r"little (?:one|ones|boy|girl)", r"boys?", r"girls?", r"teenagers?",
        r"grand(?:son|daughter|child|children|kids)s?", r"step(?:son|daughter)s?",
    ),
    # The child's world: where a practitioner focusing on the child tends to go.
    "child_world": _rx(
        r"school", r"nursery", r"teachers?", r"homework", r"bed ?time", r"napp(?:y|ies)",
        r"play(?:ing|ed|s)?", r"friends", r"birthday", r"childhood", r"cared for",
        r"look(?:ing)? after (?:him|her|them)",
    ),
    # Worry about safety or wellbeing, stated in words.
    "concern": _rx(
        r"worr(?:y|ies|ied|ying)", r"concern(?:s|ed|ing)?", r"safe(?:ty|ly|r)?", r"unsafe",
        r"harm(?:ed|ful)?", r"hurt(?:s|ing)?", r"risks?", r"risky", r"neglect(?:ed)?",
        r"bruis\w*", r"injur\w*", r"abuse\w*", r"violen\w*", r"police", r"frightened",
        r"scared", r"well-?being", r"welfare", r"protection", r"danger\w*",
        r"missed (?:school|appointments?)", r"attendance",
    ),
    # Saying plainly why the practitioner is there and what must change.
    "concern_framing": _rx(
        r"i(?:'m| am) (?:really |very |quite )?(?:worried|concerned)",
        r"we(?:'re| are) (?:really |very |quite )?(?:worried|concerned)",
        r"(?:my|our|the main|the) (?:worry|concern)s? (?:is|are|was)",
        r"the reason (?:i'm|i am|we're|we are) here", r"(?:i|we) need to be (?:honest|clear)",
        r"to be (?:honest|clear) with you", r"what (?:needs|has) to change",
        r"child protection", r"children's services", r"social care", r"referral",
        r"what (?:we|i) need to see", r"why (?:i'm|i am|we're|we are) here",
        r"(?:be|being) (?:straight|upfront|open) with you",
        r"(?:that|it|this) (?:worries|concerns) me", r"i (?:would|do) worry",
    ),
    # Goals, plans and the purpose of the visit.
    "goal": _rx(
        r"goals?", r"aims?", r"plans?", r"purpose", r"agenda", r"targets?", r"priorit(?:y|ies)",
        r"next steps?", r"focus on", r"(?:by|before) (?:next|the end)", r"review",
        r"today (?:i'd|i would|we|let's|i want)", r"what (?:needs|has) to (?:happen|change)",
        r"what would you like to (?:happen|see|change|do)", r"summar(?:y|ise|ize|ising|izing)",
        r"so far (?:we've|you've)", r"agree(?:d)? (?:on|to|that)", r"the reason (?:i'm|we're)",
    ),
    # Emphasising autonomy: the family's choice, control and expertise.
    "autonomy": _rx(
        r"your (?:choice|decision|call)", r"up to you", r"you (?:decide|choose)",
        r"(?:it's|it is) your (?:life|family|choice|decision)", r"you know (?:best|yourself)",
        r"you(?:'re| are) the (?:expert|best judge|one who)", r"whatever you decide",
        r"you don't have to", r"only you can", r"in control", r"if you (?:want|wish|like)",
        r"you(?:'ve| have) (?:got )?(?:options|choices)", r"how would you like to",
    ),
    # Partnership and permission-seeking.
    "collaboration": _rx(
        r"together", r"we could", r"we can", r"let's", r"work with you", r"how can (?:i|we)",
        r"what do you think", r"your ideas?",
        r"(?:would|is) it (?:be )?(?:ok|okay|alright|all right)",
        r"do you mind if", r"can i (?:ask|share|tell|suggest)", r"may i", r"what would help",
        r"between us", r"what (?:do|would) you suggest", r"how does that sound",
    ),
    # Directive phrasing (the righting reflex): lowers autonomy and collaboration.
    "directive": _rx(
        r"you (?:need|have|must|ought) to", r"you should(?:n't)?", r"you(?:'ve| have) got to",
        r"you(?:'d| had) better", r"i want you to", r"if you don't", r"you can't", r"you must",
        r"you will have to",
    ),
}

#: Words that are capitalised mid-sentence but are not people's names.
_NOT_NAMES = {
    "i", "i'm", "i've", "i'd", "i'll", "ok", "okay", "mr", "mrs", "ms", "miss", "dr", "god",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january",
    "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december", "christmas", "easter", "english", "tv", "gp", "aa", "uh", "um",
    "mm", "hmm", "yeah", "oh", "so", "and", "but", "well", "hi", "hello", "thanks",
}
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_VOCATIVE = re.compile(r"^(?:hi|hello|hey|thanks|thank you|morning|okay|ok|well|so|and)?[ ,]*$",
                       re.IGNORECASE)


def _names_in(text: str, lowercase_words: set[str] | None = None) -> list[tuple[str, bool]]:
    """Capitalised, non-sentence-initial words that look like names, with 'is vocative'.

    A word that the session also uses in lower case ("Like", "It") or that is all capitals
    ("DUI") or hyphenated ("I-I", stammering in transcripts) is not taken for a name.
    """
    out = []
    for match in _WORD.finditer(text):
        word = re.sub(r"'s$", "", match.group(0))
        before = text[: match.start()].rstrip()
        if (not word[0].isupper() or len(word) < 2 or not word.isalpha() or word.isupper()
                or word.lower() in _NOT_NAMES
                or (lowercase_words is not None and word.lower() in lowercase_words)):
            continue
        after = text[match.end():].lstrip()[:1]
        if not before or before[-1] in ".?!\"-:;":
            if after == ",":  # "Jade, what's school like?": a sentence-initial address
                out.append((word, True))
            continue  # otherwise sentence start: capitalised anyway
        vocative = (after in ("", ",", ".", "?", "!")) and bool(
            _VOCATIVE.match(before.split(".")[-1].split("?")[-1]) or before.endswith(",")
        )
        out.append((word, vocative))
    return out


def child_names(session: Session) -> set[str]:
    """Names used for a third person who is a child in this session.

    A capitalised mid-sentence word counts as a child's name when it is mentioned (not
    addressed) at least twice, at least once within two turns of a child word ("your
    daughter Amy", "Amy ... — she loves school"), and is not mostly used to address the
    listener ("Thanks, Barbara."); or when it addresses someone and a child-role speaker
    answers ("Jade, what's school like?"). Heuristic, transparent, tested.
    """
    return set(_text_cues(_text_key(session))[0])


def _text_key(session: Session) -> tuple[tuple[str, str], ...]:
    """What the text-only features depend on: each utterance's text and speaker role."""
    roles: dict[str, str] = {}
    for spk in session.speakers:  # the first speaker of an id wins, as in ``role_of``
        roles.setdefault(spk.id, spk.role)
    return tuple((u.text, roles.get(u.speaker, "other")) for u in session.utterances)


@lru_cache(maxsize=16)
def _text_cues(
    key: tuple[tuple[str, str], ...],
) -> tuple[frozenset[str], tuple[frozenset[str], ...]]:
    """The child names and each utterance's cue hits: a pure function of texts and roles.

    Why memoised: every coding decision recomputes the session's features so the figures
    follow the evaluator, and on a 1,000-line session these regular expressions were ~0.6 s
    of each decision, although a code decision changes neither text nor roles. The key is
    the texts and roles themselves, so an edited line or a changed role is a new entry.
    """
    texts = tuple(text for text, _ in key)
    per_text = _text_parts(texts)
    names = _child_names(key, per_text)
    name_rx = _rx(*[re.escape(n) for n in sorted(names)]) if names else None
    cues = []
    for text, (_names, _childish, hits) in zip(texts, per_text, strict=True):
        if name_rx is not None and name_rx.search(text):
            hits = hits | {"child_name"}
        cues.append(hits)
    return frozenset(names), tuple(cues)


#: One text's role-free parts: the name candidates in it (word, is vocative), whether it
#: mentions a child or the child's world, and its cue-lexicon hits.
_TextParts = tuple[list[tuple[str, bool]], bool, frozenset[str]]


@lru_cache(maxsize=16)
def _text_parts(texts: tuple[str, ...]) -> tuple[_TextParts, ...]:
    """Everything ``_text_cues`` reads from the texts alone, memoised on the texts.

    Why apart from the roles: a role decision changes the key of ``_text_cues`` but no
    text, and these regular expressions over every line (~0.1 s on a 1,000-line session)
    were then the whole cost of that decision. Only the names pass below needs the roles.
    """
    lowercase_words = {w for text in texts for w in _WORD.findall(text) if w.islower()}
    return tuple(
        (_names_in(text, lowercase_words),
         bool(CUES["child"].search(text) or CUES["child_world"].search(text)),
         frozenset(name for name, rx in CUES.items() if rx.search(text)))
        for text in texts
    )


def _child_names(key: tuple[tuple[str, str], ...],
                 per_text: tuple[_TextParts, ...] | None = None) -> set[str]:
    """``child_names`` on (text, role) pairs (``per_text``: their ``_text_parts``)."""
    if per_text is None:
        per_text = _text_parts(tuple(text for text, _ in key))
    third_person: dict[str, int] = defaultdict(int)
    vocative: dict[str, int] = defaultdict(int)
    with_child: set[str] = set()
    addressed_child: set[str] = set()  # "Jade, what's school like?" answered by the child
    childish = [parts[1] for parts in per_text]
    for i, ((_text, role), parts) in enumerate(zip(key, per_text, strict=True)):
        names = parts[0]
        has_child = any(childish[max(0, i - 2): i + 3])
        answered_by_child = i + 1 < len(key) and key[i + 1][1] == "child"
        for name, voc in names:
            if voc and answered_by_child and role != "child":
                addressed_child.add(name)
            if voc:
                vocative[name] += 1
            else:
                third_person[name] += 1
                if has_child:
                    with_child.add(name)
    mentioned = {n for n in with_child if third_person[n] >= max(2, vocative[n])}
    return mentioned | addressed_child


@dataclass
class UtteranceView:
    """One utterance with what the rubric needs: role, soft codes and cue hits."""

    utterance: Utterance
    role: str
    codes: dict[str, float]  # suggested probabilities (valid codes for the role)
    cues: set[str]
    counts: dict[str, float] = field(default_factory=dict)  # what this turn adds to counts

    @property
    def is_practitioner(self) -> bool:
        return self.role == "practitioner"

    def p(self, *codes: str) -> float:
        """This turn's count for the codes (1/0 for the top code, or soft probabilities)."""
        return sum(self.counts.get(c, 0.0) for c in codes)


@dataclass
class SessionFeatures:
    """Named numeric features of one session plus the per-utterance views behind them."""

    values: dict[str, float]
    views: list[UtteranceView] = field(default_factory=list)
    code_mass: dict[str, float] = field(default_factory=dict)
    mean_code_probability: float = 0.0
    child_names: set[str] = field(default_factory=set)
    #: The codes counted (practitioner then family, codebook order) and the codebook's
    #: groups, so the MITI summary counts exactly what the features counted.
    codes: tuple[str, ...] = ()
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: What each view was computed with (counting, practitioner codes, family codes): a
    #: later ``session_features(reuse=this)`` reuses views only under the same settings.
    view_key: tuple = ()


#: Feature names in a fixed order (the calibration model's columns).
FEATURE_NAMES = (
    "n_practitioner", "n_family", "practitioner_talk_share",
    "reflection_to_question", "pct_complex_reflection", "pct_open_question",
    "rate_open_question", "rate_closed_question", "rate_reflection", "rate_complex_reflection",
    "rate_giving_information", "rate_persuade", "rate_persuade_with_permission",
    "rate_confront", "rate_affirm", "rate_seeking_collaboration", "rate_emphasising_autonomy",
    "rate_mi_adherent", "rate_mi_non_adherent", "rate_other",
    "change_talk_share", "rate_change_talk", "rate_sustain_talk", "softening_sustain_talk",
    "rate_child_reference", "rate_practitioner_child_reference", "rate_child_question",
    "child_speaking_share", "rate_concern", "rate_concern_framing", "rate_concern_about_child",
    "rate_goal", "rate_autonomy_cue", "rate_collaboration_cue", "rate_directive",
    "mean_code_probability",
)


def _soft_codes(u: Utterance, allowed: tuple[str, ...]) -> dict[str, float]:
    """Code -> probability for the codes valid for this speaker (renormalised if > 1).

    An evaluator's code, where there is one, is the whole answer: the model's other
    suggestions that follow it (``Store.get_session``) must not water it down.
    """
    out: dict[str, float] = defaultdict(float)
    confirmed = [c for c in u.codes if c.source == "evaluator"]
    for c in confirmed or u.codes:
        if c.code in allowed:
            out[c.code] += max(0.0, float(c.probability))
    total = sum(out.values())
    if total > 1.0:
        out = {k: v / total for k, v in out.items()}
    return dict(out)


#: "plausible" counting keeps the codes at least this fraction as likely as the top one.
PLAUSIBLE_FRACTION = 0.5


def _counts(codes: dict[str, float], counting: str) -> dict[str, float]:
    if counting == "soft" or not codes:
        return dict(codes)
    if counting == "plausible":
        # Why: a calibrated tagger leaves a little mass on every code of every turn; summed
        # over a session of advice that background reads as reflections that never happened.
        # Only codes within PLAUSIBLE_FRACTION of the top one count, split by probability, so
        # a sure turn counts once and an uncertain one is shared between its candidates.
        top_p = max(codes.values())
        kept = {c: p for c, p in codes.items() if p >= PLAUSIBLE_FRACTION * top_p and p > 0}
        total = sum(kept.values()) or 1.0
        return {c: p / total for c, p in kept.items()}
    top = max(codes.items(), key=lambda kv: kv[1])[0]
    return {top: 1.0}


def _ratio(num: float, den: float, default: float = 0.0) -> float:
    return num / den if den > 1e-9 else default


def session_features(
    session: Session,
    practitioner_codes: tuple[str, ...] | None = None,
    family_codes: tuple[str, ...] | None = None,
    counting: str = "soft",
    codebook: Codebook | None = None,
    reuse: SessionFeatures | None = None,
) -> SessionFeatures:
    """Compute every rubric feature of ``session`` (see FEATURE_NAMES and docs/principles.md).

    ``codebook`` (default: the shipped one) says which codes each role may have and which
    group each code is in; ``practitioner_codes``/``family_codes`` narrow the codes counted.
    ``counting="soft"`` (default here) adds each suggestion's probability; ``"top"`` counts
    each utterance once under its top suggested code, as a MITI coder does; ``"plausible"``
    (what ``msw_audio.scoring.rubric.score_session`` uses) splits each utterance between the
    codes at least half as likely as its top one.

    ``reuse``: the features of an earlier state of the same session whose ``Utterance``
    objects are shared with this one and were not changed since (the review store's
    rescore after one decision, ``Store._scoring_session``). A line's view (its valid
    codes' probabilities and counts) is taken from there when it is the same object with
    the same role and cues; every sum is still taken over all lines in order, so the
    result is exactly that of a computation from scratch, only without re-deriving the
    views of the ~1,000 lines one decision did not touch.
    """
    if counting not in ("top", "soft", "plausible"):
        raise ValueError(f"counting must be 'top', 'soft' or 'plausible', not {counting!r}")
    book = codebook or load_codebook()
    practitioner_codes = practitioner_codes or book.practitioner_codes
    family_codes = family_codes or book.family_codes
    groups = {name: book.group(name) for name in GROUPS}
    key = _text_key(session)
    frozen_names, all_cues = _text_cues(key)
    names = set(frozen_names)
    view_key = (counting, practitioner_codes, family_codes)
    earlier = ({id(v.utterance): v for v in reuse.views}
               if reuse is not None and reuse.view_key == view_key else {})
    views: list[UtteranceView] = []
    for u, (_text, role), hit in zip(session.utterances, key, all_cues, strict=True):
        old = earlier.get(id(u))
        if old is not None and old.utterance is u and old.role == role and old.cues == hit:
            views.append(old)
            continue
        allowed = practitioner_codes if role == "practitioner" else family_codes
        cues = set(hit)
        probs = _soft_codes(u, allowed)
        views.append(UtteranceView(u, role, probs, cues, _counts(probs, counting)))

    prac = [v for v in views if v.is_practitioner]
    fam = [v for v in views if v.role in FAMILY_ROLES]
    mass: dict[str, float] = defaultdict(float)
    for v in views:
        for code, p in v.counts.items():
            mass[code] += p
    n_p, n_f = float(len(prac)), float(len(fam))

    def rate(*codes: str) -> float:
        return _ratio(sum(mass[c] for c in codes), n_p)

    def total(group: str) -> float:
        return sum((mass[c] for c in groups[group]), 0.0)

    questions, reflections = total("question"), total("reflection")
    talk = defaultdict(float)
    for v in views:
        talk[v.role == "practitioner"] += v.utterance.duration or len(v.utterance.text.split())
    ct, st = total("change_talk"), total("sustain_talk")

    # Softening sustain talk: how the practitioner answers the family's sustain talk —
    # reflecting or asking openly (good) versus persuading or confronting (poor).
    soft_good = soft_bad = 0.0
    for prev, nxt in zip(views, views[1:], strict=False):
        weight = prev.p(*groups["sustain_talk"]) if not prev.is_practitioner else 0.0
        if weight and nxt.is_practitioner:
            soft_good += weight * nxt.p(*groups["softens_sustain_talk"])
            soft_bad += weight * nxt.p(*groups["hardens_sustain_talk"])
    softening = _ratio(soft_good, soft_good + soft_bad, default=0.5)

    def is_child_ref(v: UtteranceView) -> bool:
        return bool({"child", "child_name"} & v.cues)

    child_refs = [v for v in views if is_child_ref(v) or v.role == "child"]
    prac_child = [v for v in prac if is_child_ref(v)]
    open_q = groups["open_question"]
    other_q = tuple(c for c in groups["question"] if c not in open_q)
    child_q = sum(v.p(*open_q) + 0.5 * v.p(*other_q) for v in prac_child)
    child_q += sum(
        0.5 for v in prac_child if not v.codes and v.utterance.text.rstrip().endswith("?")
    )
    concern = [v for v in prac if "concern" in v.cues]
    framing = [v for v in prac if "concern_framing" in v.cues]
    concern_child = [v for v in prac if "concern" in v.cues and is_child_ref(v)]

    probs = [max(v.codes.values()) for v in views if v.codes]
    mean_prob = sum(probs) / len(probs) if probs else 0.0
    values = {
        "n_practitioner": n_p,
        "n_family": n_f,
        "practitioner_talk_share": _ratio(talk[True], talk[True] + talk[False], 0.5),
        "reflection_to_question": _ratio(reflections, questions, default=reflections and 2.0),
        "pct_complex_reflection": _ratio(total("complex_reflection"), reflections),
        "pct_open_question": _ratio(total("open_question"), questions),
        "rate_open_question": rate("open_question"),
        "rate_closed_question": rate("closed_question"),
        "rate_reflection": rate(*groups["reflection"]),
        "rate_complex_reflection": rate("complex_reflection"),
        "rate_giving_information": rate("giving_information"),
        "rate_persuade": rate("persuade"),
        "rate_persuade_with_permission": rate("persuade_with_permission"),
        "rate_confront": rate("confront"),
        "rate_affirm": rate("affirm"),
        "rate_seeking_collaboration": rate("seeking_collaboration"),
        "rate_emphasising_autonomy": rate("emphasising_autonomy"),
        "rate_mi_adherent": rate(*groups["mi_adherent"]),
        "rate_mi_non_adherent": rate(*groups["mi_non_adherent"]),
        "rate_other": rate("other"),
        "change_talk_share": _ratio(ct, ct + st, default=0.5),
        "rate_change_talk": _ratio(ct, n_f),
        "rate_sustain_talk": _ratio(st, n_f),
        "softening_sustain_talk": softening,
        "rate_child_reference": _ratio(len(child_refs), len(views)),
        "rate_practitioner_child_reference": _ratio(len(prac_child), n_p),
        "rate_child_question": _ratio(child_q, n_p),
        "child_speaking_share": _ratio(sum(v.role == "child" for v in fam), n_f),
        "rate_concern": _ratio(len(concern), n_p),
        "rate_concern_framing": _ratio(len(framing), n_p),
        "rate_concern_about_child": _ratio(len(concern_child), n_p),
        "rate_goal": _ratio(sum("goal" in v.cues for v in prac), n_p),
        "rate_autonomy_cue": _ratio(sum("autonomy" in v.cues for v in prac), n_p),
        "rate_collaboration_cue": _ratio(sum("collaboration" in v.cues for v in prac), n_p),
        "rate_directive": _ratio(sum("directive" in v.cues for v in prac), n_p),
        "mean_code_probability": mean_prob,
    }
    return SessionFeatures(
        values={k: float(values[k]) for k in FEATURE_NAMES},
        views=views,
        code_mass=dict(mass),
        mean_code_probability=mean_prob,
        child_names=names,
        codes=(*practitioner_codes, *family_codes),
        groups=groups,
        view_key=view_key,
    )
