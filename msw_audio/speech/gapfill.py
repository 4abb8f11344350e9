"""A second Whisper pass on diarization turns that received no words.

Why: tiny.en, decoding a whole recording, drops short turns ("Mm hmm.", "Yeah.", "Okay.",
"No.") — they are what is left of the gap between utterances per reference turn and its goal
(benchmarks/RESULTS.md, "Turn boundaries and word speakers"). Diarization does find most of
them. Decoded *alone* (no previous text, no VAD: the span is already known to hold speech),
Whisper usually hears them. Alone it also invents text on noise, so every decoded segment
passes a guard (no-speech probability, average log-probability, compression ratio, words per
second, known hallucinations) before its words are inserted with the turn's speaker.

The pass is deterministic (greedy at temperature 0 only, no sampling fallback) and its
settings (``GapFillOptions``) are recorded in session.json and in the stage cache key.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from msw_audio.records import Turn, Word

SAMPLE_RATE = 16000

#: Bumped when the rules that pick the inserted words change (not their settings, which
#: ``GapFillOptions`` records): the pipeline's stage cache keys on it, so a cached gap pass
#: made under older rules is decoded again. 2: other spellings of a first-pass reply and
#: words decoded over first-pass words inside the turn are dropped.
RULES_VERSION = 2

#: What Whisper says on near-silence or noise (YouTube-subtitle habits), normalised.
HALLUCINATIONS = frozenset({
    "thank you", "thank you very much", "thanks for watching", "thank you for watching",
    "please subscribe", "subtitles by the amara org community", "you", "bye", "so",
})


@dataclass(frozen=True)
class GapFillOptions:
    enabled: bool = True
    # A turn this long with no word overlapping it is decoded alone (the issue's ~0.3 s:
    # shorter turns are diarization's flicker at a hand-over, not a missing word).
    min_turn: float = 0.3
    # ... or a turn whose words cover at most this share of it, leaving ``min_turn`` seconds
    # unheard: a reply spoken over the end of the other speaker's last word ("lot. | Yeah.",
    # "try. | Okay."), which Whisper's loose end times make overlap the turn.
    max_covered: float = 0.5
    # Turns longer than this are not a dropped short reply; decoding them alone would be a
    # second transcription of whole stretches Whisper judged silent.
    max_turn: float = 10.0
    # Audio decoded either side of the turn (never past a neighbouring word): diarization's
    # edges clip a word's onset.
    pad: float = 0.2
    # -- the guard (chosen on the tuning set only, benchmarks/align_eval.py --gapfill) ----
    max_no_speech: float = 0.6  # segment's no_speech_prob above this: dropped
    min_avg_logprob: float = -1.0  # segment's avg_logprob below this: dropped
    max_compression: float = 2.4  # gzip compression ratio above this (repetition): dropped
    max_words_per_second: float = 5.0  # over the turn's duration (+1 word): dropped
    min_word_probability: float = 0.0  # a word under this is dropped
    max_words: int = 0  # more words than this in one turn: all dropped (0: no cap)
    hallucinations: tuple[str, ...] = field(default_factory=lambda: tuple(sorted(HALLUCINATIONS)))


@dataclass(frozen=True)
class DecodedSegment:
    """One Whisper segment of a decoded span (word times relative to the span's start)."""

    words: tuple[Word, ...]
    no_speech_prob: float
    avg_logprob: float
    compression_ratio: float


#: samples (float32, 16 kHz) -> decoded segments
Decoder = Callable[[np.ndarray], Sequence[DecodedSegment]]

_PUNCT = re.compile(r"[^\w' ]+")

#: Spellings Whisper gives one short reply from one decode to the next, as one form. Why:
#: the gap pass decodes a span again that the first pass already heard; its duplicate check
#: compares text, and the demo's parent's "Yeah," came back from the first pass as "Yes."
#: and from the gap pass as "Yeah." (inserted twice, the second on the practitioner's line).
SAME_WORD = {
    **dict.fromkeys(("yeah", "yea", "yep", "yup", "ya", "yah"), "yes"),
    **dict.fromkeys(("ok", "k", "kay"), "okay"),
    **dict.fromkeys(("nope", "nah"), "no"),
    **dict.fromkeys(("mhm", "mm", "hmm", "mmhmm", "mm hmm", "mm hm", "uh huh", "um hmm",
                     "hm"), "mm hmm"),
}


def _normalise(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def _same_word(text: str) -> str:
    """``text`` normalised, with the spellings of one short reply made one (``SAME_WORD``)."""
    norm = _normalise(text.replace("-", " "))
    return SAME_WORD.get(norm, norm)


def find_gaps(words: Sequence[Word], turns: Sequence[Turn],
              options: GapFillOptions = GapFillOptions()) -> list[Turn]:
    """Diarization turns of ``min_turn``–``max_turn`` seconds that Whisper's words leave
    (nearly) unheard: words cover at most ``max_covered`` of the turn and at least
    ``min_turn`` seconds of it are covered by none."""
    spans = sorted((w.start, w.end) for w in words)
    starts = [s for s, _ in spans]
    longest = max((e - s for s, e in spans), default=0.0)
    gaps = []
    for turn in sorted(turns, key=lambda t: (t.start, t.end)):
        duration = turn.end - turn.start
        if not options.min_turn <= duration <= options.max_turn:
            continue
        lo = bisect.bisect_left(starts, turn.start - longest)
        hi = bisect.bisect_left(starts, turn.end)
        covered, reach = 0.0, turn.start  # union of the words' overlap with the turn
        for s, e in spans[lo:hi]:
            s, e = max(s, reach), min(e, turn.end)
            if e > s:
                covered += e - s
                reach = e
        if covered <= options.max_covered * duration and duration - covered >= options.min_turn:
            gaps.append(turn)
    return gaps


def guard(segments: Sequence[DecodedSegment], turn: Turn,
          options: GapFillOptions = GapFillOptions()) -> list[Word]:
    """The words of ``segments`` that pass the hallucination guard (times as given)."""
    kept: list[Word] = []
    banned = set(options.hallucinations)
    for seg in segments:
        if (seg.no_speech_prob > options.max_no_speech
                or seg.avg_logprob < options.min_avg_logprob
                or seg.compression_ratio > options.max_compression):
            continue
        if _normalise(" ".join(w.text for w in seg.words)) in banned:
            continue
        kept.extend(w for w in seg.words if w.probability >= options.min_word_probability)
    if (len(kept) > options.max_words_per_second * (turn.end - turn.start) + 1
            or 0 < options.max_words < len(kept)):
        return []
    return kept


def fill_gaps(words: Sequence[Word], turns: Sequence[Turn], audio, decoder: Decoder,
              options: GapFillOptions = GapFillOptions(),
              progress: Callable[[float], None] | None = None) -> list[Word]:
    """Words heard in the gap turns, each with its turn's speaker, sorted by time.

    ``audio`` is anything sliced like a 16 kHz float32 array (an array or
    ``speech.scratch.ScratchAudio``). Decoded words the first pass already has (the context
    around the turn) are left out; the rest are the turn's, their times clipped to it (its
    edges are diarization's, frame-accurate; Whisper's are loose on clips this short: the
    three-speaker "Okay." comes back 0.1 s before its turn).
    """
    if not options.enabled:
        return []
    ends = sorted(w.end for w in words)
    ordered = sorted(words, key=lambda w: (w.start, w.end))
    starts = [w.start for w in ordered]
    out: list[Word] = []
    gaps = find_gaps(words, turns, options)
    for done, turn in enumerate(gaps):
        if progress is not None:
            progress(done / len(gaps))  # one decode per turn: the fraction of turns done
        # context from the last word ending before the turn to the first starting after it
        i = bisect.bisect_right(ends, turn.start) - 1
        j = bisect.bisect_left(starts, turn.end)
        lo = max(turn.start - options.pad, ends[i] if i >= 0 else 0.0, 0.0)
        hi = min(turn.end + options.pad, starts[j] if j < len(starts) else float("inf"),
                 len(audio) / SAMPLE_RATE)
        if hi - lo < 0.1:
            continue
        segments = decoder(np.asarray(audio[int(lo * SAMPLE_RATE):int(hi * SAMPLE_RATE)],
                                      dtype=np.float32))
        inside = [w for w in ordered[bisect.bisect_left(starts, turn.start - 30.0):j]
                  if _overlap(w.start, w.end, turn.start, turn.end) >= 0.5 * _length(w)]
        local = [DecodedSegment(
            tuple(x for x in (Word(lo + w.start, lo + w.end, w.text, w.probability)
                              for w in s.words)
                  if not _heard(x, words)),
            s.no_speech_prob, s.avg_logprob, s.compression_ratio) for s in segments]
        # the guard judges the decode with the words heard again over the first pass's still
        # in it (they are speech Whisper put in this span: dropping them first would let a
        # decode too fast for the turn pass the words-per-second check); then they go
        kept = (_clipped(w, turn) for w in guard(local, turn, options))
        out.extend(w for w in kept if not _covered(w, inside))
    out.sort(key=lambda w: (w.start, w.end))
    return out


def _clipped(word: Word, turn: Turn) -> Word:
    """``word`` as inserted: its times clipped to ``turn``, the turn's speaker."""
    start = round(min(max(word.start, turn.start), turn.end), 3)
    end = round(max(min(word.end, turn.end), start), 3)
    return Word(start, end, word.text, word.probability, turn.speaker)


def _length(word: Word) -> float:
    return max(word.end - word.start, 0.05)


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(min(a1, b1) - max(a0, b0), 0.0)


def _covered(word: Word, inside: Sequence[Word]) -> bool:
    """True when most of ``word`` (decoded in a gap turn, clipped to it as it would be
    inserted) lies over first-pass words that sit inside that turn: the same speech heard
    again, under another spelling. Why: a turn only partly heard by the first pass is decoded
    whole, and the part already heard comes back misheard (the demo's parent's "Honestly,"
    came back as "Obviously," over it). Words of the first pass that merely run into the
    turn from outside do not count: a reply spoken over the end of the other speaker's word
    is what the pass is for (the three-speaker "Okay." over "try.")."""
    held = sum(_overlap(word.start, word.end, o.start, o.end) for o in inside)
    return held >= 0.5 * _length(word)


def _heard(word: Word, words: Sequence[Word], within: float = 0.5) -> bool:
    """True when the first pass already has this word (the same text within ``within``
    seconds, spellings of one short reply counted the same: "Yes." / "Yeah."): the context
    decoded around a turn repeats its neighbours' edges. Text, not time: Whisper's times on
    a clip this short are too loose to say which word is which (the three-speaker "Okay."
    comes back over the end of "try.")."""
    text = _same_word(word.text)
    return any(_same_word(o.text) == text for o in words
               if o.end >= word.start - within and o.start <= word.end + within)


def insert_words(attributed: Sequence[Word], extra: Sequence[Word]) -> list[Word]:
    """``attributed`` words (speakers set by ``align.assign_speakers``) with the gap words
    merged in by time; the gap words keep their turn's speaker."""
    return sorted([*attributed, *extra], key=lambda w: (w.start, w.end))


class WhisperSpanDecoder:
    """The loaded Whisper model (``speech.transcribe.Transcriber``) decoding one short span.

    No VAD (diarization already says the span holds speech), no previous text, greedy at
    temperature 0 only (no sampling fallback: deterministic), faster-whisper's own
    no-speech / log-prob filters off so that ``guard`` sees every segment and decides.
    """

    def __init__(self, transcriber) -> None:
        self.transcriber = transcriber

    def __call__(self, samples: np.ndarray) -> list[DecodedSegment]:
        t = self.transcriber
        language = t.options.language if t.multilingual else None
        segments, _info = t.model.transcribe(
            samples, language=language, beam_size=t.options.beam_size,
            word_timestamps=True, vad_filter=False, condition_on_previous_text=False,
            temperature=[0.0], no_speech_threshold=None, log_prob_threshold=None,
            compression_ratio_threshold=None)
        out = []
        for seg in segments:
            words = tuple(Word(round(float(w.start), 3), round(float(w.end), 3),
                               w.word.strip(), round(float(w.probability), 4))
                          for w in seg.words or [] if w.word.strip())
            out.append(DecodedSegment(words, float(seg.no_speech_prob),
                                      float(seg.avg_logprob), float(seg.compression_ratio)))
        return out
