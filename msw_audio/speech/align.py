"""Words + speaker turns -> speaker-attributed utterances.

Each word goes to the speaker whose turn overlaps it most, with one exception that matters
for coding: a short turn *inside* another speaker's long turn (a parent's "yeah", a child's
"no" while the practitioner talks) keeps its words. Diarization marks those as overlapping
turns; the most specific (shortest) turn covering most of the word wins, so backchannels are
not swallowed by the surrounding speaker.

Utterances are then cut at a change of speaker, a long pause, or the end of a sentence:
MITI codes behaviours per utterance (a complete thought), and a sentence is the closest
unit Whisper's punctuation gives us.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from msw_audio.records import Speaker, Turn, Utterance, Word

SENTENCE_END = (".", "?", "!")


@dataclass(frozen=True)
class AlignOptions:
    max_pause: float = 1.5  # seconds of silence that end an utterance
    max_utterance: float = 30.0  # seconds; longer monologues are split at the next word
    cover: float = 0.5  # a turn covering this share of a word is a candidate for it
    short_turn: float = 2.0  # turns up to this long count as backchannels inside others
    min_word: float = 0.2  # Whisper gives some words ~0 s; judge them on a window this wide


def assign_speakers(words: Iterable[Word], turns: list[Turn],
                    options: AlignOptions = AlignOptions()) -> list[Word]:
    """Return copies of ``words`` with ``speaker`` set (None only when there are no turns)."""
    turns = sorted(turns, key=lambda t: t.start)
    out: list[Word] = []
    lo = 0
    for word in words:
        # turns are sorted by start; skip those that ended well before this word
        while lo < len(turns) and turns[lo].end < word.start - 30:
            lo += 1
        speaker = _best_speaker(word, turns, lo, options)
        out.append(Word(word.start, word.end, word.text, word.probability, speaker))
    return out


def _best_speaker(word: Word, turns: list[Turn], lo: int, options: AlignOptions) -> str | None:
    if not turns:
        return None
    start, end = word.start, word.end
    if end - start < options.min_word:
        mid = (start + end) / 2
        start, end = mid - options.min_word / 2, mid + options.min_word / 2
    duration = end - start
    overlaps: dict[int, float] = {}
    for i in range(lo, len(turns)):
        turn = turns[i]
        if turn.start >= end:
            break
        overlap = min(turn.end, end) - max(turn.start, start)
        if overlap > 0:
            overlaps[i] = overlap
    if not overlaps:
        # In a gap between turns: the nearest turn is the likeliest speaker.
        mid = (start + end) / 2
        nearest = min(turns, key=lambda t: min(abs(t.start - mid), abs(t.end - mid)))
        return nearest.speaker
    covering = [i for i, ov in overlaps.items() if ov / duration >= options.cover]
    short = [i for i in covering if turns[i].end - turns[i].start <= options.short_turn]
    if len(covering) > 1 and short:
        best = min(short, key=lambda i: turns[i].end - turns[i].start)
    else:
        best = max(overlaps, key=overlaps.get)
    return turns[best].speaker


def build_utterances(words: list[Word], options: AlignOptions = AlignOptions()) -> list[Utterance]:
    """Group speaker-attributed words into utterances (ids u0001, u0002, ...)."""
    groups: list[list[Word]] = []
    for word in words:
        if groups and not _starts_new(groups[-1], word, options):
            groups[-1].append(word)
        else:
            groups.append([word])
    return [
        Utterance(
            id=f"u{i:04d}",
            start=group[0].start,
            end=group[-1].end,
            speaker=group[0].speaker or "SPEAKER_00",
            text=_join(group),
            words=group,
        )
        for i, group in enumerate(groups, 1)
    ]


def _starts_new(group: list[Word], word: Word, options: AlignOptions) -> bool:
    last = group[-1]
    return (
        word.speaker != last.speaker
        or word.start - last.end > options.max_pause
        or last.text.endswith(SENTENCE_END)
        or word.end - group[0].start > options.max_utterance
    )


def _join(words: list[Word]) -> str:
    text = " ".join(w.text for w in words)
    # Whisper sometimes emits punctuation or contractions as separate tokens.
    for mark in (" ,", " .", " ?", " !", " '", " n't"):
        text = text.replace(mark, mark.lstrip())
    return text


def speakers_from(turns: list[Turn], utterances: list[Utterance]) -> list[Speaker]:
    """One ``Speaker`` per label heard, with talk time from diarization (role set later)."""
    talk: dict[str, float] = {}
    for turn in turns:
        talk[turn.speaker] = talk.get(turn.speaker, 0.0) + (turn.end - turn.start)
    for utt in utterances:
        talk.setdefault(utt.speaker, 0.0)
    return [Speaker(id=s, talk_time=round(t, 3)) for s, t in sorted(talk.items())]
