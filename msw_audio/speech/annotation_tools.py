"""A ``Session`` as an ELAN ``.eaf`` or a Praat ``.TextGrid`` (written with ``pympi-ling``).

Why these two: they are the annotation tools a linguist or a researcher already has open,
so a corrected session should go there without a converter. Both files carry the same
layout, so a reader can rely on it whichever tool it uses:

* one tier per speaker, named by role and speaker id (``"practitioner S1"``), one
  annotation per utterance with its text (whitespace collapsed, as in STM);
* a second tier per speaker, ``"<that name> codes"``: the confirmed code (``open_question``)
  or, where nobody has confirmed one, the top suggestion marked as such
  (``"complex_reflection (suggested 0.54)"``); a line with neither has no code annotation.
  In ELAN it is a ``Symbolic_Association`` child of the speaker tier (it moves with the
  line); a TextGrid has no tier hierarchy, so there it is an interval tier on the same times.

Times are whole milliseconds (ELAN's unit), the same in both files. A speaker's lines never
overlap inside one tier (neither tool accepts that): a line that overlaps the speaker's
previous one (it can, after a reassignment) goes on an extra tier ``"practitioner S1 (2)"``.
A line of zero length is given 1 ms so that it is kept, not dropped.

``read_eaf`` / ``read_textgrid`` read that layout back (``review.annotation_import`` applies
it to the session as corrections). ``pympi`` is imported when a file is made or read, so
importing the writers stays light.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from msw_audio.records import Session, Utterance

#: The ELAN linguistic types of the two tiers.
UTTERANCE_TYPE = "utterance"
CODE_TYPE = "code"
CODES_SUFFIX = " codes"


@dataclass(frozen=True)
class Line:
    """One utterance as it goes into a tier: whole-millisecond times, one-line text."""

    start_ms: int
    end_ms: int
    text: str
    code: str


@dataclass
class Tier:
    """One speaker lane: its tier name (the codes tier adds ``CODES_SUFFIX``) and lines."""

    name: str
    lines: list[Line]

    @property
    def codes_name(self) -> str:
        return self.name + CODES_SUFFIX


def code_label(utt: Utterance) -> str:
    """The confirmed code, else the top suggestion marked ``(suggested 0.54)``, else ``""``."""
    top = utt.top_code
    if top is None:
        return ""
    if top.source == "evaluator":
        return top.code
    return f"{top.code} (suggested {top.probability:.2f})"


def tier_name(session: Session, speaker: str) -> str:
    """``"<role> <speaker id>"``: the role first, so tiers sort by who speaks."""
    return f"{session.role_of(speaker)} {speaker}"


def speaker_tiers(session: Session) -> list[Tier]:
    """The session's lines per speaker lane, in the order of ``session.speakers`` (then any
    speaker only the lines name), each lane sorted by time and free of overlaps."""
    order = [s.id for s in session.speakers]
    order += sorted({u.speaker for u in session.utterances} - set(order))
    lanes: dict[str, list[list[Line]]] = {sp: [[]] for sp in order}
    for u in sorted(session.utterances, key=lambda u: (u.start, u.end, u.id)):
        start = max(0, round(u.start * 1000))
        end = max(start + 1, round(u.end * 1000))
        line = Line(start, end, " ".join(u.text.split()), code_label(u))
        speaker_lanes = lanes[u.speaker]
        lane = next((ln for ln in speaker_lanes if not ln or ln[-1].end_ms <= start), None)
        if lane is None:
            lane = []
            speaker_lanes.append(lane)
        lane.append(line)
    tiers = []
    for sp in order:
        base = tier_name(session, sp)
        for k, lines in enumerate(lanes[sp], 1):
            tiers.append(Tier(base if k == 1 else f"{base} ({k})", lines))
    return tiers


#: The ELAN controlled vocabulary of the codes tiers (the codebook's codes).
CODES_CV = "codes"
#: Media types ELAN reads for the recording's extension (else a generic audio type).
_MIME = {"wav": "audio/x-wav", "mp3": "audio/mpeg", "m4a": "audio/mp4", "mp4": "video/mp4",
         "ogg": "audio/ogg", "flac": "audio/flac", "webm": "audio/webm"}


def to_eaf(session: Session, codes: Sequence[tuple[str, str]] | None = None,
           media: str | None = None) -> str:
    """ELAN Annotation Format 2.8 (XML, UTF-8): a speaker tier and its codes child tier.

    ``codes``: ``(id, label)`` of the codebook's codes, written as the controlled vocabulary
    of the codes tiers, so a coder in ELAN picks a code from the list (its id is what the
    import confirms; the label is the entry's description). ``media``: the recording's file
    name, written as the linked media (relative, ``./<name>``: put the recording beside the
    .eaf to hear it in ELAN — never the uploaded file name, which may hold a family's name).
    The speech layer has no codebook, so ``process`` writes neither; the store's export does.
    """
    from pympi import Elan

    eaf = Elan.Eaf(author="msw-audio")
    eaf.add_linguistic_type(UTTERANCE_TYPE)
    cv = {"CONTROLLED_VOCABULARY_REF": CODES_CV} if codes else {}
    eaf.add_linguistic_type(CODE_TYPE, constraints="Symbolic_Association",
                            timealignable=False, param_dict={
                                "LINGUISTIC_TYPE_ID": CODE_TYPE, "TIME_ALIGNABLE": "false",
                                "GRAPHIC_REFERENCES": "false",
                                "CONSTRAINTS": "Symbolic_Association", **cv})
    if codes:
        eaf.add_language("eng", "http://cdb.iso.org/lg/CDB-00138502-001", "English (eng)")
        eaf.add_controlled_vocabulary(CODES_CV)
        eaf.add_cv_description(CODES_CV, "eng", "msw-audio codebook codes")
        for code, label in codes:
            eaf.add_cv_entry(CODES_CV, f"cv_{code}", [(code, "eng", label)])
    if media:
        ext = media.rsplit(".", 1)[-1].lower() if "." in media else ""
        eaf.add_linked_file(media, relpath=f"./{media}", mimetype=_MIME.get(ext, "audio/*"))
    for tier in speaker_tiers(session):
        eaf.add_tier(tier.name, ling=UTTERANCE_TYPE)
        eaf.add_tier(tier.codes_name, ling=CODE_TYPE, parent=tier.name)
        for line in tier.lines:
            eaf.add_annotation(tier.name, line.start_ms, line.end_ms, line.text)
        for line in tier.lines:
            if line.code:  # the midpoint lies inside this line only (a lane has no overlaps)
                eaf.add_ref_annotation(tier.codes_name, tier.name,
                                       (line.start_ms + line.end_ms) / 2, line.code)
    eaf.remove_tier("default")
    eaf.remove_linguistic_type("default-lt")
    body = Elan.to_string(eaf, pretty=True)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def to_textgrid(session: Session) -> str:
    """Praat TextGrid, long text format: an interval tier per speaker lane and its codes."""
    from pympi import Praat

    tiers = speaker_tiers(session)
    last = max((ln.end_ms for t in tiers for ln in t.lines), default=0) / 1000
    grid = Praat.TextGrid(xmin=0, xmax=max(last, float(session.audio.duration or 0.0), 0.001))
    for tier in tiers:
        words = grid.add_tier(tier.name)
        codes = grid.add_tier(tier.codes_name)
        for line in tier.lines:
            begin, end = line.start_ms / 1000, line.end_ms / 1000
            words.add_interval(begin, end, line.text)
            if line.code:
                codes.add_interval(begin, end, line.code)
    # pympi writes only to a path: a private temporary folder, read back and removed.
    with tempfile.TemporaryDirectory(prefix="msw-textgrid-") as tmp:
        path = Path(tmp) / "session.TextGrid"
        grid.to_file(str(path), codec="utf-8")
        return path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- reading back
@dataclass(frozen=True)
class ReadLine:
    """One line read from an .eaf / .TextGrid of the layout above: the speaker its tier
    names, whole-millisecond times, the text and the codes tier's value (``""`` if none)."""

    speaker: str
    start_ms: int
    end_ms: int
    text: str
    code: str


def speaker_of_tier(name: str) -> str:
    """``"practitioner S1 (2)"`` -> ``"S1"``: the speaker id is the last word before a lane
    number (a role never holds a space; a speaker id never does either)."""
    base = re.sub(r" \(\d+\)$", "", name.strip())
    return base.rsplit(" ", 1)[-1]


def confirmed_code(value: str) -> str | None:
    """The code a codes-tier value confirms: a bare id does, ``"x (suggested 0.54)"`` and
    ``""`` do not (a suggestion left as it was exported is no decision)."""
    value = value.strip()
    if not value or "(suggested" in value:
        return None
    return value


def _merge(lines: dict[tuple[str, int, int], str], codes: dict[tuple[str, int, int], str],
           speakers: dict[str, str]) -> list[ReadLine]:
    return sorted((ReadLine(speakers[tier], a, b, " ".join(text.split()),
                            codes.get((tier, a, b), "").strip())
                   for (tier, a, b), text in lines.items()),
                  key=lambda r: (r.start_ms, r.end_ms, r.speaker))


def read_eaf(data: bytes) -> list[ReadLine]:
    """The lines of an ELAN file: top-level tiers are speakers, a child tier named
    ``"<parent> codes"`` holds their codes."""
    from pympi import Elan

    with _as_file(data, "in.eaf") as path:
        eaf = Elan.Eaf(str(path), suppress_version_warning=True)
    lines: dict[tuple[str, int, int], str] = {}
    codes: dict[tuple[str, int, int], str] = {}
    speakers: dict[str, str] = {}
    for name in eaf.get_tier_names():
        parent = eaf.get_parameters_for_tier(name).get("PARENT_REF")
        if parent and name == parent + CODES_SUFFIX:
            for a, b, value, _ref in eaf.get_ref_annotation_data_for_tier(name):
                codes[(parent, int(a), int(b))] = value
        elif not parent:
            speakers[name] = speaker_of_tier(name)
            for a, b, value, *_rest in eaf.get_annotation_data_for_tier(name):
                lines[(name, int(a), int(b))] = value
    return _merge(lines, codes, speakers)


def read_textgrid(data: bytes) -> list[ReadLine]:
    """The lines of a Praat TextGrid: interval tiers are speakers, ``"<tier> codes"`` their
    codes; empty intervals (the gaps Praat fills in) are no lines."""
    from pympi import Praat

    with _as_file(data, "in.TextGrid") as path:
        grid = Praat.TextGrid(str(path), codec="utf-8")
    names = {t.name for t in grid.get_tiers()}
    lines: dict[tuple[str, int, int], str] = {}
    codes: dict[tuple[str, int, int], str] = {}
    speakers: dict[str, str] = {}
    for tier in grid.get_tiers():
        if tier.tier_type != "IntervalTier":
            continue
        is_codes = tier.name.endswith(CODES_SUFFIX) and \
            tier.name[: -len(CODES_SUFFIX)] in names
        owner = tier.name[: -len(CODES_SUFFIX)] if is_codes else tier.name
        if not is_codes:
            speakers[owner] = speaker_of_tier(owner)
        for a, b, text in tier.get_intervals():
            if not text.strip():
                continue
            key = (owner, round(a * 1000), round(b * 1000))
            (codes if is_codes else lines)[key] = text
    return _merge(lines, codes, speakers)


@contextmanager
def _as_file(data: bytes, name: str) -> Iterator[Path]:
    """pympi reads only from a path: the bytes in a private temporary folder, removed once
    the file has been read."""
    with tempfile.TemporaryDirectory(prefix="msw-annotations-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        yield path
