"""Accuracy measures shared by tests and benchmarks: WER (jiwer) and DER (pyannote.metrics).

Both normalise the same way everywhere, so a number in a test, a benchmark table and
RESULTS.md means the same thing.
"""

from __future__ import annotations

import re
from pathlib import Path

from msw_audio.records import Turn

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

    from msw_audio.diarize import turns_to_annotation

    hypothesis = turns_to_annotation(turns, uri=reference.uri)
    return float(DiarizationErrorRate(collar=collar)(reference, hypothesis))
