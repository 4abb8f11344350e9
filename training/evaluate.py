"""Score a tagger on any CSV with AnnoMI's columns (``msw-audio tagger evaluate``).

Where an utterance has several annotators the majority label is the reference. The numbers
are the issue's three tasks: practitioner 4-way (question/reflection/input/other), 6-way
(open/closed question, simple/complex reflection, input, other) and family-member 3-way
(change/neutral/sustain); macro-F1 and Cohen's kappa.
"""

from __future__ import annotations

from pathlib import Path

from msw_audio.coding.tagger import load_tagger
from training.annomi import read_annomi
from training.data import embed_table
from training.model import score_predictions

TASKS = ("therapist_4way", "therapist_6way", "client_3way")


def evaluate_csv(path: Path, model_dir: Path | None = None) -> dict:
    """``{"summary": {task: {macro_f1, kappa}|None, n_utterances}, "scores": TaskScores...}``."""
    table = read_annomi(path)
    tagger = load_tagger(model_dir)
    emb, prev = embed_table(table, tagger.encoder)
    pred = tagger.predict(table["role"].tolist(), table["text"].tolist(),
                          table["prev_text"].tolist(), emb, prev,
                          sessions=table["transcript_id"].tolist())
    scores = score_predictions(table, pred)
    summary: dict = {
        task: ({"macro_f1": round(scores[task].macro_f1, 4), "kappa": round(scores[task].kappa, 4)}
               if task in scores else None)
        for task in TASKS
    }
    summary["n_utterances"] = int(len(table))
    summary["model"] = {"name": tagger.name, "version": tagger.version}
    return {"summary": summary, "scores": scores}


def format_table(result: dict) -> str:
    summary = result["summary"]
    lines = [f"model {summary['model']['name']} {summary['model']['version']}, "
             f"{summary['n_utterances']} utterances", f"{'task':<16}{'macro-F1':>10}{'kappa':>8}"]
    for task in TASKS:
        s = summary[task]
        lines.append(f"{task:<16}" + (f"{s['macro_f1']:>10.3f}{s['kappa']:>8.3f}" if s else
                                      f"{'n/a':>10}{'n/a':>8}"))
    return "\n".join(lines)
