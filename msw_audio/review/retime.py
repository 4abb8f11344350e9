"""Moving a line's start and end: what dragging a waveform region's edge saves.

Why a correction like the others (``review.corrections``): a line's span is what its clip
plays, what the RTTM / ``.eaf`` exports and ``msw-audio accuracy`` read, and what the
tagger's timing context sees. So a new span is saved at once in one transaction, journaled
with the rows it replaces (``Shift+U`` undoes it exactly), recorded old → new as a
transcript decision, audited (times only, never text) and given fresh suggestions.

The rules (docs/review-screen.md, "Boundaries by dragging"):

* The span stays inside the recording (0 … its length) and lasts at least ``MIN_SPAN`` s.
* It may not reach further into a neighbouring line (the previous / next one in time) than
  it already does: a line that did not overlap its neighbour cannot be dragged over it, a
  line that already overlapped it (overlapping talk) keeps at most that overlap.
* **Words are never moved between lines by a drag.** A span that would leave a word
  outside (more than half of the word's own time beyond the new edge) is refused with a
  message naming the word and pointing to split / merge, which move words explicitly and
  keep the codes honest. A word cut by the new edge but mostly inside is clipped to it.
  (A line stored without word times has none to check.)
* A reviewed session is read-only (``Decisions._check_open``), as for codes and scores.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from msw_audio.errors import InputError, StaleEdit
from msw_audio.review.auth import User
from msw_audio.review.corrections import _SPK_FIELDS, _UTT_FIELDS, Corrections, _dump, _words_of
from msw_audio.review.db import Recording, UtteranceRow

#: Shortest line a drag may leave (seconds): shorter is not a line anyone could hear.
MIN_SPAN = 0.1
#: Times are kept to the millisecond (as the pipeline writes them).
_MS = 3
#: Tolerance when comparing the span the screen showed with the stored one.
_EPS = 0.0015


def _fmt(start: float, end: float) -> str:
    return f"{start:.3f}–{end:.3f}"


def _seconds(name: str, value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} {value!r} is not a number of seconds") from None
    if out != out or out in (float("inf"), float("-inf")):
        raise InputError(f"{name} {value!r} is not a number of seconds")
    return round(out, _MS)


class Retime(Corrections):
    """``retime_utterance``: a line's new start and end (see the module docstring)."""

    def retime_utterance(self, session_id: str, utterance_id: str, start: Any, end: Any,
                         user: User, expected: Any = None) -> dict[str, Any]:
        """Give line ``utterance_id`` the span ``start``–``end`` (seconds).

        ``expected``: ``[start, end]`` the screen showed (``StaleEdit`` if the line holds
        another span now, e.g. someone else dragged it first); None checks nothing.
        Returns the saved span and its bounds.
        """
        user.require("session.edit")
        start, end = _seconds("start", start), _seconds("end", end)
        with self.tx() as s:
            row, utt = self._begin(s, session_id, utterance_id, user)
            self._check_open(row)
            if expected is not None:
                try:
                    shown = [float(x) for x in expected]
                except (TypeError, ValueError):
                    raise InputError("expected must be [start, end] in seconds") from None
                if len(shown) != 2 or abs(shown[0] - utt.start) > _EPS \
                        or abs(shown[1] - utt.end) > _EPS:
                    raise StaleEdit(f"line {utterance_id} now spans {_fmt(utt.start, utt.end)} s",
                                    current=_fmt(utt.start, utt.end), by=None, at=None)
            lo, hi = self._span_bounds(s, row, utt)
            if start < lo - _EPS or end > hi + _EPS:
                raise InputError(
                    f"line {utterance_id} may span {_fmt(lo, hi)} s (the neighbouring lines and "
                    f"the recording's length bound it), not {_fmt(start, end)}")
            start, end = max(start, lo), min(end, hi)
            if end - start < MIN_SPAN:
                raise InputError(f"a line must last at least {MIN_SPAN} s, not "
                                 f"{max(0.0, end - start):.3f}")
            if abs(start - utt.start) <= _EPS and abs(end - utt.end) <= _EPS:
                raise InputError("the span is unchanged")
            # a line stored without word times has none to keep inside: nothing to check
            words = _words_of(utt) if utt.words else []
            for w in words:
                inside = max(0.0, min(w.end, end) - max(w.start, start))
                length = max(w.end - w.start, 1e-6)
                if inside < 0.5 * length and not (w.start == w.end and start <= w.start <= end):
                    raise InputError(
                        f"the word {w.text!r} ({w.start:.2f}–{w.end:.2f} s) would fall outside "
                        f"the line: a drag never moves words between lines — split the line "
                        f"at that word (Shift+S) or merge it with its neighbour (Shift+M)")
            before = {"utterances": [_dump(utt, _UTT_FIELDS)],
                      "suggestions": self._dump_suggestions(s, session_id, [utterance_id]),
                      "speakers": [_dump(k, _SPK_FIELDS) for k in self._speakers(s, session_id)]}
            old = _fmt(utt.start, utt.end)
            old_length = utt.end - utt.start
            for w in words:  # a word the new edge cuts keeps the part inside the line
                w.start, w.end = max(w.start, start), min(w.end, end)
            if utt.words:
                utt.words = [w.__dict__ for w in words]
            utt.start, utt.end = start, end
            self._adjust_talk(s, session_id, utt.speaker_id, (end - start) - old_length)
            self._renumber(s, session_id)
            self._retag(s, row, [utterance_id])
            self._record(s, row, user, "retime", utterance_id, before, [utterance_id], old,
                         _fmt(start, end), start=start, end=end,
                         old_start=float(before["utterances"][0]["start"]),
                         old_end=float(before["utterances"][0]["end"]))
            return {"utterance_id": utterance_id, "start": start, "end": end,
                    "bounds": [lo, hi]}

    def span_bounds(self, session_id: str, utterance_id: str, user: User) -> list[float]:
        """``[earliest start, latest end]`` a drag may give the line (what the screen clamps
        a region to; the server checks again on saving)."""
        user.require("session.view")
        with self.rtx() as s:
            row = self._session_row(s, session_id, user=user)
            utt = self._utterance_row(s, session_id, utterance_id)
            return list(self._span_bounds(s, row, utt))

    # ------------------------------------------------------------------ internals
    def _span_bounds(self, s: Any, row: Any, utt: UtteranceRow) -> tuple[float, float]:
        prev = s.scalar(select(UtteranceRow).where(
            UtteranceRow.session_id == row.id, UtteranceRow.idx < utt.idx,
        ).order_by(UtteranceRow.idx.desc()).limit(1))
        nxt = s.scalar(select(UtteranceRow).where(
            UtteranceRow.session_id == row.id, UtteranceRow.idx > utt.idx,
        ).order_by(UtteranceRow.idx).limit(1))
        length = self._recording_length(s, row)
        lo = 0.0 if prev is None else min(prev.end, utt.start)
        hi = length if nxt is None else max(nxt.start, utt.end)
        if length is not None:
            hi = min(hi, max(length, utt.end))
        elif hi is None:
            hi = utt.end
        return round(max(0.0, lo), _MS), round(hi, _MS)

    @staticmethod
    def _recording_length(s: Any, row: Any) -> float | None:
        rec = s.get(Recording, row.recording_sha256)
        for value in (getattr(rec, "duration", None), row.duration):
            if value:
                return float(value)
        return None

    def _adjust_talk(self, s: Any, session_id: str, speaker_id: str, seconds: float) -> None:
        speakers = {k.speaker_id: k for k in self._speakers(s, session_id)}
        spk = speakers.get(speaker_id)
        if spk is not None:
            spk.talk_time = round(max(0.0, (spk.talk_time or 0.0) + seconds), 3)
