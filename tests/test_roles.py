"""Role suggestion from text: practitioner found, child vs parent a low-confidence guess."""

from msw_audio.coding.roles import MAX_CHILD_CONFIDENCE, speaker_stats, suggest_roles
from msw_audio.records import AudioInfo, Session, Speaker, Utterance

TURNS = [
    ("A", "Hi, thanks for letting me come round today. How have things been since last week?"),
    ("B", "Honestly it's been hard. My son won't go to bed and I'm exhausted from work."),
    ("A", "So you're worn out, and bedtimes feel like a battle. What have you tried so far?"),
    ("B", "I've tried taking his tablet off him but my partner gives it back."),
    ("A", "It sounds like you and your partner see it differently. What would you like to change?"),
    ("B", "I want the kids in bed by eight. I know it matters for school."),
    ("A", "Jamie, how's school going? Do you like your teacher?"),
    ("C", "It's okay. My teacher is nice but I miss my mum when I'm at school."),
    ("A", "You miss your mum. What do you do at playtime?"),
    ("C", "I play football with my friends and then homework."),
    ("B", "He's really good at football, my boy."),
]


def _session(turns=TURNS) -> Session:
    utts = [Utterance(id=f"u{i}", start=2.0 * i, end=2.0 * i + 1.8, speaker=s, text=t)
            for i, (s, t) in enumerate(turns)]
    return Session(audio=AudioInfo("x.wav", "0" * 64, 30.0),
                   speakers=[Speaker("B"), Speaker("C"), Speaker("A")], utterances=utts)


def test_practitioner_parent_and_child_are_suggested():
    session = suggest_roles(_session())
    assert session.role_of("A") == "practitioner"
    assert session.role_of("B") == "parent"
    assert session.role_of("C") == "child"
    assert session.speaker("A").role_confidence >= 0.5
    assert 0 < session.speaker("C").role_confidence <= MAX_CHILD_CONFIDENCE
    assert session.speaker("A").talk_time > 0


def test_evidence_is_exposed_and_speakers_from_utterances_are_added():
    session = _session()
    session.speakers = []  # diarization records missing: speakers come from the utterances
    stats = {s.speaker: s for s in speaker_stats(session)}
    assert stats["A"].practitioner_score > stats["B"].practitioner_score
    assert stats["C"].child_cues > stats["C"].parent_cues
    suggest_roles(session)
    assert {s.id for s in session.speakers} == {"A", "B", "C"}


def test_single_speaker_and_empty_sessions():
    single = suggest_roles(_session(TURNS[:1]))
    assert single.role_of("A") == "practitioner"
    assert single.speaker("A").role_confidence <= 0.3
    empty = Session(audio=AudioInfo("x.wav", "0" * 64, 0.0))
    assert suggest_roles(empty).speakers == []


def test_practitioner_is_found_with_the_tagger_too():
    from msw_audio.coding.tagger import load_tagger

    tagger = load_tagger()
    session = suggest_roles(_session(), tagger=tagger)
    assert session.role_of("A") == "practitioner"
