"""Transcript corrections: give a line to another speaker, edit its words, split, merge,
re-split the speakers of a whole session, and undo the last of these.

Why one concern of its own: the transcript is what every code, score and exemplar rests
on, and a correction rewrites rows that decisions point at. Each correction therefore

* keeps the rows it replaces (``Correction.before``), so undo restores them exactly, even
  after a reload or a restart;
* keeps the machine transcript (``SessionRow.machine``, at the first correction), so
  ``msw-audio accuracy`` can measure the pipeline against what the evaluator made of it;
* gives every changed line fresh tagger suggestions (the tagger loads lazily, once per
  store), keeps confirmed codes confirmed where the line survives and flags the others;
* records a decision (old -> new) and an audit row, and recomputes the figures
  (``Decisions._rescore``) in the same transaction.
"""

from __future__ import annotations

import copy
import difflib
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session as OrmSession

from msw_audio.errors import InputError, StaleEdit
from msw_audio.records import Session, Utterance, Word
from msw_audio.review.auth import User
from msw_audio.review.core import _iso
from msw_audio.review.db import (
    Correction,
    Decision,
    SessionRow,
    SpeakerRow,
    Suggestion,
    UtteranceRow,
    utcnow,
)
from msw_audio.review.decisions import ANY_VALUE, Decisions

#: Longest text an edited line may hold (a 30 s cap is ~75 words; this is generous).
MAX_TEXT = 5000
#: Share of an utterance's words a re-split line must keep for its confirmed code to follow.
SURVIVES = 0.5
#: Lines either side of a changed one that the tagger reads as context.
TAG_CONTEXT = 2

_UTT_FIELDS = ("utterance_id", "idx", "start", "end", "speaker_id", "text", "words",
               "confirmed_code", "confirmed_by", "confirmed_at", "flag")
_SPK_FIELDS = ("speaker_id", "suggested_role", "role_confidence", "role",
               "role_confirmed_by", "role_confirmed_at", "talk_time")
_SUG_FIELDS = ("utterance_id", "rank", "code", "probability", "source", "model_version")
_TIMES = ("confirmed_at", "role_confirmed_at")


def _dump(row: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for f in fields:
        value = getattr(row, f)
        out[f] = _iso(value) if f in _TIMES and value is not None else copy.deepcopy(value)
    return out


def _load(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (datetime.fromisoformat(v) if k in _TIMES and v else v)
            for k, v in values.items()}


def _short(value: Any, limit: int = 255) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tokens(text: str) -> list[str]:
    return [t for t in text.split() if t]


def _norm(token: str) -> str:
    from msw_audio.speech.evaluation import normalise_text

    return normalise_text(token) or token


def retime_words(old: list[Word], text: str, start: float, end: float) -> list[Word]:
    """The words of ``text`` with times: a word that survives the edit keeps its time, a
    replaced run takes the span of the words it replaces, inserted words share the gap
    between their neighbours evenly.

    Why: the timings are the recording's, and an evaluator fixing "Jayden attendance" to
    "Jayden's attendance" must not move every other word of the line.
    """
    new = _tokens(text)
    speaker = old[0].speaker if old else None
    if not new:
        return []
    if not old:
        return _spread(new, start, end, speaker)
    matcher = difflib.SequenceMatcher(a=[_norm(w.text) for w in old], b=[_norm(t) for t in new],
                                      autojunk=False)
    out: list[Word] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out += [Word(o.start, o.end, t, o.probability, o.speaker)
                    for o, t in zip(old[i1:i2], new[j1:j2], strict=True)]
        elif tag == "replace" and i2 - i1 == j2 - j1:  # a misheard word: its own time
            out += [Word(o.start, o.end, t, 1.0, o.speaker)
                    for o, t in zip(old[i1:i2], new[j1:j2], strict=True)]
        elif tag == "replace":
            out += _spread(new[j1:j2], old[i1].start, old[i2 - 1].end, speaker)
        elif tag == "insert":
            lo = out[-1].end if out else start
            hi = old[i1].start if i1 < len(old) else end
            out += _spread(new[j1:j2], lo, max(lo, hi), speaker)
        # "delete": the words are gone
    return out


def _spread(tokens: list[str], lo: float, hi: float, speaker: str | None) -> list[Word]:
    step = (hi - lo) / len(tokens) if tokens else 0.0
    return [Word(round(lo + i * step, 3), round(lo + (i + 1) * step, 3), t, 1.0, speaker)
            for i, t in enumerate(tokens)]


def _words_of(utt: UtteranceRow) -> list[Word]:
    """A line's words; a line stored without word times gets them spread over its span."""
    if utt.words:
        return [Word(**w) for w in utt.words]
    return _spread(_tokens(utt.text or ""), utt.start, utt.end, utt.speaker_id)


#: Word texts Whisper emits as separate tokens that the line's text glues to the previous word
_GLUED = (",", ".", "?", "!", "'", "n't")


def _token_starts(words: list[Word]) -> list[int]:
    """Index of the word that starts each space-separated word of the line's text.

    Why: the screen shows the text, and "split before this word" counts its words, while
    Whisper may have given a comma or "n't" as a token of its own (``align.join_words``).
    """
    return [i for i, w in enumerate(words) if i == 0 or not w.text.startswith(_GLUED)]


def _word_key(w: dict[str, Any] | Word) -> tuple[float, float, str]:
    if isinstance(w, Word):
        return (round(w.start, 3), round(w.end, 3), w.text)
    return (round(float(w["start"]), 3), round(float(w["end"]), 3), str(w["text"]))


class Corrections(Decisions):
    """Transcript corrections with undo (see the module docstring)."""

    # ------------------------------------------------------------------ public API
    def reassign_utterance(self, session_id: str, utterance_id: str, speaker_id: str | None,
                           user: User, expected: Any = ANY_VALUE) -> dict[str, Any]:
        """Give one line to ``speaker_id`` (None or ``"new"``: a new speaker).

        ``expected``: the speaker the screen showed for the line (``StaleEdit`` if it holds
        another now). A confirmed code that is not a code for the new speaker's role is
        cleared and the line flagged.
        """
        user.require("session.edit")
        with self.tx() as s:
            row, utt = self._begin(s, session_id, utterance_id, user)
            if expected is not ANY_VALUE and expected != utt.speaker_id:
                raise StaleEdit(f"line {utterance_id} is now spoken by {utt.speaker_id}",
                                current=utt.speaker_id, by=None, at=None)
            speakers = {k.speaker_id: k for k in self._speakers(s, session_id)}
            before = {"utterances": [_dump(utt, _UTT_FIELDS)],
                      "suggestions": self._dump_suggestions(s, session_id, [utterance_id]),
                      "speakers": [_dump(k, _SPK_FIELDS) for k in speakers.values()]}
            if speaker_id in (None, "", "new"):
                speaker_id = _new_speaker_id(set(speakers))
                s.add(SpeakerRow(session_id=session_id, speaker_id=speaker_id,
                                 suggested_role="other", role="other", role_confidence=0.0,
                                 talk_time=0.0))
                role = "other"
            elif speaker_id not in speakers:
                raise InputError(f"no speaker {speaker_id!r} in session {session_id!r}")
            else:
                role = speakers[speaker_id].role
            if speaker_id == utt.speaker_id:
                raise InputError(f"line {utterance_id} is already {speaker_id}'s")
            old = utt.speaker_id
            utt.speaker_id = speaker_id
            utt.words = [dict(w, speaker=speaker_id) for w in (utt.words or [])]
            self._keep_code_if_valid(utt, role, row)
            self._move_talk(speakers, s, session_id, old, speaker_id, utt.end - utt.start)
            self._retag(s, row, [utterance_id])
            self._record(s, row, user, "reassign", utterance_id, before, [utterance_id],
                         old, speaker_id)
            return {"utterance_id": utterance_id, "speaker": speaker_id, "role": role}

    def edit_text(self, session_id: str, utterance_id: str, text: str, user: User,
                  expected: Any = ANY_VALUE) -> dict[str, Any]:
        """Replace a line's text; surviving words keep their times (``retime_words``).

        ``expected``: the text the screen showed (``StaleEdit`` if it holds another now).
        The confirmed code stays; the suggestions are made afresh.
        """
        user.require("session.edit")
        text = " ".join(str(text or "").split())
        if not text:
            raise InputError("the new text is empty: to drop a line, merge it with its neighbour")
        if len(text) > MAX_TEXT:
            raise InputError(f"the new text is {len(text)} characters; at most {MAX_TEXT}")
        with self.tx() as s:
            row, utt = self._begin(s, session_id, utterance_id, user)
            if expected is not ANY_VALUE and " ".join(str(expected or "").split()) != utt.text:
                raise StaleEdit(f"line {utterance_id} was edited since your view was drawn",
                                current=utt.text, by=None, at=None)
            if text == utt.text:
                raise InputError("the text is unchanged")
            before = {"utterances": [_dump(utt, _UTT_FIELDS)],
                      "suggestions": self._dump_suggestions(s, session_id, [utterance_id])}
            old_words = _words_of(utt)
            words = retime_words(old_words, text, utt.start, utt.end)
            for w in words:
                w.speaker = utt.speaker_id
            old = utt.text
            utt.text = text
            utt.words = [w.__dict__ for w in words]
            if words:
                utt.start, utt.end = min(utt.start, words[0].start), max(utt.end, words[-1].end)
            self._retag(s, row, [utterance_id])
            self._record(s, row, user, "edit", utterance_id, before, [utterance_id], old, text,
                         words_before=len(old_words), words_after=len(words))
            return {"utterance_id": utterance_id, "text": text}

    def split_utterance(self, session_id: str, utterance_id: str, at_word: int,
                        user: User) -> dict[str, Any]:
        """Cut a line before its word number ``at_word`` (0-based; 1..n-1): two lines of the
        same speaker. A confirmed code stays with the part holding more words; the other
        part is flagged."""
        user.require("session.edit")
        with self.tx() as s:
            row, utt = self._begin(s, session_id, utterance_id, user)
            words = _words_of(utt)
            try:
                at = int(at_word)
            except (TypeError, ValueError):
                raise InputError(f"word number {at_word!r} is not a number") from None
            starts = _token_starts(words)
            if len(starts) < 2 or not 1 <= at < len(starts):
                raise InputError(f"a line of {len(starts)} words can be cut before word 1.."
                                 f"{max(0, len(starts) - 1)}, not {at}")
            at_token, at = at, starts[at]
            before = {"utterances": [_dump(utt, _UTT_FIELDS)],
                      "suggestions": self._dump_suggestions(s, session_id, [utterance_id])}
            first, second = words[:at], words[at:]
            new_id = self._new_utterance_id(s, session_id, utterance_id)
            part = UtteranceRow(session_id=session_id, utterance_id=new_id, idx=utt.idx,
                                start=second[0].start, end=utt.end,
                                speaker_id=utt.speaker_id, text=_join(second),
                                words=[w.__dict__ for w in second])
            old_text = utt.text
            utt.text, utt.words, utt.end = _join(first), [w.__dict__ for w in first], first[-1].end
            if utt.confirmed_code:
                keep, other = (utt, part) if len(first) >= len(second) else (part, utt)
                code, by, at_ = utt.confirmed_code, utt.confirmed_by, utt.confirmed_at
                utt.confirmed_code = utt.confirmed_by = utt.confirmed_at = None
                keep.confirmed_code, keep.confirmed_by, keep.confirmed_at = code, by, at_
                other.flag = _short(f"split from a line confirmed as {code}: check its code")
            s.add(part)
            s.flush()
            self._renumber(s, session_id)
            self._retag(s, row, [utterance_id, new_id])
            self._record(s, row, user, "split", utterance_id, before, [utterance_id, new_id],
                         old_text, f"{utt.text} | {part.text}", at_word=at_token)
            return {"utterance_id": utterance_id, "new_utterance_id": new_id}

    def merge_with_next(self, session_id: str, utterance_id: str, user: User) -> dict[str, Any]:
        """Join a line with the next one (in time) into one line of this line's speaker."""
        user.require("session.edit")
        with self.tx() as s:
            row, utt = self._begin(s, session_id, utterance_id, user)
            nxt = s.scalar(select(UtteranceRow).where(
                UtteranceRow.session_id == session_id, UtteranceRow.idx > utt.idx,
            ).order_by(UtteranceRow.idx).limit(1))
            if nxt is None:
                raise InputError(f"line {utterance_id} is the last one: nothing to merge with")
            ids = [utterance_id, nxt.utterance_id]
            before = {"utterances": [_dump(utt, _UTT_FIELDS), _dump(nxt, _UTT_FIELDS)],
                      "suggestions": self._dump_suggestions(s, session_id, ids)}
            words = sorted(_words_of(utt) + _words_of(nxt), key=lambda w: w.start)
            for w in words:
                w.speaker = utt.speaker_id
            old = f"{utt.text} | {nxt.text}"
            utt.text = (_join(words) if words else f"{utt.text} {nxt.text}").strip()
            utt.words = [w.__dict__ for w in words]
            utt.start, utt.end = min(utt.start, nxt.start), max(utt.end, nxt.end)
            if not utt.confirmed_code and nxt.confirmed_code:
                utt.confirmed_code, utt.confirmed_by = nxt.confirmed_code, nxt.confirmed_by
                utt.confirmed_at = nxt.confirmed_at
            elif nxt.confirmed_code and nxt.confirmed_code != utt.confirmed_code:
                utt.flag = _short(f"merged with a line confirmed as {nxt.confirmed_code}: "
                                  "check its code")
            if nxt.speaker_id != utt.speaker_id:
                speakers = {k.speaker_id: k for k in self._speakers(s, session_id)}
                role = speakers[utt.speaker_id].role if utt.speaker_id in speakers else "other"
                self._keep_code_if_valid(utt, role, row)
            s.execute(delete(Suggestion).where(Suggestion.session_id == session_id,
                                               Suggestion.utterance_id == nxt.utterance_id))
            s.delete(nxt)
            s.flush()
            self._renumber(s, session_id)
            self._retag(s, row, [utterance_id])
            self._record(s, row, user, "merge", utterance_id, before, [utterance_id], old,
                         utt.text, merged=ids[1])
            return {"utterance_id": utterance_id, "merged": ids[1]}

    def resplit_speakers(self, session_id: str, user: User, num_speakers: int | None = None,
                         min_speakers: int | None = None, max_speakers: int | None = None,
                         cache_dir: Path | None = None) -> dict[str, Any]:
        """Re-run only the speaker clustering, with a head-count, on the recording's cached
        diarization features (seconds, not a re-run of the models), give every word to the
        new speakers (``speech.align``) and rebuild the lines.

        A confirmed code follows its line when the new line holding most of its words has
        over half of them and the same speaker role; every other confirmed line is flagged
        for review. Speakers keep their ids and roles where a new speaker is mostly an old
        one; new speakers start as "other".
        """
        from msw_audio.speech.align import assign_speakers, build_utterances

        user.require("session.edit")
        counts = _check_counts(num_speakers, min_speakers, max_speakers)
        with self.rtx() as s:
            row0 = self._session_row(s, session_id, user=user)
            sha, models = row0.recording_sha256, dict(row0.models or {})
        features, options = self._features(sha, models, cache_dir)
        from msw_audio.speech.diarize import with_speaker_count

        turns = self._diarizer(options).turns(features,
                                              options=with_speaker_count(options, **counts))
        if not turns:
            raise InputError("the re-split found no speech")
        with self.tx() as s:
            row = self._session_row(s, session_id, lock=True, user=user)
            self._keep_machine(s, row)
            utts = self._utterances(s, session_id)
            speakers = self._speakers(s, session_id)
            before = {"utterances": [_dump(u, _UTT_FIELDS) for u in utts],
                      "suggestions": self._dump_suggestions(s, session_id, None),
                      "speakers": [_dump(k, _SPK_FIELDS) for k in speakers],
                      "turns": copy.deepcopy(row.turns)}
            words = sorted((Word(**{**w, "speaker": None}) for u in utts for w in (u.words or [])),
                           key=lambda w: (w.start, w.end))
            new_utts = build_utterances(assign_speakers(words, turns), turns=turns)
            result = self._apply_resplit(s, row, utts, speakers, new_utts, turns)
            self._record(s, row, user, "resplit", "", before,
                         [u.utterance_id for u in self._utterances(s, session_id)],
                         len(speakers), result["speakers"], **counts,
                         kept=result["kept"], flagged=result["flagged"])
            return result

    def undo_correction(self, session_id: str, user: User,
                        expected: int | None = None) -> dict[str, Any]:
        """Undo the session's last correction not yet undone: its rows come back exactly as
        they were (``expected``: the correction id the screen offered to undo; another one
        is a ``StaleEdit``)."""
        user.require("session.edit")
        with self.tx() as s:
            row = self._session_row(s, session_id, lock=True, user=user)
            last = s.scalar(select(Correction).where(
                Correction.session_id == session_id, Correction.undone_at.is_(None),
            ).order_by(Correction.id.desc()).limit(1))
            if last is None:
                raise InputError("nothing to undo: this session has no correction left to undo")
            if expected is not None and int(expected) != last.id:
                raise StaleEdit(f"the last correction is now #{last.id} ({last.kind} by "
                                f"{last.user_name})", current=str(last.id), by=last.user_name,
                                at=_iso(last.at))
            self._restore(s, row, last.before, list(last.after_ids or []))
            last.undone_at, last.undone_by = utcnow(), user.name
            now = utcnow()
            s.add(Decision(session_id=session_id, kind="transcript", target=last.target,
                           old_value=last.kind, new_value=None, note=f"undo #{last.id}",
                           user_name=user.name, at=now))
            row.updated_at = now
            if row.scores:
                self._rescore(s, row, evidence=False)
            self.audit(s, user, "correction.undo", "session", session_id,
                       correction=last.id, kind=last.kind, target=last.target)
            return {"undone": last.id, "kind": last.kind, "target": last.target}

    def corrections(self, session_id: str, user: User) -> list[dict[str, Any]]:
        """The session's corrections, oldest first (who, when, what, undone)."""
        user.require("session.view")
        with self.rtx() as s:
            self._session_row(s, session_id, user=user)
            return [{"id": c.id, "kind": c.kind, "target": c.target, "by": c.user_name,
                     "at": _iso(c.at), "undone_at": _iso(c.undone_at), "undone_by": c.undone_by}
                    for c in s.scalars(select(Correction).where(
                        Correction.session_id == session_id).order_by(Correction.id))]

    def machine_transcript(self, session_id: str, user: User) -> dict[str, Any]:
        """The transcript as the pipeline made it (the current one if never corrected)."""
        user.require("session.view")
        with self.rtx() as s:
            row = self._session_row(s, session_id, user=user)
            if row.machine:
                return copy.deepcopy(row.machine)
            return _machine_of(row, self._utterances(s, session_id))

    def flags(self, session_id: str, user: User) -> dict[str, str]:
        """``{utterance_id: why}`` for the lines a correction flagged for another look."""
        user.require("session.view")
        with self.rtx() as s:
            self._session_row(s, session_id, user=user)
            return {u: f for u, f in s.execute(select(
                UtteranceRow.utterance_id, UtteranceRow.flag).where(
                UtteranceRow.session_id == session_id, UtteranceRow.flag.is_not(None)))}

    # ------------------------------------------------------------------ internals
    def _begin(self, s: OrmSession, session_id: str, utterance_id: str,
               user: User) -> tuple[SessionRow, UtteranceRow]:
        row = self._session_row(s, session_id, lock=True, user=user)
        utt = self._utterance_row(s, session_id, utterance_id, lock=True)
        self._keep_machine(s, row)
        return row, utt

    def _keep_machine(self, s: OrmSession, row: SessionRow) -> None:
        if row.machine is None:  # before the first correction the rows are the machine's
            row.machine = _machine_of(row, self._utterances(s, row.id))

    def _utterances(self, s: OrmSession, session_id: str) -> list[UtteranceRow]:
        return list(s.scalars(select(UtteranceRow).where(
            UtteranceRow.session_id == session_id).order_by(UtteranceRow.idx)))

    def _speakers(self, s: OrmSession, session_id: str) -> list[SpeakerRow]:
        return list(s.scalars(select(SpeakerRow).where(
            SpeakerRow.session_id == session_id).order_by(SpeakerRow.speaker_id)))

    def _dump_suggestions(self, s: OrmSession, session_id: str,
                          uids: list[str] | None) -> list[dict[str, Any]]:
        q = select(Suggestion).where(Suggestion.session_id == session_id)
        if uids is not None:
            q = q.where(Suggestion.utterance_id.in_(uids))
        return [_dump(g, _SUG_FIELDS) for g in s.scalars(q.order_by(Suggestion.id))]

    def _new_utterance_id(self, s: OrmSession, session_id: str, base: str) -> str:
        taken = set(s.scalars(select(UtteranceRow.utterance_id).where(
            UtteranceRow.session_id == session_id)))
        taken |= {u["utterance_id"] for c in s.scalars(select(Correction.before).where(
            Correction.session_id == session_id)) for u in (c or {}).get("utterances", [])}
        root = base.split(".")[0][:56]
        n = 1
        while f"{root}.{n}" in taken:
            n += 1
        return f"{root}.{n}"

    def _renumber(self, s: OrmSession, session_id: str) -> None:
        rows = list(s.scalars(select(UtteranceRow).where(UtteranceRow.session_id == session_id)))
        rows.sort(key=lambda u: (u.start, u.idx, u.end, u.utterance_id))
        for i, u in enumerate(rows):
            u.idx = i

    def _keep_code_if_valid(self, utt: UtteranceRow, role: str, row: SessionRow) -> None:
        if not utt.confirmed_code:
            return
        allowed = {c.id for c in self._codebook_of(row.models).for_role(role)}
        if utt.confirmed_code not in allowed:
            utt.flag = _short(f"was confirmed as {utt.confirmed_code}, not a code for a "
                              f"{role}: code it again")
            utt.confirmed_code = utt.confirmed_by = utt.confirmed_at = None

    def _move_talk(self, speakers: dict[str, SpeakerRow], s: OrmSession, session_id: str,
                   old: str, new: str, seconds: float) -> None:
        s.flush()
        for sid, sign in ((old, -1), (new, 1)):
            spk = speakers.get(sid) or s.scalar(select(SpeakerRow).where(
                SpeakerRow.session_id == session_id, SpeakerRow.speaker_id == sid))
            if spk is not None:
                spk.talk_time = round(max(0.0, (spk.talk_time or 0.0) + sign * seconds), 3)

    def _record(self, s: OrmSession, row: SessionRow, user: User, kind: str, target: str,
                before: dict[str, Any], after_ids: list[str], old: Any, new: Any,
                **detail: Any) -> None:
        now = utcnow()
        s.add(Correction(session_id=row.id, kind=kind, target=target, user_name=user.name,
                         at=now, before=before, after_ids=after_ids))
        s.add(Decision(session_id=row.id, kind="transcript", target=target,
                       old_value=_short(old), new_value=_short(new), note=kind,
                       user_name=user.name, at=now))
        if row.status == "unreviewed":
            row.status = "in_progress"
        row.updated_at = now
        s.flush()
        if row.scores:
            self._rescore(s, row, evidence=False)
        # the audit trail holds ids and counts, never transcript text (see db.AuditEntry)
        audit = {k: v for k, v in detail.items() if isinstance(v, (int, float, str, type(None)))}
        if kind == "reassign":
            audit |= {"old": old, "new": new}
        self.audit(s, user, f"correction.{kind}", "session", row.id, target=target, **audit)

    def _restore(self, s: OrmSession, row: SessionRow, before: dict[str, Any],
                 after_ids: list[str]) -> None:
        session_id = row.id
        olds = [u["utterance_id"] for u in before.get("utterances", [])]
        whole = "turns" in before  # a re-split replaced every line
        uids = None if whole else sorted(set(olds) | set(after_ids))
        q_utt = delete(UtteranceRow).where(UtteranceRow.session_id == session_id)
        q_sug = delete(Suggestion).where(Suggestion.session_id == session_id)
        if uids is not None:
            q_utt = q_utt.where(UtteranceRow.utterance_id.in_(uids))
            q_sug = q_sug.where(Suggestion.utterance_id.in_(uids))
        s.execute(q_sug)
        s.execute(q_utt)
        if "speakers" in before:
            s.execute(delete(SpeakerRow).where(SpeakerRow.session_id == session_id))
            for k in before["speakers"]:
                s.add(SpeakerRow(session_id=session_id, **_load(k)))
        if whole:
            row.turns = copy.deepcopy(before["turns"])
        s.flush()
        for u in before.get("utterances", []):
            s.add(UtteranceRow(session_id=session_id, **_load(u)))
        for g in before.get("suggestions", []):
            s.add(Suggestion(session_id=session_id, **g))
        s.flush()
        self._renumber(s, session_id)

    # -- fresh suggestions -------------------------------------------------------------
    def _tagger_for(self, codebook: Any) -> Any:
        """The shipped tagger with ``codebook``, loaded on first use and kept by this store
        (a server process loads it once; the review store never loads it otherwise)."""
        from msw_audio.coding.tagger import load_tagger

        cache = self.__dict__.setdefault("_correction_taggers", {})
        key = (codebook.name, codebook.version, str(getattr(codebook, "path", "")))
        if key not in cache:
            cache[key] = load_tagger(None, codebook=codebook)
        return cache[key]

    def _retag(self, s: OrmSession, row: SessionRow, uids: list[str]) -> None:
        """Fresh model suggestions for ``uids``, read with their neighbours as context."""
        s.flush()
        session = self._session_from_rows(s, row)
        index = {u.id: i for i, u in enumerate(session.utterances)}
        picked = sorted(index[u] for u in uids if u in index)
        if not picked:
            return
        lo, hi = max(0, picked[0] - TAG_CONTEXT), min(len(session.utterances),
                                                      picked[-1] + TAG_CONTEXT + 1)
        window = Session(audio=session.audio, speakers=session.speakers,
                         utterances=[copy.deepcopy(u) for u in session.utterances[lo:hi]],
                         models=dict(session.models))
        self._store_suggestions(s, row, window, set(uids))

    def _store_suggestions(self, s: OrmSession, row: SessionRow, session: Session,
                           uids: set[str]) -> None:
        tagger = self._tagger_for(self._codebook_of(row.models))
        tagged = tagger.tag_session(session)
        version = f"{tagger.name} {tagger.version}".strip()
        s.execute(delete(Suggestion).where(Suggestion.session_id == row.id,
                                           Suggestion.utterance_id.in_(sorted(uids))))
        for u in tagged.utterances:
            if u.id not in uids:
                continue
            for rank, c in enumerate(u.codes):
                s.add(Suggestion(session_id=row.id, utterance_id=u.id, rank=rank, code=c.code,
                                 probability=float(c.probability), source=c.source,
                                 model_version=version))

    # -- re-split ----------------------------------------------------------------------
    def _features(self, sha: str, models: dict[str, Any], cache_dir: Path | None):
        """The recording's cached diarization features and the options they were made with."""
        from dataclasses import fields

        from msw_audio.pipeline import DIARIZE_FEATURES
        from msw_audio.speech.cache import StageCache, default_cache_dir
        from msw_audio.speech.diarize import DiarizeOptions, feature_settings, load_features

        record = dict(models.get("diarization") or {})
        if "threshold" in record:
            record.setdefault("clustering_threshold", record["threshold"])
        if record.get("clustering") not in ("pyannote", "sherpa"):
            # sessions before issue 15.2 recorded "agglomerative/centroid": pyannote's
            record["clustering"] = "pyannote"
        known = {f.name for f in fields(DiarizeOptions)}
        options = DiarizeOptions(**{k: v for k, v in record.items()
                                    if k in known and k not in ("device", "threads")})
        roots = [Path(cache_dir)] if cache_dir else [self.paths.cache, default_cache_dir()]
        for root in roots:
            exact = StageCache(root).file(sha, DIARIZE_FEATURES, feature_settings(options))
            found = [exact] if exact is not None and exact.is_file() else sorted(
                (root / sha).glob(f"{DIARIZE_FEATURES}-*.npz"),
                key=lambda p: p.stat().st_mtime, reverse=True) if (root / sha).is_dir() else []
            if found:
                return load_features(found[0]), options
        raise InputError(
            "this recording's diarization features are not in the cache (processed before "
            "msw-audio kept them, or the cache was cleared): process the recording again "
            "with the speaker count instead (`msw-audio process --people N`)")

    def _diarizer(self, options: Any) -> Any:
        from msw_audio.speech.diarize import Diarizer

        cache = self.__dict__.setdefault("_correction_diarizers", {})
        key = (options.segmentation_step, options.embedding_exclude_overlap)
        if key not in cache:
            cache.clear()  # one set of diarization models per store
            cache[key] = Diarizer(options)
        return cache[key]

    def _apply_resplit(self, s: OrmSession, row: SessionRow, utts: list[UtteranceRow],
                       speakers: list[SpeakerRow], new_utts: list[Utterance],
                       turns: list[Any]) -> dict[str, Any]:
        import numpy as np
        from scipy.optimize import linear_sum_assignment

        session_id = row.id
        old_of_word = {_word_key(w): u for u in utts for w in (u.words or [])}
        # 1. new speaker labels -> old speaker ids (the most words shared, one to one)
        new_labels = sorted({u.speaker for u in new_utts})
        old_ids = sorted({u.speaker_id for u in utts})
        shared = np.zeros((len(new_labels), max(1, len(old_ids))))
        for nu in new_utts:
            for w in nu.words:
                old = old_of_word.get(_word_key(w))
                if old is not None:
                    shared[new_labels.index(nu.speaker), old_ids.index(old.speaker_id)] += 1
        mapping: dict[str, str] = {}
        if old_ids:
            for r, c in zip(*linear_sum_assignment(-shared), strict=True):
                if shared[r, c] > 0:
                    mapping[new_labels[r]] = old_ids[c]
        by_id = {k.speaker_id: k for k in speakers}
        taken = set(by_id)
        for label in new_labels:
            if label not in mapping:
                mapping[label] = _new_speaker_id(taken)
                taken.add(mapping[label])
        # 2. each new line: its speaker, the old line it mostly is, kept codes and flags
        codebook = self._codebook_of(row.models)
        roles = {k.speaker_id: k.role for k in speakers}
        used_ids: set[str] = set()
        next_n = 1 + max([_number(u.utterance_id) for u in utts] + [0])
        rows: list[UtteranceRow] = []
        n_words = {u.utterance_id: max(1, len(u.words or [])) for u in utts}
        home: dict[str, tuple[int, int]] = {}  # old uid -> (new line index, shared words)
        for i, nu in enumerate(new_utts):
            counts: dict[str, int] = {}
            for w in nu.words:
                old = old_of_word.get(_word_key(w))
                if old is not None:
                    counts[old.utterance_id] = counts.get(old.utterance_id, 0) + 1
            for uid, n in counts.items():
                if uid not in home or n > home[uid][1]:
                    home[uid] = (i, n)
        old_by_id = {u.utterance_id: u for u in utts}
        for i, nu in enumerate(new_utts):
            spk = mapping[nu.speaker]
            mine = [uid for uid, (j, _) in home.items() if j == i]
            main = max(mine, key=lambda uid: home[uid][1], default=None)
            uid = main if main is not None and main not in used_ids else None
            if uid is None:
                while f"u{next_n:04d}" in old_by_id or f"u{next_n:04d}" in used_ids:
                    next_n += 1
                uid = f"u{next_n:04d}"
                next_n += 1
            used_ids.add(uid)
            rows.append(UtteranceRow(
                session_id=session_id, utterance_id=uid, idx=i, start=nu.start, end=nu.end,
                speaker_id=spk, text=nu.text,
                words=[{**w.__dict__, "speaker": spk} for w in nu.words]))
        kept = flagged = 0
        for old in utts:
            if not old.confirmed_code:
                continue
            target = home.get(old.utterance_id)
            new_row = rows[target[0]] if target else None
            role = roles.get(old.speaker_id, "other")
            new_role = roles.get(new_row.speaker_id, "other") if new_row else None
            survives = (new_row is not None and target[1] > SURVIVES * n_words[old.utterance_id]
                        and new_role == role and new_row.confirmed_code is None
                        and old.confirmed_code in {c.id for c in codebook.for_role(role)})
            if survives:
                new_row.confirmed_code, new_row.confirmed_by = old.confirmed_code, old.confirmed_by
                new_row.confirmed_at = old.confirmed_at
                new_row.flag = old.flag
                kept += 1
            else:
                flagged += 1
                if new_row is not None:
                    new_row.flag = _short(f"re-split: its words were confirmed as "
                                          f"{old.confirmed_code} in another line; check it")
        # 3. replace the rows; suggestions stay for unchanged lines, fresh for the others
        same = {r.utterance_id for r in rows
                if r.utterance_id in old_by_id
                and [_word_key(w) for w in r.words]
                == [_word_key(w) for w in (old_by_id[r.utterance_id].words or [])]
                and r.speaker_id == old_by_id[r.utterance_id].speaker_id}
        s.execute(delete(Suggestion).where(Suggestion.session_id == session_id,
                                           Suggestion.utterance_id.not_in(sorted(same))))
        s.execute(delete(UtteranceRow).where(UtteranceRow.session_id == session_id))
        s.flush()
        talk: dict[str, float] = {}
        for t in turns:
            talk[mapping.get(t.speaker, t.speaker)] = talk.get(
                mapping.get(t.speaker, t.speaker), 0.0) + (t.end - t.start)
        live = {r.speaker_id for r in rows}
        for sid, k in by_id.items():
            if sid not in live:
                s.delete(k)
            else:
                k.talk_time = round(talk.get(sid, 0.0), 3)
        for sid in sorted(live - set(by_id)):
            s.add(SpeakerRow(session_id=session_id, speaker_id=sid, suggested_role="other",
                             role="other", role_confidence=0.0,
                             talk_time=round(talk.get(sid, 0.0), 3)))
        for r in rows:
            s.add(r)
        row.turns = [{"start": t.start, "end": t.end, "speaker": mapping.get(t.speaker,
                                                                             t.speaker)}
                     for t in turns]
        s.flush()
        changed = {r.utterance_id for r in rows} - same
        if changed:
            self._store_suggestions(s, row, self._session_from_rows(s, row), changed)
        return {"speakers": len(live), "utterances": len(rows), "kept": kept,
                "flagged": flagged, "changed": len(changed)}


def _machine_of(row: SessionRow, utts: list[UtteranceRow]) -> dict[str, Any]:
    return {"utterances": [{"id": u.utterance_id, "start": u.start, "end": u.end,
                            "speaker": u.speaker_id, "text": u.text,
                            "words": copy.deepcopy(u.words or [])} for u in utts],
            "turns": copy.deepcopy(row.turns or [])}


def _join(words: list[Word]) -> str:
    from msw_audio.speech.align import join_words

    return join_words(words)


def _number(uid: str) -> int:
    digits = "".join(ch for ch in uid.split(".")[0] if ch.isdigit())
    return int(digits) if digits else 0


def _new_speaker_id(taken: set[str]) -> str:
    n = 0
    while f"SPEAKER_{n:02d}" in taken:
        n += 1
    return f"SPEAKER_{n:02d}"


def _check_counts(num: int | None, lo: int | None, hi: int | None) -> dict[str, int | None]:
    """The head-count of a re-split: exact, or a min/max range (1-20 each)."""
    def _int(name: str, value: Any) -> int | None:
        if value in (None, ""):
            return None
        try:
            n = int(value)
        except (TypeError, ValueError):
            raise InputError(f"{name} {value!r} is not a number") from None
        if not 1 <= n <= 20:
            raise InputError(f"{name} must be 1-20, not {n}")
        return n

    num, lo, hi = _int("speakers", num), _int("min speakers", lo), _int("max speakers", hi)
    if num is None and lo is None and hi is None:
        raise InputError("give the number of speakers (exact) or a min/max range")
    if num is not None and (lo is not None or hi is not None):
        raise InputError("give an exact number of speakers or a min/max range, not both")
    if lo is not None and hi is not None and lo > hi:
        raise InputError(f"min speakers {lo} is above max speakers {hi}")
    return {"num_speakers": num, "min_speakers": lo, "max_speakers": hi}
