"""Read AnnoMI CSVs (and confirmed-label exports) into one row per utterance with codebook labels.

Why a module of its own: ``msw-audio tagger evaluate`` and ``train`` must agree exactly on the
label mapping and the majority vote, and the model card quotes this mapping.

AnnoMI -> codebook mapping (practitioner = AnnoMI "therapist", family member = "client"):

* main_therapist_behaviour=question -> question_subtype open/closed
  -> open_question/closed_question
* main_therapist_behaviour=reflection -> reflection_subtype simple/complex
  -> simple_reflection/complex_reflection
* main_therapist_behaviour=therapist_input -> therapist_input_subtype: information ->
  giving_information, advice -> persuade, negotiation/options -> seeking_collaboration
* main_therapist_behaviour=other -> other
* client_talk_type change/neutral/sustain -> change_talk/neutral/sustain_talk

Where an utterance has several annotators (AnnoMI's 10-annotator subset) every task takes the
majority label; ties go to the alphabetically first label so the result is deterministic.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from msw_audio.coding.annomi import client_talk_codes, default_annomi_csv, input_subtype_codes
from msw_audio.coding.codebook import Codebook, load_codebook
from msw_audio.coding.tagger import SIX_TO_FOUR
from msw_audio.errors import InputError

__all__ = ["default_annomi_csv", "read_annomi", "read_confirmed"]

REQUIRED_COLUMNS = (
    "transcript_id",
    "utterance_id",
    "interlocutor",
    "utterance_text",
    "main_therapist_behaviour",
    "client_talk_type",
)
SUBTYPE_COLUMNS = ("reflection_subtype", "question_subtype", "therapist_input_subtype")

#: 6-way AnnoMI task labels (what the 6-way metrics are computed on).
SIX_WAY = ("open_question", "closed_question", "simple_reflection", "complex_reflection",
           "input", "other")
FOUR_WAY = ("question", "reflection", "input", "other")
INPUT_CODES = ("giving_information", "persuade", "seeking_collaboration")
CLIENT_CODES = ("change_talk", "neutral", "sustain_talk")

# The AnnoMI -> code mapping (``annomi`` labels) and each code's tagger class (``tagger``)
# are the codebook's, so training, scoring and the review store never disagree about what an
# AnnoMI label or a confirmed code means. The task label sets above are AnnoMI's own.


def _clean(value: object) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def six_way_label(row: pd.Series) -> str | None:
    """One annotator's 6-way label, or None when the row lacks what is needed."""
    main = _clean(row.get("main_therapist_behaviour"))
    if main == "question":
        sub = _clean(row.get("question_subtype"))
        return f"{sub}_question" if sub in ("open", "closed") else None
    if main == "reflection":
        sub = _clean(row.get("reflection_subtype"))
        return f"{sub}_reflection" if sub in ("simple", "complex") else None
    if main == "therapist_input":
        return "input"
    if main == "other":
        return "other"
    return None


def _majority(values: list[str | None]) -> str | None:
    votes = Counter(v for v in values if isinstance(v, str) and v)
    if not votes:
        return None
    best = max(votes.values())
    return sorted(v for v, n in votes.items() if n == best)[0]


def _majority_by(raw: pd.DataFrame, keys: list[str], column: str) -> pd.Series:
    """Per-utterance majority of ``column`` (ties: alphabetically first), None where no vote."""
    votes = raw.dropna(subset=[column])
    if votes.empty:
        return pd.Series(dtype=object)
    counts = votes.groupby([*keys, column]).size().rename("n").reset_index()
    counts = counts.sort_values([*keys, "n", column], ascending=[True] * len(keys) + [False, True])
    return counts.drop_duplicates(keys).set_index(keys)[column]


def read_annomi(path: Path, codebook: Codebook | None = None) -> pd.DataFrame:
    """AnnoMI CSV -> one row per utterance with ``role``, ``text``, ``prev_text`` and labels.

    Columns out: transcript_id, utterance_id, role ("practitioner"/"client"), text, prev_text,
    four (4-way), six (6-way, None without subtype columns), input_code (None unless input),
    client_code, n_annotators. Raises InputError (one clear line) for a malformed file.
    ``codebook`` (default: the shipped one) maps input subtypes and client talk to codes.
    """
    book = codebook or load_codebook()
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        raw = pd.read_csv(path, dtype={"utterance_text": str})
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{path}: the CSV is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV ({exc})") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise InputError(f"{path}: missing AnnoMI column(s): {', '.join(missing)}")
    if raw.empty:
        raise InputError(f"{path}: the CSV has a header but no rows")
    has_subtypes = all(c in raw.columns for c in SUBTYPE_COLUMNS)
    for column in SUBTYPE_COLUMNS:
        if column not in raw.columns:
            raw[column] = None
    bad_role = set(raw["interlocutor"].dropna().unique()) - {"therapist", "client"}
    if bad_role:
        raise InputError(f"{path}: interlocutor must be therapist or client: {sorted(bad_role)}")
    raw["utterance_text"] = raw["utterance_text"].fillna("").astype(str)
    try:
        raw["utterance_id"] = raw["utterance_id"].astype(int)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: utterance_id must be an integer") from exc
    raw["_six"] = raw.apply(six_way_label, axis=1) if has_subtypes else None
    raw["_four"] = raw["main_therapist_behaviour"].map(
        {"question": "question", "reflection": "reflection", "therapist_input": "input",
         "other": "other"}
    )
    raw["_input"] = raw["therapist_input_subtype"].map(input_subtype_codes(book)).where(
        raw["main_therapist_behaviour"] == "therapist_input"
    )
    raw["_client"] = raw["client_talk_type"].map(client_talk_codes(book))
    keys = ["transcript_id", "utterance_id"]
    table = raw.groupby(keys, sort=True).agg(
        interlocutor=("interlocutor", "first"),
        text=("utterance_text", "first"),
        n_annotators=("annotator_id", "nunique")
        if "annotator_id" in raw
        else ("interlocutor", "size"),
    )
    for column, out in (("_four", "four"), ("_six", "six"), ("_input", "input_code"),
                        ("_client", "client_code")):
        table[out] = _majority_by(raw, keys, column)
    table = table.reset_index()
    table["role"] = np.where(table["interlocutor"] == "therapist", "practitioner", "client")
    table = table.drop(columns="interlocutor")
    is_prac = table["role"] == "practitioner"
    for column in ("four", "six", "input_code"):
        table.loc[~is_prac, column] = None
    table.loc[is_prac, "client_code"] = None
    table["prev_text"] = table.groupby("transcript_id")["text"].shift(1).fillna("")
    # A 6-way "input" majority must agree with the 4-way one; the subtype is only for input.
    table.loc[table["four"] != "input", "input_code"] = None
    return table.reset_index(drop=True)


EXTRA_COLUMNS = ("session_id", "utterance_id", "role", "text", "prev_text", "code")


def read_confirmed(
    path: Path, practitioner_codes: set[str], client_codes: set[str],
    codebook: Codebook | None = None,
) -> pd.DataFrame:
    """Evaluator-confirmed labels (the review store's export) in ``read_annomi``'s shape.

    Format (UTF-8 CSV, header): session_id,utterance_id,role,text,prev_text,code,evaluator,
    confirmed_at,model_version. role practitioner -> practitioner code; parent/child/other ->
    family-member code. Each practitioner code trains the 6-way class its codebook entry
    names (``tagger``, default "other"), and an ``input`` code without cues is also a class
    of the input-subtype head; the code itself is kept in ``code``.
    """
    book = codebook or load_codebook()
    input_codes = set(book.input_subtypes())
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{path}: the CSV is empty") from exc
    missing = [c for c in EXTRA_COLUMNS if c not in raw.columns]
    if missing:
        raise InputError(f"{path}: missing confirmed-label column(s): {', '.join(missing)}")
    if raw.empty:
        raise InputError(f"{path}: the CSV has a header but no rows")
    rows = []
    for i, r in raw.iterrows():
        role, code = r["role"].strip(), r["code"].strip()
        if role == "practitioner":
            if code not in practitioner_codes:
                raise InputError(f"{path}: row {i + 2}: {code!r} is not a practitioner code")
            six = book.tagger_class(code)
            rows.append({
                "transcript_id": f"extra:{r['session_id']}", "utterance_id": r["utterance_id"],
                "role": "practitioner", "text": r["text"], "prev_text": r["prev_text"],
                "four": SIX_TO_FOUR[six], "six": six,
                "input_code": code if code in input_codes else None,
                "client_code": None, "n_annotators": 1, "code": code,
            })
        elif role in ("parent", "child", "other"):
            if code not in client_codes:
                raise InputError(f"{path}: row {i + 2}: {code!r} is not a family-member code")
            rows.append({
                "transcript_id": f"extra:{r['session_id']}", "utterance_id": r["utterance_id"],
                "role": "client", "text": r["text"], "prev_text": r["prev_text"],
                "four": None, "six": None, "input_code": None, "client_code": code,
                "n_annotators": 1, "code": code,
            })
        else:
            raise InputError(f"{path}: row {i + 2}: unknown role {role!r}")
    return pd.DataFrame(rows)
