"""Accuracy measures shared by tests and benchmarks: WER (jiwer), DER (pyannote.metrics) and
the word speaker error (which speaker each correctly heard word went to).

Both normalise the same way everywhere, so a number in a test, a benchmark table and
RESULTS.md means the same thing.
"""

from __future__ import annotations

import re
from pathlib import Path

from msw_audio.records import Turn, Word

_PUNCT = re.compile(r"[^\w\s']")


def normalise_text(text: str) -> str:
    """Lowercase, drop punctuation (keeping apostrophes), collapse spaces."""
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def wer(reference: str, hypothesis: str) -> float:
    import jiwer

    return float(jiwer.wer(normalise_text(reference), normalise_text(hypothesis)))


def read_stm_text(path: Path) -> str:
    """Reference words of an STM file (``uri channel speaker start end text...``), in order."""
    rows = []
    for line in Path(path).read_text("utf-8").splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and not line.startswith(";;"):
            rows.append((float(parts[3]), parts[5]))
    return " ".join(text for _, text in sorted(rows))


def read_stm_words(path: Path) -> list[tuple[str, str]]:
    """``(normalised word, speaker)`` of every reference word of an STM file, in time order."""
    rows = []
    for line in Path(path).read_text("utf-8").splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and not line.startswith(";;"):
            rows.append((float(parts[3]), parts[2], parts[5]))
    return [(w, speaker) for _, speaker, text in sorted(rows, key=lambda r: r[0])
            for w in normalise_text(text).split()]


def word_speaker_error(reference: list[tuple[str, str]], words: list[Word]) -> float:
    """Share of correctly recognised words given to the wrong speaker.

    Why: DER scores time, WER scores words, but coding needs each word on the right side of
    a speaker change. Hypothesis words are aligned to the reference words (jiwer); among the
    words both agree on, each hypothesis speaker is mapped one-to-one to the reference
    speaker it shares most words with (Hungarian), and the rest count as errors.
    """
    import jiwer
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    words = sorted(words, key=lambda w: w.start)
    hyp = [(t, w.speaker or "") for w in words for t in normalise_text(w.text).split()]
    if not reference or not hyp:
        return float("nan")
    out = jiwer.process_words(" ".join(t for t, _ in reference), " ".join(t for t, _ in hyp))
    pairs = [(reference[c.ref_start_idx + i][1], hyp[c.hyp_start_idx + i][1])
             for c in out.alignments[0] if c.type == "equal"
             for i in range(c.ref_end_idx - c.ref_start_idx)]
    if not pairs:
        return float("nan")
    ref_ids = sorted({r for r, _ in pairs})
    hyp_ids = sorted({h for _, h in pairs})
    shared = np.zeros((len(ref_ids), len(hyp_ids)))
    for r, h in pairs:
        shared[ref_ids.index(r), hyp_ids.index(h)] += 1
    rows, cols = linear_sum_assignment(-shared)
    return float(1.0 - shared[rows, cols].sum() / len(pairs))


def read_rttm(path: Path, uri: str | None = None):
    """The pyannote ``Annotation`` of one uri in an RTTM file (the only one if uri is None)."""
    from pyannote.database.util import load_rttm

    annotations = load_rttm(str(path))
    if uri is None:
        if len(annotations) != 1:
            raise ValueError(f"{path} holds {len(annotations)} uris; name one")
        return next(iter(annotations.values()))
    return annotations[uri]


def der(reference, turns: list[Turn], collar: float = 0.0) -> float:
    """Diarization error rate of ``turns`` against a reference ``Annotation``."""
    from pyannote.metrics.diarization import DiarizationErrorRate

    from msw_audio.speech.diarize import turns_to_annotation

    hypothesis = turns_to_annotation(turns, uri=reference.uri)
    return float(DiarizationErrorRate(collar=collar)(reference, hypothesis))


def read_stm_turns(path: Path, merge_gap: float = 0.5) -> list[Turn]:
    """Reference speaker turns of an STM file: consecutive lines of one speaker closer than
    ``merge_gap`` seconds are one turn.

    Why: some references (pyannote's sample) write one line per sentence, others one per
    turn; joining same-speaker lines that follow without a pause makes both count turns. The
    default gap equals the boundary tolerance of ``boundary_f1``: two boundaries nearer than
    that cannot be told apart anyway.
    """
    rows = []
    for line in Path(path).read_text("utf-8").splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and not line.startswith(";;"):
            rows.append((float(parts[3]), float(parts[4]), parts[2]))
    turns: list[Turn] = []
    for start, end, speaker in sorted(rows):
        last = turns[-1] if turns else None
        if last and last.speaker == speaker and start - last.end < merge_gap:
            turns[-1] = Turn(last.start, max(last.end, end), speaker)
        else:
            turns.append(Turn(start, end, speaker))
    return turns


def boundary_f1(reference: list[Turn], hypothesis: list[tuple[float, float]],
                tolerance: float = 0.5) -> dict[str, float]:
    """Precision, recall and F1 of utterance boundaries against reference turn boundaries.

    Why: the tagger codes one utterance at a time, so what matters is that utterances start
    and end where turns do — a turn cut in two adds boundaries (precision falls), two turns
    run together lose them (recall falls). Every start and every end is a boundary point; a
    hypothesis point matches at most one reference point within ``tolerance`` seconds
    (maximum one-to-one matching, so near-duplicate points cannot match twice).
    """
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    ref = np.array(sorted(p for t in reference for p in (t.start, t.end)), dtype=float)
    hyp = np.array(sorted(p for s, e in hypothesis for p in (s, e)), dtype=float)
    if not len(ref) or not len(hyp):
        return {"precision": float("nan"), "recall": float("nan"), "f1": float("nan"),
                "matched": 0, "n_ref": len(ref), "n_hyp": len(hyp)}
    close = np.abs(ref[:, None] - hyp[None, :]) <= tolerance
    rows, cols = linear_sum_assignment(-close.astype(float))
    matched = int(close[rows, cols].sum())
    precision, recall = matched / len(hyp), matched / len(ref)
    f1 = 2 * precision * recall / (precision + recall) if matched else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "matched": matched,
            "n_ref": len(ref), "n_hyp": len(hyp)}
