"""Words + speaker turns -> speaker-attributed utterances, one per speaker turn.

Attribution: each word goes to the speaker whose turn overlaps it most, with one exception
that matters for coding: a short turn *inside* another speaker's long turn (a parent's "yeah",
a child's "no" while the practitioner talks) keeps its words. Diarization marks those as
overlapping turns; the most specific (shortest) turn covering most of the word wins, so
backchannels are not swallowed by the surrounding speaker. A word in silence between turns
goes to the turn before it (Whisper's times run late at a change of speaker).

Then no mid-sentence flips: diarization boundaries are a few hundred milliseconds off and
Whisper's word times too, so the first or last words of a sentence often land on the
neighbouring speaker ("I" practitioner / "do." parent). Within one phrase (words with no
pause between them, cut at a sentence end only where diarization hands over to another
speaker within ±0.3 s of it: Whisper's full stops inside one speaker's talk are not turn
ends) a short run of another speaker's words is given back to the phrase's main speaker,
unless diarization shows both speaking there (real overlap) — a genuine interruption is
longer than the run limit, or follows a pause.

Utterances are speaker turns: cut at a change of speaker, a long pause, or the length cap,
not at every sentence end. Why: the tagger was trained and validated on AnnoMI utterances,
which are whole turns, and fed sentence fragments it agrees with human coders less
(``benchmarks/coding_unit.py``). A backchannel ("mm hmm", "yeah") of another speaker while
the main speaker is mid-sentence becomes its own short utterance without cutting the main
speaker's turn in two, so utterances may overlap in time; they are sorted by start. Given
the diarization turns, an utterance starts and ends at its speaker's diarization boundary
nearest to its words' (Whisper's word times are loose at a change of speaker).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

from msw_audio.records import Speaker, Turn, Utterance, Word

SENTENCE_END = (".", "?", "!")


@dataclass(frozen=True)
class AlignOptions:
    # -- attribution ---------------------------------------------------------------------
    cover: float = 0.5  # a turn covering this share of a word is a candidate for it
    short_turn: float = 2.0  # turns up to this long count as backchannels inside others
    min_word: float = 0.2  # Whisper gives some words ~0 s; judge them on a window this wide
    # -- no mid-sentence flips -----------------------------------------------------------
    # A gap this long between two words ends a phrase: another speaker may take the floor
    # there. 0.5 s is the boundary tolerance of the evaluation (msw_audio.evaluation
    # .boundary_f1) and about the error of diarization boundaries seen on the demo and
    # three-speaker sessions; shorter gaps are within the timing noise of Whisper's words.
    phrase_pause: float = 0.5
    # ... but after a comma (Whisper saying the sentence goes on) a pause ends a phrase only
    # from this long: a speaker rarely hands over mid-sentence, and a diarization turn that
    # starts the next speaker's sentence early ("Honestly, | I'm gutted", the first 1.3 s given
    # to the practitioner) is cut off by a pause just over ``phrase_pause`` (0.56 s there).
    # 1.5 s = ``max_pause`` (the pause that ends an utterance anyway); on the tuning set 0.8,
    # 1.0 and 1.5 s give the same figures (benchmarks/align_eval.py --set comma_pause=…).
    comma_pause: float = 1.5
    # Runs of another speaker's words up to this many words (and seconds) inside a phrase
    # are attribution noise: the flips seen on the demo / three-speaker / sample sessions
    # were 1-3 words at a diarization boundary; a genuine interruption says more.
    max_flip_words: int = 3
    max_flip_seconds: float = 1.5
    # A sentence end ends a phrase only where diarization hands over (``change_points``)
    # this close to the gap after it; 0 = every sentence end ends a phrase (as before).
    # 0.3 s is the window proposed up front, not tuned: 0.2 s gives the same figures on the
    # tuning set, 0.5 s loses the three-speaker gain (benchmarks/align_eval.py).
    sentence_change: float = 0.3
    # -- utterances ----------------------------------------------------------------------
    max_pause: float = 1.5  # seconds of one speaker's silence that end an utterance (as before)
    # Length cap: past this many seconds an utterance ends at the next sentence end, past
    # twice it at the next word (the old cap, kept). 30 s is ~75 words at conversational
    # speed; 2.6 % of AnnoMI dev's turns are that long, so the cap rarely changes the unit
    # the tagger learnt on (benchmarks/coding_unit.py measures it: "turn, cap").
    max_utterance: float = 30.0
    # A run of another speaker this short (words and seconds), while the main speaker is
    # mid-sentence and resumes, is a backchannel: its own utterance inside the main one.
    # 2 s matches ``short_turn``; 4 words covers "mm hmm", "yeah, right", "oh okay yeah".
    backchannel_words: int = 4
    backchannel_seconds: float = 2.0
    # -- boundaries ----------------------------------------------------------------------
    # An utterance starts and ends where diarization says its speaker does, when such a
    # boundary lies this close to the first word's start / last word's end and does not
    # cross a neighbouring word. Why: tiny.en's word times are loose at a change of speaker
    # (a turn's last word often runs on to the next speaker's onset, its first word starts
    # early), while the segmentation network's boundaries are frame-accurate (~17 ms).
    # 1.5 s = ``max_pause``: a boundary further off than a pause that would end the
    # utterance is not this utterance's. Chosen on demo + three-speaker (0.3 / 0.5 s change
    # nothing, 1.0 s half the gain, 1.5 s and beyond the same); held-out unchanged
    # (benchmarks/align_eval.py, RESULTS.md).
    snap_seconds: float = 1.5


def assign_speakers(words: Iterable[Word], turns: list[Turn],
                    options: AlignOptions = AlignOptions()) -> list[Word]:
    """Return copies of ``words`` with ``speaker`` set (None only when there are no turns),
    without mid-phrase flips (see the module docstring)."""
    turns = sorted(turns, key=lambda t: t.start)
    out: list[Word] = []
    lo = 0
    for word in words:
        # turns are sorted by start; skip those that ended well before this word
        while lo < len(turns) and turns[lo].end < word.start - 30:
            lo += 1
        speaker = _best_speaker(word, turns, lo, options)
        out.append(Word(word.start, word.end, word.text, word.probability, speaker))
    return smooth_flips(out, turns, options)


def _window(word: Word, options: AlignOptions) -> tuple[float, float]:
    start, end = word.start, word.end
    if end - start < options.min_word:
        mid = (start + end) / 2
        start, end = mid - options.min_word / 2, mid + options.min_word / 2
    return start, end


def phrases(words: list[Word], options: AlignOptions = AlignOptions(),
            turns: list[Turn] | None = None) -> list[list[int]]:
    """Indices of ``words`` grouped into phrases: cut at a pause of ``phrase_pause`` seconds
    or more (``comma_pause`` after a comma), and after a sentence end where diarization hands
    over near it (after every sentence end without ``turns``)."""
    bounds = None if turns is None else change_points(turns, options)
    groups: list[list[int]] = []
    for i, word in enumerate(words):
        prev = words[i - 1] if i else None
        pause = (options.comma_pause if prev is not None and prev.text.endswith(",")
                 else options.phrase_pause)
        if (prev is None or word.start - prev.end >= pause
                or (prev.text.endswith(SENTENCE_END)
                    and _boundary_near(bounds, prev.end, word.start, options))):
            groups.append([i])
        else:
            groups[-1].append(i)
    return groups


def change_points(turns: list[Turn], options: AlignOptions = AlignOptions()) -> list[float]:
    """Times where diarization hands over from one speaker to another: a turn's start when
    the turn talking just before it (the latest-ending one that started earlier and ended at
    most ``max_pause`` before, overlapping or not) is another speaker's; a turn's end when the
    one talking just after it (the mirror image) is. A boundary between two turns of one
    speaker is a pause, not a change. Linear after sorting (recordings run to hours)."""
    points = set(_handover_starts([(t.start, t.end, t.speaker) for t in turns],
                                  options.max_pause))
    mirrored = _handover_starts([(-t.end, -t.start, t.speaker) for t in turns],
                                options.max_pause)
    points.update(-p for p in mirrored)
    return sorted(points)


def _handover_starts(spans: list[tuple[float, float, str | None]],
                     max_pause: float) -> list[float]:
    """Starts of ``spans`` whose latest-ending earlier-starting span (ending at most
    ``max_pause`` before) has another speaker: one sweep with the running latest end."""
    spans = sorted(spans)
    out: list[float] = []
    latest: tuple[float, float, str | None] | None = None  # (end, start, speaker)
    k = 0
    while k < len(spans):
        j = k
        while j < len(spans) and spans[j][0] == spans[k][0]:
            j += 1  # spans starting together are not "before" one another
        for start, _end, speaker in spans[k:j]:
            if latest is not None and latest[0] >= start - max_pause and latest[2] != speaker:
                out.append(start)
        for start, end, speaker in spans[k:j]:
            if latest is None or (end, start) > latest[:2]:
                latest = (end, start, speaker)
        k = j
    return out


def _boundary_near(bounds: list[float] | None, gap_start: float, gap_end: float,
                   options: AlignOptions) -> bool:
    if bounds is None or options.sentence_change <= 0:
        return True
    lo, hi = gap_start - options.sentence_change, gap_end + options.sentence_change
    k = bisect_left(bounds, lo)
    return k < len(bounds) and bounds[k] <= hi


def smooth_flips(words: list[Word], turns: list[Turn],
                 options: AlignOptions = AlignOptions()) -> list[Word]:
    """Give short runs of another speaker inside a phrase back to the phrase's main speaker.

    The main speaker is the one holding most of the phrase's time. A run is kept where
    diarization has a turn of the run's speaker *and* one of the main speaker over it (both
    talking: a real overlap such as a backchannel), or where it is longer than
    ``max_flip_words`` / ``max_flip_seconds`` (an interruption).
    """
    out = list(words)
    for phrase in phrases(words, options, turns):
        held: dict[str | None, float] = {}
        for i in phrase:
            held[words[i].speaker] = held.get(words[i].speaker, 0.0) + _duration(words[i])
        if len(held) < 2:
            continue
        main = max(held, key=held.get)
        for run in _sentence_runs(_runs(phrase, words), words, main):
            speaker = words[run[0]].speaker
            first, last = words[run[0]], words[run[-1]]
            if (speaker == main or len(run) > options.max_flip_words
                    or last.end - first.start > options.max_flip_seconds):
                continue
            span = (_window(first, options)[0], _window(last, options)[1])
            if _nested(span, speaker, main, turns, options):
                continue
            for i in run:
                w = words[i]
                out[i] = Word(w.start, w.end, w.text, w.probability, main)
    return out


def _duration(word: Word) -> float:
    return max(word.end - word.start, 0.05)


def _runs(indices: list[int], words: list[Word]) -> list[list[int]]:
    runs: list[list[int]] = []
    for i in indices:
        if runs and words[runs[-1][-1]].speaker == words[i].speaker:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _sentence_runs(runs: list[list[int]], words: list[Word],
                   main: str | None) -> list[list[int]]:
    """``runs`` with a run that starts inside a sentence of ``main`` and runs on past that
    sentence's end cut after the end: the words before the full stop finish ``main``'s
    sentence and are judged as a flip on their own. Why: when a sentence end does not end
    the phrase (no hand-over near it), a diarization change a few words early would
    otherwise glue the end of one speaker's sentence ("…getting | on them.") to the next
    speaker's long turn, which is then kept whole as an interruption."""
    out: list[list[int]] = []
    for run in runs:
        before = run[0] - 1
        cut = next((k for k, i in enumerate(run[:-1]) if words[i].text.endswith(SENTENCE_END)),
                   None)
        if (cut is not None and before >= 0 and out and words[before].speaker == main
                and not words[before].text.endswith(SENTENCE_END)):
            out.extend([run[: cut + 1], run[cut + 1:]])
        else:
            out.append(run)
    return out


def _nested(span: tuple[float, float], speaker: str | None, main: str | None,
            turns: list[Turn], options: AlignOptions) -> bool:
    """True when most of ``span`` lies in a short turn of ``speaker`` that sits inside a turn
    of ``main`` which goes on at least ``phrase_pause`` before and after it: a backchannel
    while the main speaker talks (real overlap). Turns that merely overlap at a hand-over
    do not count: there the phrase decides."""
    lo, hi = span
    for x in turns:
        if (x.speaker != speaker or x.end - x.start > options.short_turn
                or min(x.end, hi) - max(x.start, lo) < options.cover * (hi - lo)):
            continue
        margin = options.phrase_pause
        if any(y.speaker == main and y.start <= x.start - margin and y.end >= x.end + margin
               for y in turns):
            return True
    return False


def _best_speaker(word: Word, turns: list[Turn], lo: int, options: AlignOptions) -> str | None:
    if not turns:
        return None
    start, end = _window(word, options)
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
        return _gap_speaker(start, end, turns, options)
    covering = [i for i, ov in overlaps.items() if ov / duration >= options.cover]
    short = [i for i in covering if turns[i].end - turns[i].start <= options.short_turn]
    if len(covering) > 1 and short:
        best = min(short, key=lambda i: turns[i].end - turns[i].start)
    else:
        best = max(overlaps, key=overlaps.get)
    return turns[best].speaker


def _gap_speaker(start: float, end: float, turns: list[Turn], options: AlignOptions) -> str | None:
    """The speaker of a word that lies in silence between diarization turns.

    The turn that ended last before it, when that was at most ``max_pause`` ago; else the
    nearest turn. Why: at a change of speaker tiny.en's times run late (a turn's last word
    runs on past the turn's end towards the next onset: the demo's parent's "Really." sits
    0.3 s after her turn, 0.26 s before the practitioner's), while a next speaker's early
    first word still overlaps that speaker's turn; so a word wholly in the silence is the
    end of the turn before it. Every word the tuning sessions have in silence (three, all
    the last word of a turn) is its previous turn's.
    """
    before = [t for t in turns if t.end <= start]
    if before:
        last = max(before, key=lambda t: (t.end, t.start))
        if start - last.end <= options.max_pause:
            return last.speaker
    mid = (start + end) / 2
    nearest = min(turns, key=lambda t: min(abs(t.start - mid), abs(t.end - mid)))
    return nearest.speaker


def build_utterances(words: list[Word], options: AlignOptions = AlignOptions(),
                     turns: list[Turn] | None = None) -> list[Utterance]:
    """Group speaker-attributed words into utterances, one per speaker turn (ids u0001, ...,
    in order of start).

    A backchannel (a short run of another speaker while the main speaker is mid-sentence,
    after which the main speaker goes on) becomes its own utterance and the main speaker's
    words on both sides stay one utterance. With ``turns`` (diarization), each utterance's
    start and end move to its speaker's nearest turn boundary (``snap_seconds``); the words
    keep Whisper's times.
    """
    runs = _runs(list(range(len(words))), words)
    groups: list[list[Word]] = []
    current: list[Word] | None = None  # the group the last main-speaker word went into
    inside: list[Word] | None = None  # that group, while a backchannel sits in it
    for k, indices in enumerate(runs):
        run = [words[i] for i in indices]
        after = [words[i] for i in runs[k + 1]] if k + 1 < len(runs) else None
        if current is not None and _is_backchannel(current, run, after, options):
            inside = current
            groups.append(run)
            continue
        target = inside if inside is not None and inside[-1].speaker == run[0].speaker else None
        inside = None
        for word in run:
            if target is None or _starts_new(target, word, options):
                target = [word]
                groups.append(target)
            else:
                target.append(word)
        current = target
    groups.sort(key=lambda g: g[0].start)
    spans = [(g[0].start, g[-1].end) for g in groups]
    if turns:
        spans = _snapped(words, groups, turns, options)
    order = sorted(range(len(groups)), key=lambda k: (spans[k][0], groups[k][0].start))
    return [
        Utterance(
            id=f"u{i:04d}",
            start=spans[k][0],
            end=spans[k][1],
            speaker=groups[k][0].speaker or "SPEAKER_00",
            text=_join(groups[k]),
            words=groups[k],
        )
        for i, k in enumerate(order, 1)
    ]


def _snapped(words: list[Word], groups: list[list[Word]], turns: list[Turn],
             options: AlignOptions) -> list[tuple[float, float]]:
    """(start, end) of each group moved to its speaker's nearest diarization boundary.

    A start may move back to the end of the word before it (any speaker's) and forward to
    the end of its own first word; an end forward to the next word's start and back to its
    own last word's start; never further than ``snap_seconds``. So a boundary never crosses
    a word, and an utterance without a diarization boundary nearby keeps its words' times.
    """
    position = {id(w): i for i, w in enumerate(words)}
    starts: dict[str | None, list[float]] = {}
    ends: dict[str | None, list[float]] = {}
    for t in turns:
        starts.setdefault(t.speaker, []).append(t.start)
        ends.setdefault(t.speaker, []).append(t.end)
    for points in (*starts.values(), *ends.values()):
        points.sort()
    snap = options.snap_seconds
    out = []
    for group in groups:
        first, last = group[0], group[-1]
        i, j = position[id(first)], position[id(last)]
        before = words[i - 1].end if i > 0 else first.start - snap
        after = words[j + 1].start if j + 1 < len(words) else last.end + snap
        start = _nearest(first.start, starts.get(first.speaker, []),
                         max(before, first.start - snap), min(first.end, first.start + snap))
        end = _nearest(last.end, ends.get(first.speaker, []),
                       max(last.start, last.end - snap), min(after, last.end + snap))
        if end <= start:  # a degenerate snap (zero-length words): keep the words' times
            start, end = first.start, last.end
        out.append((start, end))
    return out


def _nearest(value: float, candidates: list[float], lo: float, hi: float) -> float:
    """The candidate in [lo, hi] nearest to ``value`` (the earlier on a tie), else value;
    ``candidates`` sorted."""
    inside = candidates[bisect_left(candidates, lo):bisect_right(candidates, hi)]
    if not inside:
        return value
    return min(inside, key=lambda c: (abs(c - value), c))


def _is_backchannel(current: list[Word], run: list[Word], after: list[Word] | None,
                    options: AlignOptions) -> bool:
    """``run`` (another speaker's) sits inside ``current``'s turn: short, the main speaker
    mid-sentence before it and speaking again right after it."""
    last = current[-1]
    return (
        after is not None
        and after[0].speaker == last.speaker
        and run[0].speaker != last.speaker
        and len(run) <= options.backchannel_words
        and run[-1].end - run[0].start <= options.backchannel_seconds
        and not last.text.endswith(SENTENCE_END)
        and after[0].start - last.end <= options.max_pause
    )


def _starts_new(group: list[Word], word: Word, options: AlignOptions) -> bool:
    """A new utterance starts at a change of speaker, a long pause, or the length cap (at a
    sentence end past ``max_utterance``, at any word past twice it)."""
    last = group[-1]
    length = word.end - group[0].start
    return (
        word.speaker != last.speaker
        or word.start - last.end > options.max_pause
        or (length > options.max_utterance and last.text.endswith(SENTENCE_END))
        or length > 2 * options.max_utterance
    )


def _join(words: list[Word]) -> str:
    text = " ".join(w.text for w in words)
    # Whisper sometimes emits punctuation or contractions as separate tokens.
    for mark in (" ,", " .", " ?", " !", " '", " n't"):
        text = text.replace(mark, mark.lstrip())
    return text


def join_words(words: list[Word]) -> str:
    """The text of ``words`` as an utterance shows it (the one joining rule, also for lines
    an evaluator splits or merges in the review screen)."""
    return _join(words)


def speakers_from(turns: list[Turn], utterances: list[Utterance]) -> list[Speaker]:
    """One ``Speaker`` per label heard, with talk time from diarization (role set later)."""
    talk: dict[str, float] = {}
    for turn in turns:
        talk[turn.speaker] = talk.get(turn.speaker, 0.0) + (turn.end - turn.start)
    for utt in utterances:
        talk.setdefault(utt.speaker, 0.0)
    return [Speaker(id=s, talk_time=round(t, 3)) for s, t in sorted(talk.items())]
