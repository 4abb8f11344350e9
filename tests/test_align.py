"""Word-to-speaker assignment and utterance building (pure functions, no models)."""

from __future__ import annotations

import pytest

from msw_audio.records import Turn, Word
from msw_audio.speech.align import AlignOptions, assign_speakers, build_utterances, speakers_from


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


def test_word_in_the_silence_after_a_turn_ends_that_turn():
    """Whisper's last word of a turn runs late, into the silence before the next speaker
    (the demo's parent's "Really." 0.29 s after her turn, 0.26 s before the practitioner's):
    it is the turn before's, unless that turn ended longer than ``max_pause`` ago."""
    turns = [Turn(9.97, 14.41, "PARENT"), Turn(14.96, 18.8, "WORKER")]
    out = assign_speakers(words((13.14, 13.84, "usual."), (14.70, 14.70, "Really."),
                                (15.28, 15.60, "Busy.")), turns)
    assert [w.speaker for w in out] == ["PARENT", "PARENT", "WORKER"]


def test_a_pause_after_a_comma_does_not_end_the_phrase():
    """The demo's parent's "Honestly, I'm gutted…": diarization gives its first 1.3 s to the
    practitioner and Whisper leaves 0.56 s after the comma; the sentence stays hers. After a
    full stop the same pause ends the phrase (the word keeps its turn's speaker)."""
    turns = [Turn(154.4, 157.85, "WORKER"), Turn(158.69, 159.97, "WORKER"),
             Turn(159.97, 164.0, "PARENT")]
    spec = [(158.96, 159.34, "Honestly,"), (159.90, 160.30, "I'm"), (160.30, 160.90, "gutted."),
            (161.10, 161.60, "I"), (161.60, 162.20, "had")]
    assert [w.speaker for w in assign_speakers(words(*spec), turns)] == ["PARENT"] * 5
    spec[0] = (158.96, 159.34, "Honestly.")
    assert [w.speaker for w in assign_speakers(words(*spec), turns)] == ["WORKER"] + [
        "PARENT"] * 4
    short = AlignOptions(comma_pause=0.5)  # as before: the pause cut the phrase
    spec[0] = (158.96, 159.34, "Honestly,")
    assert assign_speakers(words(*spec), turns, short)[0].speaker == "WORKER"


def spoken(*spec):
    """Words with speakers already attributed: (start, end, text, speaker)."""
    return [Word(s, e, t, speaker=spk) for s, e, t, spk in spec]


def test_utterances_are_turns_cut_at_speaker_change_and_pause_not_sentence_end():
    ws = spoken((0.0, 0.3, "How", "A"), (0.35, 0.6, "are", "A"), (0.65, 0.9, "you?", "A"),
                (1.0, 1.2, "What", "A"), (1.3, 1.5, "now", "A"), (4.0, 4.3, "later", "A"),
                (4.4, 4.7, "Fine.", "B"))
    utts = build_utterances(ws)
    assert [u.text for u in utts] == ["How are you? What now", "later", "Fine."]
    assert [u.id for u in utts] == ["u0001", "u0002", "u0003"]
    assert utts[0].start == 0.0 and utts[0].end == 1.5


def test_length_cap_cuts_at_the_next_sentence_end():
    ws = [Word(i * 0.5, i * 0.5 + 0.4, "word." if i in (40, 70) else "word", speaker="A")
          for i in range(80)]  # 40 s of one speaker, sentence ends at 20.4 s and 35.4 s
    utts = build_utterances(ws, AlignOptions(max_utterance=30.0))
    assert [len(u.words) for u in utts] == [71, 9]  # not at 20 s (under the cap), at 35 s


def test_backchannel_is_its_own_utterance_inside_the_main_turn():
    ws = spoken((0.0, 0.4, "So", "PRAC"), (0.45, 0.8, "the", "PRAC"), (0.85, 1.3, "new", "PRAC"),
                (1.4, 1.7, "mm", "PARENT"), (1.7, 1.9, "hmm", "PARENT"),
                (2.0, 2.5, "shifts", "PRAC"), (2.55, 3.0, "changed", "PRAC"),
                (3.05, 3.5, "everything.", "PRAC"))
    utts = build_utterances(ws)
    assert [(u.speaker, u.text) for u in utts] == [
        ("PRAC", "So the new shifts changed everything."), ("PARENT", "mm hmm")]
    assert utts[0].start < utts[1].start < utts[1].end < utts[0].end  # overlap, sorted by start


def test_short_answer_after_a_finished_sentence_is_a_turn_not_a_backchannel():
    ws = spoken((0.0, 0.5, "Okay?", "PRAC"), (0.8, 1.1, "Yeah.", "PARENT"),
                (1.4, 1.8, "Good,", "PRAC"), (1.85, 2.2, "so", "PRAC"))
    assert [u.text for u in build_utterances(ws)] == ["Okay?", "Yeah.", "Good, so"]


def test_genuine_interruption_keeps_both_speakers():
    """B cuts A off mid-sentence and says more than a flip: a change of speaker, kept."""
    turns = [Turn(0.0, 1.6, "A"), Turn(1.6, 4.0, "B")]
    ws = words((0.0, 0.3, "I"), (0.35, 0.6, "was"), (0.65, 1.0, "going"), (1.05, 1.5, "to"),
               (1.65, 2.0, "sorry"), (2.05, 2.3, "can"), (2.35, 2.5, "I"), (2.55, 2.9, "just"),
               (2.95, 3.4, "say"))
    out = assign_speakers(ws, turns)
    assert [w.speaker for w in out] == ["A"] * 4 + ["B"] * 5
    assert [u.text for u in build_utterances(out)] == ["I was going to", "sorry can I just say"]


def test_phrase_straddling_a_diarization_boundary_stays_with_one_speaker():
    """Diarization hands over 0.3 s early: "I do." must not become "I" (A) / "do." (B)."""
    turns = [Turn(0.0, 2.3, "A"), Turn(2.3, 5.0, "B")]
    ws = words((0.0, 0.5, "Do"), (0.55, 0.9, "you?"), (2.0, 2.4, "I"),
               (2.45, 2.8, "do,"), (2.85, 3.2, "but"), (3.25, 3.6, "not"), (3.65, 4.0, "now."))
    out = assign_speakers(ws, turns)
    assert [w.speaker for w in out] == ["A", "A", "B", "B", "B", "B", "B"]
    assert [u.text for u in build_utterances(out)] == ["Do you?", "I do, but not now."]


def test_word_after_a_pause_is_not_smoothed():
    """Pauses (>= phrase_pause) are where another speaker may start: no smoothing across."""
    turns = [Turn(0.0, 1.0, "A"), Turn(1.6, 2.0, "B"), Turn(2.6, 4.0, "A")]
    ws = words((0.0, 0.4, "well"), (0.45, 0.9, "you"), (1.6, 1.9, "right"), (2.6, 3.0, "and"),
               (3.05, 3.4, "then"))
    assert [w.speaker for w in assign_speakers(ws, turns)] == ["A", "A", "B", "A", "A"]


def test_backchannel_turn_inside_a_phrase_keeps_its_speaker():
    """Diarization shows both talking (a short turn inside the main one): real overlap."""
    turns = [Turn(0.0, 10.0, "PRAC"), Turn(4.1, 4.6, "PARENT")]
    ws = words((3.0, 3.5, "so"), (3.55, 4.0, "the"), (4.2, 4.5, "yeah"), (4.55, 5.0, "school"),
               (5.05, 5.5, "rang."))
    out = assign_speakers(ws, turns)
    assert [w.speaker for w in out] == ["PRAC", "PRAC", "PARENT", "PRAC", "PRAC"]
    assert [(u.speaker, u.text) for u in build_utterances(out)] == [
        ("PRAC", "so the school rang."), ("PARENT", "yeah")]


def test_boundary_f1_and_reference_turns():
    from msw_audio.speech.evaluation import boundary_f1

    ref = [Turn(0.0, 2.0, "A"), Turn(2.5, 4.0, "B")]
    assert boundary_f1(ref, [(0.1, 1.8), (2.6, 4.2)])["f1"] == 1.0
    split = boundary_f1(ref, [(0.1, 1.0), (1.2, 1.8), (2.6, 4.2)])  # A's turn cut in two
    assert split["recall"] == 1.0 and split["precision"] == pytest.approx(4 / 6)
    merged = boundary_f1(ref, [(0.1, 4.2)])  # both turns run together
    assert merged["precision"] == 1.0 and merged["recall"] == 0.5


def test_stm_lines_of_one_speaker_without_a_pause_are_one_turn(tmp_path):
    from msw_audio.speech.evaluation import read_stm_turns

    stm = tmp_path / "x.stm"
    stm.write_text("x 1 A 0.0 1.0 Hello.\nx 1 A 1.1 2.0 How are you?\nx 1 B 2.2 3.0 Fine.\n"
                   "x 1 A 4.0 5.0 Good.\n")
    assert [(t.speaker, t.start, t.end) for t in read_stm_turns(stm)] == [
        ("A", 0.0, 2.0), ("B", 2.2, 3.0), ("A", 4.0, 5.0)]


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


def test_utterance_boundaries_snap_to_the_speakers_diarization_boundaries():
    """Whisper's last word runs on into the pause (and its first word starts early); the
    utterance takes diarization's boundary of its own speaker, the words keep their times."""
    turns = [Turn(1.62, 8.99, "A"), Turn(10.05, 12.0, "B")]
    ws = spoken((1.26, 2.0, "Thanks", "A"), (2.0, 8.0, "for", "A"), (8.74, 9.9, "week?", "A"),
                (10.38, 10.66, "Worse,", "B"), (10.9, 11.9, "honestly.", "B"))
    utts = build_utterances(ws, turns=turns)
    assert [(u.start, u.end) for u in utts] == [(1.62, 8.99), (10.05, 12.0)]
    assert utts[0].words[0].start == 1.26 and utts[0].words[-1].end == 9.9
    # without turns (or with none of its speaker nearby) the words' times stay
    assert [(u.start, u.end) for u in build_utterances(ws)] == [(1.26, 9.9), (10.38, 11.9)]


def test_a_snapped_boundary_never_crosses_a_neighbouring_word_or_the_snap_limit():
    turns = [Turn(0.0, 3.0, "A"), Turn(0.5, 2.5, "B")]
    ws = spoken((1.0, 1.5, "one.", "A"), (1.6, 2.0, "two.", "B"), (2.2, 2.8, "three.", "A"))
    utts = build_utterances(ws, turns=turns)
    # B's turn starts at 0.5 and ends at 2.5, but A's words sit at 1.5 and 2.2
    assert [(u.speaker, u.start, u.end) for u in utts] == [
        ("A", 0.0, 1.5), ("B", 1.6, 2.0), ("A", 2.2, 3.0)]
    far = build_utterances(ws, AlignOptions(snap_seconds=0.5), turns=turns)
    assert [(u.start, u.end) for u in far] == [(1.0, 1.5), (1.6, 2.0), (2.2, 3.0)]  # 1.0 s: too far


def test_a_flip_after_a_sentence_end_without_a_handover_there_is_smoothed():
    """One speaker goes on after "do?" without a pause; diarization changes speaker 0.4 s
    into the next sentence (not at the gap): its last words are not the other speaker's."""
    turns = [Turn(21.5, 25.02, "PARENT"), Turn(25.02, 26.1, "PRAC"), Turn(27.4, 30.0, "PRAC")]
    ws = words((21.5, 21.9, "It"), (21.9, 22.5, "was."), (22.9, 23.2, "But"), (23.2, 23.5, "what"),
               (23.5, 23.6, "can"), (23.6, 23.9, "I"), (23.9, 24.4, "do?"), (24.6, 24.9, "She"),
               (24.9, 25.3, "just"), (25.3, 25.7, "walks"), (25.7, 25.9, "out."),
               (27.6, 28.2, "I'm"), (28.2, 28.5, "glad."))
    out = assign_speakers(ws, turns)
    assert [w.speaker for w in out] == ["PARENT"] * 11 + ["PRAC"] * 2
    assert [u.text for u in build_utterances(out, turns=turns)] == [
        "It was. But what can I do? She just walks out.", "I'm glad."]


def test_a_sentence_end_glued_to_the_next_speakers_turn_stays_with_its_sentence():
    """The demo's "…supposed to be getting | on them. So the new shifts…": diarization hands
    over 0.9 s before the full stop (too early to end the phrase there), so the other
    speaker's run starts mid-sentence and runs on. The words before the full stop finish
    the first speaker's sentence; the next sentence is the other speaker's."""
    turns = [Turn(19.977, 28.651, "PARENT"), Turn(28.162, 28.955, "PRAC"),
             Turn(29.883, 33.612, "PRAC")]
    lead = [(20.0 + k, 21.0 + k, w) for k, w in enumerate(
        ("I", "get", "in", "about", "six,", "and", "I'm"))]  # the parent holds the phrase
    ws = words(*lead, (27.1, 27.6, "supposed"), (27.6, 27.8, "to"), (27.8, 28.0, "be"),
               (28.0, 28.32, "getting"), (28.32, 28.72, "on"), (28.72, 29.04, "them."),
               (29.17, 30.23, "So"), (30.23, 30.6, "the"), (30.6, 31.0, "new"),
               (31.0, 31.5, "shifts"), (31.5, 32.0, "have"), (32.0, 32.5, "changed."))
    out = assign_speakers(ws, turns)
    assert [w.speaker for w in out] == ["PARENT"] * 13 + ["PRAC"] * 6
    assert [u.text for u in build_utterances(out, turns=turns)] == [
        "I get in about six, and I'm supposed to be getting on them.",
        "So the new shifts have changed."]


def test_a_short_answer_at_a_handover_keeps_its_speaker():
    """A sentence end with diarization's change of speaker in its gap ends the phrase, so a
    quick two-word answer is not given to the speaker before it."""
    turns = [Turn(0.0, 2.0, "A"), Turn(2.1, 2.9, "B"), Turn(3.0, 6.0, "A")]
    ws = words((0.0, 0.5, "Is"), (0.5, 1.0, "that"), (1.0, 1.95, "right?"), (2.15, 2.5, "Yes,"),
               (2.5, 2.85, "sure."), (3.05, 3.5, "Good,"), (3.5, 4.0, "so"), (4.0, 4.5, "then"))
    out = assign_speakers(ws, turns)
    assert [w.speaker for w in out] == ["A"] * 3 + ["B"] * 2 + ["A"] * 3


def test_change_points_are_handovers_not_pauses():
    from msw_audio.speech.align import change_points

    turns = [Turn(0.0, 2.0, "A"), Turn(2.3, 4.0, "A"),  # a pause inside A's talk
             Turn(3.8, 6.0, "B"),  # B starts while A still talks (overlapping hand-over)
             Turn(4.5, 5.0, "A"),  # A's backchannel inside B's turn
             Turn(9.0, 10.0, "A")]  # after a long silence: no hand-over
    assert change_points(turns) == [3.8, 4.0, 4.5, 5.0]


def test_same_input_same_utterances_whatever_the_order_of_the_turns():
    """Determinism: align is a pure function of the words and the set of turns."""
    import random

    turns = [Turn(0.0, 2.3, "A"), Turn(2.3, 5.0, "B"), Turn(2.2, 2.9, "C"), Turn(5.5, 7.0, "A")]
    ws = words((0.0, 0.5, "Do"), (0.55, 0.9, "you?"), (2.0, 2.4, "I"), (2.45, 2.8, "do,"),
               (2.85, 3.2, "but"), (3.25, 3.6, "not"), (3.65, 4.0, "now."), (5.6, 6.0, "Fine."))
    first = build_utterances(assign_speakers(ws, turns), turns=turns)
    shuffled = random.Random(3).sample(turns, len(turns))
    assert build_utterances(assign_speakers(ws, shuffled), turns=shuffled) == first
    assert build_utterances(assign_speakers(ws, turns), turns=turns) == first
