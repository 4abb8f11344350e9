#!/usr/bin/env python3
"""ROC AUC of each suggested principle score for AnnoMI's high- vs low-quality MI transcripts.

Why: AnnoMI's only session-level label is MI quality (high/low); a good evocation, empathy,
collaboration or autonomy score must rank high-quality transcripts above low-quality ones
(issue 4 target: AUC >= 0.80 for each of the four and for their mean). Run with the
shipped tagger's codes (what users get) and with AnnoMI's human codes (upper reference:
a perfect tagger). child_focus, purposefulness and clarity_about_concerns are printed for
completeness only: AnnoMI has no child-protection content.

    python benchmarks/scores_annomi.py [--csv FILE] [--codes tagger|human|both]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from msw_audio.annomi import annomi_transcripts, default_annomi_csv  # noqa: E402
from msw_audio.scores import MITI_PRINCIPLES, PRINCIPLES, score_session  # noqa: E402


def evaluate(transcripts, label: str) -> dict[str, float]:
    y = np.array([t.mi_quality == "high" for t in transcripts])
    table: dict[str, list[float]] = {p: [] for p in PRINCIPLES}
    raw: dict[str, list[float]] = {p: [] for p in PRINCIPLES}
    for t in transcripts:
        scores = score_session(t.session)["principles"]
        for p in PRINCIPLES:
            table[p].append(scores[p]["value"])
            raw[p].append(scores[p]["raw"])
    out = {}
    print(f"\n## {label}: {len(y)} transcripts ({y.sum()} high, {(~y).sum()} low)\n")
    print("| principle | AUC (half-point value) | AUC (unrounded) | mean high | mean low |")
    print("|---|---|---|---|---|")
    for p in PRINCIPLES:
        v = np.array(table[p])
        auc = roc_auc_score(y, v) if len(set(v)) > 1 else 0.5
        auc_raw = roc_auc_score(y, raw[p]) if len(set(raw[p])) > 1 else 0.5
        out[p] = auc
        flag = "" if p in MITI_PRINCIPLES else " (no MSW content in AnnoMI)"
        print(f"| {p}{flag} | {auc:.3f} | {auc_raw:.3f} | {v[y].mean():.2f} | {v[~y].mean():.2f} |")
    mean4 = np.mean([np.array(table[p]) for p in MITI_PRINCIPLES], axis=0)
    out["mean_of_four"] = roc_auc_score(y, mean4)
    print(f"| mean of the four MITI principles | {out['mean_of_four']:.3f} | | "
          f"{mean4[y].mean():.2f} | {mean4[~y].mean():.2f} |")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=default_annomi_csv())
    ap.add_argument("--codes", choices=("tagger", "human", "both"), default="both")
    ap.add_argument("--model-dir", type=Path, default=None, help="tagger model (default shipped)")
    args = ap.parse_args()
    if args.codes in ("human", "both"):
        t0 = time.perf_counter()
        evaluate(annomi_transcripts(args.csv, with_codes=True), "human (AnnoMI) codes")
        print(f"\n({time.perf_counter() - t0:.1f} s)")
    if args.codes in ("tagger", "both"):
        import torch

        from msw_audio.tagger import load_tagger

        torch.set_num_threads(1)
        t0 = time.perf_counter()
        tagger = load_tagger(args.model_dir)
        transcripts = annomi_transcripts(args.csv, with_codes=False)
        for t in transcripts:
            tagger.tag_session(t.session)
        name = transcripts[0].session.models.get("tagger", {}) if transcripts else {}
        evaluate(transcripts, f"tagger codes ({name.get('name')} {name.get('version')})")
        print(f"\n({time.perf_counter() - t0:.1f} s including tagging)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
