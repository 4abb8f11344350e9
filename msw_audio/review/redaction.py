"""Replacing person names in transcript text with role tokens ([CHILD], [PARENT], [WORKER]).

Research exports, coaching shortlists, handouts and practice notes leave the team that
recorded the family; names must not leave with them. This module is the one place that
decides what a name is and which token replaces it, so every export redacts alike.

Why rules and no NER model: no named-entity model ships inside a PyPI wheel from its
authors (spaCy's ``en_core_web_*`` are released outside PyPI; the PyPI copies are
third-party re-uploads of unknown provenance), and the app never downloads at run time.
The rules below reach 0.97+ recall on a hand-labelled set of AnnoMI and generated-session
name mentions (``benchmarks/redaction_eval.py``, ``benchmarks/RESULTS.md``); they favour
recall over precision, since a redacted ordinary word costs a reader little and a
leaked child's name cannot be taken back.

A word is taken for a name when it is one of the session's known names (worker, family,
detected child names, names given by the caller), follows a title (Dr., Mrs. ...),
follows "my name is" / "I'm" / "this is", or is capitalised where English would not
capitalise it (mid-sentence, or sentence-initial before a comma: "Jade, ...") and the
session never writes it in lower case. Every later mention of a word found that way is
redacted too, wherever it stands.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

CHILD, PARENT, WORKER, NAME = "[CHILD]", "[PARENT]", "[WORKER]", "[NAME]"

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_TITLE = re.compile(r"\b(?:Dr|Mr|Mrs|Ms|Miss|Mx|Doctor|Nurse|Auntie|Aunty|Uncle|Nan|Nana)\.?\s+$")
_INTRO = re.compile(r"(?:\bmy name is|\bI'm|\bI am|\bthis is|\bcall me|\bname's)\s+$", re.I)
_VOCATIVE_BEFORE = re.compile(
    r"(?:^|[,.?!]\s*)(?:hi|hello|hey|thanks|thank you|morning|bye|okay|ok|well|so|and|yes|"
    r"no|sorry|right)?[ ,]*$", re.I,
)

#: Capitalised words that are not people's names even where English would not capitalise
#: them (days, months, places people in these sessions name, brands, interjections).
NOT_NAMES = frozenset({
    "i", "i'm", "i've", "i'd", "i'll", "ok", "okay", "mr", "mrs", "ms", "miss", "dr", "god",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "mondays", "tuesdays", "wednesdays", "thursdays", "fridays", "saturdays", "sundays",
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "christmas", "easter", "english", "tv", "gp", "gps",
    "aa", "uh", "um", "mm", "mhm", "hm", "hmm", "mmh", "mh", "ah", "er", "erm", "yeah", "yep",
    "nope", "nah", "oh",
    "so", "and", "but", "well", "hi", "hello", "hey", "bye", "thanks", "alright", "huh",
    "jeez", "oops", "woah", "wow", "argh", "yes", "no", "right", "sorry", "please",
    "facebook", "instagram", "google", "netflix", "internet", "youtube", "nhs", "america",
    "american", "europe", "canada", "australia", "school", "mum", "mom", "dad", "mummy",
    "daddy", "nan", "grandma", "grandad", "grandpa", "speaker",
})

#: English function words: sentence-initial before a comma they are never vocatives.
_FUNCTION = frozenset(
    "a about actually after again all also although an and any anyway as at because before "
    "both but by cause could did do does either even every first for from good great he her "
    "here him his how however if in indeed instead is it its just kind last later like look "
    "maybe me most my next not now of on once one only or other otherwise our perhaps plus "
    "really second see she since so some sometimes still sure that the their them then there "
    "these they third this those though thus to today too totally true uh um unless until "
    "usually very was we well what when where whether which while who why with without yeah "
    "yes yet you your absolutely basically certainly clearly definitely exactly fine honestly "
    "hopefully initially interesting luckily obviously oh okay personally possibly probably "
    "seriously similarly sorry thankfully thanks wait wow".split()
)


@dataclass
class Redactor:
    """Redacts one session's text: ``known`` maps a name (as written) to its role token;
    ``lowercase`` holds the words the session writes in lower case (never names)."""

    known: dict[str, str] = field(default_factory=dict)
    lowercase: frozenset[str] = frozenset()

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """``(start, end, token)`` of every name in ``text``."""
        found = []
        for start, end, word in _candidates(text or ""):
            token = self.known.get(word) or self.known.get(word.split("-")[0])
            if token is None and _looks_like_name(text, start, end, word, self.lowercase):
                token = NAME
            if token is not None:
                found.append((start, end, token))
        return found

    def text(self, text: str) -> str:
        """``text`` with every known name and every name-shaped word replaced."""
        out: list[str] = []
        last = 0
        for start, end, token in self.spans(text or ""):
            out.append(text[last:start])
            out.append(token)
            last = end
        out.append((text or "")[last:])
        return "".join(out)


def _candidates(text: str) -> Iterable[tuple[int, int, str]]:
    """Capitalised words with their spans (a possessive 's and stammer dashes left out)."""
    for m in _WORD.finditer(text):
        word = m.group(0)
        if word.endswith("'s"):
            word = word[:-2]
        word = word.rstrip("-")
        if word and word[0].isupper():
            yield m.start(), m.start() + len(word), word


def _looks_like_name(text: str, start: int, end: int, word: str, lowercase: set[str]) -> bool:
    """Capitalised where English would not capitalise it, or after a title / "I'm"."""
    first = word.split("-")[0]
    low = first.lower()
    if (len(first) < 2 or not first.isalpha() or first.isupper() or low in NOT_NAMES
            or low in lowercase):
        return False
    before = text[:start]
    if _TITLE.search(before) or _INTRO.search(before):
        return True
    stripped = before.rstrip()
    after = text[end:].lstrip()[:1]
    if not stripped or stripped[-1] in ".?!\"-:;([":
        # sentence start: a name only as an address ("Jade, ...") and never a function word
        return after == "," and low not in _FUNCTION
    return True


def redactor_for(
    utterances: Sequence[tuple[str, str]],
    workers: Iterable[str] = (),
    parents: Iterable[str] = (),
    children: Iterable[str] = (),
) -> Redactor:
    """A ``Redactor`` that knows this session's names, each with its role token.

    ``utterances`` are ``(speaker role, text)`` in order; roles are the speaker roles of
    ``records.ROLES`` (``practitioner``, ``parent``, ``child``, ``other``). Names given by
    the caller come first (session metadata, the child-name detector). Names found in the
    text get the token of the person they most likely are: a name the practitioner uses
    to address someone (or that a parent introduces themselves with) is the parent's, one a
    family member uses to address the practitioner (or the practitioner's "I'm X") is the
    worker's; anything else is ``[NAME]``.
    """
    known: dict[str, str] = {}

    def add(names: Iterable[str], token: str) -> None:
        for full in names:
            for part in _WORD.findall(full or ""):
                part = part.removesuffix("'s")
                if part[:1].isupper() and len(part) > 1 and part.lower() not in NOT_NAMES:
                    known.setdefault(part, token)

    add(children, CHILD)
    add(workers, WORKER)
    add(parents, PARENT)
    lowercase = {w for _, t in utterances for w in _WORD.findall(t) if w.islower()}
    for role, text in utterances:
        for start, end, word in _candidates(text):
            first = word.split("-")[0]
            if first in known or not _looks_like_name(text, start, end, word, lowercase):
                continue
            before = text[:start]
            intro = bool(_INTRO.search(before))
            vocative = not intro and _is_vocative(text, start, end)
            if role == "practitioner":
                token = WORKER if intro else PARENT if vocative else NAME
            elif role in ("parent", "child"):
                token = PARENT if intro and role == "parent" else WORKER if vocative else NAME
            else:
                token = NAME
            known[first] = token
    return Redactor(known, frozenset(lowercase))


def _is_vocative(text: str, start: int, end: int) -> bool:
    after = text[end:].lstrip()[:1]
    before = text[:start]
    return after in ("", ",", ".", "?", "!") and bool(_VOCATIVE_BEFORE.search(before))


def redact_texts(
    utterances: Sequence[tuple[str, str]],
    workers: Iterable[str] = (),
    parents: Iterable[str] = (),
    children: Iterable[str] = (),
) -> list[str]:
    """Each utterance's text redacted with one session-wide ``redactor_for``."""
    red = redactor_for(utterances, workers, parents, children)
    return [red.text(t) for _, t in utterances]
