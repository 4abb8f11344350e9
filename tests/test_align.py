"""Word-to-speaker assignment and utterance building (pure functions, no models)."""

from __future__ import annotations

import pytest

from msw_audio.records import Turn, Word
from msw_audio.speech.align import assign_speakers, build_utterances, speakers_from


def words(*spec):
    return [Word(s, e, t) for s, e, t in spec]


def test_each_word_goes_to_the_turn_it_overlaps_most():
    turns = [Turn(0.0, 2.0, "A"), Turn(2.0, 4.0, "B")]
    out = assign_speakers(words((0.1, 0.5, "Hello"), (1.7, 2.2, "there."), (2.6, 3.0, "Hi.")),
                          turns)
    assert [w.speaker for w in out] == ["A", "A", "B"]


def test_backchannel_inside_a_long_turn_is_not_swallowed():
    turns = [Turn(0.0, 10.0, "PRACTITIONER"), Turn(4.1, 4.6, "PARENT")]
    ws = words((3.0, 3.9, "so"), (4.2, 4.5, "yeah"), (4.7, 5.2, "school"))
    assert [w.speaker for w in assign_speakers(ws, turns)] == [
        "PRACTITIONER", "PARENT", "PRACTITIONER"]


def test_zero_length_word_takes_the_speaker_around_it():
    turns = [Turn(7.5, 8.35, "A"), Turn(8.3, 10.0, "B")]
    out = assign_speakers(words((8.98, 8.98, "I"), (8.98, 9.5, "didn't")), turns)
    assert [w.speaker for w in out] == ["B", "B"]


def test_word_in_a_gap_goes_to_the_nearest_turn():
    turns = [Turn(0.0, 1.0, "A"), Turn(5.0, 6.0, "B")]
    out = assign_speakers(words((4.5, 4.8, "well")), turns)
    assert out[0].speaker == "B"


def test_utterances_cut_at_speaker_change_pause_and_sentence_end():
    ws = [Word(0.0, 0.3, "How", speaker="A"), Word(0.35, 0.6, "are", speaker="A"),
          Word(0.65, 0.9, "you?", speaker="A"), Word(1.0, 1.2, "What", speaker="A"),
          Word(1.3, 1.5, "now", speaker="A"), Word(4.0, 4.3, "later", speaker="A"),
          Word(4.4, 4.7, "Fine.", speaker="B")]
    utts = build_utterances(ws)
    assert [u.text for u in utts] == ["How are you?", "What now", "later", "Fine."]
    assert [u.id for u in utts] == ["u0001", "u0002", "u0003", "u0004"]
    assert utts[0].start == 0.0 and utts[0].end == 0.9


def test_speakers_get_talk_time():
    turns = [Turn(0, 2, "A"), Turn(2, 3, "B"), Turn(3, 5, "A")]
    spk = speakers_from(turns, [])
    assert [(s.id, s.talk_time) for s in spk] == [("A", 4.0), ("B", 1.0)]


def test_word_speaker_error_maps_labels_and_counts_only_heard_words():
    from msw_audio.speech.evaluation import word_speaker_error

    reference = [("hi", "pat"), ("there", "pat"), ("yes", "sam"), ("thanks", "sam")]
    hyp = [Word(0, 1, "Hi", 1.0, "S0"), Word(1, 2, "there,", 1.0, "S0"),
           Word(2, 3, "yes", 1.0, "S0"),  # the boundary word on the wrong side
           Word(3, 4, "thank", 1.0, "S1")]  # misheard: not counted
    assert word_speaker_error(reference, hyp) == pytest.approx(1 / 3)
    assert word_speaker_error(reference, hyp[:2]) == 0.0
