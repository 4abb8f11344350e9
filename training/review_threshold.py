"""Choose the review-by-exception threshold from a measured curve (out of fold, AnnoMI).

    python -m training.review_threshold [--model models/tagger] [--plot PNG] [--no-write]

"Accept every suggestion at or above T % confidence" is only safe where the accepted lines
agree with a human coder. This prints, for each T, the share of lines that a bulk accept
would confirm and how often those top codes equal AnnoMI's human codes, on the 113
development transcripts (the 20 held-out ones are never read), using the tagger's
out-of-fold code distributions (``cv_predictions.json.gz``: five encoders, each coding the
transcripts it never saw) with cross-fitted calibration (each fold calibrated by the other
four, as ``training.calibrate`` reports) — the confidences the review screen shows.

The default is the lowest T at which the accepted lines agree >= 90 % (and keep doing so
at every higher T). Why also a nested check: that T is chosen on the same out-of-fold rows
it is reported on, so the script also picks T on four folds of transcripts and measures
the fifth; both figures go in the model card. Writes ``review_threshold.json`` (read by
``msw_audio.review.by_exception.default_threshold``, the one place the default lives) and
a plot.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from training.calibrate import HEAD_CLASSES, choose_and_fit, load_oof

TARGET = 0.90
GRID = np.round(np.arange(0.30, 0.991, 0.01), 2)
FOLDS = 5


def _rows(model_dir: Path) -> dict[str, np.ndarray]:
    """Pooled rows (both heads): top probability, top right?, head, transcript, quality."""
    oof = load_oof(model_dir)
    _, cross = choose_and_fit(oof)
    parts = []
    for head, rows in oof.items():
        p = cross[head]
        parts.append((p.max(1), p.argmax(1) == rows.y, np.full(len(rows.y), head),
                      rows.transcript, rows.quality))
    return {k: np.concatenate([x[i] for x in parts])
            for i, k in enumerate(("top", "right", "head", "transcript", "quality"))}


def curve(top: np.ndarray, right: np.ndarray, grid: np.ndarray = GRID) -> list[dict]:
    out = []
    for t in grid:
        acc = top >= t
        n = int(acc.sum())
        out.append({"threshold": float(t), "share_accepted": round(float(acc.mean()), 4),
                    "agreement": round(float(right[acc].mean()), 4) if n else None,
                    "n_accepted": n})
    return out


def choose(points: list[dict], target: float = TARGET) -> float | None:
    """Lowest T whose accepted lines agree >= ``target`` at T and at every higher T."""
    best = None
    for pt in reversed(points):
        if pt["agreement"] is None:
            continue
        if pt["agreement"] < target:
            break
        best = pt["threshold"]
    return best


def nested(rows: dict[str, np.ndarray], seed: int = 0) -> dict:
    """T chosen on four folds of transcripts, measured on the fifth (grouped, stratified)."""
    from sklearn.model_selection import StratifiedGroupKFold

    cv = StratifiedGroupKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    per_fold = []
    n_acc = n_right = n_all = 0
    for tr, te in cv.split(rows["top"], rows["quality"], groups=rows["transcript"]):
        t = choose(curve(rows["top"][tr], rows["right"][tr]))
        acc = rows["top"][te] >= (t if t is not None else 2.0)
        per_fold.append({"threshold": t, "share_accepted": round(float(acc.mean()), 4),
                         "agreement": round(float(rows["right"][te][acc].mean()), 4)
                         if acc.any() else None})
        n_acc += int(acc.sum())
        n_right += int(rows["right"][te][acc].sum())
        n_all += len(te)
    return {"folds": per_fold, "share_accepted": round(n_acc / n_all, 4),
            "agreement": round(n_right / max(n_acc, 1), 4)}


def plot(points: list[dict], by_head: dict[str, list[dict]], default: float | None,
         path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.4))
    ts = [p["threshold"] for p in points]
    ax.plot(ts, [p["agreement"] for p in points], color="tab:blue", lw=2,
            label="agreement of accepted lines (all)")
    ax.plot(ts, [p["share_accepted"] for p in points], color="tab:orange", lw=2,
            label="share of lines accepted (all)")
    for (head, pts), ls in zip(by_head.items(), (":", "-."), strict=False):
        ax.plot(ts, [p["agreement"] for p in pts], color="tab:blue", lw=1, ls=ls,
                label=f"agreement, {head} lines")
    ax.axhline(TARGET, color="grey", lw=1, ls="--")
    if default is not None:
        ax.axvline(default, color="tab:red", lw=1, label=f"default T = {round(100 * default)} %")
    ax.set_xlabel("accept at or above confidence T")
    ax.set_ylabel("share")
    ax.set_ylim(0, 1)
    ax.set_title("Review by exception: AnnoMI dev, out of fold (113 transcripts)")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> int:
    from msw_audio.coding.tagger import DEFAULT_MODEL_DIR

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    ap.add_argument("--plot", type=Path, default=None,
                    help="PNG (default: review_threshold.png in the model folder)")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    rows = _rows(args.model)
    points = curve(rows["top"], rows["right"])
    by_head = {h: curve(rows["top"][rows["head"] == h], rows["right"][rows["head"] == h])
               for h in HEAD_CLASSES}
    default = choose(points)
    check = nested(rows)
    print(f"{'T':>5} {'accepted':>9} {'agree':>7} {'practitioner':>13} {'family':>7}")
    for i, p in enumerate(points):
        if i % 5 and p["threshold"] != default:
            continue
        heads = " ".join(f"{by_head[h][i]['agreement'] or 0:>{w}.3f}"
                         for h, w in (("practitioner", 13), ("family", 7)))
        mark = "  <- default" if p["threshold"] == default else ""
        print(f"{p['threshold']:>5.2f} {p['share_accepted']:>9.3f} "
              f"{p['agreement'] or 0:>7.3f} {heads}{mark}")
    print(f"default T = {default}  (lowest T with accepted agreement >= {TARGET:.0%})")
    print(f"nested (T chosen on 4 folds, measured on the 5th): share accepted "
          f"{check['share_accepted']:.3f}, agreement {check['agreement']:.3f}, "
          f"T per fold {[f['threshold'] for f in check['folds']]}")
    if args.no_write:
        return 0
    at = next(p for p in points if p["threshold"] == default) if default else None
    record = {
        "format": "msw-review-threshold-1",
        "default_threshold": default,
        "rule": f"lowest T whose accepted lines agree with the human codes >= {TARGET:.0%} "
                "(at T and every higher T)",
        "source": "AnnoMI dev (113 transcripts, held-out 20 never read), out-of-fold "
                  "cv_predictions.json.gz with cross-fitted temperature calibration; "
                  "training/review_threshold.py",
        "n_lines": len(rows["top"]),
        "at_default": at,
        "at_default_by_head": {h: next(p for p in pts if p["threshold"] == default)
                               for h, pts in by_head.items()} if default else None,
        "nested_check": check,
        "curve": points,
        "curve_by_head": by_head,
    }
    (args.model / "review_threshold.json").write_text(json.dumps(record, indent=1) + "\n",
                                                      encoding="utf-8")
    plot(points, by_head, default, args.plot or args.model / "review_threshold.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
