"""Writes ``benchmarks/data/name_mentions.jsonl``: hand-labelled person-name mentions.

How the labels were made (by hand, 2026-12-02): every capitalised word of the AnnoMI dev
transcripts (``annomi-simple-dev.csv``, 113 transcripts, 8,459 utterances) and of the two
generated sessions' dialogues (``msw_audio/demo``, ``tests/data/three_speakers``) was
listed with its count; each word type was read in its contexts and judged a person's name
or not (``PERSON`` below); the types that are a name in some places only were judged per
mention (``_exceptions``). The file lists, per utterance, every labelled mention as
``[start, end, word]``; an AnnoMI utterance not listed has none (the evaluation reads
every utterance of the CSV, so precision covers them too). Rerun after editing the decisions:
``python benchmarks/name_labels.py`` (needs ../shared/data/annomi).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import yaml

from msw_audio.devdata import shared_dir

ROOT = Path(__file__).resolve().parents[1]
ANNOMI = shared_dir() / "data" / "annomi" / "annomi-simple-dev.csv"
DIALOGUES = [ROOT / "msw_audio" / "demo" / "dialogue.yaml",
             ROOT / "tests" / "data" / "three_speakers" / "dialogue.yaml"]
OUT = ROOT / "benchmarks" / "data" / "name_mentions.jsonl"

#: Word types judged to be people's names wherever they occur (first names, surnames).
PERSON = set("""
Aiden Andrea Barbara Berger Beth Betty Bill Billy Bob Brown Brownie Bruce Carlos Catherine
Charlie Chris Christian Daryl David Dawn Deborah Denise Donna Dylan Emily Erin Ferris Fiona
Hailey Hannah Ivy Jack Jake Jean Jill Johnson Julie Kathy Katie Kaylie Ken Kirsty Kirtley
Kristie Kristy Laura Lilly Lily Liz Lori Mark Martin Mary Mike Molly Morrow Natalie Nick
Nina Olivia Oscar Rick Ricky Roberts Ruth Sal Sandra Sarah Scott Selby Smith Steve Stowe
Tanya Thompson Tom Tommy Tonny Tristan John Howard Green
Jade Ellie Megan
""".split())

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


def _exceptions(text: str, start: int, word: str) -> bool:
    """True where a PERSON type is not a person here (an organisation or brand)."""
    after = text[start + len(word):start + len(word) + 30]
    before = text[max(0, start - 6):start]
    if word == "Green":  # "Mr. Green" is a person, "Green Prescriptions" is not
        return "Mr" not in before
    if word in ("John", "Howard") and re.match(r"(?: Howard)? Society", after):
        return True  # the John Howard Society (an advocacy group)
    return False


def label(text: str) -> list[list]:
    names = []
    for m in _WORD.finditer(text):
        word = m.group(0).removesuffix("'s").rstrip("-")
        first = word.split("-")[0]
        if first in PERSON and not _exceptions(text, m.start(), first):
            names.append([m.start(), m.start() + len(word), word])
    return names


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(OUT, "w", encoding="utf-8") as fh:
        for r in csv.DictReader(open(ANNOMI, encoding="utf-8")):
            role = "practitioner" if r["interlocutor"] == "therapist" else "parent"
            names = label(r["utterance_text"])
            n += len(names)
            if names:
                    fh.write(json.dumps({"source": "annomi-simple-dev",
                                     "session": r["transcript_id"],
                                     "utterance": r["utterance_id"], "role": role,
                                     "names": names}) + "\n")
        for path in DIALOGUES:
            turns = yaml.safe_load(path.read_text())["turns"]
            for i, turn in enumerate(turns):
                role, text = next((k, v) for k, v in turn.items() if k in
                                  ("practitioner", "parent", "child", "other"))
                names = label(text)
                n += len(names)
                fh.write(json.dumps({"source": str(path.relative_to(ROOT)),
                                     "session": path.parent.name, "utterance": str(i),
                                     "role": role, "text": text, "names": names}) + "\n")
    print(f"{n} name mentions -> {OUT}")


if __name__ == "__main__":
    main()
