#!/usr/bin/env python3
"""Every wrongly attributed word of an input, one line each, with what align saw.

Why: word speaker error is a count; fixing it needs the mechanism behind each error (a
hand-over Whisper times late, a gap word landing in the wrong utterance, a whole phrase
diarization gives to the wrong speaker). This prints, for each word the reference and the
transcript share but whose speaker is wrong after the best one-to-one mapping: the word, its
times, its speaker, the reference speaker (mapped), the diarization turns over it, whether it
came from the gap pass, and its utterance's text. Reuses ``align_eval``'s cache.

    .venv/bin/python benchmarks/word_errors.py demo three
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import align_eval  # noqa: E402


def wrong_words(stm: Path, utterances) -> list[tuple]:
    """(word, mapped reference speaker, utterance, reference context) of each wrong word."""
    import jiwer
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    from msw_audio.speech.evaluation import normalise_text, read_stm_words

    reference = read_stm_words(stm)
    flat = sorted(((w, u) for u in utterances for w in u.words), key=lambda p: p[0].start)
    hyp = [(t, w, u) for w, u in flat for t in normalise_text(w.text).split()]
    out = jiwer.process_words(" ".join(t for t, _ in reference), " ".join(h[0] for h in hyp))
    pairs = [(c.ref_start_idx + i, c.hyp_start_idx + i) for c in out.alignments[0]
             if c.type == "equal" for i in range(c.ref_end_idx - c.ref_start_idx)]
    refs = sorted({reference[r][1] for r, _ in pairs})
    hyps = sorted({hyp[h][1].speaker or "" for _, h in pairs})
    shared = np.zeros((len(refs), len(hyps)))
    for r, h in pairs:
        shared[refs.index(reference[r][1]), hyps.index(hyp[h][1].speaker or "")] += 1
    rows, cols = linear_sum_assignment(-shared)
    to_hyp = {refs[r]: hyps[c] for r, c in zip(rows, cols, strict=True)}
    wrong = []
    for r, h in pairs:
        _, word, utt = hyp[h]
        if to_hyp.get(reference[r][1]) != (word.speaker or ""):
            context = " ".join(t for t, _ in reference[max(r - 4, 0):r + 3])
            wrong.append((word, f"{reference[r][1]}→{to_hyp.get(reference[r][1])}", utt,
                          context))
    return wrong


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+", choices=["demo", "three", "visit", "sample"])
    parser.add_argument("--work-dir", type=Path, default=REPO / "out" / "align_eval")
    parser.add_argument("--no-gapfill", action="store_true")
    args = parser.parse_args(argv)

    from msw_audio.speech.align import AlignOptions, assign_speakers, build_utterances
    from msw_audio.speech.gapfill import GapFillOptions, insert_words

    gap = replace(GapFillOptions(), enabled=not args.no_gapfill)
    for name in args.inputs:
        (uri, audio, stm, _rttm), = align_eval.inputs()[name]
        words, turns = align_eval.cached_models_output(uri, audio, args.work_dir)
        extra = align_eval.gap_words(uri, audio, words, turns, args.work_dir, gap)
        extra_ids = {id(w) for w in extra}
        options = AlignOptions()
        utts = build_utterances(insert_words(assign_speakers(words, turns, options), extra),
                                options, turns=turns)
        wrong = wrong_words(stm, utts)
        print(f"== {name}: {len(wrong)} wrong words")
        for word, ref, utt, context in wrong:
            over = [f"{t.speaker}[{t.start:.2f}-{t.end:.2f}]" for t in turns
                    if t.end > word.start - 0.3 and t.start < word.end + 0.3]
            gapw = " GAP" if id(word) in extra_ids else ""
            print(f"{word.start:8.2f}-{word.end:6.2f} {word.text!r:14} hyp={word.speaker} "
                  f"ref={ref}{gapw}\n    turns: {' '.join(over)}\n    utt {utt.id} "
                  f"{utt.speaker} [{utt.start:.2f}-{utt.end:.2f}]: {utt.text[:110]}\n"
                  f"    ref: …{context}…")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
