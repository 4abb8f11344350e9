"""Confusion-matrix PNGs and the model card text from a trained model's metadata.json."""

from __future__ import annotations

import json
from pathlib import Path

TITLES = {
    "therapist_4way": "Practitioner 4-way",
    "therapist_6way": "Practitioner 6-way",
    "input_subtype": "Practitioner input subtype (where predicted input)",
    "client_3way": "Family member 3-way",
}


def confusion_pngs(scores: dict, out: Path) -> list[Path]:
    """One PNG per task: rows = reference (majority) label, columns = prediction."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    paths = []
    for task, s in scores.items():
        cm = np.array(s.confusion)
        fig, ax = plt.subplots(figsize=(1.2 * len(s.labels) + 2.5, 1.0 * len(s.labels) + 2))
        ax.imshow(cm, cmap="Blues")
        ax.set_xticks(range(len(s.labels)), s.labels, rotation=35, ha="right")
        ax.set_yticks(range(len(s.labels)), s.labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("reference (AnnoMI majority)")
        ax.set_title(f"{TITLES.get(task, task)}\nmacro-F1 {s.macro_f1:.3f}, kappa {s.kappa:.3f}")
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                        color="white" if cm[i, j] > cm.max() / 2 else "black")
        fig.tight_layout()
        path = out / f"confusion_{task}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def metrics_markdown(model_dir: Path) -> str:
    """Per-task and per-class CV tables for the model card."""
    meta = json.loads((model_dir / "metadata.json").read_text())
    tasks = meta.get("cv", {}).get("tasks", {})
    lines = ["| task | macro-F1 | Cohen's κ | n |", "|---|---|---|---|"]
    for task, s in tasks.items():
        lines.append(f"| {TITLES.get(task, task)} | {s['macro_f1']:.3f} | {s['kappa']:.3f} "
                     f"| {s['n']} |")
    for task, s in tasks.items():
        lines += ["", f"**{TITLES.get(task, task)}** per class:", "",
                  "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        for c, m in s["per_class"].items():
            lines.append(f"| {c} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} "
                         f"| {m['support']} |")
    return "\n".join(lines)


def write_model_card(model_dir: Path) -> None:
    """Fill the generated metrics section of models/MODEL_CARD.md (between markers)."""
    card = model_dir.parent / "MODEL_CARD.md"
    begin, end = "<!-- metrics:begin -->", "<!-- metrics:end -->"
    text = card.read_text() if card.exists() else f"{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    card.write_text(f"{head}{begin}\n{metrics_markdown(model_dir)}\n{end}{tail}")
