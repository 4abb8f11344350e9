"""Read AnnoMI-format CSVs as msw-audio ``Session`` objects.

Why: AnnoMI (expert-annotated MI counselling transcripts) is the only openly licensed,
MITI-style labelled dialogue data we have. Turning each ``transcript_id`` into a ``Session``
lets the tagger train on it and lets the scorer and its benchmark run on exactly the records
the pipeline produces from audio. Therapist -> ``practitioner`` and client -> ``parent`` (a
family member); AnnoMI's labels are mapped onto code ids by the codebook's ``annomi`` labels.

Both released layouts are accepted: ``annomi-full`` (with the question/reflection/input
subtypes, and several annotators for a few transcripts: the per-utterance majority label is
kept) and ``annomi-simple`` (main behaviour only: a question or reflection there has no
open/closed or simple/complex subtype, so it gets no human code).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from msw_audio.coding.codebook import Codebook, load_codebook
from msw_audio.devdata import shared_dir
from msw_audio.errors import InputError
from msw_audio.records import AudioInfo, CodeSuggestion, Session, Speaker, Utterance

REQUIRED_COLUMNS = ("transcript_id", "utterance_id", "interlocutor", "utterance_text")
ROLE_OF_INTERLOCUTOR = {"therapist": "practitioner", "client": "parent"}
SPEAKER_OF_INTERLOCUTOR = {"therapist": "SPEAKER_00", "client": "SPEAKER_01"}

def input_subtype_codes(codebook: Codebook) -> dict[str, str]:
    """AnnoMI therapist-input subtype -> code, from the codebook's ``annomi`` labels.

    Advice in AnnoMI is not marked "with permission", so the shipped codebook maps it to
    MITI's Persuade; "negotiation" (goal setting) and "options" (a menu of choices, agreed
    together) are Seeking Collaboration.
    """
    return {sub: code for (beh, sub), code in codebook.annomi_map().items()
            if beh == "therapist_input" and sub}


def client_talk_codes(codebook: Codebook) -> dict[str, str]:
    """AnnoMI client talk type -> family-member code, from the codebook's ``annomi`` labels."""
    return {sub: code for (beh, sub), code in codebook.annomi_map().items() if beh == "client"}


def default_annomi_csv(layout: str = "full") -> Path:
    """Path of the AnnoMI development subset (``layout`` is ``full`` or ``simple``)."""
    return shared_dir() / "data" / "annomi" / f"annomi-{layout}-dev.csv"


def _str(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return str(value).strip()


def human_code(row: pd.Series, mapping: dict[tuple[str, str], str]) -> str | None:
    """The code id for one AnnoMI row (``mapping``: ``Codebook.annomi_map()``), or None where
    the labels don't say. A therapist input of an unmapped subtype reads as plain input
    (``therapist_input/``), as AnnoMI's own guide treats it."""
    if _str(row.get("interlocutor")) == "client":
        return mapping.get(("client", _str(row.get("client_talk_type"))))
    behaviour = _str(row.get("main_therapist_behaviour"))
    if behaviour in ("question", "reflection"):
        return mapping.get((behaviour, _str(row.get(f"{behaviour}_subtype"))))
    if behaviour == "therapist_input":
        subtype = _str(row.get("therapist_input_subtype"))
        return mapping.get(("therapist_input", subtype), mapping.get(("therapist_input", "")))
    if behaviour == "other":
        return mapping.get(("other", ""))
    return None


def _seconds(stamp: str) -> float | None:
    parts = stamp.split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        return None
    total = 0.0
    for v in values:
        total = total * 60 + v
    return total


def load_annomi(path: Path, codebook: Codebook | None = None) -> pd.DataFrame:
    """One row per utterance, columns of the CSV plus ``code`` (majority human label, read
    through the codebook's ``annomi`` labels; default: the shipped codebook).

    Raises InputError naming the missing columns for a file that is not AnnoMI-format.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"AnnoMI CSV not found: {path}")
    try:
        df = pd.read_csv(path, dtype={"transcript_id": str})
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{path} is not a readable CSV: {exc}") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"{path} is not AnnoMI-format: missing column(s) {', '.join(missing)}")
    bad = sorted(set(df["interlocutor"].map(_str)) - set(ROLE_OF_INTERLOCUTOR))
    if bad:
        raise InputError(f"{path}: interlocutor must be therapist or client, found {bad}")
    df = df.copy()
    mapping = (codebook or load_codebook()).annomi_map()
    df["code"] = df.apply(human_code, axis=1, mapping=mapping)
    # Several annotators for a few transcripts: keep one row per utterance, majority label
    # (ties: alphabetically first, as the tagger's training does).
    keys = ["transcript_id", "utterance_id"]
    if df.duplicated(keys).any():
        coded = df.dropna(subset=["code"])
        votes = coded.groupby([*keys, "code"]).size().rename("n").reset_index()
        votes = votes.sort_values([*keys, "n", "code"], ascending=[True, True, False, True])
        majority = votes.drop_duplicates(keys).set_index(keys)["code"]
        df = df.drop_duplicates(keys).set_index(keys)
        df["code"] = majority.reindex(df.index)
        df = df.reset_index()
    df["code"] = df["code"].astype(object).where(df["code"].notna(), None)
    return df.sort_values(["transcript_id", "utterance_id"], key=_natural).reset_index(drop=True)


def _natural(col: pd.Series) -> pd.Series:
    """Sort numeric-looking ids numerically ("2" before "10")."""
    numeric = pd.to_numeric(col, errors="coerce")
    return numeric if numeric.notna().all() else col.astype(str)


@dataclass
class AnnomiTranscript:
    """One AnnoMI transcript as a Session, with its MI-quality label (high/low or "")."""

    transcript_id: str
    mi_quality: str
    session: Session


def _words_seconds(text: str) -> float:
    return max(1.0, len(text.split()) / 2.5)  # ~150 words a minute


def transcript_session(rows: pd.DataFrame, with_codes: bool = True) -> Session:
    """Build a Session from one transcript's rows (already in utterance order).

    Start times come from the ``timestamp`` column where present (else a speaking-rate
    estimate); an utterance ends where the next begins, or after its estimated speaking time.
    With ``with_codes`` the human label becomes the utterance's only code (probability 1,
    source "human"), so the scorer can be checked against expert codes.
    """
    tid = _str(rows["transcript_id"].iloc[0])
    starts: list[float] = []
    clock = 0.0
    stamps = rows["timestamp"] if "timestamp" in rows else [None] * len(rows)
    for raw in stamps:
        stamp = _seconds(_str(raw)) if raw is not None else None
        start = stamp if stamp is not None and stamp >= clock else clock
        starts.append(start)
        clock = start + 0.01
    utterances = []
    talk = {"SPEAKER_00": 0.0, "SPEAKER_01": 0.0}
    texts = [_str(t) for t in rows["utterance_text"]]
    records = rows.to_dict("records")
    for i, row in enumerate(records):
        text = texts[i]
        est = starts[i] + _words_seconds(text)
        end = min(est, starts[i + 1]) if i + 1 < len(starts) else est
        end = max(end, starts[i] + 0.01)
        speaker = SPEAKER_OF_INTERLOCUTOR[_str(row["interlocutor"])]
        code = row.get("code") if with_codes else None
        codes = [CodeSuggestion(code=code, probability=1.0, source="human")] if code else []
        utterances.append(
            Utterance(
                id=f"{tid}-{_str(row['utterance_id'])}",
                start=round(starts[i], 3),
                end=round(end, 3),
                speaker=speaker,
                text=text,
                codes=codes,
            )
        )
        talk[speaker] += end - starts[i]
    duration = max((u.end for u in utterances), default=0.0)
    speakers = [
        Speaker(id="SPEAKER_00", role="practitioner", role_confidence=1.0,
                talk_time=round(talk["SPEAKER_00"], 3)),
        Speaker(id="SPEAKER_01", role="parent", role_confidence=1.0,
                talk_time=round(talk["SPEAKER_01"], 3)),
    ]
    return Session(
        audio=AudioInfo(path=f"annomi:{tid}", sha256="", duration=round(duration, 3)),
        speakers=speakers,
        utterances=utterances,
        models={"source": {"name": "annomi", "transcript_id": tid}},
    )


def annomi_transcripts(path: Path, with_codes: bool = True,
                       codebook: Codebook | None = None) -> list[AnnomiTranscript]:
    """Every transcript of an AnnoMI-format CSV, in transcript order."""
    df = load_annomi(path, codebook)
    out = []
    for tid, rows in df.groupby("transcript_id", sort=False):
        quality = _str(rows["mi_quality"].iloc[0]) if "mi_quality" in rows else ""
        out.append(AnnomiTranscript(str(tid), quality, transcript_session(rows, with_codes)))
    return out


def annomi_sessions(path: Path, with_codes: bool = True,
                    codebook: Codebook | None = None) -> dict[str, Session]:
    """``{transcript_id: Session}`` for an AnnoMI-format CSV (see ``transcript_session``)."""
    return {t.transcript_id: t.session for t in annomi_transcripts(path, with_codes, codebook)}
