"""The gap pass (``speech.gapfill``): which turns it decodes and what its guard keeps.

Unit tests on hand-made words and turns; the decoder is a fake (``FakeDecoder``), since
what is tested is the glue around Whisper, not Whisper. The real pass on real audio is
``test_gapfill_adds_the_missing_turn``.
"""

from __future__ import annotations

import numpy as np
import pytest

from msw_audio.records import Turn, Word
from msw_audio.speech.gapfill import (
    DecodedSegment,
    GapFillOptions,
    fill_gaps,
    find_gaps,
    guard,
    insert_words,
)

AUDIO = np.zeros(16000 * 20, dtype=np.float32)


def w(start: float, end: float, text: str, p: float = 0.9, speaker: str | None = None) -> Word:
    return Word(start, end, text, p, speaker)


def seg(*words: Word, no_speech: float = 0.1, logprob: float = -0.3,
        compression: float = 1.2) -> DecodedSegment:
    return DecodedSegment(tuple(words), no_speech, logprob, compression)


class FakeDecoder:
    """A fake Whisper: returns the given segments for every span and records the spans'
    lengths (glue test only)."""

    def __init__(self, *segments: DecodedSegment):
        self.segments = list(segments)
        self.calls: list[int] = []

    def __call__(self, samples: np.ndarray) -> list[DecodedSegment]:
        self.calls.append(len(samples))
        return self.segments


WORDS = [w(0.0, 0.5, "How"), w(0.5, 1.0, "was"), w(1.0, 1.6, "school?"),
         w(4.0, 4.5, "And"), w(4.5, 5.0, "then?")]
TURNS = [Turn(0.0, 1.7, "A"), Turn(2.2, 2.9, "B"), Turn(3.9, 5.1, "A"),
         Turn(3.0, 3.2, "B")]


def test_find_gaps_only_empty_turns_long_enough():
    gaps = find_gaps(WORDS, TURNS)
    assert gaps == [Turn(2.2, 2.9, "B")]  # the 0.2 s flicker at 3.0 is not a gap
    assert find_gaps(WORDS, TURNS, GapFillOptions(min_turn=0.1)) == [
        Turn(2.2, 2.9, "B"), Turn(3.0, 3.2, "B")]
    # a word over most of the turn: Whisper heard it; over its edge only: a gap still
    assert find_gaps([*WORDS, w(2.4, 3.0, "Fine")], TURNS) == []
    assert find_gaps([*WORDS, w(2.0, 2.3, "Fine")], TURNS) == [Turn(2.2, 2.9, "B")]
    assert find_gaps([*WORDS, w(2.0, 2.3, "Fine")], TURNS, GapFillOptions(max_covered=0.0)) == []
    assert find_gaps(WORDS, [Turn(6.0, 20.0, "B")]) == []  # longer than max_turn


def test_fill_gaps_inserts_with_the_turns_speaker_clipped_to_it():
    # span decoded from the previous word's end (1.6; pad 0.2 from 2.2 → 2.0) to 3.1
    decoder = FakeDecoder(seg(w(0.1, 0.5, "Fine."), w(1.0, 1.1, "outside")))
    extra = fill_gaps(WORDS, TURNS, AUDIO, decoder)
    assert decoder.calls == [int(3.1 * 16000) - int(2.0 * 16000)]
    # times clipped to the turn (Whisper's are loose on a clip this short)
    assert extra == [Word(2.2, 2.5, "Fine.", 0.9, "B"), Word(2.9, 2.9, "outside", 0.9, "B")]
    merged = insert_words([*WORDS], extra)
    assert [x.text for x in merged] == ["How", "was", "school?", "Fine.", "outside", "And",
                                        "then?"]
    assert fill_gaps(WORDS, TURNS, AUDIO, decoder, GapFillOptions(enabled=False)) == []


def test_fill_gaps_reports_the_fraction_of_turns_decoded():
    """The gap pass is a stage of its own in a job's progress (minutes on an hour's visit)."""
    seen: list[float] = []
    turns = [*TURNS, Turn(6.0, 6.8, "B")]
    fill_gaps(WORDS, turns, AUDIO, FakeDecoder(seg(w(0.1, 0.5, "Fine."))),
              progress=seen.append)
    assert seen == [0.0, 0.5]  # before each of the two decodes; the caller reports 1.0


def test_fill_gaps_drops_words_the_first_pass_has():
    """The context decoded around a turn repeats a word already there: not inserted twice."""
    words = [*WORDS, w(2.0, 2.35, "lot.")]
    decoder = FakeDecoder(seg(w(0.3, 0.55, "lot."), w(0.6, 0.9, "Yeah.")))  # span from 2.0
    extra = fill_gaps(words, TURNS, AUDIO, decoder)
    assert [x.text for x in extra] == ["Yeah."]


def test_fill_gaps_drops_another_spelling_of_a_reply_the_first_pass_has():
    """The demo's first line: the parent's "Yeah," heard as "Yes." by the first pass and as
    "Yeah." by the gap pass was inserted twice (the second on the practitioner's line)."""
    words = [*WORDS, w(2.95, 2.95, "Yes.")]
    decoder = FakeDecoder(seg(w(0.3, 0.6, "Yeah.")))  # span from 2.0: 2.3-2.6
    assert fill_gaps(words, TURNS, AUDIO, decoder) == []
    # another word is not a spelling of it
    decoder = FakeDecoder(seg(w(0.3, 0.6, "Fine.")))
    assert [x.text for x in fill_gaps(words, TURNS, AUDIO, decoder)] == ["Fine."]


def test_fill_gaps_drops_words_decoded_over_first_pass_words_inside_the_turn():
    """A turn half heard is decoded whole: what comes back over the heard word is that word
    misheard (the demo's "Honestly," came back as "Obviously,"), not a new one; a reply over
    the end of a word that runs into the turn from outside is kept."""
    turns = [Turn(0.0, 1.7, "A"), Turn(2.0, 3.3, "B")]
    words = [*WORDS[:3], w(2.27, 2.65, "Honestly,")]  # inside B's turn, 0.38 of its 1.3 s
    # the demo's times: "Obviously," decoded from 0.2 s before the turn (the pad) over
    # "Honestly,": under half of it as decoded, most of it as inserted (clipped to the turn)
    decoder = FakeDecoder(seg(w(0.0, 0.86, "Obviously,"), w(1.0, 1.3, "right.")))  # from 1.8
    assert [x.text for x in fill_gaps(words, turns, AUDIO, decoder)] == ["right."]
    # the first pass's word runs in from before the turn (mostly outside): kept
    words = [*WORDS[:3], w(1.75, 2.15, "try.")]
    decoder = FakeDecoder(seg(w(0.2, 0.5, "Okay.")))  # decoded from 1.8 (pad 0.2): 2.0-2.3
    assert [x.text for x in fill_gaps(words, turns, AUDIO, decoder)] == ["Okay."]


def test_words_heard_again_still_count_for_the_guard():
    """Dropping the re-heard word first would let a decode too fast for its turn through
    (the three-speaker "I won't have to make it." for "I was at Megan's.": 6 words in 0.96 s
    fail the 5 words/s guard; 5 would pass)."""
    turns = [Turn(0.0, 1.7, "A"), Turn(2.0, 2.96, "B")]
    words = [*WORDS[:3], w(2.05, 2.2, "Ah")]  # a first-pass word inside B's turn, heard as "I"
    texts = ["I", "won't", "have", "to", "make", "it."]
    decoder = FakeDecoder(seg(*(w(0.25 + 0.15 * k, 0.38 + 0.15 * k, t)
                                for k, t in enumerate(texts))))  # decoded from 1.8
    assert fill_gaps(words, turns, AUDIO, decoder) == []


@pytest.mark.parametrize(("segment", "kept"), [
    (seg(w(2.3, 2.6, "Fine.")), ["Fine."]),
    (seg(w(2.3, 2.6, "Fine."), no_speech=0.9), []),
    (seg(w(2.3, 2.6, "Fine."), logprob=-1.5), []),
    (seg(w(2.3, 2.6, "Fine."), compression=3.0), []),
    (seg(w(2.3, 2.5, "Thank"), w(2.5, 2.7, "you.")), []),  # a known hallucination
    (seg(*(w(2.2 + i * 0.1, 2.3 + i * 0.1, "la") for i in range(6))), []),  # 6 words / 0.7 s
])
def test_guard(segment, kept):
    assert [x.text for x in guard([segment], Turn(2.2, 2.9, "B"))] == kept


def test_guard_threshold_is_a_setting():
    loose = GapFillOptions(max_no_speech=0.95)
    assert guard([seg(w(2.3, 2.6, "Yeah."), no_speech=0.9)], Turn(2.2, 2.9, "B"), loose)
