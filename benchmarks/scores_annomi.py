#!/usr/bin/env python3
"""ROC AUC of each suggested principle score for AnnoMI's high- vs low-quality MI transcripts.

Why: AnnoMI's only session-level label is MI quality (high/low); a good evocation, empathy,
collaboration or autonomy score must rank high-quality transcripts above low-quality ones
(issue 4 target: AUC >= 0.80 for each of the four and for their mean). Run with the
shipped tagger's codes (what users get), with out-of-fold tagger codes (the tagger retrained
five times, each time without the transcripts it then codes — the shipped tagger was trained
on these same dev transcripts, so its own codes here are optimistic), and with AnnoMI's human
codes (upper reference: a perfect tagger). child_focus, purposefulness and
clarity_about_concerns are printed for completeness only: AnnoMI has no child-protection
content.

    python benchmarks/scores_annomi.py [--csv FILE] [--codes tagger|tagger-cv|human|all]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from msw_audio.coding.annomi import annomi_transcripts, default_annomi_csv  # noqa: E402
from msw_audio.scoring.rubric import MITI_PRINCIPLES, PRINCIPLES, score_session  # noqa: E402


def principle_values(transcripts, counting: str = "plausible"):
    """(half-point values, unrounded values) per principle, one entry per transcript."""
    table: dict[str, list[float]] = {p: [] for p in PRINCIPLES}
    raw: dict[str, list[float]] = {p: [] for p in PRINCIPLES}
    for t in transcripts:
        scores = score_session(t.session, counting=counting, evidence=False)["principles"]
        for p in PRINCIPLES:
            table[p].append(scores[p]["value"])
            raw[p].append(scores[p]["raw"])
    return table, raw


def evaluate(transcripts, label: str, counting: str = "plausible", values=None) -> dict[str, float]:
    y = np.array([t.mi_quality == "high" for t in transcripts])
    table, raw = values or principle_values(transcripts, counting)
    out = {}
    print(f"\n## {label}, {counting} counting: {len(y)} transcripts "
          f"({y.sum()} high, {(~y).sum()} low)\n")
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


def bias_report(transcripts, tagged_values, human_values, label: str) -> dict[str, float]:
    """Tagger-code score minus human-code score per MITI principle, low and high quality.

    Why: a tool that scores poor practice up is the most harmful error for an evaluator who
    anchors on its suggestions (issue 15 goal: |bias| <= 0.25 on low-quality transcripts).
    Also the high-vs-low AUC within each of the calibration's five folds (grouped by
    transcript, stratified by quality), so the spread over folds is visible.
    """
    from training.calibrate import quality_folds

    y = np.array([t.mi_quality == "high" for t in transcripts])
    ids = np.array([t.transcript_id for t in transcripts])
    fold_of = quality_folds(ids, np.where(y, "high", "low"))
    print(f"\n### {label}: tagger-code minus human-code score (half-point values)\n")
    print(f"| principle | bias, low quality (n={(~y).sum()}) | bias, high quality "
          f"(n={y.sum()}) | AUC per quality-stratified fold (mean; min–max) |")
    print("|---|---|---|---|")
    out = {}
    for p in MITI_PRINCIPLES:
        diff = np.array(tagged_values[p]) - np.array(human_values[p])
        v = np.array(tagged_values[p])
        aucs = [roc_auc_score(y[fold_of == k], v[fold_of == k]) for k in sorted(set(fold_of))
                if len(set(v[fold_of == k])) > 1]
        out[p] = float(diff[~y].mean())
        print(f"| {p} | {diff[~y].mean():+.2f} | {diff[y].mean():+.2f} | "
              f"{np.mean(aucs):.3f}; {min(aucs):.2f}–{max(aucs):.2f} |")
    return out


CACHE = Path(__file__).resolve().parents[1] / ".cache" / "scores_annomi_oof.json"


def out_of_fold_tagged(csv: Path, model_dir: Path | None, calibrated: bool | str = False):
    """AnnoMI sessions coded by taggers that never saw them.

    For the shipped fine-tuned model these are its own grouped-CV predictions
    (``models/tagger/cv_predictions.json.gz``: five encoders, each fine-tuned without the
    transcripts it codes). For a hybrid model they come from refitting its heads five times
    (training/model.py, GroupKFold); those are cached in .cache/ (keyed by the CSV; delete
    the file after changing the tagger), because the five fits take 5-20 minutes on two
    cores. The shipped tagger's cue rules are applied on top, exactly as
    ``Tagger.tag_session`` does. ``calibrated``: each distribution calibrated by a
    calibration fitted without its transcript's fold (``training.calibrate``), as the
    shipped tagger calibrates its own; only for the shipped model's out-of-fold codes.
    """
    import gzip
    import hashlib
    import json

    from msw_audio.coding.codebook import load_codebook
    from msw_audio.coding.tagger import DEFAULT_MODEL_DIR, Tagger

    shipped = (model_dir or DEFAULT_MODEL_DIR) / "cv_predictions.json.gz"
    if shipped.is_file() and csv.resolve() == default_annomi_csv().resolve():
        # a fine-tuned model: its own grouped CV's out-of-fold codes (training/finetune.py)
        with gzip.open(shipped, "rt") as fh:
            by_id = json.load(fh)["proba"]
        if calibrated == "in-sample":
            from training.practice_context import in_sample_distributions

            by_id = in_sample_distributions(model_dir or DEFAULT_MODEL_DIR)
        elif calibrated:
            from training.calibrate import crossfitted_distributions

            by_id = {**by_id, **crossfitted_distributions(model_dir or DEFAULT_MODEL_DIR)}
    else:
        key = hashlib.sha256(csv.read_bytes())  # delete the cache after retraining the tagger
        key.update(b"talk-context-1")  # the out-of-fold recipe: bump when it changes
        cached = json.loads(CACHE.read_text()) if CACHE.is_file() else {}
        if cached.get("key") != key.hexdigest():
            cached = {"key": key.hexdigest(), "proba": _fit_out_of_fold(csv, model_dir)}
            CACHE.parent.mkdir(parents=True, exist_ok=True)
            CACHE.write_text(json.dumps(cached))
        by_id = cached["proba"]
    suggester = Tagger.__new__(Tagger)  # only its suggestions() (codebook + cue rules)
    suggester.codebook = load_codebook()
    transcripts = annomi_transcripts(csv, with_codes=False)
    for t in transcripts:
        for u in t.session.utterances:
            role = t.session.role_of(u.speaker)
            u.codes = suggester.suggestions(role, u.text, by_id.get(u.id) or {})
    return transcripts


def _fit_out_of_fold(csv: Path, model_dir: Path | None) -> dict[str, dict[str, float]]:
    """A hybrid model's grouped 5-fold CV (``training.model.cross_validate``: the heads, then
    the talk-context stage with its nested CV), as code distributions by utterance."""
    import torch

    from msw_audio.coding.tagger import DEFAULT_MODEL_DIR, Encoder
    from training.annomi import read_annomi
    from training.model import cross_validate

    torch.set_num_threads(1)
    table = read_annomi(csv)
    encoder = Encoder((model_dir or DEFAULT_MODEL_DIR) / "encoder", threads=1)
    emb = encoder.encode(table["text"].tolist())
    prev_emb = encoder.encode(table["prev_text"].tolist())
    proba = cross_validate(table, emb, prev_emb, n_splits=5)["pred"]["proba"].tolist()
    return {
        f"{tid}-{uid}": dist
        for tid, uid, dist in zip(table["transcript_id"].astype(str), table["utterance_id"],
                                  proba, strict=True)
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=default_annomi_csv())
    ap.add_argument("--codes", choices=("tagger", "tagger-cv", "human", "all"), default="all")
    ap.add_argument("--counting", choices=("plausible", "soft", "top"), default="plausible",
                    help="plausible codes by probability (default, as score_session), every "
                    "probability, or each utterance's top code")
    ap.add_argument("--model-dir", type=Path, default=None, help="tagger model (default shipped)")
    args = ap.parse_args()
    from msw_audio.coding.tagger import DEFAULT_MODEL_DIR

    if args.codes in ("human", "all"):
        t0 = time.perf_counter()
        human = annomi_transcripts(args.csv, with_codes=True)
        evaluate(human, "human (AnnoMI) codes", args.counting)
        print(f"\n({time.perf_counter() - t0:.1f} s)")
    if args.codes in ("tagger-cv", "all"):
        t0 = time.perf_counter()
        human = annomi_transcripts(args.csv, with_codes=True)
        human_values = principle_values(human, args.counting)
        labels = {
            False: ("uncalibrated", ", uncalibrated"),
            True: ("calibrated", ", calibration cross-fitted (fitted without the transcript's "
                   "fold)"),
            "in-sample": ("in-sample", ": heads out of fold, practice-context stage and "
                          "calibration fitted on all transcripts (in-sample)"),
        }
        practice = (args.model_dir or DEFAULT_MODEL_DIR) / "practice_context.npz"
        for calibrated in (False, True, "in-sample"):
            if calibrated == "in-sample" and not (practice.is_file()
                                                  and args.csv.resolve()
                                                  == default_annomi_csv().resolve()):
                continue
            transcripts = out_of_fold_tagged(args.csv, args.model_dir, calibrated=calibrated)
            label = ("out-of-fold tagger codes (5-fold, grouped by transcript)"
                     + labels[calibrated][1])
            values = principle_values(transcripts, args.counting)
            evaluate(transcripts, label, args.counting, values)
            bias_report(transcripts, values[0], human_values[0], labels[calibrated][0])
        print(f"\n({time.perf_counter() - t0:.1f} s; 5 tagger fits or their cache)")
    if args.codes in ("tagger", "all"):
        import torch

        from msw_audio.coding.tagger import load_tagger

        torch.set_num_threads(1)
        t0 = time.perf_counter()
        tagger = load_tagger(args.model_dir, threads=1)
        transcripts = annomi_transcripts(args.csv, with_codes=False)
        for t in transcripts:
            tagger.tag_session(t.session)
        name = transcripts[0].session.models.get("tagger", {}) if transcripts else {}
        evaluate(transcripts, f"tagger codes ({name.get('name')} {name.get('version')})",
                 args.counting)
        print(f"\n({time.perf_counter() - t0:.1f} s including tagging)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
