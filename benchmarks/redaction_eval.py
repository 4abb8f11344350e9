"""Recall and precision of ``review.redaction`` on the hand-labelled name mentions.

``python benchmarks/redaction_eval.py [--markdown]``: every utterance of the AnnoMI dev
transcripts (one redactor per transcript, as the store builds one per session) and of the
two generated sessions' dialogues, against ``benchmarks/data/name_mentions.jsonl``
(``benchmarks/name_labels.py`` says how it was labelled). No session metadata is given, so
every name has to be found in the text itself (the store also passes the worker and family
names it knows, which only adds). A mention counts as found when a redacted span overlaps
it; a redacted span is a true positive when it overlaps a labelled mention.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

import yaml

from msw_audio.devdata import shared_dir
from msw_audio.review.redaction import redactor_for

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "benchmarks" / "data" / "name_mentions.jsonl"
ANNOMI = shared_dir() / "data" / "annomi" / "annomi-simple-dev.csv"


def load() -> dict[str, dict[str, list[tuple[str, str, str, list]]]]:
    """{source: {session: [(utterance id, role, text, labelled names)]}}"""
    labels = {}
    texts: dict[tuple[str, str, str], str] = {}
    for line in LABELS.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        labels[(rec["source"], rec["session"], rec["utterance"])] = rec["names"]
        if "text" in rec:
            texts[(rec["source"], rec["session"], rec["utterance"])] = rec["text"]
    out: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in csv.DictReader(open(ANNOMI, encoding="utf-8")):
        key = ("annomi-simple-dev", r["transcript_id"], r["utterance_id"])
        role = "practitioner" if r["interlocutor"] == "therapist" else "parent"
        out[key[0]][key[1]].append((key[2], role, r["utterance_text"], labels.get(key, [])))
    for path in (ROOT / "msw_audio/demo/dialogue.yaml",
                 ROOT / "tests/data/three_speakers/dialogue.yaml"):
        src = str(path.relative_to(ROOT))
        for i, turn in enumerate(yaml.safe_load(path.read_text())["turns"]):
            role, text = next((k, v) for k, v in turn.items()
                              if k in ("practitioner", "parent", "child", "other"))
            out["generated"][path.parent.name].append(
                (str(i), role, text, labels.get((src, path.parent.name, str(i)), [])))
    return out


def evaluate() -> dict[str, dict[str, float]]:
    rows = {}
    for source, sessions in load().items():
        found = total = tp = spans = 0
        missed: list[str] = []
        false: dict[str, int] = defaultdict(int)
        for utts in sessions.values():
            red = redactor_for([(role, text) for _, role, text, _ in utts])
            for _, _, text, names in utts:
                got = red.spans(text)
                spans += len(got)
                for s, e, word in names:
                    total += 1
                    if any(gs < e and s < ge for gs, ge, _ in got):
                        found += 1
                    else:
                        missed.append(word)
                for gs, ge, _ in got:
                    if any(gs < e and s < ge for s, e, _ in names):
                        tp += 1
                    else:
                        false[text[gs:ge]] += 1
        rows[source] = {"mentions": total, "found": found, "recall": found / total,
                        "redacted": spans, "precision": tp / spans if spans else 1.0,
                        "missed": sorted(missed),
                        "top_false": sorted(false.items(), key=lambda kv: -kv[1])[:15]}
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    rows = evaluate()
    if args.markdown:
        print("| set | name mentions | found | recall | redacted spans | precision |")
        print("|---|---|---|---|---|---|")
        for k, r in rows.items():
            print(f"| {k} | {r['mentions']} | {r['found']} | {r['recall']:.3f} | "
                  f"{r['redacted']} | {r['precision']:.3f} |")
    else:
        print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
