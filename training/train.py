"""Train the behaviour tagger from AnnoMI (+ evaluator-confirmed labels), with a CV report.

Researchers: ``msw-audio tagger train --out DIR [--extra CONFIRMED.csv]`` (or
``python -m training.train --out DIR``). The shipped model was built with
``python -m training.train --out models/tagger --version 1.0.0 --force --card`` (see README).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn

from msw_audio.coding.codebook import Codebook, load_codebook
from msw_audio.coding.tagger import DEFAULT_MODEL_DIR, Encoder, save_tagger
from msw_audio.errors import InputError
from training.annomi import default_annomi_csv, read_annomi, read_confirmed
from training.data import embed_table
from training.model import CONFIGS, cross_validate, fit_all

MODEL_NAME = "msw-tagger-hybrid"


CV_NOTE = (
    "hybrid heads over the shipped encoder, which was fine-tuned on AnnoMI: on AnnoMI rows this "
    "CV is optimistic (the encoder saw the test folds); on evaluator-confirmed rows it is not. "
    "The shipped model's honest CV is in models/tagger/metadata.json."
)


def _encoder_description() -> str:
    """What encoder the hybrid heads sit on (the shipped model's, fine-tuned or not)."""
    try:
        shipped = json.loads((DEFAULT_MODEL_DIR / "metadata.json").read_text())
        return f"{shipped.get('encoder')} (from {shipped.get('name')} {shipped.get('version')})"
    except (OSError, json.JSONDecodeError):
        return "models/tagger/encoder"


def check_out_dir(out: Path, force: bool) -> None:
    """Refuse to write into a non-empty folder (e.g. the shipped model) without --force."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        shipped = " (the shipped model)" if out.resolve() == DEFAULT_MODEL_DIR.resolve() else ""
        raise InputError(f"--out {out}{shipped} is not empty: choose a new folder or add --force")


def load_training_table(annomi: Path | None, extra: Path | None,
                        limit_transcripts: int | None = None,
                        codebook: Codebook | None = None) -> pd.DataFrame:
    """AnnoMI (+ confirmed labels) in one table, read through ``codebook`` (default: shipped)."""
    book = codebook or load_codebook()
    table = read_annomi(annomi or default_annomi_csv(), book)
    if limit_transcripts:
        keep = sorted(table["transcript_id"].unique())[:limit_transcripts]
        table = table[table["transcript_id"].isin(keep)]
    table["source"] = "annomi"
    if extra:
        prac, fam = set(book.practitioner_codes), set(book.family_codes)
        confirmed = read_confirmed(extra, prac, fam, book)
        confirmed["source"] = "confirmed"
        table = pd.concat([table, confirmed], ignore_index=True)
    table["transcript_id"] = table["transcript_id"].astype(str)
    return table.reset_index(drop=True)


def train(out: Path, table: pd.DataFrame, emb: np.ndarray, prev: np.ndarray, version: str,
          folds: int = 5, progress: Callable[[str], None] | None = None,
          codebook: Codebook | None = None) -> dict:
    """Fit on everything, write the model + metadata.json + report.json into ``out``."""
    say = progress or (lambda _msg: None)
    started = time.time()
    cv = None
    if folds and folds > 1:
        say(f"grouped {folds}-fold CV by transcript ...")
        cv = cross_validate(table, emb, prev, n_splits=folds,
                            progress=lambda k, n: say(f"  fold {k}/{n} done"))
    say("fitting the final model on all data ...")
    heads = fit_all(table, emb, prev)  # no client offsets: the talk-context stage has them
    book = codebook or load_codebook()
    meta = {
        "name": MODEL_NAME,
        "version": version,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "codebook": f"{book.name}@{book.version}",
        "encoder": _encoder_description(),
        "heads": {k: {"classes": h.classes, "offsets": [round(float(o), 3) for o in h.offsets],
                      "config": CONFIGS[k].__dict__} for k, h in heads.items()},
        "training_data": {
            "n_utterances": int(len(table)),
            "n_transcripts": int(table["transcript_id"].nunique()),
            "sources": table["source"].value_counts().to_dict(),
        },
        "sklearn_version": sklearn.__version__,
        "python": platform.python_version(),
        "cue_codes": list(book.cue_codes()),
    }
    if cv is not None and cv["context"] is not None:
        meta["talk_context"] = cv["context_info"]
    if cv is not None:
        meta["cv"] = {
            "folds": folds, "grouped_by": "transcript_id", "note": CV_NOTE,
            "tasks": {t: {**s.short(), "per_class": s.per_class, "labels": s.labels,
                          "confusion": s.confusion} for t, s in cv["scores"].items()},
        }
    save_tagger(out, heads, meta, cv["context"] if cv else None)
    # The heads read this encoder's embeddings: pin a copy, so that a later shipped encoder
    # cannot silently change what they see.
    if not (out / "encoder" / "model.bin").is_file():
        import shutil

        shutil.copytree(DEFAULT_MODEL_DIR / "encoder", out / "encoder", dirs_exist_ok=True)
    meta["train_seconds"] = round(time.time() - started, 1)
    (out / "report.json").write_text(json.dumps(meta.get("cv", {}), indent=2) + "\n")
    if cv is not None:
        from training.report import confusion_pngs

        confusion_pngs(cv["scores"], out)
    return meta


def train_cli(out: Path, annomi: Path | None = None, extra: Path | None = None,
              force: bool = False, folds: int = 5, limit_transcripts: int | None = None,
              version: str | None = None, progress: Callable[[str], None] | None = None,
              codebook: Codebook | None = None) -> dict:
    """What ``msw-audio tagger train`` does; returns a short JSON-able report."""
    check_out_dir(out, force)
    say = progress or (lambda _msg: None)
    table = load_training_table(annomi, extra, limit_transcripts, codebook)
    say(f"{len(table)} utterances from {table['transcript_id'].nunique()} transcripts; "
        "embedding ...")
    encoder = Encoder(DEFAULT_MODEL_DIR / "encoder")
    emb, prev = embed_table(table, encoder)
    version = version or dt.datetime.now(dt.timezone.utc).strftime("retrained-%Y%m%d-%H%M%S")
    meta = train(out, table, emb, prev, version, folds=folds, progress=progress,
                 codebook=codebook)
    summary = {"out": str(out), "name": meta["name"], "version": version,
               "n_utterances": meta["training_data"]["n_utterances"]}
    for task, s in meta.get("cv", {}).get("tasks", {}).items():
        summary[task] = {"macro_f1": s["macro_f1"], "kappa": s["kappa"]}
    if "cv" in meta:
        summary["cv_note"] = CV_NOTE
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the msw-audio behaviour tagger.")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--annomi", type=Path)
    parser.add_argument("--extra", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--version")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--card", action="store_true", help="also write models/MODEL_CARD.md")
    args = parser.parse_args()
    report = train_cli(args.out, args.annomi, args.extra, args.force, args.folds,
                       version=args.version, progress=print)
    if args.card:
        from training.report import write_model_card

        write_model_card(args.out)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
